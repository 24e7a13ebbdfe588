package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/cpx-node/cpx/node/store"
)

// cacheModes runs a test against a store with and without the cache of
// opened values: both must answer alike.
var cacheModes = []struct {
	name    string
	noCache bool
}{
	{"cache", false},
	{"no-cache", true},
}

func update(t *testing.T, s *Store, fn func(store.Writer) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// TestValueCacheAnswers: a value read (and cached) before a change is
// never returned after it, whether the change is in another transaction
// or pending in the reading one.
func TestValueCacheAnswers(t *testing.T) {
	tests := []struct {
		name string
		// change runs after k was set to "old" and read; read says what a
		// Get of k then returns ("" for ErrNotFound).
		change func(t *testing.T, s *Store) string
	}{
		{"overwritten by another transaction", func(t *testing.T, s *Store) string {
			set(t, s, "k", "new")
			return mustGet(t, s, "k")
		}},
		{"deleted by another transaction", func(t *testing.T, s *Store) string {
			update(t, s, func(w store.Writer) error { return w.Delete([]byte("k")) })
			return mustGet(t, s, "k")
		}},
		{"set, then read in the same transaction", func(t *testing.T, s *Store) string {
			var got string
			update(t, s, func(w store.Writer) error {
				if err := w.Set([]byte("k"), []byte("new")); err != nil {
					return err
				}
				v, err := w.Get([]byte("k"))
				got = string(v)
				return err
			})
			if after := mustGet(t, s, "k"); after != got {
				t.Errorf("after the commit: got %q, want %q", after, got)
			}
			return got
		}},
		{"deleted, then read in the same transaction", func(t *testing.T, s *Store) string {
			var got string
			update(t, s, func(w store.Writer) error {
				if err := w.Delete([]byte("k")); err != nil {
					return err
				}
				v, err := w.Get([]byte("k"))
				if errors.Is(err, store.ErrNotFound) {
					return nil
				}
				got = "found " + string(v)
				return err
			})
			return got
		}},
		{"read, set, read in the same transaction", func(t *testing.T, s *Store) string {
			var got string
			update(t, s, func(w store.Writer) error {
				if v, err := w.Get([]byte("k")); err != nil || string(v) != "old" {
					return fmt.Errorf("first read %q, %v", v, err)
				}
				if err := w.Set([]byte("k"), []byte("new")); err != nil {
					return err
				}
				v, err := w.Get([]byte("k"))
				got = string(v)
				return err
			})
			return got
		}},
		{"set and read in a transaction that fails", func(t *testing.T, s *Store) string {
			errFail := errors.New("fail")
			err := s.Update(context.Background(), func(w store.Writer) error {
				if err := w.Set([]byte("k"), []byte("new")); err != nil {
					return err
				}
				if _, err := w.Get([]byte("k")); err != nil {
					return err
				}
				return errFail
			})
			if !errors.Is(err, errFail) {
				t.Fatalf("Update: got %v, want %v", err, errFail)
			}
			return mustGet(t, s, "k")
		}},
		{"tampered below the seal", func(t *testing.T, s *Store) string {
			sealed := rawGet(t, s, "k")
			sealed[len(sealed)/2] ^= 1
			rawSet(t, s, "k", sealed)
			_, err := get(s, "k")
			if !errors.Is(err, ErrCorrupt) {
				return fmt.Sprintf("error %v", err)
			}
			return "corrupt"
		}},
	}
	want := map[string]string{
		"overwritten by another transaction":         "new",
		"deleted by another transaction":             "",
		"set, then read in the same transaction":     "new",
		"deleted, then read in the same transaction": "",
		"read, set, read in the same transaction":    "new",
		"set and read in a transaction that fails":   "old",
		"tampered below the seal":                    "corrupt",
	}
	for _, mode := range cacheModes {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				s := openT(t, Options{Dir: t.TempDir(), noValueCache: mode.noCache})
				set(t, s, "k", "old")
				for range 2 { // the second read is a hit
					if got := mustGet(t, s, "k"); got != "old" {
						t.Fatalf("before: got %q, want old", got)
					}
				}
				// Read in a write transaction too (the writer caches).
				update(t, s, func(w store.Writer) error {
					_, err := w.Get([]byte("k"))
					return err
				})
				if got := tt.change(t, s); got != want[tt.name] {
					t.Errorf("got %q, want %q", got, want[tt.name])
				}
			})
		}
	}
}

