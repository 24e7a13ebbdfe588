package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/reporting"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// KindAggregate is a disclosure-controlled report sent to a coordination
// node under an ISP's aggregate purpose. It carries no case data: an
// aggregate only (Message.Aggregate).
const KindAggregate = policy.PurposeAggregate

// prefixSubmission holds the aggregates received, every version:
// period "|" report "|" agency "|" received (ns, 20 digits) "|" exchange
// → Submission.
var prefixSubmission = []byte("x/ag/")

// Submission is an aggregate a node received from an agency.
type Submission struct {
	Agency   string `json:"agency"`
	Report   string `json:"report"`
	Period   string `json:"period"`
	Exchange string `json:"exchange"`
	Envelope string `json:"envelope"`
	Actor    string `json:"actor"`
	// ISP and ISPVersion are the ISP in force here when it was received.
	ISP        string    `json:"isp"`
	ISPVersion uint32    `json:"isp_version"`
	ReceivedAt time.Time `json:"received_at"`
	// Version counts the agency's submissions of the report for the
	// period, from 1; the highest replaces the earlier ones.
	Version   int                 `json:"version"`
	Aggregate reporting.Aggregate `json:"aggregate"`
	// Current is false for a submission a later one replaced (set when
	// read).
	Current bool `json:"-"`
}

func submissionKey(period, report, agency string, at time.Time, exchange string) []byte {
	return key(prefixSubmission, fmt.Sprintf("%s|%s|%s|%020d|%s", period, report, agency, at.UnixNano(), exchange))
}

// AggregateTerms finds an ISP in force that lets this node send req (its
// From is this agency) and returns its terms. A refusal wraps ErrRefused
// and says, per ISP, why not.
func (s *Service) AggregateTerms(ctx context.Context, req policy.AggregateRequest) (policy.AggregateTerms, *policy.ISP, error) {
	req.From, req.Now = s.agency, s.now().UTC()
	var terms policy.AggregateTerms
	var isp *policy.ISP
	var reasons []string
	err := s.store.View(ctx, func(r store.Reader) error {
		isps, err := s.allISPs(r, req.Now)
		if err != nil {
			return err
		}
		for _, in := range isps {
			if !in.InForce {
				continue
			}
			t, err := in.ISP.CheckAggregate(req)
			if err == nil {
				terms, isp = t, in.ISP
				return nil
			}
			reasons = append(reasons, err.Error())
		}
		return nil
	})
	if err != nil {
		return terms, nil, err
	}
	if isp == nil {
		if len(reasons) == 0 {
			reasons = append(reasons, "no ISP in force here has an aggregate rule")
		}
		return terms, nil, fmt.Errorf("%w: no ISP in force allows %s for %s to %s: %s", ErrRefused, req.Report, req.Period, req.To, joinReasons(reasons))
	}
	return terms, isp, nil
}

