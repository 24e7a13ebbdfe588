package casekeys_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/cpx-node/cpx/node/casekeys"
)

// TestLocalExportImport moves a key store to another directory the way a
// backup and a restore do: every live key opens there with the same
// keyring, a destroyed key stays destroyed, and a mark that arrives for a
// key already present destroys it.
func TestLocalExportImport(t *testing.T) {
	ctx := context.Background()
	kr := fileKeyring(t)
	src := openLocal(t, t.TempDir(), kr)
	keys := map[string][]byte{}
	for _, id := range []string{"c1", "c2", "c3", "c4"} {
		k, err := src.Create(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = k
	}
	if err := src.Destroy(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	var entries []casekeys.Entry
	if err := src.Export(ctx, func(e casekeys.Entry) error { entries = append(entries, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Fatalf("exported %d entries, want 4 (3 keys, 1 mark): %+v", len(entries), entries)
	}
	for _, e := range entries {
		if bytes.Contains(e.Wrapped, keys[e.CaseID]) {
			t.Fatalf("case %s: the exported key is not wrapped", e.CaseID)
		}
	}

	dst := openLocal(t, t.TempDir(), kr)
	if _, err := dst.Create(ctx, "c4"); err != nil { // c4 will arrive destroyed
		t.Fatal(err)
	}
	entries = append(entries, casekeys.Entry{CaseID: "c4", Destroyed: true})
	if err := dst.Import(ctx, entries); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]error{"c1": nil, "c2": casekeys.ErrDestroyed, "c3": nil, "c4": casekeys.ErrDestroyed} {
		got, err := dst.Get(ctx, id)
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", id, err, want)
		}
		if want == nil && !bytes.Equal(got, keys[id]) {
			t.Errorf("%s: imported key differs from the original", id)
		}
	}
	// Importing again changes nothing.
	if err := dst.Import(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if k, err := dst.Get(ctx, "c1"); err != nil || !bytes.Equal(k, keys["c1"]) {
		t.Errorf("c1 after a second import: %v", err)
	}
	if err := dst.Import(ctx, []casekeys.Entry{{CaseID: "c9"}}); err == nil {
		t.Error("an entry with neither key nor mark was imported")
	}
	if err := dst.Import(ctx, []casekeys.Entry{{CaseID: "../x", Destroyed: true}}); !errors.Is(err, casekeys.ErrInvalidID) {
		t.Errorf("a bad case id: got %v, want ErrInvalidID", err)
	}
}
