package keyring

import "os"

// Passphrase returns the passphrase that opens a keyring file: the value of
// the environment variable named env (CPX_PASSPHRASE in practice) if it is
// set and not empty, otherwise what prompt returns (prompt may be nil when
// there is no terminal to ask). It returns ErrNoPassphrase if both are empty.
func Passphrase(env string, prompt func() ([]byte, error)) ([]byte, error) {
	if env != "" {
		if v := os.Getenv(env); v != "" {
			return []byte(v), nil
		}
	}
	if prompt == nil {
		return nil, ErrNoPassphrase
	}
	p, err := prompt()
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, ErrNoPassphrase
	}
	return p, nil
}
