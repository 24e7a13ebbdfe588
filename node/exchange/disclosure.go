package exchange

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// HandleResolver maps a handle this node gave agency `from` in a tracing
// answer to the case behind it (within the receiving transaction).
type HandleResolver func(r store.Reader, handle, from string) (caseID string, err error)

// OnDisclosureRequest registers how handles are resolved; without it,
// disclosure requests are refused.
func (s *Service) OnDisclosureRequest(h HandleResolver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resolveHandle = h
}

// RequestDisclosure asks agency `to` to disclose the case behind handle
// (from one of its tracing answers), under the ISP that lets this agency
// ask it for tracing. The other agency's caseworker accepts or rejects it
// like an incoming referral; on acceptance, what the ISP's tracing rule
// lets go of the case arrives with the answer. actor names the requester.
func (s *Service) RequestDisclosure(ctx context.Context, sub policy.Subject, to, handle, note string) (Record, error) {
	if len(handle) == 0 || len(handle) > 64 {
		return Record{}, fmt.Errorf("%w: bad handle", ErrInvalid)
	}
	var err error
	if note, err = trim(note, MaxNote); err != nil {
		return Record{}, err
	}
	targets, err := s.TracingTargets(ctx)
	if err != nil {
		return Record{}, err
	}
	var isp *policy.ISP
	for _, t := range targets {
		if t.Agency == to {
			isp = t.ISP
		}
	}
	if isp == nil {
		return Record{}, fmt.Errorf("%w: no ISP in force lets this agency ask %s for tracing", ErrRefused, to)
	}
	now := s.now().UTC()
	rec := Record{
		ID: uuid.NewString(), Kind: KindDisclosure, Direction: Outgoing, Peer: to, Note: note,
		ISP: isp.ID, ISPVersion: isp.Version, CreatedBy: actorOf(sub, s.agency), CreatedAt: now,
		Owner: sub.User, OwnerGroup: sub.Group,
	}
	rec.event(now, StatusPending, rec.CreatedBy, "")
	err = s.store.Update(ctx, func(w store.Writer) error {
		msg := Message{Kind: KindDisclosure, Exchange: rec.ID, Handle: handle, Note: note, Actor: rec.CreatedBy}
		if err := s.enqueue(w, &rec, msg, now); err != nil {
			return err
		}
		_, err := audit.Append(w, now, audit.Event{Actor: sub.User, Action: "disclosure.request", Object: "agency/" + to,
			Details: map[string]string{"exchange": rec.ID, "isp": isp.ID}})
		return err
	})
	if err != nil {
		return Record{}, err
	}
	s.poke()
	return rec, nil
}

// disclose returns the projection of the case behind an incoming
// disclosure request that the ISP's tracing rule lets go to the asking
// agency, read as sub (access checked and audited by casework). The case
// must still have consent for tracing.
func (s *Service) disclose(ctx context.Context, sub policy.Subject, rec Record) (map[string]any, error) {
	c, err := s.cases.Get(ctx, sub, rec.CaseID)
	if err != nil {
		return nil, err
	}
	var d policy.ISPDecision
	err = s.store.View(ctx, func(r store.Reader) error {
		isp, err := s.continuing(r, rec, s.now())
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		d = isp.Evaluate(policy.Request{From: s.agency, To: rec.Peer, Purpose: PurposeTracing, Now: s.now().UTC(),
			Fields: c.Fields, RiskLevel: c.RiskLevel(), Role: sub.Role.ID}, s.formFields)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !d.Allowed {
		return nil, fmt.Errorf("%w: %s", ErrRefused, d.Reason)
	}
	return d.Send, nil
}
