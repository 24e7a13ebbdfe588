package nodedir_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cpx-node/cpx/node/nodedir"
)

func TestCheck(t *testing.T) {
	base := t.TempDir()
	node := filepath.Join(base, "node")
	empty := filepath.Join(base, "empty")
	file := filepath.Join(base, "file")
	for _, d := range []string{node, empty} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(node, nodedir.ConfigFile), file} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		dir     string
		notNode bool
	}{
		{node, false},
		{empty, true},
		{file, true},
		{filepath.Join(base, "missing"), true},
	} {
		err := nodedir.Check(tc.dir)
		if got := errors.Is(err, nodedir.ErrNotNode); got != tc.notNode || (err != nil && !got) {
			t.Errorf("Check(%s): got %v, want not a node %v", filepath.Base(tc.dir), err, tc.notNode)
		}
	}
}
