package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// responseTo maps the state a response leads to back to the response, for
// the side that sends it.
var responseTo = map[string]Response{
	StatusAccepted: Accept,
	StatusRejected: Reject,
	StatusDone:     Done,
	StatusRevoked:  Revoke,
}

// Resync sends the peer this node's latest state of an exchange again and
// tries to deliver it at once. If envelopes of the exchange still wait in
// the outbox it delivers those now; otherwise it seals the latest response
// this node made (accept, reject, done, revoke) again, under the ISP the
// exchange started under or a renewal of it in force here, and, if the
// exchange was marked failed because that response never arrived, restores
// the state. An offer that never arrived cannot be re-sent this way (send
// it again), nor can a disclosure's answer (it carries case data). The peer
// takes a state it already holds as a no-op.
func (s *Service) Resync(ctx context.Context, sub policy.Subject, id string) (Record, Delivery, error) {
	if err := s.authorize(ctx, sub, policy.ResourceExchange, policy.ActionRespond, "exchange.resync", "exchange/"+id); err != nil {
		return Record{}, Delivery{}, err
	}
	now := s.now().UTC()
	actor := actorOf(sub, s.agency)
	var rec Record
	var waiting []OutboxEntry
	var refused error
	hide := false
	err := s.store.Update(ctx, func(w store.Writer) error {
		waiting, refused = nil, nil
		if err := getJSON(w, key(prefixRecord, id), &rec); err != nil {
			return err
		}
		if hide = !s.reaches(sub, policy.ActionRespond, &rec); hide {
			return nil
		}
		err := w.Scan(prefixOutbox, store.ScanOptions{}, func(_, v []byte) error {
			var e OutboxEntry
			if err := unmarshal(v, &e); err != nil {
				return err
			}
			if e.Exchange == id {
				waiting = append(waiting, e)
			}
			return nil
		})
		if err != nil || len(waiting) > 0 {
			return err
		}
		// The latest state this node reached itself, past any "failed".
		i := len(rec.History) - 1
		for i >= 0 && rec.History[i].Status == StatusFailed {
			i--
		}
		if i < 0 {
			refused = fmt.Errorf("%w: exchange %s has no state to send", ErrState, id)
			return nil
		}
		last := rec.History[i]
		resp, ok := responseTo[last.Status]
		t := transitions[resp]
		switch {
		case !ok || rec.Direction != t.direction:
			if rec.Direction == Outgoing && last.Status == StatusPending {
				refused = fmt.Errorf("%w: the %s itself never arrived at %s: send it again", ErrState, rec.Kind, rec.Peer)
			} else {
				refused = fmt.Errorf("%w: %s %s is %s: this node has no response of its own to send again", ErrState, rec.Kind, id, last.Status)
			}
			return nil
		case rec.Kind == KindDisclosure && resp == Accept:
			refused = fmt.Errorf("%w: a disclosure's answer carries case data and is not sent again; ask %s to request it again", ErrState, rec.Peer)
			return nil
		}
		if _, err := s.continuing(w, rec, now); err != nil {
			refused = fmt.Errorf("%w: %w", ErrRefused, err)
			return nil
		}
		// Restoring a state marked failed is undone if the peer refuses;
		// sending the state this node holds again changes nothing here.
		undo := ""
		if rec.Status != last.Status {
			undo = rec.Status
			rec.event(now, last.Status, actor, "sent again (resync)")
		}
		msg := Message{Kind: rec.Kind + "." + string(resp), Exchange: rec.ID, Reason: last.Reason, Actor: last.Actor}
		if err := s.enqueueUndo(w, &rec, msg, now, undo); err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "exchange.resync", Object: "exchange/" + id, Details: map[string]any{"status": last.Status}})
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Record{}, Delivery{}, fmt.Errorf("%w: no exchange %q", ErrNotFound, id)
	}
	if err != nil {
		return Record{}, Delivery{}, err
	}
	if hide {
		return Record{}, Delivery{}, s.hidden(ctx, sub, "exchange.resync", id)
	}
	if refused != nil {
		return Record{}, Delivery{}, s.refuse(ctx, sub, "exchange.resync", "exchange/"+id, refused)
	}
	if len(waiting) == 0 {
		return s.deliverChange(ctx, rec, "resync")
	}
	slices.SortFunc(waiting, func(a, b OutboxEntry) int { return a.Created.Compare(b.Created) })
	var d Delivery
	for _, e := range waiting {
		if d = s.deliverNow(ctx, e.EnvelopeID); !d.Delivered {
			break
		}
	}
	var cur Record
	if err := s.store.View(ctx, func(r store.Reader) error { return getJSON(r, key(prefixRecord, id), &cur) }); err != nil {
		return rec, d, err
	}
	if d.Refused != "" {
		return cur, d, fmt.Errorf("%w: %s did not take %s %s, which is %s here: %s", ErrPeerRefused, rec.Peer, rec.Kind, id, cur.Status, d.Refused)
	}
	return cur, d, nil
}
