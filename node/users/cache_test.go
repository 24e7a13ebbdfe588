package users_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/badgerstore"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/users"
)

// scanCounter counts the scans made through a Reader.
type scanCounter struct {
	store.Reader
	scans int
}

func (c *scanCounter) Scan(prefix []byte, opts store.ScanOptions, fn func(key, value []byte) error) error {
	c.scans++
	return c.Reader.Scan(prefix, opts, fn)
}

// cachedList lists the users of s through c, and returns them as
// "name:group:disabled:pending:notify_off" and how many scans it took.
func cachedList(t *testing.T, s store.Store, c *users.Cache) ([]string, int) {
	t.Helper()
	var out []string
	var scans int
	err := s.View(context.Background(), func(r store.Reader) error {
		sc := &scanCounter{Reader: r}
		list, err := c.List(sc)
		for _, u := range list {
			out = append(out, fmt.Sprintf("%s:%s:%t:%t:%v", u.Name, u.Group, u.Disabled, u.Pending(), u.NotifyOff))
		}
		scans = sc.scans
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, scans
}

// TestCacheFollowsChanges: each way of changing a user is seen by the
// next List, and a List with no change between reads no user.
func TestCacheFollowsChanges(t *testing.T) {
	s := memstore.New()
	ctx := context.Background()
	var c users.Cache
	exp := now.Add(time.Hour)
	steps := []struct {
		name   string
		change func(w store.Writer) error
		want   []string
	}{
		{"none yet", nil, nil},
		{"add", func(w store.Writer) error {
			_, err := users.Add(w, users.User{Name: "alice", Role: "caseworker", Group: "north"}, exp)
			return err
		}, []string{"alice:north:false:false:[]"}},
		{"add pending", func(w store.Writer) error {
			return users.AddPending(w, users.User{Name: "bob", Role: "case_manager", Group: "north", RequestedBy: "admin"})
		}, []string{"alice:north:false:false:[]", "bob:north:false:true:[]"}},
		{"approve", func(w store.Writer) error {
			_, _, err := users.Approve(w, "bob", "admin2", exp)
			return err
		}, []string{"alice:north:false:false:[]", "bob:north:false:false:[]"}},
		{"notify off", func(w store.Writer) error {
			_, err := users.SetNotifyOff(w, "alice", []string{"referral_received"})
			return err
		}, []string{"alice:north:false:false:[referral_received]", "bob:north:false:false:[]"}},
		{"disable", func(w store.Writer) error {
			_, err := users.Disable(w, "bob")
			return err
		}, []string{"alice:north:false:false:[referral_received]", "bob:north:true:false:[]"}},
		{"a token only", func(w store.Writer) error {
			_, err := users.IssueToken(w, "alice", exp)
			return err
		}, []string{"alice:north:false:false:[referral_received]", "bob:north:true:false:[]"}},
	}
	for _, st := range steps {
		if st.change != nil {
			if err := s.Update(ctx, st.change); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		got, _ := cachedList(t, s, &c)
		if !slices.Equal(got, st.want) {
			t.Fatalf("after %s: got %v, want %v", st.name, got, st.want)
		}
		again, scans := cachedList(t, s, &c)
		if !slices.Equal(again, st.want) || scans != 0 {
			t.Fatalf("after %s, listed again: got %v with %d scans, want %v with none", st.name, again, scans, st.want)
		}
	}
}

// TestCacheIgnoresDroppedTransactions: a list read inside a transaction
// that is then dropped, after it changed a user, is not taken for the
// list after a later change. A counted mark would give the later change
// the dropped one's mark, and the ghost back.
func TestCacheIgnoresDroppedTransactions(t *testing.T) {
	s := memstore.New()
	ctx := context.Background()
	var c users.Cache
	errDrop := errors.New("dropped")
	err := s.Update(ctx, func(w store.Writer) error {
		if _, err := users.Add(w, users.User{Name: "ghost", Role: "caseworker"}, now.Add(time.Hour)); err != nil {
			return err
		}
		if _, err := c.List(w); err != nil {
			return err
		}
		return errDrop
	})
	if !errors.Is(err, errDrop) {
		t.Fatalf("got %v, want the transaction dropped", err)
	}
	if err := s.Update(ctx, func(w store.Writer) error {
		_, err := users.Add(w, users.User{Name: "real", Role: "caseworker"}, now.Add(time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := cachedList(t, s, &c)
	if want := []string{"real::false:false:[]"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// BenchmarkList lists a node's users as a notice to a group does for each
// referral received: read and decoded each time (scan), against through a
// Cache with no change between (cached). Real Badger, encrypted.
//
//	go test -run '^$' -bench BenchmarkList ./node/users/
func BenchmarkList(b *testing.B) {
	for _, n := range []int{10, 1000} {
		s, err := badgerstore.Open(context.Background(), badgerstore.Options{Dir: b.TempDir(), EncryptionKey: make([]byte, 32)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if err := s.Update(context.Background(), func(w store.Writer) error {
			for i := range n {
				u := users.User{Name: fmt.Sprintf("user-%04d", i), Role: "caseworker", Group: fmt.Sprintf("group-%d", i%20), Email: fmt.Sprintf("user-%04d@agency.example", i)}
				if _, err := users.Add(w, u, now.Add(time.Hour)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		var c users.Cache
		for _, bc := range []struct {
			name string
			list func(store.Reader) ([]users.User, error)
		}{{"scan", users.List}, {"cached", c.List}} {
			b.Run(fmt.Sprintf("users=%d/%s", n, bc.name), func(b *testing.B) {
				for b.Loop() {
					if err := s.View(context.Background(), func(r store.Reader) error {
						list, err := bc.list(r)
						if err == nil && len(list) != n {
							err = fmt.Errorf("%d users, want %d", len(list), n)
						}
						return err
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
