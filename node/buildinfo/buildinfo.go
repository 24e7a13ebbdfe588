// Package buildinfo says which cpx binary is running, from the build
// information the Go toolchain embeds (runtime/debug.ReadBuildInfo): the
// module version when the binary was built from a tagged or pseudo-versioned
// module, else the version-control revision, commit time and whether the
// checkout had local changes, else (a build with -buildvcs=false or go run)
// a hash of the executable, so that two binaries can still be told apart.
package buildinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Info describes a build of cpx.
type Info struct {
	// Module is the main module's version ("v1.4.0", or a pseudo-version
	// such as "v0.0.0-20260521101010-1a2b3c4d5e6f+dirty"); empty for a
	// development build.
	Module string
	// Revision, Time and Modified are the version-control commit, its time
	// and whether the checkout had uncommitted changes; empty when the
	// build carried no version-control information.
	Revision string
	Time     time.Time
	Modified bool
	// Go is the toolchain version, Platform the GOOS/GOARCH.
	Go, Platform string
	// Sum is the SHA-256 of the executable (hex), set only when there is
	// neither a module version nor a revision.
	Sum string
}

// Read returns the running binary's build information.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, executableSum)
}

// fromBuildInfo turns bi (nil if there is none) into an Info; sum hashes
// the executable when nothing else identifies the build.
func fromBuildInfo(bi *debug.BuildInfo, sum func() string) Info {
	i := Info{Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		i.Go = bi.GoVersion
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			i.Module = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Revision = s.Value
			case "vcs.time":
				i.Time, _ = time.Parse(time.RFC3339, s.Value)
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
	}
	if i.Module == "" && i.Revision == "" && sum != nil {
		i.Sum = sum()
	}
	return i
}

// Version is the short form, for logs and the node's status: the module
// version, else "devel-REVISION" (12 hex digits, "-modified" if the
// checkout had changes), else "devel-sha256:SUM" (12 hex digits).
func (i Info) Version() string {
	switch {
	case i.Module != "":
		return i.Module
	case i.Revision != "":
		v := "devel-" + short(i.Revision)
		if i.Modified {
			v += "-modified"
		}
		return v
	case i.Sum != "":
		return "devel-sha256:" + short(i.Sum)
	}
	return "devel"
}

// String is the long form that cpx --version prints, e.g.
// "v1.4.0 (commit 1a2b3c4d5e6f 2026-05-21T10:10:10Z; go1.26.8 linux/amd64)".
func (i Info) String() string {
	var parts []string
	if i.Revision != "" {
		c := "commit " + short(i.Revision)
		if !i.Time.IsZero() {
			c += " " + i.Time.UTC().Format(time.RFC3339)
		}
		if i.Modified {
			c += " with uncommitted changes"
		}
		parts = append(parts, c)
	} else if i.Module == "" {
		parts = append(parts, "built without version-control information")
	}
	parts = append(parts, i.Go+" "+i.Platform)
	return fmt.Sprintf("%s (%s)", i.Version(), strings.Join(parts, "; "))
}

func short(hex string) string {
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}

// executableSum returns the SHA-256 of the running executable, or "" if it
// cannot be read.
func executableSum() string {
	path, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
