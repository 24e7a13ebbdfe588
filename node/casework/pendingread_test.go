package casework_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// auditAfter returns the audit entries after seq, without their hashes,
// and the last sequence number.
func auditAfter(t *testing.T, s store.Store, seq uint64) ([]audit.Entry, uint64) {
	t.Helper()
	var out []audit.Entry
	err := s.View(context.Background(), func(r store.Reader) error {
		return audit.Scan(r, func(e audit.Entry) error {
			if e.Seq > seq {
				out = append(out, audit.Entry{Actor: e.Actor, Action: e.Action, Object: e.Object, Outcome: e.Outcome})
				seq = e.Seq
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, seq
}

// TestReadForWriteAsGet: ReadForWrite returns what Get returns, with the
// same error; it audits a refused read as Get does, and leaves a
// successful read's entry to Audit, which writes the entry Get writes.
// Unchanged holds until the case is changed.
func TestReadForWriteAsGet(t *testing.T) {
	stores(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		c, err := fx.svc.Create(ctx, fx.alice, "registration", registration())
		if err != nil {
			t.Fatal(err)
		}
		gone, err := fx.svc.Create(ctx, fx.alice, "registration", registration())
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.svc.Purge(ctx, fx.dpo, gone.ID, "erasure request"); err != nil {
			t.Fatal(err)
		}
		_, seq := auditAfter(t, fx.store, 0)
		for _, tc := range []struct {
			name string
			sub  policy.Subject
			ref  string
		}{
			{"owner by id", fx.alice, c.ID},
			{"owner by number", fx.alice, c.Number},
			{"redacted for the role", fx.coord, c.ID},
			{"no access", fx.bob, c.ID},
			{"no such case", fx.alice, "AA-nope"},
			{"purged", fx.dpo, gone.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want, wantErr := fx.svc.Get(ctx, tc.sub, tc.ref)
				var wantAudit []audit.Entry
				wantAudit, seq = auditAfter(t, fx.store, seq)
				if len(wantAudit) != 1 {
					t.Fatalf("Get's audit entries: got %+v, want one", wantAudit)
				}

				p, err := fx.svc.ReadForWrite(ctx, tc.sub, tc.ref)
				if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
					t.Fatalf("error: got %v, want %v (Get's)", err, wantErr)
				}
				if err == nil {
					if !reflect.DeepEqual(p.Case, want) {
						t.Errorf("case: got %+v, want %+v (Get's)", p.Case, want)
					}
					var got []audit.Entry
					if got, seq = auditAfter(t, fx.store, seq); len(got) != 0 {
						t.Errorf("audit before Audit: got %+v, want none", got)
					}
					if err := fx.store.Update(ctx, func(w store.Writer) error { return p.Audit(w, now) }); err != nil {
						t.Fatal(err)
					}
				}
				var got []audit.Entry
				got, seq = auditAfter(t, fx.store, seq)
				if !reflect.DeepEqual(got, wantAudit) {
					t.Errorf("audit: got %+v, want %+v (Get's)", got, wantAudit)
				}
			})
		}

		p, err := fx.svc.ReadForWrite(ctx, fx.alice, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		unchanged := func() bool {
			t.Helper()
			var same bool
			if err := fx.store.View(ctx, func(r store.Reader) error {
				var err error
				same, err = p.Unchanged(r)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return same
		}
		if _, err := fx.svc.Get(ctx, fx.alice, c.ID); err != nil {
			t.Fatal(err)
		}
		if got := unchanged(); !got {
			t.Errorf("after another read: unchanged %v, want true", got)
		}
		if _, err := fx.svc.Update(ctx, fx.alice, c.ID, map[string]any{"name_nickname": "Mina"}, 0); err != nil {
			t.Fatal(err)
		}
		if got := unchanged(); got {
			t.Errorf("after an update: unchanged %v, want false", got)
		}
		p, err = fx.svc.ReadForWrite(ctx, fx.alice, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.svc.Close(ctx, fx.alice, c.ID, "done"); err != nil {
			t.Fatal(err)
		}
		if got := unchanged(); got {
			t.Errorf("after closing: unchanged %v, want false", got)
		}
	})
}
