package notify

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/casework"
)

// nextAt reads the retry time of a stored row without decoding it. On any
// bytes it never panics; on a row as the queue writes it (json.Marshal of
// an Entry, whatever its strings hold) it gives the decoder's answer.
// Rows are authenticated by the store, so no other writer makes them.
func FuzzNextAt(f *testing.F) {
	f.Add("amina", `x"next_at":"2001-01-01T00:00:00Z"`, "boom", int64(1764064805000000123), 2, []byte(`{"next_at":"`))
	f.Add("", "", "", int64(0), 0, []byte(`{"next_at":"not a time"}`))
	f.Fuzz(func(t *testing.T, to, actor, lastErr string, nanos int64, attempts int, raw []byte) {
		nextAt(raw) // must not panic
		e := Entry{Notice: casework.Notice{ID: "a", Kind: casework.NoticeFlagged, To: to, Actor: actor},
			NextAt: time.Unix(0, nanos).UTC(), Attempts: attempts, LastError: lastErr}
		b, err := json.Marshal(e)
		if err != nil {
			return
		}
		got, ok := nextAt(b)
		if !ok {
			t.Fatalf("nextAt cannot read %q", b)
		}
		if !got.Equal(e.NextAt) {
			t.Errorf("nextAt = %v, want %v, in %q", got, e.NextAt, b)
		}
	})
}
