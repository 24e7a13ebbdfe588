package command

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/cpx-node/cpx/crypto/keyring"
)

// keyringPassphrase reads the passphrase of a file keyring (CPX_PASSPHRASE
// or a prompt); a keyring of another kind (vault) needs none. Clear it
// after use.
func keyringPassphrase(c *cli.Context, kind string) ([]byte, error) {
	if kind != "file" {
		return nil, nil
	}
	return keyring.Passphrase(PassphraseEnv, passphrasePrompt(c))
}

// passphraseError names the keyring file and the variable to check when
// err is a wrong passphrase; other errors pass unchanged.
func passphraseError(dir string, err error) error {
	if errors.Is(err, keyring.ErrWrongPassphrase) {
		return errors.New("wrong passphrase for " + dir + "/keyring.json (check " + PassphraseEnv + ")")
	}
	return err
}