// PushAggregate seals a disclosure-controlled aggregate to the agency to
// and queues it, in one transaction with the exchange record and the
// audit entry, then tries to deliver it at once. The caller must count
// the whole agency (a role of scope agency that may list cases). The
// aggregate is checked first as the receiver will check it; the
// receiver's refusal comes back in the Delivery and the record fails with
// its reason.
func (s *Service) PushAggregate(ctx context.Context, sub policy.Subject, to string, a reporting.Aggregate) (Record, Delivery, error) {
	const action = "aggregate.push"
	object := "report/" + a.Report
	if !sub.Role.Can(policy.ResourceCase, policy.ActionList) || (sub.Role.Scope != policy.ScopeAgency && sub.Role.Scope != policy.ScopeAll) {
		return Record{}, Delivery{}, s.refuse(ctx, sub, action, object, fmt.Errorf("%w: a pushed report counts the whole agency; role %q counts only its own scope", ErrDenied, sub.Role.ID))
	}
	terms, isp, err := s.AggregateTerms(ctx, policy.AggregateRequest{To: to, Report: a.Report, Dimensions: a.Dimensions(), Period: a.Period})
	if err != nil {
		return Record{}, Delivery{}, s.refuse(ctx, sub, action, object, err)
	}
	if err := checkAggregate(&a, terms); err != nil {
		return Record{}, Delivery{}, s.refuse(ctx, sub, action, object, fmt.Errorf("%w: %v", ErrRefused, err))
	}
	now := s.now().UTC()
	rec := Record{
		ID: uuid.NewString(), Kind: KindAggregate, Direction: Outgoing, Peer: to, Report: a.Report, Period: a.Period,
		ISP: isp.ID, ISPVersion: isp.Version, CreatedBy: actorOf(sub, s.agency), CreatedAt: now,
		Owner: sub.User, OwnerGroup: sub.Group,
	}
	rec.event(now, StatusPending, rec.CreatedBy, "")
	err = s.store.Update(ctx, func(w store.Writer) error {
		msg := Message{Kind: KindAggregate, Exchange: rec.ID, Actor: rec.CreatedBy, Aggregate: &a}
		if err := s.enqueue(w, &rec, msg, now); err != nil {
			return err
		}
		_, err := audit.Append(w, now, audit.Event{Actor: sub.User, Action: action, Object: object,
			Details: map[string]any{"exchange": rec.ID, "to": to, "period": a.Period, "isp": isp.ID, "isp_version": isp.Version, "k": a.K, "protection": a.Protection}})
		return err
	})
	if err != nil {
		return Record{}, Delivery{}, err
	}
	rec, d, err := s.deliverChange(ctx, rec, "report")
	if d.Refused != "" {
		err = fmt.Errorf("%w: %s did not take report %s for %s: %s", ErrPeerRefused, to, a.Report, a.Period, strings.TrimPrefix(d.Refused, ErrPermanent.Error()+": "))
	}
	return rec, d, err
}

// checkAggregate applies the terms to an aggregate: its disclosure
// control at least the ISP's, and the receiver's checks. A report listed
// by name that is one of the managed reports must count by that report's
// dimensions.
func checkAggregate(a *reporting.Aggregate, terms policy.AggregateTerms) error {
	if slices.Contains(terms.Reports, a.Report) && !allListed(a.Dimensions(), terms.Dimensions) {
		for _, d := range reporting.Managed() {
			if d.Name != a.Report {
				continue
			}
			var want []string
			for _, x := range d.Dimensions() {
				want = append(want, x.Field)
			}
			if !slices.Equal(want, a.Dimensions()) {
				return fmt.Errorf("%w: report %s counts by %s, not %s", reporting.ErrViolation, a.Report, strings.Join(want, ", "), strings.Join(a.Dimensions(), ", "))
			}
		}
	}
	if err := a.Check(terms.K()); err != nil {
		return err
	}
	if a.Protection < terms.Protection() {
		return fmt.Errorf("%w: protection interval %d, the ISP requires %d", reporting.ErrViolation, a.Protection, terms.Protection())
	}
	return nil
}

func allListed(xs, list []string) bool {
	for _, x := range xs {
		if !slices.Contains(list, x) {
			return false
		}
	}
	return true
}

