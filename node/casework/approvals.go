package casework

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// ApprovalClosure is the approval type an agency may require before a case
// is closed.
const ApprovalClosure = "closure"

func checkApprovalType(typ string) error {
	if !slices.Contains(policy.ApprovalTypes, typ) {
		return errorf(ErrInvalid, "unknown approval type %q: use one of %s", typ, strings.Join(policy.ApprovalTypes, ", "))
	}
	return nil
}

// RequestApproval asks the case's managers to approve its assessment, case
// plan, action plan or closure. Every user who may decide it (see
// Approvers) is notified.
//
// State machine, per type: (none|approved|rejected) --request--> pending
// --approve--> approved, --reject--> rejected. Each request is a new entry
// of the case's approval history.
func (s *Service) RequestApproval(ctx context.Context, sub policy.Subject, ref, typ, comment string) (Case, error) {
	if err := checkApprovalType(typ); err != nil {
		return Case{}, err
	}
	comment, err := checkText("comment", comment, false)
	if err != nil {
		return Case{}, err
	}
	return s.modifyWith(ctx, sub, ref, policy.RequestApprovalAction(typ), "case.approval.request", func(w store.Writer, c *Case, fx *effects) (map[string]any, error) {
		if c.Status != StatusOpen {
			return nil, errorf(ErrClosed, "%s is %s", c.Number, c.Status)
		}
		if _, pending := c.PendingApproval(typ); pending {
			return nil, errorf(ErrState, "%s already has a pending %s approval request", c.Number, typ)
		}
		now := s.now().UTC()
		c.Approvals = append(c.Approvals, Approval{Type: typ, Status: ApprovalPending, RequestedBy: sub.User, RequestedAt: now, RequestComment: comment})
		fx.details = map[string]string{"type": typ}
		approvers, err := s.approvers(w, c, typ, sub.User)
		if err != nil {
			return nil, err
		}
		for _, u := range approvers {
			fx.notices = append(fx.notices, Notice{Kind: NoticeApprovalRequested, To: u, CaseID: c.ID, CaseNumber: c.Number, Type: typ, Actor: sub.User, At: now})
		}
		return nil, nil
	})
}

// approvers returns the enabled users who may decide a request of kind
// typ on c made by requester.
func (s *Service) approvers(r store.Reader, c *Case, typ, requester string) ([]string, error) {
	list, err := s.users.List(r)
	if err != nil {
		return nil, err
	}
	roles := policy.StandardRoles()
	var out []string
	for _, u := range list {
		if u.Disabled {
			continue
		}
		role, _ := policy.RoleByID(roles, u.Role)
		us := policy.Subject{User: u.Name, Group: u.Group, Agency: s.agency, Role: role}
		if !policy.Authorize(us, policy.ResourceCase, policy.ApproveAction(typ), object(c)).Allowed {
			continue
		}
		if u.Name == requester && !role.Can(policy.ResourceCase, policy.ActionSelfApprove) {
			continue
		}
		out = append(out, u.Name)
	}
	return out, nil
}

// DecideApproval approves or rejects the pending request of kind typ on an
// open case. Deciding on one's own request needs self_approve; there must
// be a pending request (so a second decision is refused). The requester
// is notified.
func (s *Service) DecideApproval(ctx context.Context, sub policy.Subject, ref, typ string, approve bool, comment string) (Case, error) {
	if err := checkApprovalType(typ); err != nil {
		return Case{}, err
	}
	comment, err := checkText("comment", comment, !approve)
	if err != nil {
		return Case{}, err
	}
	outcome, action := ApprovalApproved, "case.approval.approve"
	if !approve {
		outcome, action = ApprovalRejected, "case.approval.reject"
	}
	return s.modifyWith(ctx, sub, ref, policy.ApproveAction(typ), action, func(w store.Writer, c *Case, fx *effects) (map[string]any, error) {
		if c.Status != StatusOpen {
			return nil, errorf(ErrClosed, "%s is %s: approvals are decided on open cases only", c.Number, c.Status)
		}
		i, pending := c.PendingApproval(typ)
		if !pending {
			return nil, errorf(ErrState, "%s has no pending %s approval request", c.Number, typ)
		}
		a := &c.Approvals[i]
		if a.RequestedBy == sub.User && !sub.Role.Can(policy.ResourceCase, policy.ActionSelfApprove) {
			return nil, errorf(ErrDenied, "role %q may not decide on its own approval requests (self_approve)", sub.Role.ID)
		}
		now := s.now().UTC()
		a.Status, a.DecidedBy, a.DecidedAt, a.Comment = outcome, sub.User, now, comment
		fx.details = map[string]string{"type": typ, "requested_by": a.RequestedBy}
		fx.notices = append(fx.notices, Notice{Kind: NoticeApprovalDecided, To: a.RequestedBy, CaseID: c.ID, CaseNumber: c.Number, Type: typ, Outcome: outcome, Actor: sub.User, At: now})
		return nil, nil
	})
}

// PendingApproval is a request waiting for a decision, as listed.
type PendingApproval struct {
	CaseID      string `json:"case_id"`
	CaseNumber  string `json:"case_number"`
	Owner       string `json:"owner"`
	OwnerGroup  string `json:"owner_group,omitempty"`
	Type        string `json:"type"`
	RequestedBy string `json:"requested_by"`
	RequestedAt string `json:"requested_at"`
	// CanDecide says whether the subject may approve or reject it.
	CanDecide bool `json:"can_decide"`
}

// PendingApprovals lists the pending requests the subject may decide or
// made, from the approval index, and audits which cases were shown.
func (s *Service) PendingApprovals(ctx context.Context, sub policy.Subject) ([]PendingApproval, error) {
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionList, nil); !d.Allowed {
		return nil, s.auditDenied(ctx, sub, "approval.list", "approval", denied(d))
	}
	var out []PendingApproval
	err := s.store.View(ctx, func(r store.Reader) error {
		out = out[:0]
		return r.Scan(prefixApproval, store.ScanOptions{}, func(_, v []byte) error {
			var e approvalEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("corrupt approval index entry: %w", err)
			}
			obj := &policy.Object{Owner: e.Owner, OwnerGroup: e.OwnerGroup, Agency: s.agency}
			can := policy.Authorize(sub, policy.ResourceCase, policy.ApproveAction(e.Type), obj).Allowed &&
				(e.RequestedBy != sub.User || sub.Role.Can(policy.ResourceCase, policy.ActionSelfApprove))
			if !can && e.RequestedBy != sub.User {
				return nil
			}
			if !policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, obj).Allowed {
				return nil
			}
			out = append(out, PendingApproval{CaseID: e.CaseID, CaseNumber: e.CaseNumber, Owner: e.Owner, OwnerGroup: e.OwnerGroup,
				Type: e.Type, RequestedBy: e.RequestedBy, RequestedAt: e.RequestedAt, CanDecide: can})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(out))
	for i, p := range out {
		ids[i] = p.CaseID
	}
	return out, audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "approval.list", Object: "approval", Details: ids})
}
