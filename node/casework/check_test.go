package casework_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cpx-node/cpx/node/casekeys"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store/memstore"
)

// TestCheckAndReplayPurge is what a restore does with a copy of the data:
// Check opens every case; a case whose key was destroyed after the copy
// was made is reported, and ReplayPurge makes it a tombstone; a case whose
// key is missing from the key store is a failure, never a silent skip.
func TestCheckAndReplayPurge(t *testing.T) {
	ctx := context.Background()
	keys := casekeys.NewMemory()
	st := memstore.New()
	svc := casework.New(casework.Options{Store: st, Forms: forms.Standard(), Agency: "agency-a", NumberPrefix: "AA", Keys: keys})
	alice := subject(t, "alice", "north", "caseworker")
	var ids []string
	for _, name := range []string{"Amina", "Omar", "Hodan", "Faduma"} {
		c, err := svc.Create(ctx, alice, "registration", map[string]any{"name_first": name, "sex": "female"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Update(ctx, alice, c.ID, map[string]any{"name_nickname": "x"}, 0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if err := svc.Purge(ctx, eraser(), ids[0], "erasure request"); err != nil {
		t.Fatal(err)
	}
	rep, err := svc.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Cases != 3 || rep.Tombstones != 1 || len(rep.KeyDestroyed) != 0 || rep.Failed != 0 {
		t.Fatalf("check of a sound store: got %+v, want 3 cases and 1 tombstone", rep)
	}

	// The key of ids[1] is destroyed behind the data's back (purged on
	// the node after this copy was made).
	if err := keys.Destroy(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	// And a store that never had the key of a new case: a failure.
	other := casework.New(casework.Options{Store: st, Forms: forms.Standard(), Agency: "agency-a", NumberPrefix: "AA", Keys: casekeys.NewMemory()})
	orphan, err := other.Create(ctx, alice, "registration", map[string]any{"name_first": "Ali", "sex": "male"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = svc.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Cases != 2 || len(rep.KeyDestroyed) != 1 || rep.KeyDestroyed[0] != ids[1] || rep.Failed != 1 || rep.Failures[0].ID != orphan.ID {
		t.Fatalf("check: got %+v, want 2 cases, %s key destroyed, %s failed", rep, ids[1], orphan.ID)
	}

	if live, err := svc.ReplayPurge(ctx, ids[1], "cpx-restore"); err != nil || !live {
		t.Fatalf("replay of a live record: %v, %v", live, err)
	}
	if _, err := svc.Get(ctx, alice, ids[1]); !errors.Is(err, casework.ErrPurged) {
		t.Errorf("get after replay: got %v, want ErrPurged", err)
	}
	if live, err := svc.ReplayPurge(ctx, ids[1], "cpx-restore"); err != nil || live {
		t.Errorf("a second replay: %v, %v (want not live)", live, err)
	}
	// A replay of a case whose key is still there destroys it too.
	if _, err := svc.ReplayPurge(ctx, ids[2], "cpx-restore"); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Get(ctx, ids[2]); !errors.Is(err, casekeys.ErrDestroyed) {
		t.Errorf("key after replay: got %v, want ErrDestroyed", err)
	}
	rep, _ = svc.Check(ctx)
	if rep.Cases != 1 || rep.Tombstones != 3 || len(rep.KeyDestroyed) != 0 {
		t.Errorf("after the replays: got %+v, want 1 case and 3 tombstones", rep)
	}
	verifyAudit(t, st)
}
