package tracing_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/node/tracing"
)

// TestRequestsScoped: a tracing request belongs to its owner and group like
// a case; a caseworker whose role's scope does not reach it can neither
// read, list, update nor match it, and the refusal reads like a request
// that does not exist.
func TestRequestsScoped(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	theirs, err := fx.svc.Create(ctx, fx.tina, arabicRequest())
	if err != nil {
		t.Fatal(err)
	}
	mine, err := fx.svc.Create(ctx, fx.sam, arabicRequest())
	if err != nil {
		t.Fatal(err)
	}
	_, errGet := fx.svc.Get(ctx, fx.sam, theirs.Number)
	_, errMissing := fx.svc.Get(ctx, fx.sam, "TR-999999")
	if !errors.Is(errGet, tracing.ErrNotFound) || strings.Replace(errGet.Error(), theirs.Number, "N", 1) != strings.Replace(errMissing.Error(), "TR-999999", "N", 1) {
		t.Errorf("reading another's request: %v; a missing one: %v (want the same not found)", errGet, errMissing)
	}
	if _, err := fx.svc.Update(ctx, fx.sam, theirs.ID, map[string]any{"trace.sex": "female"}); !errors.Is(err, tracing.ErrNotFound) {
		t.Errorf("updating another's request: %v, want not found", err)
	}
	if _, _, err := fx.svc.Match(ctx, fx.sam, theirs.ID, 0); !errors.Is(err, tracing.ErrNotFound) {
		t.Errorf("matching another's request: %v, want not found", err)
	}
	list, err := fx.svc.List(ctx, fx.sam, "", 0)
	if err != nil || len(list) != 1 || list[0].ID != mine.ID {
		t.Errorf("sam lists %v, %v; want only his own request", list, err)
	}
	sums, err := fx.svc.MatchAll(ctx, fx.sam)
	if err != nil || len(sums) != 1 || sums[0].ID != mine.ID {
		t.Errorf("sam's match-all covers %v, %v; want only his own request", sums, err)
	}
	// Scope all reaches both.
	if list, err := fx.svc.List(ctx, fx.tina, "", 0); err != nil || len(list) != 2 {
		t.Errorf("tina lists %d requests, %v; want 2", len(list), err)
	}
	if _, err := fx.svc.Get(ctx, fx.tina, mine.ID); err != nil {
		t.Errorf("tina reading sam's request: %v", err)
	}
}
