package policy_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/policy"
)

// FuzzParseISP checks that ParseISP never panics, that every error wraps
// ErrInvalidISP, and that a document it accepts survives Marshal and
// ParseISP unchanged (equal ISP, equal SigningBytes).
func FuzzParseISP(f *testing.F) {
	f.Add(readExample(f))
	f.Add([]byte(minimalISP))
	f.Add([]byte(transferISP))
	f.Add([]byte(strings.Replace(minimalISP, `fields = ["sex"]`,
		"fields = [\"sex\"]\nwithheld = [\"sex\"]\n[purpose.conditions]\nmax_risk_level = \"low\"\nconsent_override_roles = [\"dpo\"]\n"+
			"[[signature]]\nagency = \"a\"\nkey = \"key-a\"\ned25519 = \"AAEC\"\nmldsa65 = \"AwQF\"", 1)))
	f.Add([]byte(strings.Replace(minimalISP, `title = "Test ISP"`, `title = "T\u00e9st \"ISP\" \\ 'x'"`, 1)))
	f.Add([]byte("format = 1"))
	f.Add([]byte("[purpose]\n"))
	f.Add([]byte(""))
	// go-toml v2.2.2 panicked on this (pelletier/go-toml#1028).
	f.Add([]byte("formAt=0000-01-01"))
	f.Add([]byte("[[party]]\nagency = 2026-01-01T00:00:00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.ParseISP(data)
		if err != nil {
			if p != nil {
				t.Fatalf("ParseISP returned an ISP with error %v", err)
			}
			if !errors.Is(err, policy.ErrInvalidISP) {
				t.Fatalf("ParseISP error %v does not wrap ErrInvalidISP", err)
			}
			return
		}
		out, err := p.Marshal()
		if err != nil {
			if errors.Is(err, policy.ErrInvalidISP) && strings.Contains(err.Error(), "more than the limit") {
				return
			}
			t.Fatalf("Marshal of a parsed ISP = %v", err)
		}
		q, err := policy.ParseISP(out)
		if err != nil {
			t.Fatalf("ParseISP(Marshal()) = %v\ninput:\n%s\nmarshalled:\n%s", err, data, out)
		}
		if !bytes.Equal(q.SigningBytes(), p.SigningBytes()) {
			t.Fatalf("SigningBytes changed through Marshal/ParseISP\ninput:\n%s\nmarshalled:\n%s", data, out)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("ISP changed through Marshal/ParseISP:\n%+v\n%+v", p, q)
		}
	})
}
