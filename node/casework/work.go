package casework

import (
	"slices"
	"time"
)

// Assignment is one hand-over of a case from one user to another.
type Assignment struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Approval states.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
)

// Approval is one request for approval (of the assessment, the case plan,
// the action plan or the closure) and the decision on it, if any.
type Approval struct {
	Type           string    `json:"type"`
	Status         string    `json:"status"`
	RequestedBy    string    `json:"requested_by"`
	RequestedAt    time.Time `json:"requested_at"`
	RequestComment string    `json:"request_comment,omitempty"`
	DecidedBy      string    `json:"decided_by,omitempty"`
	DecidedAt      time.Time `json:"decided_at,omitzero"`
	Comment        string    `json:"comment,omitempty"`
}

// Flag is a warning put on a case ("do not contact the father"), shown
// with the case until it is resolved.
type Flag struct {
	ID         int       `json:"id"` // 1, 2, … within the case
	Message    string    `json:"message"`
	Date       string    `json:"date,omitempty"` // YYYY-MM-DD the flag is about, if any
	FlaggedBy  string    `json:"flagged_by"`
	FlaggedAt  time.Time `json:"flagged_at"`
	Resolved   bool      `json:"resolved,omitempty"`
	ResolvedBy string    `json:"resolved_by,omitempty"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	Resolution string    `json:"resolution,omitempty"`
}

// work is the sealed part of a case record besides its form data.
type work struct {
	Assignments []Assignment `json:"assignments,omitempty"`
	Approvals   []Approval   `json:"approvals,omitempty"`
	Flags       []Flag       `json:"flags,omitempty"`
}

func workOf(c *Case) work { return work{c.Assignments, c.Approvals, c.Flags} }

func (c *Case) hasWork() bool {
	return len(c.Assignments)+len(c.Approvals)+len(c.Flags) > 0
}

// cloneWork gives c copies of its casework slices, so that editing them
// does not change the case it was copied from.
func (c *Case) cloneWork() {
	c.Assignments = slices.Clone(c.Assignments)
	c.Approvals = slices.Clone(c.Approvals)
	c.Flags = slices.Clone(c.Flags)
}

// PendingApproval returns the pending request of kind typ, if any.
func (c *Case) PendingApproval(typ string) (int, bool) {
	for i := len(c.Approvals) - 1; i >= 0; i-- {
		if c.Approvals[i].Type == typ {
			return i, c.Approvals[i].Status == ApprovalPending
		}
	}
	return -1, false
}

// Approved reports whether the latest request of kind typ was approved.
func (c *Case) Approved(typ string) bool {
	for i := len(c.Approvals) - 1; i >= 0; i-- {
		if c.Approvals[i].Type == typ {
			return c.Approvals[i].Status == ApprovalApproved
		}
	}
	return false
}

// OpenFlags returns the flags of c not yet resolved.
func (c *Case) OpenFlags() []Flag {
	var out []Flag
	for _, f := range c.Flags {
		if !f.Resolved {
			out = append(out, f)
		}
	}
	return out
}
