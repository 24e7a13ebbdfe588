// Module vaultserver builds a HashiCorp Vault binary for CPX's tests.
//
// It is a separate module on purpose: Vault pulls in thousands of packages
// and must never enter the main module's build graph. .ci/vault.sh builds it;
// tests exec the binary through CPX_VAULT_BIN. See docs/vault.md.
module github.com/cpx-node/cpx/conformance/vaultserver

go 1.26.8

require github.com/hashicorp/vault v1.21.2

// Vault's own go.mod has these replace directives; a module that depends on
// Vault must repeat them. Vault's "github.com/hashicorp/vault/sdk => ./sdk"
// cannot be repeated (the module zip has no ./sdk), so pin the published sdk
// that Vault v1.21.2 declares; newer sdk versions do not compile with it.
replace (
	github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3
	github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk v0.20.0
	github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
)
