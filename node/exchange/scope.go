package exchange

import (
	"context"
	"fmt"
	"strings"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/policy"
)

// DefaultIntakeGroup is the group incoming referrals, transfers and
// disclosure requests belong to when Options.IntakeGroup is empty.
const DefaultIntakeGroup = "intake"

// Who an exchange belongs to (its policy.Object):
//
//   - outgoing: the case's owner and owner group, as the case was when it
//     was sent (a disclosure request: its requester and their group); the
//     user who sent it reaches it too;
//   - incoming: the agency's intake group (Options.IntakeGroup), addressed
//     to no one in it, so every member reaches it whatever the scope of
//     their role (policy: a record without owner reaches its group).
//
// Records stored before owners were recorded are read the same way: an
// outgoing one belongs to its sender, an incoming one to the intake group.
func (s *Service) object(rec *Record) *policy.Object {
	o := &policy.Object{Owner: rec.Owner, OwnerGroup: rec.OwnerGroup, Agency: s.agency}
	if o.Owner == "" && o.OwnerGroup == "" {
		if rec.Direction == Outgoing {
			o.Owner = senderOf(rec)
		} else {
			o.OwnerGroup = s.intake
		}
	}
	return o
}

// senderOf is the local user who created an outgoing exchange.
func senderOf(rec *Record) string {
	user, _, _ := strings.Cut(rec.CreatedBy, "@")
	return user
}

// reaches reports whether sub may act on rec: the role's permission and
// scope on the exchange, or, for an outgoing one, being its sender.
func (s *Service) reaches(sub policy.Subject, act policy.Action, rec *Record) bool {
	if policy.Authorize(sub, policy.ResourceExchange, act, s.object(rec)).Allowed {
		return true
	}
	return rec.Direction == Outgoing && sub.User != "" && senderOf(rec) == sub.User &&
		policy.Authorize(sub, policy.ResourceExchange, act, nil).Allowed
}

// hidden is what a caller gets for an exchange its role does not reach:
// the same as for one that does not exist. The refusal is audited.
func (s *Service) hidden(ctx context.Context, sub policy.Subject, action, id string) error {
	err := fmt.Errorf("%w: no exchange %q", ErrNotFound, id)
	if aerr := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: action, Object: "exchange/" + id, Outcome: audit.Denied}); aerr != nil {
		return aerr
	}
	return err
}
