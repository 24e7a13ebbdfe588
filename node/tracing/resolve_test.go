package tracing_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/node/tracing"
)

func TestResolve(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	var reqs []tracing.Request
	for range 2 {
		r, err := fx.svc.Create(ctx, fx.tina, arabicRequest())
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, r)
	}
	for _, tc := range []struct{ ref, want, wantErr string }{
		{reqs[0].Number, reqs[0].Number, ""},
		{strings.ToLower(reqs[1].Number), reqs[1].ID, ""},
		{reqs[0].ID[:6], reqs[0].ID, ""},
		{"TR-00000", "", "names more than one tracing request: " + reqs[0].Number},
		{"nothing", "nothing", ""},
	} {
		got, err := fx.svc.Resolve(ctx, fx.tina, tc.ref)
		if tc.wantErr != "" {
			if !errors.Is(err, tracing.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Resolve(%q): got %q, %v; want ErrInvalid %q", tc.ref, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q): got %q, %v; want %q", tc.ref, got, err, tc.want)
		}
	}
	// A subject who may not list requests has no prefix resolved.
	if got, err := fx.svc.Resolve(ctx, fx.coord, reqs[0].ID[:6]); err != nil || got != reqs[0].ID[:6] {
		t.Errorf("Resolve as coordinator: got %q, %v; want the prefix unchanged", got, err)
	}
}
