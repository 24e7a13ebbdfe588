package exchange

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Audit checkpoints: the node signs the head of its audit chain (sequence
// number and entry hash) with its agency key, at most every
// CheckpointInterval and whenever CheckpointEvery entries were added, and
// sends each checkpoint to every peer, which verifies the signature,
// keeps it and countersigns it (a witness, as in transparency logs). A
// witness refuses a second, different checkpoint at a sequence number it
// already holds. `cpx audit verify` asks every peer for the checkpoints it
// holds and checks each against the local chain: an insider holding every
// local secret can rewrite and re-key the chain, but cannot change what
// the peers keep.
const (
	CheckpointEvery    = 1000
	CheckpointInterval = time.Hour
	// MaxCheckpointBytes bounds a checkpoint a peer sends.
	MaxCheckpointBytes = 16 << 10
	// checkpointsPage is how many checkpoints one Checkpoints answer holds.
	checkpointsPage = 5000
)

var (
	prefixOwnCheckpoint = []byte("x/cp/") // seq → ownCheckpoint
	prefixWitnessed     = []byte("x/w/")  // agency "/" seq → Checkpoint
)

// WitnessTransport is implemented by transports that carry checkpoints
// (peerapi.Transport).
type WitnessTransport interface {
	// Witness sends a checkpoint and returns the peer's countersignature.
	Witness(ctx context.Context, peerID string, addrs []string, checkpoint []byte) ([]byte, error)
	// Checkpoints returns the checkpoints of this node the peer keeps,
	// after seq, and whether more follow.
	Checkpoints(ctx context.Context, peerID string, addrs []string, after uint64) ([]Witnessed, bool, error)
}

// Witnessed is a checkpoint as a witness returns it.
type Witnessed struct {
	Seq  uint64
	Hash audit.Hash
}

// Checkpoint is a signed statement of an audit chain's head.
type Checkpoint struct {
	Agency    string              `json:"agency"`
	Seq       uint64              `json:"seq"`
	Hash      audit.Hash          `json:"hash"`
	Time      time.Time           `json:"time"`
	Signature agencykey.Signature `json:"signature"`
}

// body is what the agency key signs.
func (c Checkpoint) body() []byte {
	var b bytes.Buffer
	b.WriteString("cpx-audit-checkpoint/v1\x00")
	b.WriteString(c.Agency)
	b.WriteByte(0)
	b.Write(binary.BigEndian.AppendUint64(nil, c.Seq))
	b.Write(c.Hash[:])
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(c.Time.UnixNano())))
	return b.Bytes()
}

// witnessBody is what a witness signs.
func witnessBody(witness string, c Checkpoint) []byte {
	return append([]byte("cpx-audit-witness/v1\x00"+witness+"\x00"), c.body()...)
}

// ownCheckpoint is a checkpoint of this node with its witnesses'
// countersignatures.
type ownCheckpoint struct {
	Checkpoint
	Witnesses map[string]agencykey.Signature `json:"witnesses,omitempty"`
}

func seqKey(prefix []byte, agency string, seq uint64) []byte {
	k := append([]byte{}, prefix...)
	if agency != "" {
		k = append(append(k, agency...), '/')
	}
	return binary.BigEndian.AppendUint64(k, seq)
}

// CheckpointResult is what CheckpointNow did.
type CheckpointResult struct {
	Seq         uint64
	Hash        audit.Hash
	WitnessedBy []string
	Missed      map[string]string // agency → why
}

// CheckpointAudit signs a checkpoint of the audit chain's head now and
// sends it to every peer (permission verify on the audit log).
func (s *Service) CheckpointAudit(ctx context.Context, sub policy.Subject) (CheckpointResult, error) {
	if err := s.authorize(ctx, sub, policy.ResourceAudit, policy.ActionVerify, "audit.checkpoint", "audit"); err != nil {
		return CheckpointResult{}, err
	}
	return s.checkpoint(ctx, true)
}

