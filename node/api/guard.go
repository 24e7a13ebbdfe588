package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/cpx-node/cpx/policy"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

// Request body limits, enforced before a byte of the body is read.
const (
	// MaxBodyBytes bounds the body of every call but imports: a case record
	// is at most casework.DefaultMaxRecordBytes in clear, and its JSON
	// encoding a few times that.
	MaxBodyBytes = 4 << 20
	// MaxImportBodyBytes bounds an import batch (MaxRequestBytes).
	MaxImportBodyBytes = MaxRequestBytes
	// MaxStreamRequestBytes bounds the request of a server-streaming call
	// (backup, exports): a few flags.
	MaxStreamRequestBytes = 64 << 10
)

// bodyLimits are the procedures allowed more than MaxBodyBytes.
var bodyLimits = map[string]int64{
	localv1connect.CaseServiceImportCasesProcedure:                         MaxImportBodyBytes,
	localv1connect.TracingServiceImportTracingRequestsProcedure:            MaxImportBodyBytes,
	localv1connect.BackupServiceBackupProcedure:                            MaxStreamRequestBytes,
	localv1connect.CaseServiceExportCasesProcedure:                         MaxStreamRequestBytes,
	localv1connect.AuditServiceExportAuditProcedure:                        MaxStreamRequestBytes,
	localv1connect.TracingServiceFederatedMatchAllTracingRequestsProcedure: MaxStreamRequestBytes,
}

// streaming are the server-streaming procedures: their responses may take
// longer than the server's write timeout (a backup of a large store).
var streaming = map[string]bool{
	localv1connect.BackupServiceBackupProcedure:     true,
	localv1connect.CaseServiceExportCasesProcedure:  true,
	localv1connect.AuditServiceExportAuditProcedure: true,
	// A batch of tracing queries waits for the ISPs' query rates.
	localv1connect.TracingServiceFederatedMatchAllTracingRequestsProcedure: true,
}

type subjectKey struct{}

// guard authenticates every unary call of the local API from its headers
// before its body is read, and bounds every body: an unauthenticated caller
// costs a header parse and a token lookup, never the decoding of a large
// body. The subject travels to the handler in the request's context, so
// the handler does not look the token up again.
//
// Streaming calls (Connect streaming, gRPC) have small bodies
// (MaxStreamRequestBytes) and authenticate in their handlers, where an
// error can be written in the streaming protocol.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, ok := bodyLimits[r.URL.Path]
		if !ok {
			limit = MaxBodyBytes
		}
		if r.ContentLength > limit {
			writeConnectError(w, http.StatusRequestEntityTooLarge, connect.CodeResourceExhausted, "request body larger than the method's limit")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if streaming[r.URL.Path] {
			// A long backup must not be cut by the server's write timeout.
			http.NewResponseController(w).SetWriteDeadline(time.Time{})
		}
		if !unary(r) {
			next.ServeHTTP(w, r)
			return
		}
		sub, err := s.authenticateHeader(r.Context(), r.Header, r.URL.Path)
		if err != nil {
			var ce *connect.Error
			code := connect.CodeInternal
			if errors.As(err, &ce) {
				code = ce.Code()
			}
			status := http.StatusInternalServerError
			if code == connect.CodeUnauthenticated {
				status = http.StatusUnauthorized
			}
			// The body stays unread: close the connection rather than drain it.
			w.Header().Set("Connection", "close")
			writeConnectError(w, status, code, connectMessage(err))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), subjectKey{}, sub)))
	})
}

// unary reports whether r is a Connect unary call (JSON or binary).
func unary(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return r.Method == http.MethodPost && (ct == "application/json" || ct == "application/proto" ||
		strings.HasPrefix(ct, "application/json;") || strings.HasPrefix(ct, "application/proto;"))
}

// subjectFrom returns the subject guard authenticated, if any.
func subjectFrom(ctx context.Context) (policy.Subject, bool) {
	sub, ok := ctx.Value(subjectKey{}).(policy.Subject)
	return sub, ok
}

func connectMessage(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return "internal error"
}

// writeConnectError writes an error in the Connect unary protocol.
func writeConnectError(w http.ResponseWriter, status int, code connect.Code, msg string) {
	b, _ := json.Marshal(map[string]string{"code": code.String(), "message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
