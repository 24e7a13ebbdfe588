package api

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/users"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// maxTokenTTL bounds a token's lifetime whatever is asked.
const maxTokenTTL = 366 * 24 * time.Hour

func tokenToWire(t users.Token) *localv1.Token {
	return &localv1.Token{Id: t.ID, User: t.User, ExpiresAt: timestamppb.New(t.ExpiresAt)}
}

// IssueToken implements UserService: administrators (user create) issue a
// new token to an enabled user.
func (s *Server) IssueToken(ctx context.Context, req *connect.Request[localv1.IssueTokenRequest]) (*connect.Response[localv1.IssueTokenResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	name := req.Msg.User
	if d := policy.Authorize(sub, policy.ResourceUser, policy.ActionCreate, nil); !d.Allowed {
		return nil, s.deniedCall(ctx, sub, "user.token.issue", "user/"+name, d)
	}
	ttl := s.tokenTTL
	if req.Msg.TtlSeconds > 0 {
		ttl = time.Duration(req.Msg.TtlSeconds) * time.Second
	}
	if ttl > maxTokenTTL || req.Msg.TtlSeconds < 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("--ttl must be between 1s and 366 days"))
	}
	now := s.now().UTC()
	var token string
	err = s.store.Update(ctx, func(w store.Writer) error {
		u, err := users.Get(w, name)
		if err != nil {
			return err
		}
		if u.Disabled {
			return connect.NewError(connect.CodeFailedPrecondition, errors.New("user "+name+" is disabled"))
		}
		if token, err = users.IssueToken(w, name, now.Add(ttl)); err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "user.token.issue", Object: "user/" + name,
			Details: map[string]any{"token": users.TokenID(token), "expires": now.Add(ttl)}})
		return err
	})
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.IssueTokenResponse{
		Info: tokenToWire(users.Token{ID: users.TokenID(token), User: name, ExpiresAt: now.Add(ttl)}), Token: token,
	}), nil
}

// ListTokens implements UserService: a user lists their own tokens;
// whoever may list users lists anyone's.
func (s *Server) ListTokens(ctx context.Context, req *connect.Request[localv1.ListTokensRequest]) (*connect.Response[localv1.ListTokensResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	user := req.Msg.User
	if user != sub.User {
		if err := s.allow(ctx, sub, policy.ResourceUser, policy.ActionList, "user.token.list", "user/"+user); err != nil {
			return nil, err
		}
	}
	var list []users.Token
	if err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		list, err = users.Tokens(r, user)
		return err
	}); err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.ListTokensResponse{}
	for _, t := range list {
		resp.Tokens = append(resp.Tokens, tokenToWire(t))
	}
	return connect.NewResponse(resp), nil
}

// RevokeToken implements UserService: a user revokes their own tokens;
// whoever may disable users revokes anyone's. It takes effect at once: the
// token's record is deleted and every call looks it up.
func (s *Server) RevokeToken(ctx context.Context, req *connect.Request[localv1.RevokeTokenRequest]) (*connect.Response[localv1.RevokeTokenResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if (m.Id == "") == (m.User == "" || !m.All) {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("give a token id, or a user with --all"))
	}
	admin := policy.Authorize(sub, policy.ResourceUser, policy.ActionDisable, nil).Allowed
	now := s.now().UTC()
	revoked := 0
	object := "user/" + m.User
	if m.Id != "" {
		object = "token/" + m.Id
	}
	var denied bool
	err = s.store.Update(ctx, func(w store.Writer) error {
		denied = false
		if m.Id != "" {
			var list []users.Token
			var err error
			if list, err = users.Tokens(w, ""); err != nil {
				return err
			}
			for _, t := range list {
				if len(m.Id) <= len(t.ID) && t.ID[:len(m.Id)] == m.Id && t.User != sub.User && !admin {
					denied = true
					return nil
				}
			}
			if _, err := users.Revoke(w, m.Id); err != nil {
				return err
			}
			revoked = 1
		} else {
			if m.User != sub.User && !admin {
				denied = true
				return nil
			}
			var err error
			if revoked, err = users.RevokeAll(w, m.User); err != nil {
				return err
			}
		}
		_, err := audit.Append(w, now, audit.Event{Actor: sub.User, Action: "user.token.revoke", Object: object, Details: map[string]any{"revoked": revoked}})
		return err
	})
	if err == nil && denied {
		return nil, s.deniedCall(ctx, sub, "user.token.revoke", object, policy.Decision{Reason: "role \"" + sub.Role.ID + "\" may revoke only its own tokens"})
	}
	if errors.Is(err, users.ErrBadToken) || errors.Is(err, users.ErrAmbiguous) {
		return nil, connect.NewError(connect.CodeNotFound, err)
	}
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.RevokeTokenResponse{Revoked: int32(revoked)}), nil
}
