package conformance_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/conformance/vault"
	"github.com/cpx-node/cpx/node/nodedir"
)

// auditEntries returns every audit entry of the node in dir (as the
// admin whose credentials are there).
func auditEntries(t *testing.T, dir string, env ...string) []map[string]any {
	t.Helper()
	r := cpx(t, env, "audit", "tail", "-n", "100000", "--dir", dir, "-o", "json")
	if r.code != 0 {
		t.Fatalf("audit tail: exit %d: %s", r.code, r.stderr)
	}
	var out struct {
		Entries []map[string]any `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("audit tail: %v\n%s", err, r.stdout)
	}
	return out.Entries
}

// snapshot is what a user sees of a node through the CLI: every case with
// its history, the outgoing referrals, the tracing requests.
type snapshot map[string]json.RawMessage

func takeSnapshot(t *testing.T, url, dpoToken, cwToken string, caseIDs []string, env ...string) snapshot {
	t.Helper()
	s := snapshot{}
	get := func(key, token string, args ...string) {
		r := cpx(t, env, append(args, "--api", url, "--token", token, "-o", "json")...)
		if r.code != 0 {
			t.Fatalf("cpx %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		s[key] = json.RawMessage(r.stdout)
	}
	for _, id := range caseIDs {
		get("case "+id, dpoToken, "case", "get", id)
		get("history "+id, dpoToken, "case", "history", id)
	}
	get("referrals", cwToken, "referral", "list", "--outgoing")
	get("traces", cwToken, "trace", "list")
	return s
}

func (s snapshot) diff(t *testing.T, other snapshot) {
	t.Helper()
	for k, v := range s {
		var a, b any
		json.Unmarshal(v, &a)
		json.Unmarshal(other[k], &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differs after the restore:\n got  %s\n want %s", k, other[k], v)
		}
	}
}

// TestRestoreDrill is the drill an officer runs: a node with cases (one
// purged before the backup, one after), a referral delivered to a peer, a
// tracing request and its audit log; a backup, a newer backup, the node's
// directory destroyed; a restore on a fresh directory from the older
// backup with the newer one's purge log. Every record reads back as it
// was, the audit chain up to the backup is the same entry for entry and
// verifies, both purges hold, and the lost administrator token is issued
// again offline by the passphrase's holder.
func TestRestoreDrill(t *testing.T) {
	dirA, dirB := initFedNode(t, "agency-a"), initFedNode(t, "agency-b")
	a, b := start(t, dirA), start(t, dirB)
	defer b.stop(t)
	federate(t, dirA, dirB)
	cw := addUser(t, dirA, "ana", "caseworker", "--group", "north")
	dpo := addUser(t, dirA, "dora", "dpo")

	var ids []string
	for _, name := range []string{"Hodan", "Faduma", "Amina", "Omar"} {
		var c struct{ Case caseJSON }
		mustJSON(t, &c, "case", "create", "--set", "name_first="+name, "--set", "sex=female", "--set", "age=7",
			"--set", "consent_for_services=yes", "--api", a.url, "--token", cw)
		ids = append(ids, c.Case.ID)
	}
	must(t, "case", "update", ids[0], "--set", "name_nickname=Hoda", "--api", a.url, "--token", cw)
	must(t, "case", "refer", ids[0], "--to", "agency-b", "--service", "health", "--api", a.url, "--token", cw)
	must(t, "trace", "create", "--set", "inquirer_name=Fatuma Hassan", "--set", "consent_for_tracing=true",
		"--set", "trace.name=Hodan Ali", "--set", "trace.sex=female", "--set", "trace.age=7", "--api", a.url, "--token", cw)
	waitOutboxEmpty(t, dirA)
	must(t, "case", "purge", ids[3], "--reason", "erasure request", "--api", a.url, "--token", dpo)

	live := ids[:3]
	before := takeSnapshot(t, a.url, dpo, cw, live)
	auditBefore := auditEntries(t, dirA)
	older := filepath.Join(t.TempDir(), "older.cpxb")
	must(t, "backup", older, "--dir", dirA)
	// After the backup: one more purge, logged in the newer backup.
	must(t, "case", "purge", ids[2], "--reason", "erasure request", "--api", a.url, "--token", dpo)
	newer := filepath.Join(t.TempDir(), "newer.cpxb")
	must(t, "backup", newer, "--dir", dirA)
	a.stop(t)
	if err := os.RemoveAll(dirA); err != nil { // the machine is lost
		t.Fatal(err)
	}

	// A doctored copy is refused and leaves nothing behind.
	raw, err := os.ReadFile(older)
	if err != nil {
		t.Fatal(err)
	}
	doctored := filepath.Join(t.TempDir(), "doctored.cpxb")
	os.WriteFile(doctored, bytes.Replace(raw, []byte(`"agency":"agency-a"`), []byte(`"agency":"agency-x"`), 1), 0o600)
	if r := cpx(t, nil, "restore", doctored, "--dir", dirA); r.code == 0 || !strings.Contains(r.stderr, "header was changed") {
		t.Errorf("restore of a doctored header: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(dirA); !os.IsNotExist(err) {
		t.Errorf("a refused restore left %s behind", dirA)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dirA), ".*restoring*")); len(left) != 0 {
		t.Errorf("a refused restore left %v behind", left)
	}

	var rep struct {
		Cases    int      `json:"cases"`
		Replayed []string `json:"purges_replayed"`
		CaseKeys string   `json:"case_keys"`
	}
	mustJSON(t, &rep, "restore", older, "--dir", dirA, "--purges-from", newer)
	if rep.Cases != 2 || len(rep.Replayed) != 1 || rep.Replayed[0] != ids[2] || rep.CaseKeys != "backup" {
		t.Errorf("restore report %+v: want 2 cases, %s purged again, keys from the backup", rep, ids[2])
	}
	if _, err := os.Stat(filepath.Join(dirA, nodedir.CredentialsFile)); !os.IsNotExist(err) {
		t.Fatal("a backup carried credentials.json")
	}
	var rec struct {
		User  string `json:"user"`
		Token string `json:"token"`
	}
	mustJSON(t, &rec, "recover-admin", "--dir", dirA)
	if rec.User != "admin" || !strings.HasPrefix(rec.Token, "cpx_") {
		t.Fatalf("recover-admin: %+v", rec)
	}
	if r := cpx(t, []string{"CPX_PASSPHRASE=not the passphrase at all"}, "recover-admin", "--dir", dirA); r.code == 0 {
		t.Error("recover-admin with a wrong passphrase exited 0")
	}

	a = start(t, dirA)
	defer a.stop(t)
	if r := cpx(t, nil, "recover-admin", "--dir", dirA); r.code == 0 || !strings.Contains(r.stderr, "stop it first") {
		t.Errorf("recover-admin on a running node: exit %d, %q", r.code, r.stderr)
	}
	after := takeSnapshot(t, a.url, dpo, cw, ids[:2])
	delete(before, "case "+ids[2])
	delete(before, "history "+ids[2])
	before.diff(t, after)
	for _, id := range ids[2:] {
		if r := cpx(t, nil, "case", "get", id, "--api", a.url, "--token", dpo); r.code != 3 {
			t.Errorf("purged case %s after the restore: exit %d, want 3 (purged)", id, r.code)
		}
	}

	auditAfter := auditEntries(t, dirA)
	if len(auditAfter) <= len(auditBefore) {
		t.Fatalf("restored audit log: %d entries, fewer than the %d before the backup", len(auditAfter), len(auditBefore))
	}
	for i := range auditBefore {
		if !reflect.DeepEqual(auditBefore[i], auditAfter[i]) {
			t.Fatalf("audit entry %d differs after the restore:\n got  %v\n want %v", i, auditAfter[i], auditBefore[i])
		}
	}
	var actions []string
	for _, e := range auditAfter[len(auditBefore):] {
		actions = append(actions, e["action"].(string))
	}
	for _, want := range []string{"node.backup", "case.purge", "node.restore", "user.token.recover"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit entries after the backup %v: no %s", actions, want)
		}
	}
	var v struct {
		OK bool `json:"ok"`
	}
	mustJSON(t, &v, "audit", "verify", "--dir", dirA)
	if !v.OK {
		t.Error("the restored audit chain does not verify")
	}

	// Without the newer log, the older backup brings back the case purged
	// after it: the window docs/operations.md tells officers to bound.
	other := filepath.Join(t.TempDir(), "without-log")
	mustJSON(t, &rep, "restore", older, "--dir", other)
	if rep.Cases != 3 {
		t.Errorf("restore without the newer purge log: %d cases, want 3", rep.Cases)
	}
}

// waitOutboxEmpty waits until the node in dir has delivered everything.
func waitOutboxEmpty(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var ob struct {
			Entries []any `json:"entries"`
		}
		mustJSON(t, &ob, "outbox", "--dir", dir)
		if len(ob.Entries) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the outbox of %s did not empty in 60 s", dir)
}

// TestRestoreDrillVault: the same drill on a node whose keys are in a real
// Vault. The case keys stay in Vault (the backup holds none); a case purged
// after the backup is purged again because Vault destroyed its key; the
// Vault address comes from the operator, never from the backup; and a
// case key missing from Vault fails the restore loudly.
func TestRestoreDrillVault(t *testing.T) {
	v := vault.Start(t)
	dir := filepath.Join(t.TempDir(), "agency-v")
	env := []string{"CPX_VAULT_TOKEN=" + v.Token, "CPX_PASSPHRASE="}
	if r := cpx(t, env, "init", "--dir", dir, "--agency", "agency-v", "--keyring", "vault", "--vault-addr", v.Addr, "--vault-key", "cpx-agency-v",
		"--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0"); r.code != 0 {
		t.Fatalf("init with vault: %s%s", r.stdout, r.stderr)
	}
	n := startEnv(t, dir, env)
	cw := addUser(t, dir, "ana", "caseworker")
	dpo := addUser(t, dir, "dora", "dpo")
	var ids []string
	for _, name := range []string{"Hodan", "Faduma", "Amina"} {
		var c struct{ Case caseJSON }
		mustJSON(t, &c, "case", "create", "--set", "name_first="+name, "--set", "sex=female", "--api", n.url, "--token", cw)
		ids = append(ids, c.Case.ID)
	}
	before := takeSnapshot(t, n.url, dpo, cw, ids[:2], env...)
	file := filepath.Join(t.TempDir(), "v.cpxb")
	if r := cpx(t, env, "backup", file, "--dir", dir); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	if r := cpx(t, env, "case", "purge", ids[2], "--reason", "erasure request", "--api", n.url, "--token", dpo); r.code != 0 {
		t.Fatalf("purge: %s", r.stderr)
	}
	n.stop(t)
	os.RemoveAll(dir)

	if r := cpx(t, append(env, "CPX_VAULT_ADDR="), "restore", file, "--dir", dir); r.code == 0 || !strings.Contains(r.stderr, "--vault-addr") {
		t.Errorf("restore of a Vault backup without the operator's address: exit %d, %q", r.code, r.stderr)
	}
	var rep struct {
		Cases    int      `json:"cases"`
		Replayed []string `json:"purges_replayed"`
		CaseKeys string   `json:"case_keys"`
	}
	if r := cpx(t, env, "restore", file, "--dir", dir, "--vault-addr", v.Addr, "-o", "json"); r.code != 0 {
		t.Fatalf("restore: exit %d: %s", r.code, r.stderr)
	} else if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Cases != 2 || len(rep.Replayed) != 1 || rep.Replayed[0] != ids[2] || rep.CaseKeys != "vault" {
		t.Errorf("restore report %+v: want 2 cases, %s purged again, keys from vault", rep, ids[2])
	}
	n = startEnv(t, dir, env)
	after := takeSnapshot(t, n.url, dpo, cw, ids[:2], env...)
	before.diff(t, after)
	if r := cpx(t, env, "case", "get", ids[2], "--api", n.url, "--token", dpo); r.code != 3 {
		t.Errorf("case purged after the backup: exit %d after the restore, want 3", r.code)
	}
	n.stop(t)

	// Vault lost a case key (not destroyed by a purge: just gone): the
	// restore fails, names the case and what Vault must hold, and leaves
	// nothing.
	if _, err := v.Client(t).Logical().Delete("secret/metadata/cpx/case-keys/keys/" + ids[0]); err != nil {
		t.Fatal(err)
	}
	lost := filepath.Join(t.TempDir(), "lost")
	r := cpx(t, env, "restore", file, "--dir", lost, "--vault-addr", v.Addr)
	if r.code == 0 || !strings.Contains(r.stderr, ids[0]) || !strings.Contains(r.stderr, "Vault must still hold") {
		t.Errorf("restore with a case key missing from Vault: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(lost); !os.IsNotExist(err) {
		t.Errorf("a failed restore left %s behind", lost)
	}
}
