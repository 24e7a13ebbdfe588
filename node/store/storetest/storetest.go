// Package storetest is the shared test suite for store.Store
// implementations. Every adapter (badgerstore, memstore) runs it from its
// own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cpx-node/cpx/node/store"
)

// Run runs the shared suite. open must return a new, empty store each time
// it is called and close it with t.Cleanup (the suite may close it first;
// Close is idempotent).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"EmptyValue", testEmptyValue},
		{"NotFound", testNotFound},
		{"Scan", testScan},
		{"ScanPrefixEdges", testScanPrefixEdges},
		{"ScanStop", testScanStop},
		{"ScanInUpdate", testScanInUpdate},
		{"Atomicity", testAtomicity},
		{"ReadOwnWrites", testReadOwnWrites},
		{"SnapshotIsolation", testSnapshotIsolation},
		{"Copies", testCopies},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"ConcurrentFailures", testConcurrentFailures},
		{"CancelledContext", testCancelledContext},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// set writes key=value pairs in one Update.
func set(t *testing.T, s store.Store, kv ...string) {
	t.Helper()
	err := s.Update(t.Context(), func(w store.Writer) error {
		for i := 0; i < len(kv); i += 2 {
			if err := w.Set([]byte(kv[i]), []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// get reads key in its own View; missing keys read as "<nil>".
func get(t *testing.T, s store.Store, key string) string {
	t.Helper()
	var got string
	err := s.View(t.Context(), func(r store.Reader) error {
		v, err := r.Get([]byte(key))
		if errors.Is(err, store.ErrNotFound) {
			got = "<nil>"
			return nil
		}
		got = string(v)
		return err
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return got
}

// scan returns the keys visited by a Scan in a View.
func scan(t *testing.T, s store.Store, prefix string, opts store.ScanOptions) []string {
	t.Helper()
	var keys []string
	err := s.View(t.Context(), func(r store.Reader) error {
		return r.Scan([]byte(prefix), opts, func(k, v []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return keys
}

func testGetSetDelete(t *testing.T, s store.Store) {
	set(t, s, "a", "1", "b", "2")
	if got := get(t, s, "a"); got != "1" {
		t.Errorf("a = %q, want %q", got, "1")
	}
	set(t, s, "a", "one")
	if got := get(t, s, "a"); got != "one" {
		t.Errorf("a after overwrite = %q, want %q", got, "one")
	}
	err := s.Update(t.Context(), func(w store.Writer) error {
		if err := w.Delete([]byte("a")); err != nil {
			return err
		}
		return w.Delete([]byte("never-written"))
	})
	if err != nil {
		t.Fatalf("Update with deletes: %v", err)
	}
	if got := get(t, s, "a"); got != "<nil>" {
		t.Errorf("a after delete = %q, want not found", got)
	}
	if got := get(t, s, "b"); got != "2" {
		t.Errorf("b = %q, want %q", got, "2")
	}
	err = s.Update(t.Context(), func(w store.Writer) error { return w.Set(nil, []byte("x")) })
	if err == nil {
		t.Errorf("Set with an empty key succeeded")
	}
}

func testEmptyValue(t *testing.T, s store.Store) {
	set(t, s, "empty", "")
	err := s.View(t.Context(), func(r store.Reader) error {
		v, err := r.Get([]byte("empty"))
		if err != nil {
			return err
		}
		if len(v) != 0 {
			t.Errorf("empty = %q, want empty", v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	if got := scan(t, s, "", store.ScanOptions{}); !slices.Equal(got, []string{"empty"}) {
		t.Errorf("scan = %q, want [empty]", got)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	err := s.View(t.Context(), func(r store.Reader) error {
		v, err := r.Get([]byte("missing"))
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(missing) = %q, %v; want ErrNotFound", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	err = s.Update(t.Context(), func(w store.Writer) error {
		v, err := w.Get([]byte("missing"))
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(missing) in Update = %q, %v; want ErrNotFound", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func testScan(t *testing.T, s store.Store) {
	set(t, s, "c/3", "3", "a/1", "1", "c/1", "1", "b", "b", "c/2", "2", "c/10", "10", "c", "c", "d/1", "1")
	tests := []struct {
		prefix string
		opts   store.ScanOptions
		want   []string
	}{
		{"c/", store.ScanOptions{}, []string{"c/1", "c/10", "c/2", "c/3"}},
		{"c/", store.ScanOptions{Reverse: true}, []string{"c/3", "c/2", "c/10", "c/1"}},
		{"c/", store.ScanOptions{Limit: 2}, []string{"c/1", "c/10"}},
		{"c/", store.ScanOptions{Reverse: true, Limit: 3}, []string{"c/3", "c/2", "c/10"}},
		{"c/", store.ScanOptions{Limit: 100}, []string{"c/1", "c/10", "c/2", "c/3"}},
		{"c", store.ScanOptions{}, []string{"c", "c/1", "c/10", "c/2", "c/3"}},
		{"c", store.ScanOptions{Reverse: true}, []string{"c/3", "c/2", "c/10", "c/1", "c"}},
		{"", store.ScanOptions{}, []string{"a/1", "b", "c", "c/1", "c/10", "c/2", "c/3", "d/1"}},
		{"", store.ScanOptions{Reverse: true, Limit: 2}, []string{"d/1", "c/3"}},
		{"e/", store.ScanOptions{}, nil},
		{"e/", store.ScanOptions{Reverse: true}, nil},
		{"c/3", store.ScanOptions{}, []string{"c/3"}},
		{"c/30", store.ScanOptions{}, nil},
	}
	for _, tt := range tests {
		got := scan(t, s, tt.prefix, tt.opts)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Scan(%q, %+v) = %q, want %q", tt.prefix, tt.opts, got, tt.want)
		}
	}
	// Values come with their keys.
	err := s.View(t.Context(), func(r store.Reader) error {
		return r.Scan([]byte("c/"), store.ScanOptions{}, func(k, v []byte) error {
			if want := bytes.TrimPrefix(k, []byte("c/")); !bytes.Equal(v, want) {
				t.Errorf("Scan: %q = %q, want %q", k, v, want)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
}

// testScanPrefixEdges covers prefixes that end in 0xFF bytes and keys that
// continue a prefix with 0xFF, where reverse iteration must seek carefully.
func testScanPrefixEdges(t *testing.T, s store.Store) {
	set(t, s,
		"p/", "0", "p/a", "1", "p/\xff", "2", "p/\xff\xff\x01", "3", "p0", "4", "p.", "5",
		"q\xff", "6", "q\xff\x00", "7", "q\xff\xff", "8", "r", "9",
		"\xff\xff", "10", "\xff\xff\x01", "11")
	tests := []struct {
		prefix  string
		reverse bool
		want    []string
	}{
		{"p/", false, []string{"p/", "p/a", "p/\xff", "p/\xff\xff\x01"}},
		{"p/", true, []string{"p/\xff\xff\x01", "p/\xff", "p/a", "p/"}},
		{"q\xff", false, []string{"q\xff", "q\xff\x00", "q\xff\xff"}},
		{"q\xff", true, []string{"q\xff\xff", "q\xff\x00", "q\xff"}},
		{"\xff\xff", true, []string{"\xff\xff\x01", "\xff\xff"}},
		{"\xff", true, []string{"\xff\xff\x01", "\xff\xff"}},
		{"\xff\xff\x01\x00", true, nil},
	}
	for _, tt := range tests {
		got := scan(t, s, tt.prefix, store.ScanOptions{Reverse: tt.reverse})
		if !slices.Equal(got, tt.want) {
			t.Errorf("Scan(%q, reverse %v) = %q, want %q", tt.prefix, tt.reverse, got, tt.want)
		}
	}
}

func testScanStop(t *testing.T, s store.Store) {
	set(t, s, "k/1", "", "k/2", "", "k/3", "", "k/4", "")
	for _, reverse := range []bool{false, true} {
		var keys []string
		err := s.View(t.Context(), func(r store.Reader) error {
			return r.Scan([]byte("k/"), store.ScanOptions{Reverse: reverse}, func(k, v []byte) error {
				keys = append(keys, string(k))
				if len(keys) == 2 {
					return store.ErrStop
				}
				return nil
			})
		})
		if err != nil {
			t.Errorf("Scan ended by ErrStop returned %v, want nil", err)
		}
		want := []string{"k/1", "k/2"}
		if reverse {
			want = []string{"k/4", "k/3"}
		}
		if !slices.Equal(keys, want) {
			t.Errorf("Scan (reverse %v) stopped after %q, want %q", reverse, keys, want)
		}
	}
	boom := errors.New("boom")
	err := s.View(t.Context(), func(r store.Reader) error {
		return r.Scan([]byte("k/"), store.ScanOptions{}, func(k, v []byte) error { return boom })
	})
	if !errors.Is(err, boom) {
		t.Errorf("Scan with a failing callback: got %v, want %v", err, boom)
	}
	// A wrapped ErrStop also ends the scan quietly.
	err = s.View(t.Context(), func(r store.Reader) error {
		return r.Scan([]byte("k/"), store.ScanOptions{}, func(k, v []byte) error {
			return fmt.Errorf("done: %w", store.ErrStop)
		})
	})
	if err != nil {
		t.Errorf("Scan ended by a wrapped ErrStop returned %v, want nil", err)
	}
}

func testScanInUpdate(t *testing.T, s store.Store) {
	set(t, s, "s/1", "1", "s/2", "2", "s/3", "3")
	err := s.Update(t.Context(), func(w store.Writer) error {
		if err := w.Set([]byte("s/25"), []byte("25")); err != nil {
			return err
		}
		if err := w.Set([]byte("s/1"), []byte("one")); err != nil {
			return err
		}
		if err := w.Delete([]byte("s/2")); err != nil {
			return err
		}
		for _, reverse := range []bool{false, true} {
			var got []string
			err := w.Scan([]byte("s/"), store.ScanOptions{Reverse: reverse}, func(k, v []byte) error {
				got = append(got, string(k)+"="+string(v))
				// Reading other keys from inside the callback works.
				if _, err := w.Get([]byte("s/3")); err != nil {
					return err
				}
				return nil
			})
			if err != nil {
				return err
			}
			want := []string{"s/1=one", "s/25=25", "s/3=3"}
			if reverse {
				slices.Reverse(want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Scan (reverse %v) inside Update = %q, want %q", reverse, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func testAtomicity(t *testing.T, s store.Store) {
	set(t, s, "x", "old", "y", "keep")
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(w store.Writer) error {
		for _, kv := range [][2]string{{"x", "new"}, {"z", "new"}} {
			if err := w.Set([]byte(kv[0]), []byte(kv[1])); err != nil {
				return err
			}
		}
		if err := w.Delete([]byte("y")); err != nil {
			return err
		}
		return fmt.Errorf("failing: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update: got %v, want %v", err, boom)
	}
	for k, want := range map[string]string{"x": "old", "y": "keep", "z": "<nil>"} {
		if got := get(t, s, k); got != want {
			t.Errorf("after a failed Update %s = %q, want %q", k, got, want)
		}
	}
}

func testReadOwnWrites(t *testing.T, s store.Store) {
	set(t, s, "gone", "1")
	err := s.Update(t.Context(), func(w store.Writer) error {
		if err := w.Set([]byte("mine"), []byte("v1")); err != nil {
			return err
		}
		if err := w.Set([]byte("mine"), []byte("v2")); err != nil {
			return err
		}
		if err := w.Delete([]byte("gone")); err != nil {
			return err
		}
		if v, err := w.Get([]byte("mine")); err != nil || string(v) != "v2" {
			t.Errorf("Get(mine) inside Update = %q, %v; want %q", v, err, "v2")
		}
		if v, err := w.Get([]byte("gone")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(gone) after Delete inside Update = %q, %v; want ErrNotFound", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got := get(t, s, "mine"); got != "v2" {
		t.Errorf("mine = %q, want %q", got, "v2")
	}
}

func testSnapshotIsolation(t *testing.T, s store.Store) {
	set(t, s, "k", "before", "del", "here")
	err := s.View(t.Context(), func(r store.Reader) error {
		// Commit changes while this View is open (from another goroutine,
		// waiting for it to finish).
		done := make(chan error, 1)
		go func() {
			done <- s.Update(context.Background(), func(w store.Writer) error {
				if err := w.Set([]byte("k"), []byte("after")); err != nil {
					return err
				}
				if err := w.Set([]byte("new"), []byte("x")); err != nil {
					return err
				}
				return w.Delete([]byte("del"))
			})
		}()
		if err := <-done; err != nil {
			return fmt.Errorf("concurrent Update: %w", err)
		}
		if v, err := r.Get([]byte("k")); err != nil || string(v) != "before" {
			t.Errorf("View sees k = %q, %v; want %q", v, err, "before")
		}
		if v, err := r.Get([]byte("new")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("View sees new = %q, %v; want ErrNotFound", v, err)
		}
		if v, err := r.Get([]byte("del")); err != nil || string(v) != "here" {
			t.Errorf("View sees del = %q, %v; want %q", v, err, "here")
		}
		var keys []string
		err := r.Scan(nil, store.ScanOptions{}, func(k, v []byte) error {
			keys = append(keys, string(k)+"="+string(v))
			return nil
		})
		if want := []string{"del=here", "k=before"}; !slices.Equal(keys, want) {
			t.Errorf("View scans %q, want %q", keys, want)
		}
		return err
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	if got := scan(t, s, "", store.ScanOptions{}); !slices.Equal(got, []string{"k", "new"}) {
		t.Errorf("a later View scans %q, want [k new]", got)
	}
	if got := get(t, s, "k"); got != "after" {
		t.Errorf("a later View sees k = %q, want %q", got, "after")
	}
}

func testCopies(t *testing.T, s store.Store) {
	key := []byte("key")
	val := []byte("value")
	err := s.Update(t.Context(), func(w store.Writer) error {
		if err := w.Set(key, val); err != nil {
			return err
		}
		// The caller may reuse its buffers as soon as Set returns.
		key[0], val[0] = 'X', 'X'
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got := get(t, s, "key"); got != "value" {
		t.Fatalf("key = %q after the caller reused its buffers, want %q", got, "value")
	}
	if got := get(t, s, "Xey"); got != "<nil>" {
		t.Fatalf("Xey = %q, want not found", got)
	}

	var gotVal, scanKey, scanVal []byte
	err = s.View(t.Context(), func(r store.Reader) error {
		var err error
		if gotVal, err = r.Get([]byte("key")); err != nil {
			return err
		}
		gotVal[0] = 'Y'
		return r.Scan([]byte("k"), store.ScanOptions{}, func(k, v []byte) error {
			scanKey, scanVal = k, v
			k[0], v[0] = 'Z', 'Z'
			return nil
		})
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	// Returned slices stay valid after the transaction.
	if string(gotVal) != "Yalue" || string(scanKey) != "Zey" || string(scanVal) != "Zalue" {
		t.Errorf("slices after the View: %q %q %q, want %q %q %q", gotVal, scanKey, scanVal, "Yalue", "Zey", "Zalue")
	}
	if got := get(t, s, "key"); got != "value" {
		t.Errorf("key = %q after mutating returned slices, want %q", got, "value")
	}
}

// testConcurrentIncrements runs goroutines that each increment one counter
// many times; on Badger this exercises the conflict retry.
func testConcurrentIncrements(t *testing.T, s store.Store) {
	const goroutines, increments = 8, 25
	counter := []byte("counter")
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Go(func() {
			for range increments {
				err := s.Update(t.Context(), func(w store.Writer) error {
					var n uint64
					v, err := w.Get(counter)
					switch {
					case errors.Is(err, store.ErrNotFound):
					case err != nil:
						return err
					default:
						n = binary.BigEndian.Uint64(v)
					}
					return w.Set(counter, binary.BigEndian.AppendUint64(nil, n+1))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Update: %v", err)
	}
	err := s.View(t.Context(), func(r store.Reader) error {
		v, err := r.Get(counter)
		if err != nil {
			return err
		}
		if got, want := binary.BigEndian.Uint64(v), uint64(goroutines*increments); got != want {
			t.Errorf("counter = %d, want %d", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
}

// testConcurrentFailures runs Updates at the same time, every third of
// which writes and then fails: each caller must get its own outcome, a
// failed Update must leave nothing, and the others must keep everything
// (a store that commits concurrent Updates together must not let one
// caller's failure undo another's writes, or commit the failed one's).
func testConcurrentFailures(t *testing.T, s store.Store) {
	const n = 60
	errFail := errors.New("fn failed")
	var wg sync.WaitGroup
	got := make([]error, n)
	for i := range n {
		wg.Go(func() {
			got[i] = s.Update(t.Context(), func(w store.Writer) error {
				if err := w.Set(fmt.Appendf(nil, "k/%02d", i), []byte("v")); err != nil {
					return err
				}
				if err := w.Set([]byte("last"), fmt.Appendf(nil, "%02d", i)); err != nil {
					return err
				}
				if i%3 == 0 {
					return errFail
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range got {
		if want := i%3 == 0; errors.Is(err, errFail) != want || (!want && err != nil) {
			t.Errorf("Update %d: got %v, want failed %v", i, err, want)
		}
	}
	keys := scan(t, s, "k/", store.ScanOptions{})
	var want []string
	for i := range n {
		if i%3 != 0 {
			want = append(want, fmt.Sprintf("k/%02d", i))
		}
	}
	if !slices.Equal(keys, want) {
		t.Errorf("keys after concurrent Updates:\n got %v\nwant %v", keys, want)
	}
	var last int
	if _, err := fmt.Sscanf(get(t, s, "last"), "%d", &last); err != nil || last%3 == 0 {
		t.Errorf("last = %q, want the index of a successful Update", get(t, s, "last"))
	}
}

func testCancelledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := s.View(ctx, func(store.Reader) error { called = true; return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("View with a cancelled context: got %v, want context.Canceled", err)
	}
	err = s.Update(ctx, func(w store.Writer) error { called = true; return w.Set([]byte("k"), []byte("v")) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a cancelled context: got %v, want context.Canceled", err)
	}
	if called {
		t.Errorf("fn ran with a cancelled context")
	}
	if got := get(t, s, "k"); got != "<nil>" {
		t.Errorf("k = %q after a cancelled Update, want not found", got)
	}
}

func testClosed(t *testing.T, s store.Store) {
	set(t, s, "k", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	err := s.View(t.Context(), func(store.Reader) error { return nil })
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close: got %v, want ErrClosed", err)
	}
	err = s.Update(t.Context(), func(store.Writer) error { return nil })
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close: got %v, want ErrClosed", err)
	}
}
