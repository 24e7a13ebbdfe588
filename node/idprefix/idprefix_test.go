package idprefix_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/node/idprefix"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
)

// records are id → number; hidden ids exist but the caller may not see them.
var (
	records = map[string]string{
		"a1b2c3": "SCSO-000001",
		"a1b2d4": "SCSO-000002",
		"f00d00": "SCSO-000010",
		"f00e00": "IRC-000003",
	}
	hidden = map[string]bool{"f00e00": true}
)

func kind() idprefix.Kind {
	return idprefix.Kind{
		Noun:    "case",
		Records: []byte("c/r/"),
		Numbers: []byte("c/n/"),
		Visible: func(r store.Reader, id string) (string, bool, error) {
			if _, err := r.Get([]byte("c/r/" + id)); errors.Is(err, store.ErrNotFound) {
				return "", false, nil
			} else if err != nil {
				return "", false, err
			}
			return records[id], !hidden[id], nil
		},
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()
	err := s.Update(ctx, func(w store.Writer) error {
		for id, n := range records {
			if err := w.Set([]byte("c/r/"+id), []byte("{}")); err != nil {
				return err
			}
			if err := w.Set([]byte("c/n/"+n), []byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref, want string
		ambiguous []string // names the error must list
	}{
		{ref: "", want: ""},
		{ref: "a1b2c3", want: "a1b2c3"},           // full id
		{ref: "f00e00", want: "f00e00"},           // full id of a hidden record: the operation decides
		{ref: "SCSO-000010", want: "SCSO-000010"}, // full number
		{ref: "a1b2c", want: "a1b2c3"},            // id prefix
		{ref: "A1B2C", want: "a1b2c3"},            // ids compared in lower case
		{ref: "scso-00001", want: "f00d00"},       // number prefix, any case
		{ref: "f00", want: "f00d00"},              // the hidden one is not a candidate
		{ref: "IRC-", want: "IRC-"},               // only a hidden record: returned as given
		{ref: "zz", want: "zz"},                   // nothing
		{ref: "a1b2", ambiguous: []string{"SCSO-000001 (a1b2c3)", "SCSO-000002 (a1b2d4)"}},
		{ref: "SCSO-00000", ambiguous: []string{"SCSO-000001 (a1b2c3)", "SCSO-000002 (a1b2d4)"}},
	}
	for _, tt := range tests {
		var got string
		err := s.View(ctx, func(r store.Reader) (err error) {
			got, err = idprefix.Resolve(r, kind(), tt.ref)
			return err
		})
		var amb *idprefix.AmbiguousError
		switch {
		case tt.ambiguous != nil:
			if !errors.As(err, &amb) {
				t.Errorf("Resolve(%q) = %q, %v; want an ambiguous error", tt.ref, got, err)
				continue
			}
			for _, name := range tt.ambiguous {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("Resolve(%q) error %q does not name %s", tt.ref, err, name)
				}
			}
			if strings.Contains(err.Error(), "f00e00") {
				t.Errorf("Resolve(%q) error %q names a hidden record", tt.ref, err)
			}
		case err != nil:
			t.Errorf("Resolve(%q): %v", tt.ref, err)
		case got != tt.want:
			t.Errorf("Resolve(%q) = %q, want %q", tt.ref, got, tt.want)
		}
	}
}

func TestResolveNamesAtMostMaxNamed(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()
	err := s.Update(ctx, func(w store.Writer) error {
		for _, id := range []string{"b01", "b02", "b03", "b04", "b05", "b06", "b07"} {
			if err := w.Set([]byte("c/r/"+id), []byte("{}")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(r store.Reader) error {
		_, err := idprefix.Resolve(r, kind(), "b0")
		return err
	})
	var amb *idprefix.AmbiguousError
	if !errors.As(err, &amb) || len(amb.Named) != idprefix.MaxNamed || !amb.More {
		t.Fatalf("Resolve(b0) = %v; want %d names and more", err, idprefix.MaxNamed)
	}
}
