// Package nodedir names the files of a node directory and reads and writes
// the small ones that the daemon and the cpx client share.
//
// A node directory holds:
//
//	cpx.toml          configuration (see node/config)
//	keyring.json      the local file keyring (when the keyring is "file")
//	store.key         the store's encryption key, wrapped by the keyring
//	data/             the Badger store
//	api.url           the local API's base URL, written by a running node
//	credentials.json  the initial admin's token (mode 0600), written by cpx init
package nodedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File names inside a node directory.
const (
	ConfigFile      = "cpx.toml"
	KeyringFile     = "keyring.json"
	StoreKeyFile    = "store.key"
	DataDir         = "data"
	APIURLFile      = "api.url"
	CredentialsFile = "credentials.json"
)

// Credentials are a user's name and bearer token as kept in a node directory.
type Credentials struct {
	User  string `json:"user"`
	Token string `json:"token"`
}

// ErrNotRunning is returned by ReadAPIURL when no node has written its address.
var ErrNotRunning = errors.New("no running node found (api.url is missing): start it with `cpx start --dir DIR`")

// ReadAPIURL returns the local API URL a running node wrote into dir.
func ReadAPIURL(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, APIURLFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", dir, ErrNotRunning)
	}
	if err != nil {
		return "", err
	}
	u := strings.TrimSpace(string(b))
	if u == "" {
		return "", fmt.Errorf("%s: empty %s", dir, APIURLFile)
	}
	return u, nil
}

// WriteAPIURL records the local API URL in dir, atomically.
func WriteAPIURL(dir, url string) error {
	// Not synced: the file only says where a running node listens, and
	// is written again at every start (a sync here cost up to 0.4 s of
	// the start while the store was busy).
	return writeFileRenamed(filepath.Join(dir, APIURLFile), []byte(url+"\n"), 0o644, false)
}

// ReadCredentials reads credentials.json from dir.
func ReadCredentials(dir string) (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(filepath.Join(dir, CredentialsFile))
	if err != nil {
		return c, fmt.Errorf("reading credentials: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("reading credentials: %s is not valid JSON: %w", CredentialsFile, err)
	}
	if c.Token == "" {
		return c, fmt.Errorf("reading credentials: %s has no token", CredentialsFile)
	}
	return c, nil
}

// WriteCredentials writes credentials.json into dir with mode 0600.
func WriteCredentials(dir string, c Credentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, CredentialsFile), append(b, '\n'), 0o600)
}

// WriteFileAtomic writes data to a temporary file in the same directory,
// syncs it and renames it over path, so readers see the old or the new
// content, never a torn write.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeFileRenamed(path, data, perm, true)
}

func writeFileRenamed(path string, data []byte, perm os.FileMode, sync bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
