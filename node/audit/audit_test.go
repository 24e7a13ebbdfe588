package audit_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func entryKey(seq uint64) []byte {
	k := []byte("a/e/")
	return binary.BigEndian.AppendUint64(k, seq)
}

func fill(t *testing.T, n int) store.Store {
	t.Helper()
	s := memstore.New()
	for i := range n {
		err := audit.Record(context.Background(), s, t0.Add(time.Duration(i)*time.Second), audit.Event{
			Actor: "alice", Action: "case.read", Object: "case/1", Details: map[string]int{"i": i},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func verify(t *testing.T, s store.Store) audit.Result {
	t.Helper()
	var res audit.Result
	err := s.View(context.Background(), func(r store.Reader) error {
		var err error
		res, err = audit.Verify(r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestVerifyIntact(t *testing.T) {
	for _, n := range []int{0, 1, 5} {
		res := verify(t, fill(t, n))
		if !res.OK || res.Entries != uint64(n) {
			t.Errorf("n=%d: got ok=%v entries=%d problem=%q, want ok with %d entries", n, res.OK, res.Entries, res.Problem, n)
		}
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	edit := func(seq uint64, f func(e map[string]any)) func(store.Writer) error {
		return func(w store.Writer) error {
			b, err := w.Get(entryKey(seq))
			if err != nil {
				return err
			}
			var e map[string]any
			if err := json.Unmarshal(b, &e); err != nil {
				return err
			}
			f(e)
			b, _ = json.Marshal(e)
			return w.Set(entryKey(seq), b)
		}
	}
	tests := []struct {
		name     string
		tamper   func(store.Writer) error
		brokenAt uint64
		problem  string
	}{
		{"modified actor", edit(3, func(e map[string]any) { e["actor"] = "mallory" }), 3, "modified"},
		{"modified time", edit(2, func(e map[string]any) { e["time"] = t0.Add(time.Hour).Format(time.RFC3339Nano) }), 2, "modified"},
		{"modified and rehashed", edit(2, func(e map[string]any) {
			e["action"] = "case.update"
			// A forger who recomputes nothing else breaks the link to entry 3.
		}), 2, "modified"},
		{"removed middle", func(w store.Writer) error { return w.Delete(entryKey(3)) }, 3, "missing"},
		{"removed last", func(w store.Writer) error { return w.Delete(entryKey(5)) }, 5, "removed from the end"},
		{"reordered", func(w store.Writer) error {
			a, _ := w.Get(entryKey(2))
			b, _ := w.Get(entryKey(3))
			if err := w.Set(entryKey(2), b); err != nil {
				return err
			}
			return w.Set(entryKey(3), a)
		}, 2, "reordered"},
		{"head rewritten", func(w store.Writer) error {
			return w.Set([]byte("a/head"), []byte(`{"seq":4,"hash":"`+strings.Repeat("00", 32)+`"}`))
		}, 5, "head says 4"},
		{"garbage entry", func(w store.Writer) error { return w.Set(entryKey(4), []byte("{")) }, 4, "cannot be decoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fill(t, 5)
			if err := s.Update(context.Background(), tt.tamper); err != nil {
				t.Fatal(err)
			}
			res := verify(t, s)
			if res.OK || res.BrokenAt != tt.brokenAt || !strings.Contains(res.Problem, tt.problem) {
				t.Errorf("got ok=%v brokenAt=%d problem=%q, want broken at %d with %q", res.OK, res.BrokenAt, res.Problem, tt.brokenAt, tt.problem)
			}
		})
	}
}

func TestAppendInFailedTransactionLeavesNothing(t *testing.T) {
	s := fill(t, 2)
	boom := context.Canceled
	err := s.Update(context.Background(), func(w store.Writer) error {
		if _, err := audit.Append(w, t0, audit.Event{Actor: "a", Action: "x"}); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("got %v, want %v", err, boom)
	}
	res := verify(t, s)
	if !res.OK || res.Entries != 2 {
		t.Errorf("got ok=%v entries=%d, want ok with 2", res.OK, res.Entries)
	}
}

func TestTail(t *testing.T) {
	s := fill(t, 5)
	var got []audit.Entry
	s.View(context.Background(), func(r store.Reader) error {
		var err error
		got, err = audit.Tail(r, 2)
		return err
	})
	if len(got) != 2 || got[0].Seq != 4 || got[1].Seq != 5 {
		t.Fatalf("got %+v, want entries 4 and 5", got)
	}
	if got[1].PrevHash != got[0].Hash {
		t.Errorf("entry 5 prev hash %s, want %s", got[1].PrevHash, got[0].Hash)
	}
	if got[0].Outcome != audit.OK {
		t.Errorf("got outcome %q, want %q", got[0].Outcome, audit.OK)
	}
}
