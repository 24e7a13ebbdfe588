// Package notify delivers the notifications casework decides on by email.
//
// # Queue
//
// A notification is a row of a durable queue in the node's store, written
// by Enqueue in the same transaction as the change that caused it, so a
// change is never kept without its notification nor the other way round.
// Rows are keyed by the notice's id, which is the same for the same event
// and recipient: a notice queued twice is kept once.
//
// # Delivery
//
// A Worker sends due rows through a Mailer (SMTP in production, see
// notify/smtp; Memory in tests), a batch of up to 100 at a time so that
// memory stays flat however long the queue: a BatchMailer sends a batch
// over a few connections, and the batch's outcomes are recorded in one
// transaction. A failed attempt is kept with its error and retried with
// exponential backoff (5 s doubling up to an hour), never dropped; a
// message the server refuses fails alone. Rows waiting for their retry are
// passed over without being decoded. A row is moved to the sent log in the
// transaction that follows the send; every message carries a Message-ID
// derived from the row, so that a crash between the two is seen by the
// receiving server as a duplicate of the same message.
//
// # Content
//
// Messages come from templates (text and HTML, English, French and
// Arabic, right to left; an agency may override them from a directory)
// and say what happened on which case number (or exchange id) and what to
// do. They never carry a field of the case.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/store"
)

// Key prefixes of the records this package owns.
var (
	prefixQueued  = []byte("n/q/") // id → entry, waiting
	prefixSent    = []byte("n/s/") // id → entry, sent
	prefixSkipped = []byte("n/k/") // id → entry, not sent (no address, kind turned off)
	keyMeta       = []byte("n/meta")
)

// Entry is one notification and what became of it.
type Entry struct {
	Notice     casework.Notice `json:"notice"`
	QueuedAt   time.Time       `json:"queued_at"`
	Attempts   int             `json:"attempts,omitempty"`
	NextAt     time.Time       `json:"next_at"`
	LastError  string          `json:"last_error,omitempty"`
	SentAt     time.Time       `json:"sent_at,omitzero"`
	SkipReason string          `json:"skip_reason,omitempty"`
}

// meta is the queue's summary of recent delivery.
type meta struct {
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	LastSentAt  time.Time `json:"last_sent_at,omitzero"`
}

func key(prefix []byte, id string) []byte { return append(append([]byte{}, prefix...), id...) }

// Queue writes notices into the store. Its zero value is not usable; use
// NewQueue.
type Queue struct {
	now func() time.Time
}

// NewQueue returns a Queue; now is the clock (nil: time.Now).
func NewQueue(now func() time.Time) *Queue {
	if now == nil {
		now = time.Now
	}
	return &Queue{now: now}
}

var _ casework.Notifier = (*Queue)(nil)

// Enqueue adds n to the queue within w, unless a row with its id exists
// already (queued, sent or skipped).
func (q *Queue) Enqueue(w store.Writer, n casework.Notice) error {
	if n.ID == "" {
		return errors.New("notify: notice without id")
	}
	for _, p := range [][]byte{prefixQueued, prefixSent, prefixSkipped} {
		if _, err := w.Get(key(p, n.ID)); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	now := q.now().UTC()
	return put(w, prefixQueued, Entry{Notice: n, QueuedAt: now, NextAt: now})
}

func put(w store.Writer, prefix []byte, e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return w.Set(key(prefix, e.Notice.ID), b)
}

// Status summarises the queue.
type Status struct {
	Queued, Failing, Sent, Skipped int64
	LastError                      string
	LastErrorAt, LastSentAt        time.Time
}

// ReadStatus counts the queue's rows.
func ReadStatus(ctx context.Context, s store.Store) (Status, error) {
	var st Status
	err := s.View(ctx, func(r store.Reader) error {
		st = Status{}
		if err := r.Scan(prefixQueued, store.ScanOptions{}, func(_, v []byte) error {
			st.Queued++
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("notify: corrupt queue entry: %w", err)
			}
			if e.Attempts > 0 {
				st.Failing++
			}
			return nil
		}); err != nil {
			return err
		}
		count := func(p []byte, n *int64) error {
			return r.Scan(p, store.ScanOptions{}, func(_, _ []byte) error { *n++; return nil })
		}
		if err := count(prefixSent, &st.Sent); err != nil {
			return err
		}
		if err := count(prefixSkipped, &st.Skipped); err != nil {
			return err
		}
		m, err := readMeta(r)
		st.LastError, st.LastErrorAt, st.LastSentAt = m.LastError, m.LastErrorAt, m.LastSentAt
		return err
	})
	return st, err
}

func readMeta(r store.Reader) (meta, error) {
	var m meta
	b, err := r.Get(keyMeta)
	if errors.Is(err, store.ErrNotFound) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

func writeMeta(w store.Writer, m meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return w.Set(keyMeta, b)
}
