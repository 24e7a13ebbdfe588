package api

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"

	"connectrpc.com/connect"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/users"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// AddUser implements UserService.
func (s *Server) AddUser(ctx context.Context, req *connect.Request[localv1.AddUserRequest]) (*connect.Response[localv1.AddUserResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if d := policy.Authorize(sub, policy.ResourceUser, policy.ActionCreate, nil); !d.Allowed {
		return nil, s.deniedCall(ctx, sub, "user.add", "user/"+m.Name, d)
	}
	role, ok := policy.RoleByID(s.roles, m.Role)
	if !ok {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("unknown role %q: use one of %s", m.Role, roleIDs(s.roles)))
	}
	if !sub.Role.MayGrant(m.Role) {
		return nil, s.deniedCall(ctx, sub, "user.add", "user/"+m.Name, policy.Decision{Reason: fmt.Sprintf("role %q may not grant role %q", sub.Role.ID, m.Role)})
	}
	if m.Group != "" {
		if err := users.ValidateName(m.Group); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("invalid group %q: use lowercase letters, digits, '.', '_' or '-'", m.Group))
		}
	}
	if m.Email != "" {
		if a, err := mail.ParseAddress(m.Email); err != nil || a.Address != m.Email {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("invalid email address %q: give a bare address such as name@agency.example", m.Email))
		}
	}
	if m.Language != "" && !validLanguage.MatchString(m.Language) {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("invalid language %q: use a two-letter code such as en or fr", m.Language))
	}
	now := s.now().UTC()
	u := users.User{Name: m.Name, Role: m.Role, Group: m.Group, CreatedAt: now, Email: m.Email, Language: m.Language}
	var token string
	err = s.store.Update(ctx, func(w store.Writer) error {
		// A role that reads other people's cases needs a second person,
		// unless the node's owner (its initial administrator) grants it.
		if role.ReadsOthersCases() {
			caller, err := users.Get(w, sub.User)
			if err != nil {
				return err
			}
			if !caller.Owner {
				u.RequestedBy = sub.User
			}
		}
		action := "user.add"
		if u.Pending() {
			action = "user.add.requested"
			if err := users.AddPending(w, u); err != nil {
				return err
			}
		} else {
			var err error
			if token, err = users.Add(w, u, now.Add(s.tokenTTL)); err != nil {
				return err
			}
		}
		_, err := audit.Append(w, now, audit.Event{Actor: sub.User, Action: action, Object: "user/" + u.Name, Details: map[string]string{"role": u.Role, "group": u.Group}})
		return err
	})
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.AddUserResponse{User: userToWire(u), Token: token}), nil
}

var validLanguage = regexp.MustCompile(`^[a-z]{2}$`)

func roleIDs(roles []policy.Role) string {
	var out string
	for i, r := range roles {
		if i > 0 {
			out += ", "
		}
		out += r.ID
	}
	return out
}

// deniedCall audits a refused call and returns the error for the caller.
func (s *Server) deniedCall(ctx context.Context, sub policy.Subject, action, object string, d policy.Decision) error {
	if err := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: action, Object: object, Outcome: audit.Denied}); err != nil {
		return s.fail(err)
	}
	return connect.NewError(connect.CodePermissionDenied, errors.New(d.Reason))
}

// ListUsers implements UserService.
func (s *Server) ListUsers(ctx context.Context, req *connect.Request[localv1.ListUsersRequest]) (*connect.Response[localv1.ListUsersResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceUser, policy.ActionList, "user.list", "user"); err != nil {
		return nil, err
	}
	var list []users.User
	if err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		list, err = users.List(r)
		return err
	}); err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.ListUsersResponse{}
	for _, u := range list {
		resp.Users = append(resp.Users, userToWire(u))
	}
	return connect.NewResponse(resp), nil
}

// DisableUser implements UserService.
func (s *Server) DisableUser(ctx context.Context, req *connect.Request[localv1.DisableUserRequest]) (*connect.Response[localv1.DisableUserResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	name := req.Msg.Name
	if d := policy.Authorize(sub, policy.ResourceUser, policy.ActionDisable, nil); !d.Allowed {
		return nil, s.deniedCall(ctx, sub, "user.disable", "user/"+name, d)
	}
	if name == sub.User {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("you cannot disable yourself: ask another administrator"))
	}
	var u users.User
	now := s.now().UTC()
	err = s.store.Update(ctx, func(w store.Writer) error {
		var err error
		if u, err = users.Disable(w, name); err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "user.disable", Object: "user/" + name})
		return err
	})
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.DisableUserResponse{User: userToWire(u)}), nil
}

// ApproveUser implements UserService: a second administrator (never the
// one who asked) activates a user granted a role that reads other people's
// cases, and receives the user's first token.
func (s *Server) ApproveUser(ctx context.Context, req *connect.Request[localv1.ApproveUserRequest]) (*connect.Response[localv1.ApproveUserResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	name := req.Msg.Name
	if d := policy.Authorize(sub, policy.ResourceUser, policy.ActionCreate, nil); !d.Allowed {
		return nil, s.deniedCall(ctx, sub, "user.approve", "user/"+name, d)
	}
	now := s.now().UTC()
	var u users.User
	var token string
	var refused error
	err = s.store.Update(ctx, func(w store.Writer) error {
		refused = nil
		pending, err := users.Get(w, name)
		if err != nil {
			return err
		}
		if !sub.Role.MayGrant(pending.Role) {
			refused = fmt.Errorf("role %q may not grant role %q", sub.Role.ID, pending.Role)
			return nil
		}
		u, token, err = users.Approve(w, name, sub.User, now.Add(s.tokenTTL))
		if errors.Is(err, users.ErrSelfApproval) {
			refused = err
			return nil
		}
		if err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "user.approve", Object: "user/" + name, Details: map[string]string{"role": u.Role, "requested_by": pending.RequestedBy}})
		return err
	})
	if refused != nil {
		return nil, s.deniedCall(ctx, sub, "user.approve", "user/"+name, policy.Decision{Reason: refused.Error()})
	}
	if errors.Is(err, users.ErrNotPending) {
		return nil, connect.NewError(connect.CodeFailedPrecondition, err)
	}
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.ApproveUserResponse{User: userToWire(u), Token: token}), nil
}
