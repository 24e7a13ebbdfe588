package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

type storedISP struct {
	Doc       []byte    `json:"doc"`
	AppliedAt time.Time `json:"applied_at"`
	AppliedBy string    `json:"applied_by"`
}

// ISPInfo is an applied ISP and whether it is in force.
type ISPInfo struct {
	ISP       *policy.ISP
	AppliedAt time.Time
	InForce   bool
	// Problem says why it is not in force.
	Problem string
}

// verifier checks ISP signatures with the keys this node knows: its own
// and its peers' announced keys.
func (s *Service) verifier(r store.Reader) policy.SignatureVerifier {
	return func(agency, fp string, msg, ed, ml []byte) error {
		var pub agencykey.Public
		found := false
		if agency == s.agency {
			if k, ok := s.keyByFingerprint(fp); ok {
				pub, found = k.Public(), true
			}
		} else if p, err := s.peer(r, agency); err == nil {
			pub, found = p.keyByFingerprint(fp)
		}
		if !found {
			return fmt.Errorf("no key %s of agency %q is known here (add the peer and let it connect)", fp, agency)
		}
		return pub.Verify(msg, agencykey.Signature{Key: fp, Ed25519: ed, MLDSA65: ml})
	}
}

func (s *Service) info(r store.Reader, st storedISP, now time.Time) (ISPInfo, error) {
	p, err := policy.ParseISP(st.Doc)
	if err != nil {
		return ISPInfo{}, err
	}
	in := ISPInfo{ISP: p, AppliedAt: st.AppliedAt}
	switch err := p.FullySigned(s.verifier(r)); {
	case err != nil:
		in.Problem = err.Error()
	case now.Before(p.ValidFrom) || !now.Before(p.ValidUntil):
		in.Problem = fmt.Sprintf("valid from %s until %s", p.ValidFrom.Format(time.RFC3339), p.ValidUntil.Format(time.RFC3339))
	default:
		in.InForce = true
	}
	return in, nil
}

// ISP returns the applied ISP with the given id.
func (s *Service) isp(r store.Reader, id string, now time.Time) (ISPInfo, error) {
	var st storedISP
	if err := getJSON(r, key(prefixISP, id), &st); err != nil {
		if errors.Is(err, ErrNotFound) {
			return ISPInfo{}, fmt.Errorf("%w: no ISP %q is applied here", ErrNotFound, id)
		}
		return ISPInfo{}, err
	}
	return s.info(r, st, now)
}

func (s *Service) allISPs(r store.Reader, now time.Time) ([]ISPInfo, error) {
	var out []ISPInfo
	err := r.Scan(prefixISP, store.ScanOptions{}, func(_, v []byte) error {
		var st storedISP
		if err := unmarshal(v, &st); err != nil {
			return err
		}
		in, err := s.info(r, st, now)
		if err != nil {
			return err
		}
		out = append(out, in)
		return nil
	})
	return out, err
}

// ApplyISP stores an ISP document. It is used for exchanges once every
// party has signed it; a lower version than the one applied is refused.
func (s *Service) ApplyISP(ctx context.Context, sub policy.Subject, doc []byte) (ISPInfo, error) {
	if err := s.authorize(ctx, sub, policy.ResourceISP, policy.ActionCreate, "isp.apply", "isp"); err != nil {
		return ISPInfo{}, err
	}
	p, err := policy.ParseISP(doc)
	if err != nil {
		return ISPInfo{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	now := s.now().UTC()
	var in ISPInfo
	err = s.store.Update(ctx, func(w store.Writer) error {
		if old, err := s.isp(w, p.ID, now); err == nil && old.ISP.Version > p.Version {
			return fmt.Errorf("%w: ISP %s version %d is older than the applied version %d", ErrInvalid, p.ID, p.Version, old.ISP.Version)
		}
		st := storedISP{Doc: doc, AppliedAt: now, AppliedBy: sub.User}
		if err := putJSON(w, key(prefixISP, p.ID), st); err != nil {
			return err
		}
		var err error
		if in, err = s.info(w, st, now); err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "isp.apply", Object: fmt.Sprintf("isp/%s@%d", p.ID, p.Version)})
		return err
	})
	return in, err
}

