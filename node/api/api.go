// Package api serves the node's local API: the Connect handlers of the
// services in protocol/proto/cpx/local/v1, authentication of every call by
// bearer token, the one mapping from domain errors to Connect codes, and
// request metrics.
//
// Handlers convert wire types to domain types at the edge and call the
// domain packages (casework, users, audit); no protobuf type travels inward.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/tracing"
	"github.com/cpx-node/cpx/node/users"
	"github.com/cpx-node/cpx/policy"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

// Options configure a Server. All fields but Logger and Now are required.
type Options struct {
	Store    store.Store
	Cases    *casework.Service
	Agency   string
	Name     string
	Version  string
	Keyring  string
	TokenTTL time.Duration
	Logger   *slog.Logger
	Metrics  prometheus.Registerer
	Now      func() time.Time
	// Exchange, if set, serves the FederationService; Addrs lists the
	// node's libp2p addresses for NodeID.
	Exchange *exchange.Service
	Addrs    func() []string
	// Ops, if set, serves KeysService and BackupService.
	Ops NodeOps
	// Tracing, if set, serves TracingService.
	Tracing *tracing.Service
	// ReportsDir holds the node's own report definitions (*.toml).
	ReportsDir string
	// Coordination makes this a coordination node's API: case calls and
	// referral and transfer calls are refused (docs/coordination.md).
	Coordination bool
	// SMTPConfigured says whether notifications are sent (CaseworkService).
	SMTPConfigured bool
}

// Server implements every local API service.
type Server struct {
	store    store.Store
	cases    *casework.Service
	agency   string
	name     string
	version  string
	keyring  string
	tokenTTL time.Duration
	roles    []policy.Role
	log      *slog.Logger
	now      func() time.Time
	started  time.Time
	metrics  *metrics
	ex       *exchange.Service
	addrs    func() []string
	ops      NodeOps
	tracing  *tracing.Service

	reportsDir   string
	coordination bool
	smtp         bool
}

// MaxRequestBytes bounds one request message (an import batch is the
// largest legitimate one).
const MaxRequestBytes = 16 << 20

