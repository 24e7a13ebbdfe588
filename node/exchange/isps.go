package exchange

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	// Expired: every party's signature verifies but the validity period
	// is over. Revocations of exchanges started under it are still taken
	// (they withdraw data and carry none).
	Expired bool
	// Signatures says which signatures verify here and why the others
	// do not; only verified ones may be reported as signed.
	Signatures []policy.SignatureState
}

// Signed returns the agencies whose signatures verify.
func (in ISPInfo) Signed() []string {
	var out []string
	for _, st := range in.Signatures {
		if st.Verified {
			out = append(out, st.Agency)
		}
	}
	return out
}

// ApplyResult is what applying an ISP did, or with a dry run would do.
type ApplyResult struct {
	// ISP is the document applied (or that would be).
	ISP ISPInfo
	// Previous is the version of the same id applied before, if any.
	Previous *ISPInfo
	// Changes says how ISP differs from Previous, one line each.
	Changes []string
	// Refusal says, for a dry run, why applying would be refused.
	Refusal string
}

// ErrISPRefused is wrapped by the error ApplyISP returns for a document it
// will not put in force (not signed by every party, a signature that does
// not verify, outside its validity, older than the version in force).
var ErrISPRefused = errors.New("ISP not applied")

// verifier checks ISP signatures with the keys this node knows: its own
// and its peers' announced keys. One verifier reads each peer once.
func (s *Service) verifier(r store.Reader) policy.SignatureVerifier {
	type known struct {
		pub   agencykey.Public
		found bool
	}
	keys := map[[2]string]known{}
	return func(agency, fp string, msg, ed, ml []byte) error {
		k, ok := keys[[2]string{agency, fp}]
		if !ok {
			if agency == s.agency {
				if own, ok := s.keyByFingerprint(fp); ok {
					k = known{own.Public(), true}
				}
			} else if p, err := s.peer(r, agency); err == nil {
				k.pub, k.found = p.keyByFingerprint(fp)
			}
			keys[[2]string{agency, fp}] = k
		}
		if !k.found {
			return fmt.Errorf("no key %s of agency %q is known here (add the peer and let it connect)", fp, agency)
		}
		return k.pub.Verify(msg, agencykey.Signature{Key: fp, Ed25519: ed, MLDSA65: ml})
	}
}

func (s *Service) info(r store.Reader, st storedISP, now time.Time) (ISPInfo, error) {
	c, err := s.checkedISP(r, st.Doc)
	if err != nil {
		return ISPInfo{}, err
	}
	p := c.isp
	in := ISPInfo{ISP: p, AppliedAt: st.AppliedAt, Signatures: slices.Clone(c.states)}
	switch err := c.signed; {
	case err != nil:
		in.Problem = err.Error()
	case now.Before(p.ValidFrom) || !now.Before(p.ValidUntil):
		in.Problem = fmt.Sprintf("valid from %s until %s", p.ValidFrom.Format(time.RFC3339), p.ValidUntil.Format(time.RFC3339))
		in.Expired = !now.Before(p.ValidUntil)
	default:
		in.InForce = true
	}
	return in, nil
}

// checkedISP is an ISP document parsed, with its signatures checked
// against the keys its parties had when it was checked.
type checkedISP struct {
	keys   [sha256.Size]byte // partyKeys when checked
	isp    *policy.ISP       // shared: never changed once parsed
	states []policy.SignatureState
	signed error // FullySigned
}

// checkedISPs keeps the checked form of each ISP document, by the
// document's digest: every send and receive evaluates the ISPs in force,
// and parsing each one and looking up and checking its parties' keys each
// time took most of a transaction's time. An entry counts only while the
// parties' keys are the ones it was checked with (partyKeys).
type checkedISPs struct {
	mu   sync.Mutex
	docs map[[sha256.Size]byte]*checkedISP
	// stored keeps the last decoded record of each applied ISP with the
	// stored bytes it came from, as peerCache does for peers.
	stored map[string]cachedISP
}

type cachedISP struct {
	raw []byte
	st  storedISP
}

