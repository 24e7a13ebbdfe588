// Command cpx is the CPX node's command-line tool: it runs a node (init,
// start, demo) and talks to a running node's local API (status, users,
// cases, forms, audit). The commands live in package
// github.com/cpx-node/cpx/cli/command.
package main

import (
	"os"

	"github.com/cpx-node/cpx/cli/command"
)

func main() {
	os.Exit(command.Main(os.Args))
}
