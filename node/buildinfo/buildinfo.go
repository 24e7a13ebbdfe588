// Package buildinfo says which cpx binary is running, from the build
// information the Go toolchain embeds (runtime/debug.ReadBuildInfo): the
// module version when the binary was built from a tagged or pseudo-versioned
// module, else the version-control revision, commit time and whether the
// checkout had local changes, else (a build with -buildvcs=false or go run)
// a hash of the executable, so that two binaries can still be told apart:
// the content hash the Go linker writes into the executable's build id,
// which costs nothing to read, or where there is none the file's SHA-256.
package buildinfo

import (
	"crypto/sha256"
	"debug/elf"
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
	// Sum identifies the executable, set only when there is neither a
	// module version nor a revision: "build:" and the content hash of the
	// Go build id (ELF executables), else "sha256:" and the file's SHA-256
	// (hex).
	Sum string
}

// Read returns the running binary's build information.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, executableID)
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
// checkout had changes), else "devel-build:ID" or "devel-sha256:SUM"
// (12 characters of Sum).
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
		kind, sum, _ := strings.Cut(i.Sum, ":")
		return "devel-" + kind + ":" + short(sum)
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

// executableID returns Sum for the running executable, or "" if it
// cannot be read.
func executableID() string {
	path, err := os.Executable()
	if err != nil {
		return ""
	}
	if id := goBuildID(path); id != "" {
		return "build:" + id
	}
	if sum := fileSum(path); sum != "" {
		return "sha256:" + sum
	}
	return ""
}

// goBuildID returns the last part of the Go build id in the ELF note
// .note.go.buildid of the executable at path (the hash of the linked
// content), or "" if there is none.
func goBuildID(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sec := f.Section(".note.go.buildid")
	if sec == nil || sec.Size > 1024 {
		return ""
	}
	b, err := sec.Data()
	// A note: name size, description size, type (4), "Go\x00\x00", id.
	if err != nil || len(b) < 16 || string(b[12:16]) != "Go\x00\x00" {
		return ""
	}
	n := f.ByteOrder.Uint32(b[4:8])
	if f.ByteOrder.Uint32(b[0:4]) != 4 || f.ByteOrder.Uint32(b[8:12]) != 4 || uint64(n) > uint64(len(b)-16) {
		return ""
	}
	id := string(b[16 : 16+n])
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	return id
}

// fileSum returns the SHA-256 of the file at path (hex), or "".
func fileSum(path string) string {
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