// decodeISP decodes raw, the stored record of the ISP id, or returns what
// an earlier call decoded from the same bytes. The result shares Doc with
// the cache: it must not be changed.
func (s *Service) decodeISP(id string, raw []byte) (storedISP, error) {
	s.isps.mu.Lock()
	c, ok := s.isps.stored[id]
	s.isps.mu.Unlock()
	if ok && bytes.Equal(c.raw, raw) {
		return c.st, nil
	}
	var st storedISP
	if err := unmarshal(raw, &st); err != nil {
		return storedISP{}, err
	}
	s.isps.mu.Lock()
	if s.isps.stored == nil || len(s.isps.stored) >= maxCheckedISPs {
		s.isps.stored = map[string]cachedISP{}
	}
	s.isps.stored[id] = cachedISP{raw: bytes.Clone(raw), st: st}
	s.isps.mu.Unlock()
	return st, nil
}

const maxCheckedISPs = 256

// checkedISP parses doc and checks its signatures, or returns what an
// earlier call found with the same parties' keys.
func (s *Service) checkedISP(r store.Reader, doc []byte) (*checkedISP, error) {
	id := sha256.Sum256(doc)
	s.isps.mu.Lock()
	c := s.isps.docs[id]
	s.isps.mu.Unlock()
	if c != nil {
		keys, err := s.partyKeys(r, c.isp)
		if err != nil {
			return nil, err
		}
		if keys == c.keys {
			return c, nil
		}
	}
	p, err := policy.ParseISP(doc)
	if err != nil {
		return nil, err
	}
	keys, err := s.partyKeys(r, p)
	if err != nil {
		return nil, err
	}
	verify := s.verifier(r)
	c = &checkedISP{keys: keys, isp: p, states: p.SignatureStates(verify), signed: p.FullySigned(verify)}
	s.isps.mu.Lock()
	if s.isps.docs == nil || len(s.isps.docs) >= maxCheckedISPs {
		s.isps.docs = map[[sha256.Size]byte]*checkedISP{}
	}
	s.isps.docs[id] = c
	s.isps.mu.Unlock()
	return c, nil
}

// partyKeys digests what the verifier would look up for p's parties:
// this node's key fingerprints for itself, the public keys each peer
// announced for the others. Nothing else of a peer's record counts: the
// record changes on every contact (last seen, addresses, a fresh
// announcement of the same key), its keys only when the peer rotates or
// is re-keyed.
func (s *Service) partyKeys(r store.Reader, p *policy.ISP) ([sha256.Size]byte, error) {
	h := sha256.New()
	write := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, pt := range p.Parties {
		write([]byte(pt.Agency))
		if pt.Agency == s.agency {
			s.mu.RLock()
			fps := make([]string, 0, len(s.byFP))
			for fp := range s.byFP {
				fps = append(fps, fp)
			}
			s.mu.RUnlock()
			slices.Sort(fps)
			write([]byte(strings.Join(fps, ",")))
			continue
		}
		d, err := s.peerKeys(r, pt.Agency)
		switch {
		case errors.Is(err, ErrNotFound):
			write([]byte{0})
		case err != nil:
			return [sha256.Size]byte{}, err
		default:
			write([]byte{1})
			write(d[:])
		}
	}
	return [sha256.Size]byte(h.Sum(nil)), nil
}

// ISP returns the applied ISP with the given id.
func (s *Service) isp(r store.Reader, id string, now time.Time) (ISPInfo, error) {
	raw, err := r.Get(key(prefixISP, id))
	if errors.Is(err, store.ErrNotFound) {
		return ISPInfo{}, fmt.Errorf("%w: no ISP %q is applied here", ErrNotFound, id)
	}
	if err != nil {
		return ISPInfo{}, err
	}
	st, err := s.decodeISP(id, raw)
	if err != nil {
		return ISPInfo{}, fmt.Errorf("ISP %q: %w", id, err)
	}
	return s.info(r, st, now)
}

