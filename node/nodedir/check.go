package nodedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNotNode is returned by Check for a directory that holds no node.
var ErrNotNode = errors.New("not a node directory")

// Check returns an error wrapping ErrNotNode, naming what is missing and
// how to make a node, unless dir is a directory holding a node's
// configuration (ConfigFile) or wrapped store key (StoreKeyFile).
func Check(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s is %w: no such directory (create a node with cpx init --dir %s)", dir, ErrNotNode, dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is %w: it is a file", dir, ErrNotNode)
	}
	for _, name := range []string{ConfigFile, StoreKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s is %w: it has no %s or %s (create a node with cpx init --dir %s, or restore one with cpx restore FILE --dir %s)",
		dir, ErrNotNode, ConfigFile, StoreKeyFile, dir, dir)
}
