package casework_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casekeys"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/badgerstore"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/policy"
)

// eraser is a subject of a custom role that may purge the agency's cases
// (besides the standard dpo role).
func eraser() policy.Subject {
	return policy.Subject{User: "erin", Agency: "agency-a", Role: policy.Role{
		ID: "eraser", Scope: policy.ScopeAgency,
		Permissions: []policy.Permission{
			{Resource: policy.ResourceCase, Action: policy.ActionPurge},
			{Resource: policy.ResourceCase, Action: policy.ActionRead},
			{Resource: policy.ResourceCase, Action: policy.ActionList},
			{Resource: policy.ResourceCase, Action: policy.ActionHistory},
			{Resource: policy.ResourceCase, Action: policy.ActionExport},
		},
	}}
}

func TestPurge(t *testing.T) {
	stores(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		erin := eraser()
		gone, err := fx.svc.Create(ctx, fx.alice, "registration", registration())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.svc.Update(ctx, fx.alice, gone.ID, map[string]any{"name_nickname": "Mina"}, 0); err != nil {
			t.Fatal(err)
		}
		kept, err := fx.svc.Create(ctx, fx.alice, "registration", map[string]any{"name_first": "Omar", "sex": "male"})
		if err != nil {
			t.Fatal(err)
		}

		if err := fx.svc.Purge(ctx, fx.alice, gone.ID, "erasure request"); !errors.Is(err, casework.ErrDenied) {
			t.Errorf("caseworker purge: got %v, want ErrDenied", err)
		}
		if err := fx.svc.Purge(ctx, fx.sup, gone.ID, "erasure request"); !errors.Is(err, casework.ErrDenied) {
			t.Errorf("supervisor purge: got %v, want ErrDenied", err)
		}
		other := erin
		other.Agency = "agency-b"
		if err := fx.svc.Purge(ctx, other, gone.ID, "erasure request"); !errors.Is(err, casework.ErrDenied) {
			t.Errorf("purge of another agency's case: got %v, want ErrDenied", err)
		}
		if err := fx.svc.Purge(ctx, erin, gone.ID, "  "); !errors.Is(err, casework.ErrInvalid) {
			t.Errorf("purge without reason: got %v, want ErrInvalid", err)
		}
		if err := fx.svc.Purge(ctx, erin, "nope", "erasure request"); !errors.Is(err, casework.ErrNotFound) {
			t.Errorf("purge of an unknown case: got %v, want ErrNotFound", err)
		}
		if err := fx.svc.Purge(ctx, fx.dpo, gone.Number, "erasure request 2026-11-25"); err != nil {
			t.Fatalf("purge: %v", err)
		}

		if _, err := fx.svc.Get(ctx, fx.alice, gone.ID); !errors.Is(err, casework.ErrPurged) || !errors.Is(err, casework.ErrNotFound) {
			t.Errorf("get purged: got %v, want ErrPurged (also matching ErrNotFound)", err)
		}
		if _, err := fx.svc.Get(ctx, fx.bob, gone.ID); !errors.Is(err, casework.ErrDenied) {
			t.Errorf("get purged by someone without access: got %v, want ErrDenied", err)
		}
		if _, err := fx.svc.History(ctx, fx.alice, gone.ID); !errors.Is(err, casework.ErrPurged) {
			t.Errorf("history purged: got %v, want ErrPurged", err)
		}
		if _, err := fx.svc.Update(ctx, fx.alice, gone.ID, map[string]any{"age": 3}, 0); !errors.Is(err, casework.ErrPurged) {
			t.Errorf("update purged: got %v, want ErrPurged", err)
		}
		if _, err := fx.svc.Close(ctx, fx.alice, gone.ID, "x"); !errors.Is(err, casework.ErrPurged) {
			t.Errorf("close purged: got %v, want ErrPurged", err)
		}
		if got, err := fx.svc.Get(ctx, fx.alice, kept.ID); err != nil || got.Fields["name_first"] != "Omar" {
			t.Errorf("other case after purge: got %v, %v", got.Fields, err)
		}

		list, err := fx.svc.List(ctx, erin, casework.Filter{})
		if err != nil || len(list) != 1 || list[0].ID != kept.ID {
			t.Errorf("list after purge: got %d cases (%v), want only the kept one", len(list), err)
		}
		if q, _ := fx.svc.List(ctx, erin, casework.Filter{Query: "amina"}); len(q) != 0 {
			t.Errorf("purged case found by name: %d results", len(q))
		}
		tombs, err := fx.svc.List(ctx, erin, casework.Filter{Status: casework.StatusPurged})
		if err != nil || len(tombs) != 1 {
			t.Fatalf("list purged: got %d, %v; want 1 tombstone", len(tombs), err)
		}
		tomb := tombs[0]
		if tomb.ID != gone.ID || tomb.Number != gone.Number || len(tomb.Fields) != 0 || tomb.CloseReason != "erasure request 2026-11-25" || tomb.Version != 3 {
			t.Errorf("tombstone: got %+v", tomb)
		}
		var exported []string
		if err := fx.svc.Export(ctx, erin, "", func(c casework.Case) error { exported = append(exported, c.ID); return nil }); err != nil || len(exported) != 1 {
			t.Errorf("export after purge: got %v, %v; want only the kept case", exported, err)
		}

		// No version record of the purged case is left.
		var versions int
		fx.store.View(ctx, func(r store.Reader) error {
			return r.Scan([]byte("c/v/"+gone.ID+"/"), store.ScanOptions{}, func(_, _ []byte) error { versions++; return nil })
		})
		if versions != 0 {
			t.Errorf("got %d version records of the purged case, want 0", versions)
		}

		// Purging again is allowed (it finishes an interrupted purge).
		if err := fx.svc.Purge(ctx, erin, gone.ID, "again"); err != nil {
			t.Errorf("second purge: got %v, want nil", err)
		}
		if n, _ := fx.svc.Count(ctx); n != 2 {
			t.Errorf("count: got %d, want 2 (numbers issued)", n)
		}
		var purges, refused int
		fx.store.View(ctx, func(r store.Reader) error {
			return audit.Scan(r, func(e audit.Entry) error {
				if e.Action == "case.purge" {
					if e.Outcome == audit.OK {
						purges++
					} else {
						refused++
					}
				}
				return nil
			})
		})
		if purges != 2 || refused != 4 { // caseworker, supervisor, other agency, unknown case
			t.Errorf("audit: got %d ok and %d refused case.purge entries, want 2 and 4", purges, refused)
		}
		verifyAudit(t, fx.store)
	})
}

