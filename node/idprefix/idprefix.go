// Package idprefix resolves an abbreviated record reference, as git and
// docker resolve an abbreviated id: a reference is a record's full id or
// number, or the beginning of exactly one of them.
//
// The package knows nothing of what a record is: the owner of a kind of
// record (cases, tracing requests) says where its ids and numbers are
// kept and which records the caller may see, so that a prefix never
// matches, nor names, a record the caller could not find by a search.
package idprefix

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cpx-node/cpx/node/store"
)

// MaxNamed is how many candidates an ambiguous reference's error names.
const MaxNamed = 5

// Kind describes one kind of record to resolve references to.
type Kind struct {
	// Noun names the kind in errors ("case", "tracing request").
	Noun string
	// Records is the key prefix under which records are kept by id;
	// Numbers the prefix of the index from number to id.
	Records, Numbers []byte
	// Visible loads the record with the given id and reports its number
	// and whether the caller may see it. A record that does not exist
	// is reported not visible, with no error.
	Visible func(r store.Reader, id string) (number string, ok bool, err error)
}

// AmbiguousError is returned when a reference begins more than one
// visible record's id or number.
type AmbiguousError struct {
	Noun, Ref string
	// Named are "NUMBER (ID)" of up to MaxNamed candidates; More says
	// that there were others.
	Named []string
	More  bool
}

func (e *AmbiguousError) Error() string {
	more := ""
	if e.More {
		more = " and more"
	}
	return fmt.Sprintf("%q names more than one %s: %s%s; give more of the id or number", e.Ref, e.Noun, strings.Join(e.Named, ", "), more)
}

// Resolve returns the id ref names within r: ref itself when it is a
// record's full id or number (whether the caller may see it is for the
// operation that follows to check), else the id of the one visible record
// whose id or number begins with ref (ids compared in lower case, numbers
// in the case given and in upper case). A prefix of no visible record is
// returned as it is, so that the operation reports it not found; one of
// several is an *AmbiguousError.
func Resolve(r store.Reader, k Kind, ref string) (string, error) {
	if ref == "" {
		return ref, nil
	}
	for _, key := range [][]byte{join(k.Records, ref), join(k.Numbers, ref)} {
		if _, err := r.Get(key); err == nil {
			return ref, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
	}
	type candidate struct{ id, number string }
	var found []candidate
	seen := make(map[string]bool)
	visit := func(id string) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		number, ok, err := k.Visible(r, id)
		if err != nil || !ok {
			return err
		}
		found = append(found, candidate{id, number})
		if len(found) > MaxNamed {
			return store.ErrStop
		}
		return nil
	}
	err := r.Scan(join(k.Records, strings.ToLower(ref)), store.ScanOptions{}, func(key, _ []byte) error {
		return visit(string(key[len(k.Records):]))
	})
	numbers := []string{ref}
	if up := strings.ToUpper(ref); up != ref {
		numbers = append(numbers, up)
	}
	for _, n := range numbers {
		if err != nil || len(found) > MaxNamed {
			break
		}
		err = r.Scan(join(k.Numbers, n), store.ScanOptions{}, func(_, v []byte) error { return visit(string(v)) })
	}
	switch {
	case err != nil:
		return "", err
	case len(found) == 0:
		return ref, nil
	case len(found) == 1:
		return found[0].id, nil
	}
	amb := &AmbiguousError{Noun: k.Noun, Ref: ref, More: len(found) > MaxNamed}
	for _, c := range found[:min(len(found), MaxNamed)] {
		amb.Named = append(amb.Named, c.number+" ("+c.id+")")
	}
	return "", amb
}

func join(prefix []byte, s string) []byte {
	return append(append(make([]byte, 0, len(prefix)+len(s)), prefix...), s...)
}
