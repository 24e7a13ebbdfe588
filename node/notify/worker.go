package notify

import (
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
	for _, e := range due {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := wk.deliver(ctx, e); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// deliver sends one entry and records the outcome; it returns an error
// only when the store fails.
func (wk *Worker) deliver(ctx context.Context, e Entry) error {
	n := e.Notice
	var u users.User
	err := wk.o.Store.View(ctx, func(r store.Reader) error {
		var err error
		u, err = users.Get(r, n.To)
		return err
	})
	skip := ""
	switch {
	case errors.Is(err, users.ErrNotFound):
		skip = "no such user"
	case err != nil:
		return err
	case u.Disabled:
		skip = "user disabled"
	case u.Email == "":
		skip = "no email address"
	case slices.Contains(u.NotifyOff, n.Kind):
		skip = "turned off by the user"
	}
	if skip != "" {
		return wk.o.Store.Update(ctx, func(w store.Writer) error {
			e.SkipReason = skip
			if err := w.Delete(key(prefixQueued, n.ID)); err != nil {
				return err
			}
			return put(w, prefixSkipped, e)
		})
	}
	msg, err := wk.o.Templates.Render(n, u.Language)
	if err == nil {
		msg.To = u.Email
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = wk.o.Mailer.Send(sctx, msg)
		cancel()
	}
	now := wk.o.Now().UTC()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.Attempts++
		e.LastError = err.Error()
		e.NextAt = now.Add(backoff(e.Attempts))
		wk.o.Logger.Warn("notification not sent", "id", n.ID, "kind", n.Kind, "attempts", e.Attempts, "err", err)
		return wk.o.Store.Update(ctx, func(w store.Writer) error {
			m, err := readMeta(w)
			if err != nil {
				return err
			}
			m.LastError, m.LastErrorAt = e.LastError, now
			if err := writeMeta(w, m); err != nil {
				return err
			}
			return put(w, prefixQueued, e)
		})
	}
	// The message is out: record it even if ctx ended meanwhile.
	return wk.o.Store.Update(context.WithoutCancel(ctx), func(w store.Writer) error {
		e.SentAt = now
		if err := w.Delete(key(prefixQueued, n.ID)); err != nil {
			return err
		}
		m, err := readMeta(w)
		if err != nil {
			return err
		}
		m.LastSentAt = now
		if err := writeMeta(w, m); err != nil {
			return err
		}
		return put(w, prefixSent, e)
	})
}

func backoff(attempts int) time.Duration {
	d := firstRetry
	for i := 1; i < attempts && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}