func mustGet(t *testing.T, s *Store, k string) string {
	t.Helper()
	v, err := get(s, k)
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// TestValueCacheCounter: concurrent Updates each add one to a counter
// that every one reads; the group commit runs several of them in one
// transaction (each must see the previous one's pending write) and in
// batches one after the other (each must see the last commit). No
// increment may be lost.
func TestValueCacheCounter(t *testing.T) {
	for _, mode := range cacheModes {
		t.Run(mode.name, func(t *testing.T) {
			s := openT(t, Options{Dir: t.TempDir(), noValueCache: mode.noCache})
			set(t, s, "n", "0")
			const workers, each = 8, 40
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range each {
						err := s.Update(context.Background(), func(w store.Writer) error {
							v, err := w.Get([]byte("n"))
							if err != nil {
								return err
							}
							n, err := strconv.Atoi(string(v))
							if err != nil {
								return err
							}
							return w.Set([]byte("n"), []byte(strconv.Itoa(n+1)))
						})
						if err != nil {
							t.Error(err)
						}
						if _, err := get(s, "n"); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			if got, want := mustGet(t, s, "n"), strconv.Itoa(workers*each); got != want {
				t.Errorf("counter: got %s, want %s", got, want)
			}
		})
	}
}

// TestValueCacheCopy: a caller may change what Get returned.
func TestValueCacheCopy(t *testing.T) {
	s := openT(t, Options{Dir: t.TempDir()})
	set(t, s, "k", "value")
	for range 3 {
		v, err := get(s, "k")
		if err != nil {
			t.Fatal(err)
		}
		if string(v) != "value" {
			t.Fatalf("got %q, want value", v)
		}
		clear(v)
	}
}

// TestValueCacheBound: the cache holds no more than its limit, leaves out
// large values, and Close empties it.
func TestValueCacheBound(t *testing.T) {
	s := openT(t, Options{Dir: t.TempDir()})
	tests := []struct {
		name    string
		size, n int
		// most is the largest number of entries the cache may then hold.
		most int
	}{
		{"small values", 1000, 50, 50},
		{"values filling it twice", 60 << 10, 2 * valueCacheBytes / (60 << 10), valueCacheBytes / (60 << 10)},
		{"values too large", valueCacheMaxEntry + 1, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.cache.drop()
			for i := range tt.n {
				k := fmt.Sprintf("b/%d", i)
				v := bytes.Repeat([]byte{byte(i)}, tt.size)
				set(t, s, k, string(v))
				for range 2 {
					got, err := get(s, k)
					if err != nil || !bytes.Equal(got, v) {
						t.Fatalf("Get %s: got %d bytes, %v; want %d bytes", k, len(got), err, len(v))
					}
				}
			}
			size, entries := s.cache.stats()
			if size > valueCacheBytes || entries > tt.most {
				t.Errorf("cache: got %d bytes in %d entries, want at most %d bytes, %d entries", size, entries, valueCacheBytes, tt.most)
			}
			if tt.most > 0 && entries == 0 {
				t.Errorf("cache: got no entries, want some")
			}
		})
	}
	s.Close()
	if size, entries := s.cache.stats(); size != 0 || entries != 0 {
		t.Errorf("after Close: got %d bytes in %d entries, want none", size, entries)
	}
}

// TestValueCacheVersions: an older version never replaces a newer one.
func TestValueCacheVersions(t *testing.T) {
	c := newValueCache(1 << 10)
	c.put([]byte("k"), 2, []byte("two"))
	c.put([]byte("k"), 1, []byte("one"))
	if v, ok := c.get([]byte("k"), 2); !ok || string(v) != "two" {
		t.Errorf("version 2: got %q, %v; want two", v, ok)
	}
	if v, ok := c.get([]byte("k"), 1); ok {
		t.Errorf("version 1: got %q, want a miss", v)
	}
	c.put([]byte("k"), 3, []byte("three"))
	if v, ok := c.get([]byte("k"), 3); !ok || string(v) != "three" {
		t.Errorf("version 3: got %q, %v; want three", v, ok)
	}
	if size, entries := c.stats(); entries != 1 || size != entrySize(1, 5) {
		t.Errorf("got %d bytes in %d entries, want %d in 1", size, entries, entrySize(1, 5))
	}
}

// BenchmarkGetHot reads one 6 KB record again and again, as every send
// and receive reads a peer's record and an ISP document, with and without
// the cache of opened values.
func BenchmarkGetHot(b *testing.B) {
	for _, mode := range cacheModes {
		b.Run(mode.name, func(b *testing.B) {
			s, err := Open(context.Background(), Options{Dir: b.TempDir(), EncryptionKey: testKey(), GCInterval: -1, noValueCache: mode.noCache})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			key, value := []byte("p/r/agency-b"), bytes.Repeat([]byte("x"), 6<<10)
			if err := s.Update(context.Background(), func(w store.Writer) error { return w.Set(key, value) }); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			for b.Loop() {
				err := s.View(context.Background(), func(r store.Reader) error {
					_, err := r.Get(key)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// stats returns the memory counted against the limit and the number of
// entries.
func (c *valueCache) stats() (size, entries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size, len(c.entries)
}
