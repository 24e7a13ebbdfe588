package casework

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/users"
	"github.com/cpx-node/cpx/policy"
)

// Kinds of notice casework queues.
const (
	NoticeAssigned          = "case_assigned"      // a case was assigned to you
	NoticeApprovalRequested = "approval_requested" // a request waits for your decision
	NoticeApprovalDecided   = "approval_decided"   // your request was approved or rejected
	NoticeFlagged           = "case_flagged"       // a flag was put on your case
	NoticeReferralReceived  = "referral_received"  // a referral or transfer arrived for your group
	NoticeReferralAnswered  = "referral_answered"  // your referral or transfer was answered
	NoticeTracingMatch      = "tracing_match"      // a tracing match was confirmed on your case
	NoticeDigest            = "digest"             // your overdue and upcoming tasks, daily
)

// NoticeKinds lists every kind of notice, for users' preferences.
var NoticeKinds = []string{NoticeAssigned, NoticeApprovalRequested, NoticeApprovalDecided, NoticeFlagged,
	NoticeReferralReceived, NoticeReferralAnswered, NoticeTracingMatch, NoticeDigest}

// noticeAliases are the short names a user may turn kinds on and off by.
var noticeAliases = map[string][]string{
	"assign":   {NoticeAssigned},
	"approval": {NoticeApprovalRequested, NoticeApprovalDecided},
	"flag":     {NoticeFlagged},
	"referral": {NoticeReferralReceived, NoticeReferralAnswered},
	"tracing":  {NoticeTracingMatch},
	"all":      NoticeKinds,
}

// ParseNoticeKinds resolves names of kinds (NoticeKinds, or the short
// names assign, approval, flag, referral, tracing, digest and all) to
// kinds, sorted and without repeats.
func ParseNoticeKinds(names []string) ([]string, error) {
	var out []string
	for _, name := range names {
		name = strings.TrimSpace(strings.ToLower(name))
		switch {
		case name == "":
		case slices.Contains(NoticeKinds, name):
			out = append(out, name)
		case noticeAliases[name] != nil:
			out = append(out, noticeAliases[name]...)
		default:
			return nil, errorf(ErrInvalid, "no kind of notification %q: use %s, or assign, approval, flag, referral, tracing, all",
				name, strings.Join(NoticeKinds, ", "))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Notice is a notification casework decided to send to one user about
// one case or exchange. It names the case by number (an exchange by id)
// and never carries a field of the case: messages go by email, which is
// not a secure channel.
type Notice struct {
	// ID is the same for the same event and recipient, so a notice queued
	// twice is sent once.
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	To         string    `json:"to"` // user name
	CaseID     string    `json:"case_id"`
	CaseNumber string    `json:"case_number"`
	Type       string    `json:"type,omitempty"`    // approval type; referral or transfer
	Outcome    string    `json:"outcome,omitempty"` // approved, rejected; accepted, done
	Actor      string    `json:"actor"`             // a user, or the agency of an exchange
	At         time.Time `json:"at"`
	// Exchange is the id of the referral or transfer a notice is about.
	Exchange string `json:"exchange,omitempty"`
	// Digest is the content of a daily digest.
	Digest *Digest `json:"digest,omitempty"`
}

// Notifier queues notices in the caller's transaction. The node's
// notification queue implements it (node/notify).
type Notifier interface {
	Enqueue(w store.Writer, n Notice) error
}

func noticeID(n Notice) string {
	h := sha256.New()
	for _, s := range []string{n.Kind, n.To, n.CaseID, n.Exchange, n.Type, n.Outcome, n.Actor, strconv.FormatInt(n.At.UnixNano(), 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// emit queues ns in w, skipping notices to the actor themselves and kinds
// their recipient turned off. A notice without an id gets one from its
// content.
func (s *Service) emit(w store.Writer, ns []Notice) error {
	if s.notifier == nil {
		return nil
	}
	for _, n := range ns {
		if n.To == "" || n.To == n.Actor {
			continue
		}
		u, err := users.Get(w, n.To)
		switch {
		case err == nil && slices.Contains(u.NotifyOff, n.Kind):
			continue
		case err != nil && !errors.Is(err, users.ErrNotFound):
			return err
		}
		if n.ID == "" {
			n.ID = noticeID(n)
		}
		if err := s.notifier.Enqueue(w, n); err != nil {
			return err
		}
	}
	return nil
}

// Notify queues ns within w, the transaction of the change that causes
// them (other services' changes: exchanges arriving or answered).
func (s *Service) Notify(w store.Writer, ns ...Notice) error { return s.emit(w, ns) }

// NotifyGroup queues n within w for every enabled member of group whose
// role may read what it is about (res), such as the intake group for an
// exchange that arrived.
func (s *Service) NotifyGroup(w store.Writer, group string, res policy.Resource, n Notice) error {
	if group == "" {
		return nil
	}
	all, err := s.users.List(w)
	if err != nil {
		return err
	}
	var ns []Notice
	for _, u := range all {
		if u.Group != group || u.Disabled || u.Pending() {
			continue
		}
		if role, ok := policy.RoleByID(policy.StandardRoles(), u.Role); !ok || !role.Can(res, policy.ActionRead) {
			continue
		}
		m := n
		m.To = u.Name
		ns = append(ns, m)
	}
	return s.emit(w, ns)
}
