package keyring_test

import (
	"context"
	"errors"
	"log"
	"os"

	"github.com/cpx-node/cpx/crypto/keyring"
)

// A node that keeps its store key wrapped by a Vault transit key, logging
// in with AppRole.
func ExampleOpenVault() {
	ctx := context.Background()
	kr, err := keyring.OpenVault(ctx, keyring.VaultConfig{
		Addr:     "https://vault.example:8200",
		RoleID:   os.Getenv("CPX_VAULT_ROLE_ID"),
		SecretID: os.Getenv("CPX_VAULT_SECRET_ID"),
		CACert:   "/etc/cpx/vault-ca.pem",
	})
	switch {
	case errors.Is(err, keyring.ErrVaultSealed):
		log.Fatalf("%v", err) // an operator must unseal Vault first
	case err != nil:
		log.Fatal(err)
	}
	wrapped, err := kr.Wrap(ctx, "store-key", []byte("a 32-byte store encryption key.."))
	if err != nil {
		log.Fatal(err)
	}
	// wrapped is "vault:v1:…"; store it, and unwrap it at the next start.
	storeKey, err := kr.Unwrap(ctx, "store-key", wrapped)
	if err != nil {
		log.Fatal(err)
	}
	_ = storeKey
}