// applyAggregate receives an aggregate within w: the ISP in force here must
// allow it from the peer to this agency (report or dimensions, period), and
// the table must pass the checks. It is kept as a new version of the
// agency's submission of the report for the period.
func (s *Service) applyAggregate(w store.Writer, p Peer, isp *policy.ISP, envID string, msg Message, now time.Time) error {
	a := msg.Aggregate
	switch {
	case a == nil:
		return fmt.Errorf("%w: an aggregate message without its table", ErrBadMessage)
	case len(msg.Fields) > 0:
		return fmt.Errorf("%w: an aggregate carries no case data", ErrOutsideFields)
	}
	var old Record
	if err := getJSON(w, key(prefixRecord, msg.Exchange), &old); err == nil {
		return fmt.Errorf("%w: exchange %s exists already", ErrUnexpected, msg.Exchange)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	terms, err := isp.CheckAggregate(policy.AggregateRequest{From: p.Agency, To: s.agency, Report: a.Report, Dimensions: a.Dimensions(), Period: a.Period, Now: now})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if err := checkAggregate(a, terms); err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	version := 1
	prefix := key(prefixSubmission, fmt.Sprintf("%s|%s|%s|", a.Period, a.Report, p.Agency))
	if err := w.Scan(prefix, store.ScanOptions{}, func(_, _ []byte) error { version++; return nil }); err != nil {
		return err
	}
	sub := Submission{
		Agency: p.Agency, Report: a.Report, Period: a.Period, Exchange: msg.Exchange, Envelope: envID, Actor: msg.Actor,
		ISP: isp.ID, ISPVersion: isp.Version, ReceivedAt: now, Version: version, Aggregate: *a,
	}
	if err := putJSON(w, submissionKey(a.Period, a.Report, p.Agency, now, msg.Exchange), sub); err != nil {
		return err
	}
	rec := Record{
		ID: msg.Exchange, Kind: KindAggregate, Direction: Incoming, Peer: p.Agency, Report: a.Report, Period: a.Period,
		ISP: isp.ID, ISPVersion: isp.Version, CreatedBy: msg.Actor, CreatedAt: now, Sync: SyncInSync, OwnerGroup: s.intake,
	}
	rec.event(now, StatusDelivered, msg.Actor, fmt.Sprintf("version %d", version))
	return s.putRecord(w, &rec)
}

// Submissions returns the aggregates received for period, every version,
// by report, agency and time received; Current marks the latest of each
// agency and report.
func (s *Service) Submissions(ctx context.Context, period string) ([]Submission, error) {
	var out []Submission
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(key(prefixSubmission, period+"|"), store.ScanOptions{}, func(_, v []byte) error {
			var sub Submission
			if err := unmarshal(v, &sub); err != nil {
				return err
			}
			out = append(out, sub)
			return nil
		})
	})
	for i := range out {
		out[i].Current = i+1 == len(out) || out[i+1].Agency != out[i].Agency || out[i+1].Report != out[i].Report
	}
	return out, err
}

// Reporter is an agency expected to send aggregates to this node.
type Reporter struct {
	Agency string
	ISP    string
	Terms  policy.AggregateTerms
}

// Reporters lists the agencies the ISPs in force here expect aggregates
// from (their aggregate rule sends to this agency), with the terms.
func (s *Service) Reporters(ctx context.Context) ([]Reporter, error) {
	var out []Reporter
	now := s.now().UTC()
	err := s.store.View(ctx, func(r store.Reader) error {
		isps, err := s.allISPs(r, now)
		if err != nil {
			return err
		}
		for _, in := range isps {
			if !in.InForce {
				continue
			}
			for _, pt := range in.ISP.Parties {
				if pt.Agency == s.agency || in.ISP.Covers(policy.PurposeAggregate, pt.Agency, s.agency) != nil {
					continue
				}
				var terms policy.AggregateTerms
				for _, rule := range in.ISP.Purposes {
					if rule.Name == policy.PurposeAggregate {
						terms = rule.Aggregate
					}
				}
				out = append(out, Reporter{Agency: pt.Agency, ISP: in.ISP.ID, Terms: terms})
			}
		}
		return nil
	})
	return out, err
}

// SendTerms returns the terms of the first ISP in force whose aggregate
// rule lets this agency send to the agency to.
func (s *Service) SendTerms(ctx context.Context, to string) (policy.AggregateTerms, error) {
	now := s.now().UTC()
	var terms policy.AggregateTerms
	found := false
	err := s.store.View(ctx, func(r store.Reader) error {
		isps, err := s.allISPs(r, now)
		if err != nil {
			return err
		}
		for _, in := range isps {
			if !in.InForce || in.ISP.Covers(policy.PurposeAggregate, s.agency, to) != nil {
				continue
			}
			for _, rule := range in.ISP.Purposes {
				if rule.Name == policy.PurposeAggregate {
					terms, found = rule.Aggregate, true
					return nil
				}
			}
		}
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: no ISP in force lets %s send aggregates to %s", ErrRefused, s.agency, to)
	}
	return terms, err
}

// Pushed reports whether report for period went to the agency to
// already: an outgoing aggregate that did not fail.
func (s *Service) Pushed(ctx context.Context, report, to, period string) (bool, error) {
	found := false
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixRecord, store.ScanOptions{}, func(_, v []byte) error {
			var rec Record
			if err := unmarshal(v, &rec); err != nil {
				return err
			}
			if rec.Kind == KindAggregate && rec.Direction == Outgoing && rec.Peer == to && rec.Report == report && rec.Period == period && rec.Status != StatusFailed {
				found = true
			}
			return nil
		})
	})
	return found, err
}
