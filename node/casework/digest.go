package casework

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cpx-node/cpx/node/store"
)

// MaxDigestItems caps the tasks one digest lists; its counts are complete.
const MaxDigestItems = 20

// Digest is a user's overdue and upcoming tasks on one day. It names cases
// by number only.
type Digest struct {
	Date     string       `json:"date"` // YYYY-MM-DD in the node's time zone
	Overdue  int          `json:"overdue"`
	Upcoming int          `json:"upcoming"`
	Items    []DigestItem `json:"items,omitempty"`
}

// DigestItem is one task of a digest.
type DigestItem struct {
	CaseNumber string `json:"case_number"`
	Kind       string `json:"kind"`
	Due        string `json:"due"`
	DaysLate   int    `json:"days_late"` // negative: due in that many days
}

// DigestID is the id of user's digest of date: the same whenever it is
// computed, so a digest queued twice on a day (a restart) is sent once.
func DigestID(user, date string) string { return "digest/" + user + "/" + date }

// DigestDue reports the date whose digest is due at now: today's, in loc,
// once the time of day at has come; "" before it.
func DigestDue(now time.Time, at time.Duration, loc *time.Location) string {
	l := now.In(loc)
	midnight := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	if l.Sub(midnight) < at {
		return ""
	}
	return l.Format(time.DateOnly)
}

// QueueDigests queues, in one transaction, today's digest for every user
// who owns a task that is overdue or due within upcoming days (none for a
// user without). Each has the id DigestID(user, today), so calling it again
// on the same day queues nothing new. It returns how many users have one.
func (s *Service) QueueDigests(ctx context.Context, upcoming int) (int, error) {
	if upcoming < 0 {
		upcoming = 0
	}
	today := s.today()
	todayS := today.Format(time.DateOnly)
	until := today.AddDate(0, 0, upcoming).Format(time.DateOnly)
	now := s.now().UTC()
	var n int
	err := s.store.Update(ctx, func(w store.Writer) error {
		byUser := map[string]*Digest{}
		var order []string
		err := w.Scan(prefixTask, store.ScanOptions{}, func(k, v []byte) error {
			due, _, _ := strings.Cut(string(k[len(prefixTask):]), "/")
			if due > until {
				return store.ErrStop
			}
			var t Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("corrupt task index entry: %w", err)
			}
			if t.Owner == "" {
				return nil
			}
			d := byUser[t.Owner]
			if d == nil {
				d = &Digest{Date: todayS}
				byUser[t.Owner] = d
				order = append(order, t.Owner)
			}
			if t.Due < todayS {
				d.Overdue++
			} else {
				d.Upcoming++
			}
			if len(d.Items) < MaxDigestItems {
				due, _ := time.Parse(time.DateOnly, t.Due)
				d.Items = append(d.Items, DigestItem{CaseNumber: t.CaseNumber, Kind: t.Kind, Due: t.Due, DaysLate: int(today.Sub(due).Hours() / 24)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		ns := make([]Notice, 0, len(order))
		for _, u := range order {
			ns = append(ns, Notice{ID: DigestID(u, todayS), Kind: NoticeDigest, To: u, Actor: "cpx", At: now, Digest: byUser[u]})
		}
		n = len(ns)
		return s.emit(w, ns)
	})
	return n, err
}

// RunDigests queues the day's digests (QueueDigests) once the time of day
// at has come in the service's time zone, then once a day, until ctx ends.
// It looks every minute, and at once when it starts: a node started after
// the digest time queues that day's digest then (once: see DigestID).
func (s *Service) RunDigests(ctx context.Context, at time.Duration, upcoming int, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	done := ""
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if day := DigestDue(s.now(), at, s.loc); day != "" && day != done {
			n, err := s.QueueDigests(ctx, upcoming)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("daily digest not queued", "date", day, "err", err)
			case err == nil:
				done = day
				log.Info("daily digest queued", "date", day, "users", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
