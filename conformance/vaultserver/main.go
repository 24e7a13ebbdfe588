// Command vaultserver is the ordinary vault CLI, built from Vault's own
// command package, so that "vaultserver server -dev" is the genuine Vault dev
// server. CPX uses it only as a local test server (Vault is under the
// Business Source License 1.1): never ship this binary with CPX.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
