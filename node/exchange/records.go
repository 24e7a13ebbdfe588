package exchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cpx-node/cpx/node/reporting"
	"github.com/cpx-node/cpx/node/store"
)

// Kinds of exchange.
const (
	KindReferral = "referral"
	KindTransfer = "transfer"
	// KindDisclosure asks another agency to disclose the case behind a
	// tracing answer's handle; its purpose is tracing.
	KindDisclosure = "disclosure"
)

// purposeOf is the ISP purpose an exchange of a kind travels under.
func purposeOf(kind string) string {
	if kind == KindDisclosure {
		return PurposeTracing
	}
	return kind
}

// Directions of an exchange, from this node's point of view.
const (
	Outgoing = "outgoing"
	Incoming = "incoming"
)

// States of an exchange.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusAccepted  = "accepted"
	StatusRejected  = "rejected"
	StatusDone      = "done"
	StatusRevoked   = "revoked"
	StatusFailed    = "failed" // could not be delivered before the envelope expired
)

// Sync states of an exchange: whether the peer holds this node's latest
// state of it.
const (
	// SyncInSync: the peer acknowledged the latest state (or there was
	// nothing to tell it).
	SyncInSync = "in_sync"
	// SyncSending: the latest state waits in the outbox.
	SyncSending = "sending"
	// SyncOutOfSync: the latest state could not be delivered before its
	// envelope expired; the two parties' states differ until it is sent
	// again (Resync).
	SyncOutOfSync = "out_of_sync"
)

// Event is one step in an exchange's life.
type Event struct {
	At     time.Time `json:"at"`
	Status string    `json:"status"`
	Actor  string    `json:"actor"` // "user@agency"
	Reason string    `json:"reason,omitempty"`
}

// Record is one referral or transfer as this node sees it.
type Record struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Direction  string `json:"direction"`
	Peer       string `json:"peer"` // the other agency
	CaseID     string `json:"case_id,omitempty"`
	CaseNumber string `json:"case_number"` // the sender's case number
	// LocalCase is, for an accepted incoming transfer, the case created here.
	LocalCase  string `json:"local_case,omitempty"`
	Service    string `json:"service,omitempty"`
	Note       string `json:"note,omitempty"`
	Status     string `json:"status"`
	ISP        string `json:"isp"`
	ISPVersion uint32 `json:"isp_version"`
	Retention  string `json:"retention,omitempty"`
	// RetentionDays is, for received case data, the retention_days of
	// the ISP version it arrived under (see Retention).
	RetentionDays int `json:"retention_days,omitempty"`
	// Shredded is when the received case data was deleted because its
	// retention ran out.
	Shredded          *time.Time     `json:"shredded,omitempty"`
	ConsentOverridden bool           `json:"consent_overridden,omitempty"`
	Fields            map[string]any `json:"fields,omitempty"` // incoming: what was received
	CreatedBy         string         `json:"created_by"`
	// Owner and OwnerGroup are who the exchange belongs to here (see
	// Service.object): the case's owners for an outgoing one, the intake
	// group for an incoming one.
	Owner      string    `json:"owner,omitempty"`
	OwnerGroup string    `json:"owner_group,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	History    []Event   `json:"history"`
	// Sync is one of the Sync* states ("" for records older than it).
	Sync string `json:"sync,omitempty"`
	// SyncError is the last delivery error or refusal by the peer.
	SyncError string `json:"sync_error,omitempty"`
	// Envelope is the id of the latest envelope queued for the exchange.
	Envelope string `json:"envelope,omitempty"`
	// Report and Period name an aggregate (KindAggregate).
	Report string `json:"report,omitempty"`
	Period string `json:"period,omitempty"`
}

func (r *Record) event(at time.Time, status, actor, reason string) {
	r.Status, r.UpdatedAt = status, at
	r.History = append(r.History, Event{At: at, Status: status, Actor: actor, Reason: reason})
}

var (
	prefixRecord = []byte("x/r/")  // exchange id → Record
	prefixPeer   = []byte("x/p/")  // agency → Peer
	prefixISP    = []byte("x/i/")  // isp id → stored ISP document
	prefixOutbox = []byte("x/o/")  // envelope id → OutboxEntry
	prefixSealed = []byte("x/e/")  // envelope id → the outbox entry's envelope (canonical encoding)
	prefixSeen   = []byte("x/s/")  // envelope id → receipt (replay guard before 0.x; read only)
	prefixSeenBy = []byte("x/sb/") // sender agency "/" envelope id → seen (replay guard)
	prefixKey    = []byte("x/k/")  // agency key version → wrapped private key
	keyIdentity  = []byte("x/id")  // wrapped libp2p identity
)

func key(prefix []byte, id string) []byte { return append(append([]byte{}, prefix...), id...) }

// ErrNotFound is returned for an unknown exchange, peer or ISP.
var ErrNotFound = errors.New("not found")

func getJSON(r store.Reader, k []byte, v any) error {
	b, err := r.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("corrupt record %q: %w", k, err)
	}
	return nil
}

func putJSON(w store.Writer, k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.Set(k, b)
}

// Message is the plaintext of an envelope between two nodes.
type Message struct {
	Kind       string         `json:"kind"` // e.g. "referral", "referral.accept"
	Exchange   string         `json:"exchange"`
	CaseNumber string         `json:"case_number,omitempty"`
	Service    string         `json:"service,omitempty"`
	Note       string         `json:"note,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Actor      string         `json:"actor"`
	Fields     map[string]any `json:"fields,omitempty"`
	// ConsentOverridden tells the receiver that the sender sent without the
	// consent the ISP requires, under a role allowed to override it.
	ConsentOverridden bool `json:"consent_overridden,omitempty"`
	// Handle is, in a disclosure request, the handle the receiver gave in a
	// tracing answer.
	Handle string `json:"handle,omitempty"`
	// Aggregate is the table of an aggregate message (KindAggregate).
	Aggregate *reporting.Aggregate `json:"aggregate,omitempty"`
}

func unmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("corrupt record: %w", err)
	}
	return nil
}

func sortNewestFirst(rs []Record) {
	slices.SortFunc(rs, func(a, b Record) int { return b.CreatedAt.Compare(a.CreatedAt) })
}