func (s *Service) allISPs(r store.Reader, now time.Time) ([]ISPInfo, error) {
	var out []ISPInfo
	err := r.Scan(prefixISP, store.ScanOptions{}, func(k, v []byte) error {
		st, err := s.decodeISP(string(k[len(prefixISP):]), v)
		if err != nil {
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

// ApplyISP puts an ISP document in force. It refuses, changing nothing, a
// document that is not in force by itself (a party has not signed, a
// signature does not verify, outside its validity period) or that is
// older than the version of the same id in force: the version in force
// stays so until a newer one verifies with every party's signature. With
// dryRun it only says what applying would change, or why it would be
// refused (ApplyResult.Refusal), and stores nothing.
func (s *Service) ApplyISP(ctx context.Context, sub policy.Subject, doc []byte, dryRun bool) (ApplyResult, error) {
	if err := s.authorize(ctx, sub, policy.ResourceISP, policy.ActionCreate, "isp.apply", "isp"); err != nil {
		return ApplyResult{}, err
	}
	p, err := policy.ParseISP(doc)
	if err != nil {
		return ApplyResult{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	now := s.now().UTC()
	object := fmt.Sprintf("isp/%s@%d", p.ID, p.Version)
	var res ApplyResult
	var refused error
	err = s.store.Update(ctx, func(w store.Writer) error {
		res, refused = ApplyResult{}, nil
		st := storedISP{Doc: doc, AppliedAt: now, AppliedBy: sub.User}
		in, err := s.info(w, st, now)
		if err != nil {
			return err
		}
		res.ISP = in
		var prev *policy.ISP
		if old, err := s.isp(w, p.ID, now); err == nil {
			res.Previous, prev = &old, old.ISP
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		res.Changes = policy.Diff(prev, p)
		keep := ""
		if res.Previous != nil && res.Previous.InForce {
			keep = fmt.Sprintf("; version %d stays in force", res.Previous.ISP.Version)
		}
		switch {
		case !in.InForce:
			// Say the ISP's name once, not again in every problem.
			problem := strings.ReplaceAll(in.Problem, fmt.Sprintf("policy: ISP %s v%d: ", p.ID, p.Version), "")
			refused = fmt.Errorf("%w: ISP %s version %d: %s%s", ErrISPRefused, p.ID, p.Version, problem, keep)
		case res.Previous != nil && res.Previous.InForce && res.Previous.ISP.Version > p.Version:
			refused = fmt.Errorf("%w: ISP %s version %d is older than version %d in force%s", ErrISPRefused, p.ID, p.Version, res.Previous.ISP.Version, keep)
		}
		if dryRun {
			if refused != nil {
				res.Refusal = refused.Error()
			}
			refused = nil
			return nil
		}
		if refused != nil {
			return nil
		}
		if err := putJSON(w, key(prefixISP, p.ID), st); err != nil {
			return err
		}
		details := map[string]any{"changes": res.Changes}
		if res.Previous != nil {
			details["previous_version"] = res.Previous.ISP.Version
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "isp.apply", Object: object, Details: details})
		return err
	})
	if err != nil {
		return ApplyResult{}, err
	}
	if refused != nil {
		return ApplyResult{}, s.refuse(ctx, sub, "isp.apply", object, refused)
	}
	return res, nil
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
func (s *Service) SignISP(ctx context.Context, sub policy.Subject, doc []byte) ([]byte, ISPInfo, error) {
	if err := s.authorize(ctx, sub, policy.ResourceISP, policy.ActionSign, "isp.sign", "isp"); err != nil {
		return nil, ISPInfo{}, err
	}
	p, err := policy.ParseISP(doc)
	if err != nil {
		return nil, ISPInfo{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	k := s.currentKey()
	i := slices.IndexFunc(p.Parties, func(pt policy.Party) bool { return pt.Agency == s.agency })
	if i < 0 {
		return nil, ISPInfo{}, fmt.Errorf("%w: agency %q is not a party of ISP %s", ErrInvalid, s.agency, p.ID)
	}
	if p.Parties[i].SigningKey != k.Fingerprint() {
		return nil, ISPInfo{}, fmt.Errorf("%w: ISP %s names signing key %s for %s, this node's key is %s", ErrInvalid, p.ID, p.Parties[i].SigningKey, s.agency, k.Fingerprint())
	}
	sig, err := k.Sign(p.SigningBytes())
	if err != nil {
		return nil, ISPInfo{}, err
	}
	p.AddSignature(policy.ISPSignature{Agency: s.agency, Key: sig.Key, Ed25519: sig.Ed25519, MLDSA65: sig.MLDSA65})
	out, err := p.Marshal()
	if err != nil {
		return nil, ISPInfo{}, err
	}
	var in ISPInfo
	err = s.store.View(ctx, func(r store.Reader) error {
		var err error
		in, err = s.info(r, storedISP{Doc: out}, s.now())
		return err
	})
	if err != nil {
		return nil, ISPInfo{}, err
	}
	return out, in, audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "isp.sign", Object: fmt.Sprintf("isp/%s@%d", p.ID, p.Version)})
}

// evaluate finds the ISPs in force that allow purpose from this agency to
// `to` and returns the first decision that allows it, or the reasons of
// every refusal.
func (s *Service) evaluate(r store.Reader, req policy.Request) (policy.ISPDecision, *policy.ISP, error) {
	isps, err := s.allISPs(r, req.Now)
	if err != nil {
		return policy.ISPDecision{}, nil, err
	}
	d, isp := s.decide(isps, req)
	return d, isp, nil
}

// decide is evaluate on the applied ISPs isps.
func (s *Service) decide(isps []ISPInfo, req policy.Request) (policy.ISPDecision, *policy.ISP) {
	var reasons []string
	var last policy.ISPDecision
	for _, in := range isps {
		if !in.InForce {
			reasons = append(reasons, fmt.Sprintf("ISP %s v%d is not in force: %s", in.ISP.ID, in.ISP.Version, in.Problem))
			continue
		}
		d := in.ISP.Evaluate(req, s.formFields)
		if d.Allowed {
			return d, in.ISP
		}
		last = d
		reasons = append(reasons, d.Reason)
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "no ISP is applied on this node (cpx policy apply)")
	}
	last.Allowed = false
	last.Reason = fmt.Sprintf("no ISP in force allows %s from %s to %s: %s", req.Purpose, req.From, req.To, joinReasons(reasons))
	return last, nil
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

// continuing returns the ISP a message of an existing exchange goes
// under now, at this node: the latest version of the ISP the exchange
// started under that is in force here. It must be that version or a newer
// one (a renewal continues the exchanges open under the version it
// supersedes) and must still cover the exchange's purpose between the two
// agencies, in the direction its case data flows. Each party checks this
// against its own copy; envelopes keep naming the version the exchange
// started under.
func (s *Service) continuing(r store.Reader, rec Record, now time.Time) (*policy.ISP, error) {
	return s.continuingFor(r, rec, now, false)
}

// withdrawing is continuing for a revocation: it also lets an exchange
// go on under an ISP whose validity period is over (but whose
// signatures verify), since a revocation withdraws case data and carries
// none. A receiver that refused it would keep the data for ever.
func (s *Service) withdrawing(r store.Reader, rec Record, now time.Time) (*policy.ISP, error) {
	return s.continuingFor(r, rec, now, true)
}

func (s *Service) continuingFor(r store.Reader, rec Record, now time.Time, expiredOK bool) (*policy.ISP, error) {
	in, err := s.isp(r, rec.ISP, now)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("exchange %s started under ISP %s version %d, which is no longer applied here", rec.ID, rec.ISP, rec.ISPVersion)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case !in.InForce && !(expiredOK && in.Expired):
		return nil, fmt.Errorf("exchange %s started under ISP %s version %d; version %d applied here is not in force: %s", rec.ID, rec.ISP, rec.ISPVersion, in.ISP.Version, in.Problem)
	case in.ISP.Version < rec.ISPVersion:
		return nil, fmt.Errorf("exchange %s started under ISP %s version %d; this node has only version %d in force (apply the renewal)", rec.ID, rec.ISP, rec.ISPVersion, in.ISP.Version)
	}
	// The agency the case data of the exchange flows from, and to: a
	// disclosure's data flows back to the agency that asked.
	from, to := s.agency, rec.Peer
	if (rec.Direction == Incoming) != (rec.Kind == KindDisclosure) {
		from, to = rec.Peer, s.agency
	}
	if err := in.ISP.Covers(purposeOf(rec.Kind), from, to); err != nil {
		return nil, fmt.Errorf("exchange %s started under ISP %s version %d cannot continue: %w", rec.ID, rec.ISP, rec.ISPVersion, err)
	}
	return in.ISP, nil
}
