package casework

import (
	"context"
	"errors"
	"strings"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/users"
	"github.com/cpx-node/cpx/policy"
)

// MaxTextBytes bounds a free-text reason, comment or flag message.
const MaxTextBytes = 2000

func checkText(name, s string, required bool) (string, error) {
	s = strings.TrimSpace(s)
	if required && s == "" {
		return "", errorf(ErrInvalid, "a %s is required", name)
	}
	if len(s) > MaxTextBytes {
		return "", errorf(ErrInvalid, "the %s is longer than %d bytes", name, MaxTextBytes)
	}
	return s, nil
}

// assignAction returns the widest assign permission the subject's role
// holds (assign when it holds none, so that the refusal names it).
func assignAction(sub policy.Subject) policy.Action {
	for _, a := range []policy.Action{policy.ActionAssign, policy.ActionAssignWithinAgency, policy.ActionAssignWithinUserGroup} {
		if sub.Role.Can(policy.ResourceCase, a) {
			return a
		}
	}
	return policy.ActionAssign
}

// Assign hands an open case to user to, who must be enabled and hold a
// role that updates cases, and who must be in the subject's own group if
// the subject may only assign within its user group. The new owner's group
// becomes the case's group; the new owner is notified.
func (s *Service) Assign(ctx context.Context, sub policy.Subject, ref, to, reason string) (Case, error) {
	reason, err := checkText("reason", reason, false)
	if err != nil {
		return Case{}, err
	}
	act := assignAction(sub)
	return s.modifyWith(ctx, sub, ref, act, "case.assign", func(w store.Writer, c *Case, fx *effects) (map[string]any, error) {
		if c.Status != StatusOpen {
			return nil, errorf(ErrClosed, "%s is %s; reopen it first", c.Number, c.Status)
		}
		u, err := users.Get(w, to)
		if errors.Is(err, users.ErrNotFound) {
			return nil, errorf(ErrInvalid, "no user %q on this node", to)
		}
		if err != nil {
			return nil, err
		}
		if u.Disabled {
			return nil, errorf(ErrInvalid, "user %q is disabled", to)
		}
		if role, ok := policy.RoleByID(policy.StandardRoles(), u.Role); !ok || !role.Can(policy.ResourceCase, policy.ActionUpdate) {
			return nil, errorf(ErrInvalid, "user %q has role %q, which cannot hold cases", to, u.Role)
		}
		if act == policy.ActionAssignWithinUserGroup && (sub.Group == "" || u.Group != sub.Group) {
			return nil, errorf(ErrDenied, "role %q may assign cases only to users of its own group (%q); %q is in group %q",
				sub.Role.ID, sub.Group, to, u.Group)
		}
		if c.Owner == to {
			return nil, errorf(ErrInvalid, "%s is already assigned to %q", c.Number, to)
		}
		now := s.now().UTC()
		fx.details = map[string]string{"from": c.Owner, "to": to, "group": u.Group}
		c.Assignments = append(c.Assignments, Assignment{From: c.Owner, To: to, By: sub.User, At: now, Reason: reason})
		c.Owner, c.OwnerGroup = to, u.Group
		fx.notices = append(fx.notices, Notice{Kind: NoticeAssigned, To: to, CaseID: c.ID, CaseNumber: c.Number, Actor: sub.User, At: now})
		return nil, nil
	})
}
