package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/config"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, config.FileName), []byte(`
[agency]
id = "agency-a"
name = "From file"
[api]
listen = "127.0.0.1:9000"
[cases]
number_prefix = "FILE"
`), 0o644)
	env := []string{"CPX_API_LISTEN=127.0.0.1:9100", "CPX_AUTH_TOKEN_TTL=2h", "HOME=/root", "CPX_UNKNOWN=x", "CPX_P2P_LISTEN=/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/udp/1/quic-v1"}
	flags := map[string]any{"api.listen": "127.0.0.1:9200"}
	c, err := config.Load(dir, env, flags)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"file over default", c.Agency.Name, "From file"},
		{"file", c.Cases.NumberPrefix, "FILE"},
		{"flag over env over file", c.API.Listen, "127.0.0.1:9200"},
		{"env over default", c.Auth.TokenTTL.String(), (2 * time.Hour).String()},
		{"default", c.Log.Level, "info"},
		{"env list", strings.Join(c.P2P.Listen, " "), "/ip4/127.0.0.1/tcp/1 /ip4/127.0.0.1/udp/1/quic-v1"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct{ file, want string }{
		{"", "agency.id is required"},
		{"[agency]\nid = \"Bad Id\"", "agency.id"},
		{"[agency]\nid = \"a\"\n[api]\nlisten_typo = \"x\"", `unknown key "api.listen_typo"`},
		{"[agency]\nid = \"a\"\n[log]\nlevel = \"loud\"", "log.level"},
		{"[agency\nid=", "cpx.toml"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, config.FileName), []byte(tt.file), 0o644)
		_, err := config.Load(dir, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("file %q: got error %v, want one containing %q", tt.file, err, tt.want)
		}
	}
}

func TestWriteFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := config.Default()
	want.Agency = config.Agency{ID: "unicef-so/hargeisa", Name: "UNICEF \"Hargeisa\""}
	if err := config.WriteFile(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if err := config.WriteFile(dir, want); err == nil {
		t.Error("second WriteFile succeeded, want an error (file exists)")
	}
}

func TestCasePrefix(t *testing.T) {
	for _, tc := range []struct{ agency, want string }{
		{"save-the-children-so", "SCSO"},
		{"unicef-so/hargeisa", "USOH"},
		{"irc-so", "ISO"},
		{"agency-a", "AA"},
		{"unicef", "UNIC"},
		{"a", "A"},
		{"1st-response", "C1R"},
		{"international-rescue-committee-of-the-world-food-programme-and-more", "IRCWFPM"},
	} {
		got := config.CasePrefix(tc.agency)
		if got != tc.want || !config.ValidCasePrefix(got) {
			t.Errorf("CasePrefix(%q): got %q (valid %v), want %q", tc.agency, got, config.ValidCasePrefix(got), tc.want)
		}
	}
	for _, p := range []string{"", "scso", "SC-SO", "1ABC", "ABCDEFGHIJKLM"} {
		if config.ValidCasePrefix(p) {
			t.Errorf("ValidCasePrefix(%q) = true, want false", p)
		}
	}
}

func TestDigestAt(t *testing.T) {
	tests := []struct {
		in      string
		at      time.Duration
		on, bad bool
	}{
		{in: "07:30", at: 7*time.Hour + 30*time.Minute, on: true},
		{in: "00:00", at: 0, on: true},
		{in: "off"},
		{in: "", bad: true},
		{in: "7", bad: true},
		{in: "25:00", bad: true},
		{in: "07:60", bad: true},
		{in: "7am", bad: true},
	}
	for _, tt := range tests {
		at, on, err := config.Casework{DigestTime: tt.in}.DigestAt()
		if at != tt.at || on != tt.on || (err != nil) != tt.bad {
			t.Errorf("DigestAt(%q) = %v, %v, %v; want %v, %v, error %v", tt.in, at, on, err, tt.at, tt.on, tt.bad)
		}
	}
}
