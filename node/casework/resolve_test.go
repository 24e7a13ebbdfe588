package casework_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/node/casework"
)

func TestResolve(t *testing.T) {
	stores(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		var ids []string
		for i, who := range []string{"alice", "alice", "bob"} {
			sub := fx.alice
			if who == "bob" {
				sub = fx.bob
			}
			c, err := fx.svc.Create(ctx, sub, "registration", registration())
			if err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
			ids = append(ids, c.ID)
		}
		for _, tc := range []struct {
			name, who, ref string
			want           string // the resolved ref
			wantErr        string // or the error's text
		}{
			{"number", "alice", "AA-000001", "AA-000001", ""},
			{"id", "alice", ids[0], ids[0], ""},
			{"number without case", "alice", "aa-000002", ids[1], ""},
			{"id prefix", "alice", ids[1][:8], ids[1], ""},
			{"ambiguous", "alice", "AA-00000", "", `"AA-00000" names more than one case: AA-000001 (` + ids[0] + `), AA-000002 (` + ids[1] + `)`},
			// bob sees only his own case: the prefix is unique for him, and
			// alice's cases are never named.
			{"scoped", "bob", "AA-00000", ids[2], ""},
			{"nothing", "alice", "ZZ-", "ZZ-", ""},
			// An exact id is passed on even when the caller may not see it:
			// Get refuses it then, as it always did.
			{"exact of another", "bob", "AA-000001", "AA-000001", ""},
			{"id of another", "bob", ids[0], ids[0], ""},
			// A whole id in capitals is found as before (ids are lower case).
			{"id in capitals", "alice", strings.ToUpper(ids[1]), ids[1], ""},
			{"id of no case", "alice", "00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000000", ""},
		} {
			sub := fx.alice
			if tc.who == "bob" {
				sub = fx.bob
			}
			got, err := fx.svc.Resolve(ctx, sub, tc.ref)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, casework.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%s: Resolve(%q): got %q, %v; want ErrInvalid %q", tc.name, tc.ref, got, err, tc.wantErr)
				}
				if err != nil && strings.Contains(err.Error(), "AA-000003") {
					t.Errorf("%s: the error names bob's case: %v", tc.name, err)
				}
				continue
			}
			if err != nil || got != tc.want {
				t.Errorf("%s: Resolve(%q): got %q, %v; want %q", tc.name, tc.ref, got, err, tc.want)
			}
		}
		// bob's unique prefix of his own case works through Get.
		if c, err := fx.svc.Get(ctx, fx.bob, mustResolve(t, fx, "AA-00000")); err != nil || c.ID != ids[2] {
			t.Errorf("Get(resolved AA-00000) as bob: got %v, %v; want %s", c.ID, err, ids[2])
		}
	})
}

func mustResolve(t *testing.T, fx *fixture, ref string) string {
	t.Helper()
	id, err := fx.svc.Resolve(context.Background(), fx.bob, ref)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
