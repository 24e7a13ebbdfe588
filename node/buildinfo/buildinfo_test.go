package buildinfo

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	plat := runtime.GOOS + "/" + runtime.GOARCH
	sum := func() string { return "sha256:5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f" }
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"},
		{Key: "vcs.time", Value: "2026-05-21T10:10:10Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tc := range []struct {
		name          string
		bi            *debug.BuildInfo
		version, long string
	}{
		{"tagged", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}},
			"v1.4.0", "v1.4.0 (go1.26.8 " + plat + ")"},
		{"pseudo-version and vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260521101010-1a2b3c4d5e6f+dirty"}, Settings: vcs},
			"v0.0.0-20260521101010-1a2b3c4d5e6f+dirty",
			"v0.0.0-20260521101010-1a2b3c4d5e6f+dirty (commit 1a2b3c4d5e6f 2026-05-21T10:10:10Z with uncommitted changes; go1.26.8 " + plat + ")"},
		{"checkout without a module version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			"devel-1a2b3c4d5e6f-modified",
			"devel-1a2b3c4d5e6f-modified (commit 1a2b3c4d5e6f 2026-05-21T10:10:10Z with uncommitted changes; go1.26.8 " + plat + ")"},
		{"no vcs information", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"devel-sha256:5e6f7a8b9c0d",
			"devel-sha256:5e6f7a8b9c0d (built without version-control information; go1.26.8 " + plat + ")"},
	} {
		i := fromBuildInfo(tc.bi, sum)
		if got := i.Version(); got != tc.version {
			t.Errorf("%s: Version() got %q, want %q", tc.name, got, tc.version)
		}
		if got := i.String(); got != tc.long {
			t.Errorf("%s: String() got %q, want %q", tc.name, got, tc.long)
		}
	}
}

func TestReadIdentifiesTheBinary(t *testing.T) {
	i := Read()
	if v := i.Version(); v == "" || v == "dev" || v == "devel" || strings.HasSuffix(v, ":") {
		t.Errorf("Read().Version() got %q, want a version, a revision or a hash", v)
	}
}

func TestGoBuildID(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF executables only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "tool", "buildid", exe).Output()
	if err != nil {
		t.Skipf("go tool buildid: %v", err)
	}
	id := strings.TrimSpace(string(out))
	want := id[strings.LastIndexByte(id, '/')+1:]
	if got := goBuildID(exe); got != want {
		t.Errorf("goBuildID got %q, want %q (go tool buildid: %s)", got, want, id)
	}
	if got := fromBuildInfo(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, executableID).Version(); got != "devel-build:"+want[:12] {
		t.Errorf("Version() got %q, want %q", got, "devel-build:"+want[:12])
	}
}
