package reporting

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"sync"
)

//go:embed managed/*.toml
var managedFS embed.FS

var managed = sync.OnceValues(func() ([]*Definition, error) {
	names, err := fs.Glob(managedFS, "managed/*.toml")
	if err != nil {
		return nil, err
	}
	var out []*Definition
	for _, n := range names {
		src, err := managedFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		d, err := Parse(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *Definition) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return out, nil
})

// Managed returns the managed reports shipped with the node, by name.
// They are checked by the tests against the standard forms.
func Managed() []*Definition {
	ds, err := managed()
	if err != nil {
		panic("reporting: embedded managed reports: " + err.Error())
	}
	return ds
}

// Source returns the TOML the definition was parsed from.
func (d *Definition) Source() []byte { return d.src }