// ISPs lists the applied ISPs.
func (s *Service) ISPs(ctx context.Context, sub policy.Subject) ([]ISPInfo, error) {
	if err := s.authorize(ctx, sub, policy.ResourceISP, policy.ActionList, "isp.list", "isp"); err != nil {
		return nil, err
	}
	var out []ISPInfo
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		out, err = s.allISPs(r, s.now())
		return err
	})
	return out, err
}

// ShowISP returns one applied ISP.
func (s *Service) ShowISP(ctx context.Context, sub policy.Subject, id string) (ISPInfo, error) {
	if err := s.authorize(ctx, sub, policy.ResourceISP, policy.ActionRead, "isp.show", "isp/"+id); err != nil {
		return ISPInfo{}, err
	}
	var in ISPInfo
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		in, err = s.isp(r, id, s.now())
		return err
	})
	return in, err
}

// SignISP adds this agency's signature to an ISP document and returns the
// signed document. The agency must be a party, named with this node's
// current signing key.
func (s *Service) SignISP(ctx context.Context, sub policy.Subject, doc []byte) ([]byte, error) {
	if err := s.authorize(ctx, sub, policy.ResourceISP, policy.ActionSign, "isp.sign", "isp"); err != nil {
		return nil, err
	}
	p, err := policy.ParseISP(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	k := s.currentKey()
	i := slices.IndexFunc(p.Parties, func(pt policy.Party) bool { return pt.Agency == s.agency })
	if i < 0 {
		return nil, fmt.Errorf("%w: agency %q is not a party of ISP %s", ErrInvalid, s.agency, p.ID)
	}
	if p.Parties[i].SigningKey != k.Fingerprint() {
		return nil, fmt.Errorf("%w: ISP %s names signing key %s for %s, this node's key is %s", ErrInvalid, p.ID, p.Parties[i].SigningKey, s.agency, k.Fingerprint())
	}
	sig, err := k.Sign(p.SigningBytes())
	if err != nil {
		return nil, err
	}
	p.AddSignature(policy.ISPSignature{Agency: s.agency, Key: sig.Key, Ed25519: sig.Ed25519, MLDSA65: sig.MLDSA65})
	out, err := p.Marshal()
	if err != nil {
		return nil, err
	}
	return out, audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "isp.sign", Object: fmt.Sprintf("isp/%s@%d", p.ID, p.Version)})
}

// evaluate finds the ISPs in force that allow purpose from this agency to
// `to` and returns the first decision that allows it, or the reasons of
// every refusal.
func (s *Service) evaluate(r store.Reader, req policy.Request) (policy.ISPDecision, *policy.ISP, error) {
	isps, err := s.allISPs(r, req.Now)
	if err != nil {
		return policy.ISPDecision{}, nil, err
	}
	var reasons []string
	var last policy.ISPDecision
	for _, in := range isps {
		if !in.InForce {
			reasons = append(reasons, fmt.Sprintf("ISP %s v%d is not in force: %s", in.ISP.ID, in.ISP.Version, in.Problem))
			continue
		}
		d := in.ISP.Evaluate(req, s.formFields)
		if d.Allowed {
			return d, in.ISP, nil
		}
		last = d
		reasons = append(reasons, d.Reason)
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "no ISP is applied on this node (cpx policy apply)")
	}
	last.Allowed = false
	last.Reason = fmt.Sprintf("no ISP in force allows %s from %s to %s: %s", req.Purpose, req.From, req.To, joinReasons(reasons))
	return last, nil, nil
}

func joinReasons(rs []string) string {
	out := ""
	for i, r := range rs {
		if i > 0 {
			out += "; "
		}
		out += r
	}
	return out
}
