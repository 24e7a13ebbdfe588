package conformance_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/node/nodedir"
)

// TestBackupRestoreAndKeys: keys status and agency rotation on a running
// node, an encrypted backup, and restores: into a new directory (works),
// over an existing store (refused, nothing touched), with the wrong
// passphrase (refused, nothing left behind).
func TestBackupRestoreAndKeys(t *testing.T) {
	dir := initNode(t, "agency-r")
	n := start(t, dir)
	supToken := addUser(t, dir, "sam", "supervisor")
	var created struct{ Case caseJSON }
	mustJSON(t, &created, "case", "create", "--set", "name_first=Backed", "--set", "sex=female", "--api", n.url, "--token", supToken)

	var ks struct {
		Keyring    string `json:"keyring"`
		KeyringOK  bool   `json:"keyring_ok"`
		AgencyKeys []struct {
			Version int  `json:"version"`
			Current bool `json:"current"`
		} `json:"agency_keys"`
	}
	mustJSON(t, &ks, "keys", "status", "--dir", dir)
	if ks.Keyring != "file" || !ks.KeyringOK || len(ks.AgencyKeys) != 1 {
		t.Errorf("keys status: %+v", ks)
	}
	must(t, "keys", "rotate", "--agency", "--dir", dir)
	mustJSON(t, &ks, "keys", "status", "--dir", dir)
	if len(ks.AgencyKeys) != 2 || !ks.AgencyKeys[1].Current || ks.AgencyKeys[1].Version != 2 {
		t.Errorf("after rotate --agency: %+v", ks.AgencyKeys)
	}
	if r := cpx(t, nil, "keys", "rotate", "--wrapping", "--dir", dir); r.code == 0 || !strings.Contains(r.stderr, "Vault") {
		t.Errorf("rotate --wrapping on a file keyring: exit %d, %q", r.code, r.stderr)
	}
	if r := cpx(t, nil, "keys", "rotate", "--dir", dir); r.code != 2 {
		t.Errorf("rotate without what: exit %d, want 2", r.code)
	}

	file := filepath.Join(t.TempDir(), "node.cpxb")
	must(t, "backup", file, "--dir", dir)
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "Backed") {
		t.Error("the backup holds case data in plaintext")
	}

	// Over an existing node: refused, nothing touched.
	if r := cpx(t, nil, "restore", file, "--dir", dir); r.code == 0 || !strings.Contains(r.stderr, "already holds") {
		t.Errorf("restore over a node: exit %d, %q", r.code, r.stderr)
	}
	// With the wrong passphrase: refused, nothing left behind.
	bad := filepath.Join(t.TempDir(), "bad")
	if r := cpx(t, []string{"CPX_PASSPHRASE=wrong"}, "restore", file, "--dir", bad); r.code == 0 || !strings.Contains(r.stderr, "passphrase") {
		t.Errorf("restore with the wrong passphrase: exit %d, %q", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(bad); len(entries) != 0 {
		t.Errorf("a failed restore left %d files behind", len(entries))
	}
	n.stop(t)

	// Into a new directory: the restored node serves the same cases, and its
	// audit chain verifies.
	restored := filepath.Join(t.TempDir(), "restored")
	must(t, "restore", file, "--dir", restored)
	m := start(t, restored)
	var got struct{ Case caseJSON }
	mustJSON(t, &got, "case", "get", created.Case.ID, "--api", m.url, "--token", supToken)
	if got.Case.Fields["name_first"] != "Backed" {
		t.Errorf("restored case: %+v", got.Case)
	}
	var v struct {
		OK bool `json:"ok"`
	}
	// credentials.json is not in a backup (it holds a bearer token): the
	// administrator's token still works on the restored node.
	creds, err := nodedir.ReadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	mustJSON(t, &v, "audit", "verify", "--api", m.url, "--token", creds.Token)
	if !v.OK {
		t.Error("the restored audit chain does not verify")
	}
}