// checkpoint makes a checkpoint of the head if forced, or if the head
// moved CheckpointEvery entries or CheckpointInterval since the last one,
// and sends it to every peer.
func (s *Service) checkpoint(ctx context.Context, force bool) (CheckpointResult, error) {
	now := s.now().UTC()
	var cp ownCheckpoint
	made := false
	err := s.store.Update(ctx, func(w store.Writer) error {
		made = false
		seq, hash, err := audit.Head(w)
		if err != nil || seq == 0 {
			return err
		}
		var last ownCheckpoint
		err = w.Scan(prefixOwnCheckpoint, store.ScanOptions{Reverse: true, Limit: 1}, func(_, v []byte) error { return unmarshal(v, &last) })
		if err != nil {
			return err
		}
		if !force && (seq == last.Seq || seq-last.Seq < CheckpointEvery && now.Sub(last.Time) < CheckpointInterval) {
			return nil
		}
		if seq == last.Seq && hash == last.Hash {
			cp = last
			return nil
		}
		cp = ownCheckpoint{Checkpoint: Checkpoint{Agency: s.agency, Seq: seq, Hash: hash, Time: now}}
		if cp.Signature, err = s.currentKey().Sign(cp.body()); err != nil {
			return err
		}
		made = true
		return putJSON(w, seqKey(prefixOwnCheckpoint, "", seq), cp)
	})
	if err != nil || (!made && !force) {
		return CheckpointResult{}, err
	}
	if cp.Seq == 0 {
		return CheckpointResult{}, nil
	}
	res := CheckpointResult{Seq: cp.Seq, Hash: cp.Hash, Missed: map[string]string{}}
	raw, err := json.Marshal(cp.Checkpoint)
	if err != nil {
		return res, err
	}
	wt, ok := s.transport.(WitnessTransport)
	peers, err := s.listPeers(ctx)
	if err != nil {
		return res, err
	}
	for _, p := range peers {
		if !ok {
			res.Missed[p.Agency] = "the transport carries no checkpoints"
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		sigRaw, err := wt.Witness(wctx, p.PeerID, p.DialAddrs(), raw)
		cancel()
		if err == nil {
			err = s.keepCountersignature(ctx, p, cp.Checkpoint, sigRaw)
		}
		if err != nil {
			res.Missed[p.Agency] = err.Error()
			continue
		}
		res.WitnessedBy = append(res.WitnessedBy, p.Agency)
	}
	return res, nil
}

// keepCountersignature verifies a witness's signature and keeps it with
// the checkpoint.
func (s *Service) keepCountersignature(ctx context.Context, p Peer, c Checkpoint, raw []byte) error {
	var sig agencykey.Signature
	if err := json.Unmarshal(raw, &sig); err != nil {
		return fmt.Errorf("countersignature: %w", err)
	}
	pub, err := p.senderKey(sig.Key, s.now())
	if err != nil {
		return err
	}
	if err := pub.Verify(witnessBody(p.Agency, c), sig); err != nil {
		return fmt.Errorf("countersignature: %w", err)
	}
	return s.store.Update(ctx, func(w store.Writer) error {
		var own ownCheckpoint
		if err := getJSON(w, seqKey(prefixOwnCheckpoint, "", c.Seq), &own); err != nil {
			return err
		}
		if own.Witnesses == nil {
			own.Witnesses = map[string]agencykey.Signature{}
		}
		own.Witnesses[p.Agency] = sig
		return putJSON(w, seqKey(prefixOwnCheckpoint, "", c.Seq), own)
	})
}

// ErrCheckpointConflict is a checkpoint that contradicts one a witness
// holds at the same sequence number: the sender's chain was rewritten.
var ErrCheckpointConflict = errors.New("checkpoint contradicts one held at the same sequence number")

// Witness keeps a peer's checkpoint and returns this agency's
// countersignature. It refuses a checkpoint that is not signed by a
// current key of the peer's agency, and one that differs from a
// checkpoint it holds at the same sequence number (audited as
// audit.checkpoint.conflict).
func (s *Service) Witness(ctx context.Context, peerID string, raw []byte) ([]byte, error) {
	now := s.now().UTC()
	if !s.hellos.allow(peerID, now) {
		return nil, ErrRateLimited
	}
	if len(raw) > MaxCheckpointBytes {
		return nil, fmt.Errorf("%w: checkpoint of %d bytes", ErrBadMessage, len(raw))
	}
	var c Checkpoint
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %v", ErrBadMessage, err)
	}
	var p Peer
	var known bool
	if err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		p, known, err = s.peerByID(r, peerID)
		return err
	}); err != nil {
		return nil, err
	}
	switch {
	case !known:
		return nil, fmt.Errorf("%w %s", ErrUnknownPeer, peerID)
	case c.Agency != p.Agency:
		return nil, fmt.Errorf("%w: checkpoint of %q sent by the node of %q", ErrSenderMatch, c.Agency, p.Agency)
	case c.Seq == 0:
		return nil, fmt.Errorf("%w: checkpoint at sequence 0", ErrBadMessage)
	}
	pub, err := p.senderKey(c.Signature.Key, c.Time)
	if err != nil {
		return nil, err
	}
	if err := pub.Verify(c.body(), c.Signature); err != nil {
		return nil, err
	}
	var conflict error
	err = s.store.Update(ctx, func(w store.Writer) error {
		conflict = nil
		var held Checkpoint
		err := getJSON(w, seqKey(prefixWitnessed, p.Agency, c.Seq), &held)
		switch {
		case err == nil && held.Hash != c.Hash:
			conflict = fmt.Errorf("%w: %s at %d: held %s, offered %s", ErrCheckpointConflict, p.Agency, c.Seq, held.Hash, c.Hash)
			_, err := audit.Append(w, now, audit.Event{Actor: "peer:" + p.Agency, Action: "audit.checkpoint.conflict", Object: "agency/" + p.Agency, Outcome: audit.Denied,
				Details: map[string]any{"seq": c.Seq, "held": held.Hash, "offered": c.Hash}})
			return err
		case err == nil:
			return nil
		case !errors.Is(err, ErrNotFound):
			return err
		}
		return putJSON(w, seqKey(prefixWitnessed, p.Agency, c.Seq), c)
	})
	if err != nil {
		return nil, err
	}
	if conflict != nil {
		s.log.Warn("a peer's audit checkpoint contradicts one it sent before", "peer", p.Agency, "seq", c.Seq)
		return nil, conflict
	}
	sig, err := s.currentKey().Sign(witnessBody(s.agency, c))
	if err != nil {
		return nil, err
	}
	return json.Marshal(sig)
}

