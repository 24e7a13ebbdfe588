package badgerstore_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/badgerstore"
)

// logRecorder keeps the messages (and their "tables" attribute) that Open
// and Close log.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	m := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "tables" || a.Key == "err" {
			m += fmt.Sprintf(" tables=%v", a.Value)
		}
		return true
	})
	l.mu.Lock()
	l.msgs = append(l.msgs, m)
	l.mu.Unlock()
	return nil
}

// checkedLines returns the messages that name a table check.
func (l *logRecorder) checkedLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range l.msgs {
		if strings.Contains(m, "table") && !strings.Contains(m, "opened in") {
			out = append(out, m)
		}
	}
	l.msgs = nil
	return out
}

// fillTables writes n small records (kept in the tables) and closes the
// store, whose memory table then goes to a table file.
func fillTables(t *testing.T, opts badgerstore.Options, from, n int) {
	t.Helper()
	s, err := badgerstore.Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		setKV(t, s, fmt.Sprintf("k%06d", i), []byte(fmt.Sprintf("value %d", i)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func tables(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no table in %s (%v)", dir, err)
	}
	return m
}

// TestCheckedTables: a table checked once (at Close or Open) is not
// checked again while its file is unchanged; the answers are the same;
// a table changed in place is checked and refused, and a record that
// fails its MAC is ignored (every table checked again), never trusted.
func TestCheckedTables(t *testing.T) {
	dir, key := t.TempDir(), newKey()
	rec := &logRecorder{}
	opts := badgerstore.Options{Dir: dir, EncryptionKey: key, Logger: slog.New(rec), GCInterval: -1}
	fillTables(t, opts, 0, 300)
	fillTables(t, opts, 300, 300)
	rec.checkedLines()
	ssts := tables(t, dir)

	reopen := func() []string {
		t.Helper()
		s, err := badgerstore.Open(t.Context(), opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		for _, i := range []int{0, 299, 300, 599} {
			if got, want := string(getKV(t, s, fmt.Sprintf("k%06d", i))), fmt.Sprintf("value %d", i); got != want {
				t.Errorf("k%06d = %q, want %q", i, got, want)
			}
		}
		lines := rec.checkedLines()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		rec.checkedLines()
		return lines
	}
	if got := reopen(); len(got) != 0 {
		t.Errorf("reopening an unchanged store logged %q, want no table checked", got)
	}

	// A record that fails its MAC: every table is checked, and the
	// record is written again.
	flipAt(t, filepath.Join(dir, "CPX-CHECKED-TABLES"), 10)
	got := reopen()
	want := fmt.Sprintf("tables checked tables=%d", len(ssts))
	if !contains(got, "fails its MAC") || !contains(got, want) {
		t.Errorf("after the record was changed, Open logged %q, want a MAC failure and %q", got, want)
	}
	if got := reopen(); len(got) != 0 {
		t.Errorf("after the record was written again, Open logged %q, want no table checked", got)
	}

	// A table changed in place (a recorded one): Open checks it and
	// refuses to open, naming it.
	flipAt(t, ssts[0], 100)
	s, err := badgerstore.Open(t.Context(), opts)
	if err == nil {
		s.Close()
		t.Fatalf("Open after a recorded table changed in place: got no error, want a checksum failure")
	}
	if !strings.Contains(err.Error(), filepath.Base(ssts[0])) && !strings.Contains(err.Error(), "checksum") {
		t.Errorf("Open: got %v, want an error naming the table or its checksum", err)
	}
	// The same again: the failed table was never recorded.
	if _, err := badgerstore.Open(t.Context(), opts); err == nil {
		t.Fatal("a second Open after a table changed in place: got no error, want a checksum failure")
	}
}

// TestCheckedTablesVerify: Verify never trusts the record.
func TestCheckedTablesVerify(t *testing.T) {
	dir, key := t.TempDir(), newKey()
	opts := badgerstore.Options{Dir: dir, EncryptionKey: key, GCInterval: -1}
	fillTables(t, opts, 0, 300)
	ssts := tables(t, dir)
	flipAt(t, ssts[0], 100)
	rep, err := badgerstore.Verify(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) == 0 {
		t.Error("Verify of a store with a changed table: got no failure, want one")
	}
}

func contains(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// flipAt inverts the byte at off in the file at path, in place.
func flipAt(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestCheckTablesWhileOpen: tables written while the store is open (a
// memory table flushed) are checked and recorded by CheckTables, so that
// the next Open checks none.
func TestCheckTablesWhileOpen(t *testing.T) {
	dir, key := t.TempDir(), newKey()
	rec := &logRecorder{}
	opts := badgerstore.Options{Dir: dir, EncryptionKey: key, Logger: slog.New(rec), GCInterval: -1, MemTableSize: 1 << 20}
	s, err := badgerstore.Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	val := []byte(strings.Repeat("v", 100)) // below the value threshold: kept in the tables
	for i := range 40 {
		err := s.Update(t.Context(), func(w store.Writer) error {
			for j := range 500 {
				if err := w.Set([]byte(fmt.Sprintf("k%03d-%04d", i, j)), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var checked int
	for range 100 { // the flush runs in the background
		n, err := s.CheckTables(t.Context())
		if err != nil {
			t.Fatalf("CheckTables: %v", err)
		}
		if checked += n; checked > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if checked == 0 {
		t.Fatal("CheckTables checked no table after 2 MB were written with 1 MiB memory tables")
	}
	if n, err := s.CheckTables(t.Context()); err != nil || n != 0 {
		t.Errorf("CheckTables again: got %d tables, %v; want 0, nil", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rec.checkedLines()
	s, err = badgerstore.Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := rec.checkedLines(); len(got) != 0 {
		t.Errorf("Open after CheckTables and Close logged %q, want no table checked", got)
	}
	if got := getKV(t, s, "k039-0499"); !bytes.Equal(got, val) {
		t.Errorf("k039-0499 = %q, want %q", got, val)
	}
}
