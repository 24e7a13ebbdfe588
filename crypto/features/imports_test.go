package features_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCryptoImportsNoNode checks that no package under crypto/ imports one
// under node/ (DESIGN.md: the shared features live here so that crypto
// never depends on the daemon). Test files may use node's synthetic data.
func TestCryptoImportsNoNode(t *testing.T) {
	root := filepath.Join("..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/cpx-node/cpx/node/") {
				t.Errorf("%s imports %s, want nothing under node/", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