// WitnessedCheckpoints returns the checkpoints of the calling peer's
// chain that this node holds, after seq, and whether more follow.
func (s *Service) WitnessedCheckpoints(ctx context.Context, peerID string, after uint64) ([]Witnessed, bool, error) {
	now := s.now().UTC()
	if !s.hellos.allow(peerID, now) {
		return nil, false, ErrRateLimited
	}
	var out []Witnessed
	more := false
	err := s.store.View(ctx, func(r store.Reader) error {
		p, known, err := s.peerByID(r, peerID)
		if err != nil {
			return err
		}
		if !known {
			return fmt.Errorf("%w %s", ErrUnknownPeer, peerID)
		}
		prefix := append(append(append([]byte{}, prefixWitnessed...), p.Agency...), '/')
		return r.Scan(prefix, store.ScanOptions{}, func(k, v []byte) error {
			if len(k) != len(prefix)+8 || binary.BigEndian.Uint64(k[len(prefix):]) <= after {
				return nil
			}
			if len(out) == checkpointsPage {
				more = true
				return store.ErrStop
			}
			var c Checkpoint
			if err := unmarshal(v, &c); err != nil {
				return err
			}
			out = append(out, Witnessed{Seq: c.Seq, Hash: c.Hash})
			return nil
		})
	})
	return out, more, err
}

// Anchor is what one peer holds of this node's checkpoints, checked
// against the local chain.
type Anchor struct {
	Peer        string
	Reached     bool
	Checkpoints uint64
	// Problem is the first mismatch, or why the peer could not be asked.
	Problem string
	// Mismatch: the peer holds a checkpoint the local chain contradicts.
	Mismatch bool
}

// VerifyAnchors asks every peer for the checkpoints of this node's audit
// chain it holds and checks each against the local chain.
func (s *Service) VerifyAnchors(ctx context.Context) ([]Anchor, error) {
	peers, err := s.listPeers(ctx)
	if err != nil {
		return nil, err
	}
	wt, ok := s.transport.(WitnessTransport)
	var out []Anchor
	for _, p := range peers {
		a := Anchor{Peer: p.Agency}
		if !ok {
			a.Problem = "the transport carries no checkpoints"
			out = append(out, a)
			continue
		}
		var after uint64
		for a.Problem == "" {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			cps, more, err := wt.Checkpoints(cctx, p.PeerID, p.DialAddrs(), after)
			cancel()
			if err != nil {
				a.Problem = "could not ask: " + err.Error()
				break
			}
			a.Reached = true
			err = s.store.View(ctx, func(r store.Reader) error {
				head, _, err := audit.Head(r)
				if err != nil {
					return err
				}
				for _, c := range cps {
					if c.Seq <= after {
						return fmt.Errorf("%s answered checkpoints out of order", p.Agency)
					}
					after = c.Seq
					h, found, err := audit.EntryHash(r, c.Seq)
					if err != nil {
						return err
					}
					switch {
					case !found:
						a.Problem, a.Mismatch = fmt.Sprintf("%s holds a checkpoint at entry %d but the local chain ends at %d (entries removed)", p.Agency, c.Seq, head), true
					case h != c.Hash:
						a.Problem, a.Mismatch = fmt.Sprintf("entry %d or one before it was rewritten: %s holds hash %s for it, the local chain has %s", c.Seq, p.Agency, c.Hash, h), true
					}
					if a.Problem != "" {
						return nil
					}
					a.Checkpoints++
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			if !more || len(cps) == 0 {
				break
			}
		}
		out = append(out, a)
	}
	return out, nil
}