// New returns a Server.
func New(o Options) *Server {
	s := &Server{
		store: o.Store, cases: o.Cases, agency: o.Agency, name: o.Name, version: o.Version,
		keyring: o.Keyring, tokenTTL: o.TokenTTL, roles: policy.StandardRoles(), log: o.Logger, now: o.Now,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.ex, s.addrs, s.ops, s.tracing = o.Exchange, o.Addrs, o.Ops, o.Tracing
	s.smtp = o.SMTPConfigured
	if s.addrs == nil {
		s.addrs = func() []string { return nil }
	}
	s.reportsDir, s.coordination = o.ReportsDir, o.Coordination
	s.started = s.now()
	s.metrics = newMetrics(o.Metrics)
	return s
}

// Handler returns an http.Handler serving every service under its
// Connect path.
func (s *Server) Handler() http.Handler {
	opts := []connect.HandlerOption{
		connect.WithInterceptors(s.metrics, coordinationGuard(s.coordination)),
		connect.WithReadMaxBytes(MaxRequestBytes),
		// The API listens on loopback only: gzip saved no time on the
		// wire and cost about 0.5 ms of a referral's 3-4 ms call.
		connect.WithCompressMinBytes(1 << 30),
	}
	mux := http.NewServeMux()
	mux.Handle(localv1connect.NewNodeServiceHandler(s, opts...))
	mux.Handle(localv1connect.NewUserServiceHandler(s, opts...))
	mux.Handle(localv1connect.NewCaseServiceHandler(s, opts...))
	mux.Handle(localv1connect.NewFormServiceHandler(s, opts...))
	mux.Handle(localv1connect.NewAuditServiceHandler(s, opts...))
	mux.Handle(localv1connect.NewFederationServiceHandler(s, opts...))
	mux.Handle(localv1connect.NewKeysServiceHandler(s, opts...))
	mux.Handle(localv1connect.NewBackupServiceHandler(s, opts...))
	mux.Handle(localv1connect.NewTracingServiceHandler(s, opts...))
	mux.Handle(localv1connect.NewReportServiceHandler(s, opts...))
	mux.Handle(localv1connect.NewCaseworkServiceHandler(s, opts...))
	mux.Handle(localv1connect.NewRetentionServiceHandler(s, opts...))
	return s.guard(mux)
}

var (
	_ localv1connect.NodeServiceHandler   = (*Server)(nil)
	_ localv1connect.UserServiceHandler   = (*Server)(nil)
	_ localv1connect.CaseServiceHandler   = (*Server)(nil)
	_ localv1connect.FormServiceHandler   = (*Server)(nil)
	_ localv1connect.AuditServiceHandler  = (*Server)(nil)
	_ localv1connect.ReportServiceHandler = (*Server)(nil)
)

// errUnauthenticated is what every authentication failure looks like to a
// caller; the audit log and the node's log keep the precise reason.
var errUnauthenticated = errors.New("missing, unknown, expired or revoked token: pass a valid token with --token or --dir")

// authenticate returns the subject behind the request's bearer token (as
// guard found it, or looked up now).
func (s *Server) authenticate(ctx context.Context, h http.Header, procedure string) (policy.Subject, error) {
	if sub, ok := subjectFrom(ctx); ok {
		return sub, nil
	}
	return s.authenticateHeader(ctx, h, procedure)
}

// authenticateHeader looks the bearer token of h up and audits a refusal.
func (s *Server) authenticateHeader(ctx context.Context, h http.Header, procedure string) (policy.Subject, error) {
	token, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	var u users.User
	err := errUnauthenticated
	if ok && token != "" {
		err = s.store.View(ctx, func(r store.Reader) error {
			var err error
			u, err = users.Authenticate(r, token, s.now())
			return err
		})
	}
	if err != nil {
		reason := "no token"
		switch {
		case errors.Is(err, users.ErrTokenExpired):
			reason = "expired token"
		case errors.Is(err, users.ErrDisabled):
			reason = "disabled user"
		case errors.Is(err, users.ErrPending):
			reason = "user awaiting approval"
		case errors.Is(err, users.ErrBadToken):
			reason = "unknown token"
		case !errors.Is(err, errUnauthenticated):
			s.log.Error("authenticating", "procedure", procedure, "err", err)
			return policy.Subject{}, connect.NewError(connect.CodeInternal, errors.New("internal error"))
		}
		s.log.Warn("refused call", "procedure", procedure, "reason", reason)
		_ = audit.Record(ctx, s.store, s.now(), audit.Event{Actor: u.Name, Action: "auth.token", Object: procedure, Outcome: audit.Denied, Details: reason})
		return policy.Subject{}, connect.NewError(connect.CodeUnauthenticated, errUnauthenticated)
	}
	role, _ := policy.RoleByID(s.roles, u.Role) // an unknown role is the zero Role: it grants nothing
	return policy.Subject{User: u.Name, Group: u.Group, Agency: s.agency, Role: role}, nil
}

// allow authorises a non-case action and audits the call.
func (s *Server) allow(ctx context.Context, sub policy.Subject, res policy.Resource, act policy.Action, action, object string) error {
	d := policy.Authorize(sub, res, act, nil)
	outcome := audit.OK
	if !d.Allowed {
		outcome = audit.Denied
	}
	if err := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: action, Object: object, Outcome: outcome}); err != nil {
		return s.fail(err)
	}
	if !d.Allowed {
		return connect.NewError(connect.CodePermissionDenied, errors.New(d.Reason))
	}
	return nil
}

// fail maps a domain error to a Connect error: the one place that does.
// Internal errors are logged and reach the caller as "internal error".
func (s *Server) fail(err error) error {
	var ce *connect.Error
	code := connect.CodeInternal
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, casework.ErrNotFound), errors.Is(err, users.ErrNotFound), errors.Is(err, exchange.ErrNotFound),
		errors.Is(err, tracing.ErrNotFound):
		code = connect.CodeNotFound
	case errors.Is(err, casework.ErrDenied), errors.Is(err, exchange.ErrDenied), errors.Is(err, exchange.ErrRefused),
		errors.Is(err, tracing.ErrDenied):
		code = connect.CodePermissionDenied
	case errors.Is(err, casework.ErrInvalid), errors.Is(err, casework.ErrTooLarge), errors.Is(err, users.ErrInvalidName),
		errors.Is(err, exchange.ErrInvalid), errors.Is(err, tracing.ErrInvalid):
		code = connect.CodeInvalidArgument
	case errors.Is(err, exchange.ErrState), errors.Is(err, exchange.ErrNoKeys), errors.Is(err, exchange.ErrISPRefused),
		errors.Is(err, exchange.ErrPeerRefused):
		code = connect.CodeFailedPrecondition
	case errors.Is(err, tracing.ErrBuilding):
		code = connect.CodeUnavailable
	case errors.Is(err, users.ErrExists):
		code = connect.CodeAlreadyExists
	case errors.Is(err, casework.ErrConflict):
		code = connect.CodeAborted
	case errors.Is(err, casework.ErrClosed), errors.Is(err, tracing.ErrClosed), errors.Is(err, casework.ErrState):
		code = connect.CodeFailedPrecondition
	case errors.Is(err, context.Canceled):
		code = connect.CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		code = connect.CodeDeadlineExceeded
	}
	if code == connect.CodeInternal {
		s.log.Error("internal error", "err", err)
		return connect.NewError(code, errors.New("internal error"))
	}
	return connect.NewError(code, err)
}
