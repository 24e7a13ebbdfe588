package command_test

import (
	"strings"
	"testing"

	"github.com/cpx-node/cpx/cli/command"
)

func TestRequiredFlags(t *testing.T) {
	newEnv(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"init", "--dir", dir}, `cpx: required flag "agency" not set (see cpx init --help)` + "\n"},
		{[]string{"init"}, `cpx: required flags "dir", "agency" not set (see cpx init --help)` + "\n"},
		{[]string{"start"}, `cpx: required flag "dir" not set (see cpx start --help)` + "\n"},
	} {
		r := cpx(t, tc.args...)
		if r.code != command.ExitUsage || r.stderr != tc.want || r.stdout != "" {
			t.Errorf("cpx %s: got exit %d, stdout %q, stderr %q; want exit 2, no stdout, stderr %q",
				strings.Join(tc.args, " "), r.code, r.stdout, r.stderr, tc.want)
		}
	}
	// Help still lists the flag as required, and is not an error.
	r := cpx(t, "init", "--help").want(t, 0)
	if !strings.Contains(r.stdout, "(required)") {
		t.Errorf("help:\n%s\nwant the required flags marked", r.stdout)
	}
}
