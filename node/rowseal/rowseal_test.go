package rowseal_test

import (
	"errors"
	"testing"

	"github.com/cpx-node/cpx/node/rowseal"
)

func TestSealOpen(t *testing.T) {
	key := make([]byte, 32)
	x := rowseal.New(key, "cpx-test-rows-v1")
	sealed := x.Seal("id-1", []byte("a row"))
	plain, _, err := x.Open(nil, nil, []byte("id-1"), sealed)
	if err != nil || string(plain) != "a row" {
		t.Fatalf("open: got %q, %v; want %q", plain, err, "a row")
	}
	other := append([]byte{}, key...)
	other[0] ^= 1
	flipped := append([]byte{}, sealed...)
	flipped[len(flipped)-1] ^= 1
	for _, tc := range []struct {
		name   string
		x      *rowseal.Sealer
		id     string
		sealed []byte
	}{
		{"another record's id", x, "id-2", sealed},
		{"another label", rowseal.New(key, "cpx-other-rows-v1"), "id-1", sealed},
		{"another index key", rowseal.New(other, "cpx-test-rows-v1"), "id-1", sealed},
		{"a bit flipped", x, "id-1", flipped},
		{"truncated", x, "id-1", sealed[:8]},
	} {
		if _, _, err := tc.x.Open(nil, nil, []byte(tc.id), tc.sealed); !errors.Is(err, rowseal.ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", tc.name, err)
		}
	}
}
