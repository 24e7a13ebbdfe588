package api

import (
	"context"
	"errors"
	"slices"

	"connectrpc.com/connect"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/users"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// SetNotify implements UserService: a user turns kinds of notification
// off or on for themselves, an administrator (who may disable users) for
// anyone. A change is audited with the kinds, a refusal too; another
// user's settings read like a missing user to anyone else.
func (s *Server) SetNotify(ctx context.Context, req *connect.Request[localv1.SetNotifyRequest]) (*connect.Response[localv1.SetNotifyResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	name := m.Name
	if name == "" || name == "me" {
		name = sub.User
	}
	object := "user/" + name
	if name != sub.User && !policy.Authorize(sub, policy.ResourceUser, policy.ActionDisable, nil).Allowed {
		return nil, s.deniedCall(ctx, sub, "user.notify", object, policy.Decision{Reason: "role \"" + sub.Role.ID + "\" may change only its own user's notifications"})
	}
	off, err := casework.ParseNoticeKinds(m.Off)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	on, err := casework.ParseNoticeKinds(m.On)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	for _, k := range off {
		if slices.Contains(on, k) {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("kind "+k+" is both turned off and on"))
		}
	}
	var u users.User
	now := s.now().UTC()
	err = s.store.Update(ctx, func(w store.Writer) error {
		var err error
		if u, err = users.Get(w, name); err != nil {
			return err
		}
		if len(off) == 0 && len(on) == 0 {
			return nil // show
		}
		next := slices.DeleteFunc(slices.Clone(u.NotifyOff), func(k string) bool { return slices.Contains(on, k) })
		for _, k := range off {
			if !slices.Contains(next, k) {
				next = append(next, k)
			}
		}
		slices.Sort(next)
		if u, err = users.SetNotifyOff(w, name, next); err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "user.notify", Object: object,
			Details: map[string]any{"off": off, "on": on}})
		return err
	})
	if errors.Is(err, users.ErrNotFound) {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no user "+name))
	}
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.SetNotifyResponse{Name: u.Name, Off: u.NotifyOff, Kinds: casework.NoticeKinds,
		Email: u.Email, Language: u.Language}), nil
}
