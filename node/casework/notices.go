package casework

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/cpx-node/cpx/node/store"
)

// Kinds of notice casework queues.
const (
	NoticeAssigned          = "case_assigned"      // a case was assigned to you
	NoticeApprovalRequested = "approval_requested" // a request waits for your decision
	NoticeApprovalDecided   = "approval_decided"   // your request was approved or rejected
	NoticeFlagged           = "case_flagged"       // a flag was put on your case
)

// NoticeKinds lists every kind of notice, for users' preferences.
var NoticeKinds = []string{NoticeAssigned, NoticeApprovalRequested, NoticeApprovalDecided, NoticeFlagged,
	"referral", "tracing_match", "digest"}

// Notice is a notification casework decided to send to one user about
// one case. It names the case by number and never carries a field of the
// case: messages go by email, which is not a secure channel.
type Notice struct {
	// ID is the same for the same event and recipient, so a notice queued
	// twice is sent once.
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	To         string    `json:"to"` // user name
	CaseID     string    `json:"case_id"`
	CaseNumber string    `json:"case_number"`
	Type       string    `json:"type,omitempty"`    // approval type
	Outcome    string    `json:"outcome,omitempty"` // approved, rejected
	Actor      string    `json:"actor"`
	At         time.Time `json:"at"`
}

// Notifier queues notices in the caller's transaction. The node's
// notification queue implements it (node/notify).
type Notifier interface {
	Enqueue(w store.Writer, n Notice) error
}

func noticeID(n Notice) string {
	h := sha256.New()
	for _, s := range []string{n.Kind, n.To, n.CaseID, n.Type, n.Outcome, n.Actor, strconv.FormatInt(n.At.UnixNano(), 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// emit queues ns in w, skipping notices to the actor themselves.
func (s *Service) emit(w store.Writer, ns []Notice) error {
	if s.notifier == nil {
		return nil
	}
	for _, n := range ns {
		if n.To == "" || n.To == n.Actor {
			continue
		}
		n.ID = noticeID(n)
		if err := s.notifier.Enqueue(w, n); err != nil {
			return err
		}
	}
	return nil
}
