package memstore_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestTxnDone(t *testing.T) {
	s := memstore.New()
	var saved store.Writer
	if err := s.Update(t.Context(), func(w store.Writer) error { saved = w; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := saved.Set([]byte("k"), []byte("v")); !errors.Is(err, memstore.ErrTxnDone) {
		t.Errorf("Set after the Update: got %v, want ErrTxnDone", err)
	}
}

func TestReadOnly(t *testing.T) {
	s := memstore.New()
	err := s.View(t.Context(), func(r store.Reader) error {
		return r.(store.Writer).Set([]byte("k"), []byte("v"))
	})
	if !errors.Is(err, memstore.ErrReadOnly) {
		t.Errorf("Set in a View: got %v, want ErrReadOnly", err)
	}
}

func BenchmarkUpdate(b *testing.B) {
	s := memstore.New()
	value := make([]byte, 2<<10)
	i := 0
	for b.Loop() {
		key := fmt.Appendf(nil, "bench/%09d", i)
		i++
		if err := s.Update(b.Context(), func(w store.Writer) error { return w.Set(key, value) }); err != nil {
			b.Fatal(err)
		}
	}
}
