package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/users"
)

// Backoff bounds.
const (
	firstRetry = 5 * time.Second
	maxRetry   = time.Hour
	batchSize  = 100
)

// WorkerOptions configure a Worker. Store, Mailer and Templates are
// required.
type WorkerOptions struct {
	Store     store.Store
	Mailer    Mailer
	Templates *Templates
	Logger    *slog.Logger
	Now       func() time.Time
	// Interval between looks at the queue when nothing is due (default 2 s).
	Interval time.Duration
}

// Worker delivers queued notifications.
type Worker struct {
	o    WorkerOptions
	wake chan struct{}
	wg   sync.WaitGroup
}

// NewWorker returns a Worker; start it with Run.
func NewWorker(o WorkerOptions) *Worker {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	return &Worker{o: o, wake: make(chan struct{}, 1)}
}

// Wake makes the worker look at the queue now.
func (wk *Worker) Wake() {
	select {
	case wk.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (wk *Worker) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wk.wake:
		}
		n, err := wk.Deliver(ctx)
		if err != nil && ctx.Err() == nil {
			wk.o.Logger.Error("notification queue", "err", err)
		}
		d := wk.o.Interval
		if n == batchSize {
			d = 0 // more may be due
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(d)
	}
}

// Deliver makes one attempt at up to a batch of due notifications and
// returns how many it attempted.
func (wk *Worker) Deliver(ctx context.Context) (int, error) {
	now := wk.o.Now().UTC()
	var due []Entry
	err := wk.o.Store.View(ctx, func(r store.Reader) error {
		due = due[:0]
		return r.Scan(prefixQueued, store.ScanOptions{}, func(_, v []byte) error {
			if at, ok := nextAt(v); ok && at.After(now) {
				return nil // waiting for its retry: not decoded
			}
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("notify: corrupt queue entry: %w", err)
			}
			if !e.NextAt.After(now) {
				due = append(due, e)
			}
			if len(due) >= batchSize {
				return store.ErrStop
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	slices.SortFunc(due, func(a, b Entry) int { return a.QueuedAt.Compare(b.QueuedAt) })
	if len(due) == 0 {
		return 0, nil
	}
	if err := wk.deliverBatch(ctx, due); err != nil {
		return 0, err
	}
	return len(due), nil
}

// deliverBatch sends a batch of entries (over one connection when the
// Mailer is a BatchMailer) and records every outcome in one transaction;
// it returns an error only when the store fails.
func (wk *Worker) deliverBatch(ctx context.Context, batch []Entry) error {
	recipients := map[string]*users.User{}
	err := wk.o.Store.View(ctx, func(r store.Reader) error {
		for _, e := range batch {
			if _, ok := recipients[e.Notice.To]; ok {
				continue
			}
			u, err := users.Get(r, e.Notice.To)
			switch {
			case errors.Is(err, users.ErrNotFound):
				recipients[e.Notice.To] = nil
			case err != nil:
				return err
			default:
				recipients[e.Notice.To] = &u
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var skipped, toSend []Entry
	var msgs []Message
	errs := make([]error, 0, len(batch))
	for _, e := range batch {
		n := e.Notice
		u := recipients[n.To]
		switch {
		case u == nil:
			e.SkipReason = "no such user"
		case u.Disabled:
			e.SkipReason = "user disabled"
		case u.Email == "":
			e.SkipReason = "no email address"
		case slices.Contains(u.NotifyOff, n.Kind):
			e.SkipReason = "turned off by the user"
		}
		if e.SkipReason != "" {
			skipped = append(skipped, e)
			continue
		}
		msg, err := wk.o.Templates.Render(n, u.Language)
		msg.To = u.Email
		toSend = append(toSend, e)
		msgs = append(msgs, msg)
		errs = append(errs, err) // a template that fails: a failed attempt
	}
	wk.send(ctx, msgs, errs)
	stopping := ctx.Err() != nil
	now := wk.o.Now().UTC()
	// What was sent is recorded even if ctx ended meanwhile.
	return wk.o.Store.Update(context.WithoutCancel(ctx), func(w store.Writer) error {
		m, err := readMeta(w)
		if err != nil {
			return err
		}
		for _, e := range skipped {
			if err := w.Delete(key(prefixQueued, e.Notice.ID)); err != nil {
				return err
			}
			if err := put(w, prefixSkipped, e); err != nil {
				return err
			}
		}
		for i, e := range toSend {
			if errs[i] != nil && stopping {
				continue // not an attempt: the node is stopping
			}
			if errs[i] != nil {
				e.Attempts++
				e.LastError = errs[i].Error()
				e.NextAt = now.Add(backoff(e.Attempts))
				m.LastError, m.LastErrorAt = e.LastError, now
				wk.o.Logger.Warn("notification not sent", "id", e.Notice.ID, "kind", e.Notice.Kind, "attempts", e.Attempts, "err", errs[i])
				if err := put(w, prefixQueued, e); err != nil {
					return err
				}
				continue
			}
			e.SentAt = now
			m.LastSentAt = now
			if err := w.Delete(key(prefixQueued, e.Notice.ID)); err != nil {
				return err
			}
			if err := put(w, prefixSent, e); err != nil {
				return err
			}
		}
		return writeMeta(w, m)
	})
}

// send sends msgs[i] unless errs[i] is set already, and sets errs[i] to
// the outcome.
func (wk *Worker) send(ctx context.Context, msgs []Message, errs []error) {
	var idx []int
	var out []Message
	for i, m := range msgs {
		if errs[i] == nil {
			idx = append(idx, i)
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return
	}
	if bm, ok := wk.o.Mailer.(BatchMailer); ok {
		for j, err := range bm.SendBatch(ctx, out) {
			errs[idx[j]] = err
		}
		return
	}
	for j, m := range out {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		errs[idx[j]] = wk.o.Mailer.Send(sctx, m)
		cancel()
	}
}

// nextAtKey starts the retry time in an encoded Entry; only Entry has a
// field of that name.
var nextAtKey = []byte(`"next_at":"`)

// nextAt reads the retry time of an encoded Entry without decoding the
// rest, so that a long queue waiting for a server that is down is scanned
// cheaply; ok is false when it cannot, and the entry is then decoded.
func nextAt(v []byte) (time.Time, bool) {
	i := bytes.Index(v, nextAtKey)
	if i < 0 {
		return time.Time{}, false
	}
	rest := v[i+len(nextAtKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	return t, err == nil
}

func backoff(attempts int) time.Duration {
	d := firstRetry
	for i := 1; i < attempts && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}