// TestStoredSealed checks that no form data is in the store in clear: not
// in records, versions or indexes.
func TestStoredSealed(t *testing.T) {
	fx := newFixture(t, memstore.New())
	ctx := context.Background()
	c, err := fx.svc.Create(ctx, fx.alice, "registration", map[string]any{"name_first": "Xanthippe", "sex": "female"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.Update(ctx, fx.alice, c.ID, map[string]any{"name_nickname": "Yolandine"}, 0); err != nil {
		t.Fatal(err)
	}
	var sawNumber bool
	fx.store.View(ctx, func(r store.Reader) error {
		return r.Scan(nil, store.ScanOptions{}, func(k, v []byte) error {
			for _, secret := range []string{"Xanthippe", "Yolandine", "name_first", "female"} {
				if bytes.Contains(k, []byte(secret)) || bytes.Contains(v, []byte(secret)) {
					t.Errorf("%q in clear under key %q", secret, k)
				}
			}
			sawNumber = sawNumber || bytes.Contains(v, []byte(c.Number))
			return nil
		})
	})
	if !sawNumber {
		t.Errorf("case number not found in clear: the scan saw nothing")
	}
	h, err := fx.svc.History(ctx, fx.alice, c.ID)
	if err != nil || len(h) != 2 || h[1].Changed["name_nickname"] != "Yolandine" {
		t.Errorf("history: got %+v, %v", h, err)
	}
}

// TestSealedBinding checks that a sealed record moved to another case (or
// left under a changed version number) does not open.
func TestSealedBinding(t *testing.T) {
	fx := newFixture(t, memstore.New())
	ctx := context.Background()
	a, _ := fx.svc.Create(ctx, fx.alice, "registration", registration())
	b, err := fx.svc.Create(ctx, fx.alice, "registration", map[string]any{"name_first": "Omar", "sex": "male"})
	if err != nil {
		t.Fatal(err)
	}
	err = fx.store.Update(ctx, func(w store.Writer) error {
		va, err := w.Get([]byte("c/r/" + a.ID))
		if err != nil {
			return err
		}
		// a's record under b's key, with b's id: only the sealed part is a's.
		return w.Set([]byte("c/r/"+b.ID), bytes.ReplaceAll(bytes.ReplaceAll(va, []byte(a.ID), []byte(b.ID)), []byte(a.Number), []byte(b.Number)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fx.svc.Get(ctx, fx.alice, b.ID); err == nil {
		t.Errorf("a's sealed data opened as b's: %v", got.Fields)
	}
}

// TestPlaintextRecordsStillRead checks that records written before form
// data was encrypted (fields in clear, no key) still read.
func TestPlaintextRecordsStillRead(t *testing.T) {
	fx := newFixture(t, memstore.New())
	ctx := context.Background()
	err := fx.store.Update(ctx, func(w store.Writer) error {
		for k, v := range map[string]string{
			"c/r/old-1":      `{"id":"old-1","case_number":"AA-000009","status":"open","workflow_stage":"new","owner":"alice","owner_group":"north","agency":"agency-a","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","version":1,"fields":{"name_first":"Legacy","sex":"male"}}`,
			"c/n/AA-000009":  "old-1",
			"c/s/open/old-1": "",
			"c/v/old-1/\x00\x00\x00\x00\x00\x00\x00\x01": `{"version":1,"at":"2026-01-01T00:00:00Z","actor":"alice","action":"create","changed":{"name_first":"Legacy","sex":"male"}}`,
		} {
			if err := w.Set([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := fx.svc.Get(ctx, fx.alice, "AA-000009")
	if err != nil || c.Fields["name_first"] != "Legacy" {
		t.Fatalf("legacy record: got %v, %v", c.Fields, err)
	}
	if h, err := fx.svc.History(ctx, fx.alice, c.ID); err != nil || len(h) != 1 || h[0].Changed["sex"] != "male" {
		t.Errorf("legacy history: got %+v, %v", h, err)
	}
}

// grepDir returns the files under dir whose bytes contain needle, reading
// each file in chunks. Badger's value-log and memory-table files are
// preallocated (sparse, up to 2 GiB) and written from the start, so a file
// is read only up to its first chunk of zeros.
func grepDir(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		buf := make([]byte, 1<<20+len(needle))
		carry := 0
		for {
			n, err := io.ReadFull(f, buf[carry:])
			if bytes.Contains(buf[:carry+n], needle) {
				hits = append(hits, filepath.Base(p))
				return nil
			}
			if err != nil || !bytes.ContainsFunc(buf[carry:carry+n], func(r rune) bool { return r != 0 }) {
				return nil
			}
			carry = copy(buf, buf[carry+n-len(needle)+1:carry+n])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestCryptoShredding is the right-to-erasure scenario: a backup of the
// data store taken before a purge is restored, and opened with the current
// case key store. The purged case cannot be read; the others can. The data
// store is not encrypted at rest here (Insecure), so only the per-case
// encryption keeps names out of its files and of the backup.
func TestCryptoShredding(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	kr, err := keyring.CreateFileWithParams(filepath.Join(root, "keyring.json"), []byte("passphrase"), keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	keys, err := casekeys.OpenLocal(ctx, casekeys.LocalOptions{Dir: filepath.Join(root, "casekeys"), Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	dataDir := filepath.Join(root, "data")
	data, err := badgerstore.Open(ctx, badgerstore.Options{Dir: dataDir, Insecure: true, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	open := func(s store.Store) *casework.Service {
		return casework.New(casework.Options{Store: s, Forms: forms.Standard(), Agency: "agency-a", NumberPrefix: "AA", Keys: keys, Now: func() time.Time { return now }})
	}
	svc := open(data)
	alice := subject(t, "alice", "north", "caseworker")
	gone, err := svc.Create(ctx, alice, "registration", map[string]any{"name_first": "Zebulonia", "name_last": "Quarrington", "sex": "female"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(ctx, alice, gone.ID, map[string]any{"name_nickname": "Zebbie"}, 0); err != nil {
		t.Fatal(err)
	}
	kept, err := svc.Create(ctx, alice, "registration", map[string]any{"name_first": "Quintessa", "sex": "female"})
	if err != nil {
		t.Fatal(err)
	}

	var backup bytes.Buffer
	if err := data.Backup(&backup); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Zebulonia", "Quarrington", "Zebbie", "Quintessa"} {
		if bytes.Contains(backup.Bytes(), []byte(name)) {
			t.Errorf("backup holds %q in clear", name)
		}
	}
	if !bytes.Contains(backup.Bytes(), []byte(gone.Number)) {
		t.Errorf("backup does not hold the case number in clear: the grep proves nothing")
	}

	if err := svc.Purge(ctx, eraser(), gone.ID, "erasure request"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, alice, gone.ID); !errors.Is(err, casework.ErrPurged) {
		t.Errorf("get after purge: got %v, want ErrPurged", err)
	}
	// Grep the files while the store is open: every write since it was
	// opened is then in the write-ahead (memory-table) file uncompressed,
	// whereas flushed tables are Snappy-compressed and a grep of them
	// proves less. Then again after Close.
	names := []string{"Zebulonia", "Quarrington", "Zebbie", "Quintessa"}
	for _, name := range names {
		if hits := grepDir(t, dataDir, []byte(name)); len(hits) != 0 {
			t.Errorf("open data store: files %v hold %q in clear", hits, name)
		}
	}
	if hits := grepDir(t, dataDir, []byte(gone.Number)); len(hits) == 0 {
		t.Errorf("open data store: no file holds the case number in clear: the grep proves nothing")
	}
	if err := data.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if hits := grepDir(t, dataDir, []byte(name)); len(hits) != 0 {
			t.Errorf("closed data store: files %v hold %q in clear", hits, name)
		}
	}

	// Restore the pre-purge backup into a fresh directory.
	restored := filepath.Join(root, "restored")
	db, err := badger.Open(badger.DefaultOptions(restored).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Load(bytes.NewReader(backup.Bytes()), 16); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if hits := grepDir(t, restored, []byte(name)); len(hits) != 0 {
			t.Errorf("restored data store: files %v hold %q in clear", hits, name)
		}
	}
	rs, err := badgerstore.Open(ctx, badgerstore.Options{Dir: restored, Insecure: true, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rsvc := open(rs)
	for _, ref := range []string{gone.ID, gone.Number} {
		if got, err := rsvc.Get(ctx, alice, ref); !errors.Is(err, casework.ErrPurged) {
			t.Errorf("restored backup, purged case %s: got %v, %v; want ErrPurged", ref, got.Fields, err)
		}
	}
	if _, err := rsvc.History(ctx, alice, gone.ID); !errors.Is(err, casework.ErrPurged) {
		t.Errorf("restored backup, purged case history: got %v, want ErrPurged", err)
	}
	if got, err := rsvc.Get(ctx, alice, kept.ID); err != nil || got.Fields["name_first"] != "Quintessa" {
		t.Errorf("restored backup, kept case: got %v, %v", got.Fields, err)
	}
	if list, err := rsvc.List(ctx, alice, casework.Filter{}); err != nil || len(list) != 1 || list[0].ID != kept.ID {
		t.Errorf("restored backup, list: got %d cases, %v; want only the kept one", len(list), err)
	}
	// Finishing the purge on the restored store writes its tombstone.
	if err := rsvc.Purge(ctx, eraser(), gone.ID, "erasure request (restored backup)"); err != nil {
		t.Errorf("purge on the restored store: %v", err)
	}
	verifyAudit(t, rs)
}
