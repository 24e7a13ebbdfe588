package api

import (
	"context"
	"errors"
	"io"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

// KeyringStatus is the health of the node's keyring.
type KeyringStatus struct {
	Kind    string
	OK      bool
	Problem string
	// Vault: the transit key's versions.
	Latest, MinDecryption int
}

// NodeOps are the operations on the node itself that the daemon provides.
type NodeOps interface {
	KeyringStatus(ctx context.Context) KeyringStatus
	// KeyringHealth is the result of the last periodic check, without
	// asking the keyring now.
	KeyringHealth() (ok bool, problem string)
	// RotateWrapping rotates the keyring's wrapping key and rewraps every
	// secret; it returns how many.
	RotateWrapping(ctx context.Context) (int, error)
	// Backup writes an encrypted backup of the running node to w.
	Backup(ctx context.Context, w io.Writer) error
}

var (
	_ localv1connect.KeysServiceHandler   = (*Server)(nil)
	_ localv1connect.BackupServiceHandler = (*Server)(nil)
)

func keyToWire(k exchange.KeyInfo) *localv1.AgencyKey {
	return &localv1.AgencyKey{Version: k.Version, Fingerprint: k.Fingerprint, NotBefore: timestamppb.New(k.NotBefore), NotAfter: timestamppb.New(k.NotAfter), Current: k.Current}
}

func (s *Server) nodeOps() error {
	if s.ops == nil || s.ex == nil {
		return connect.NewError(connect.CodeUnimplemented, errors.New("not available on this node"))
	}
	return nil
}

// KeysStatus implements KeysService.
func (s *Server) KeysStatus(ctx context.Context, req *connect.Request[localv1.KeysStatusRequest]) (*connect.Response[localv1.KeysStatusResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.nodeOps(); err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceNode, policy.ActionRead, "keys.status", "node"); err != nil {
		return nil, err
	}
	st := s.ops.KeyringStatus(ctx)
	resp := &localv1.KeysStatusResponse{
		Keyring: st.Kind, KeyringOk: st.OK, KeyringProblem: st.Problem,
		WrappingVersion: int32(st.Latest), WrappingMinDecryptionVersion: int32(st.MinDecryption),
	}
	for _, k := range s.ex.Keys() {
		resp.AgencyKeys = append(resp.AgencyKeys, keyToWire(k))
	}
	return connect.NewResponse(resp), nil
}

// RotateKeys implements KeysService.
func (s *Server) RotateKeys(ctx context.Context, req *connect.Request[localv1.RotateKeysRequest]) (*connect.Response[localv1.RotateKeysResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.nodeOps(); err != nil {
		return nil, err
	}
	if !req.Msg.Wrapping && !req.Msg.Agency {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("say what to rotate: --wrapping, --agency or both"))
	}
	if err := s.allow(ctx, sub, policy.ResourceNode, policy.ActionUpdate, "keys.rotate", "node"); err != nil {
		return nil, err
	}
	resp := &localv1.RotateKeysResponse{}
	if req.Msg.Wrapping {
		n, err := s.ops.RotateWrapping(ctx)
		if err != nil {
			return nil, connect.NewError(connect.CodeFailedPrecondition, err)
		}
		resp.Rewrapped = int32(n)
	}
	if req.Msg.Agency {
		k, told, missed, err := s.ex.RotateAgencyKey(ctx, 0)
		if err != nil {
			return nil, s.fail(err)
		}
		resp.NewAgencyKey, resp.AnnouncedTo, resp.NotReached = keyToWire(k), told, missed
	}
	return connect.NewResponse(resp), nil
}

// Backup implements BackupService.
func (s *Server) Backup(ctx context.Context, req *connect.Request[localv1.BackupRequest], stream *connect.ServerStream[localv1.BackupResponse]) error {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return err
	}
	if err := s.nodeOps(); err != nil {
		return err
	}
	if err := s.allow(ctx, sub, policy.ResourceNode, policy.ActionExport, "node.backup", "node"); err != nil {
		return err
	}
	w := &streamWriter{send: func(b []byte) error { return stream.Send(&localv1.BackupResponse{Chunk: b}) }}
	err = s.ops.Backup(ctx, w)
	if err == nil {
		err = w.flush()
	}
	outcome := audit.OK
	if err != nil {
		outcome = audit.Failed
	}
	if aerr := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "node.backup.done", Object: "node", Outcome: outcome, Details: w.total}); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return s.fail(err)
	}
	return nil
}

// streamWriter turns writes into messages of up to 256 KiB.
type streamWriter struct {
	send  func([]byte) error
	buf   []byte
	total int64
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	w.total += int64(len(p))
	for len(w.buf) >= 256<<10 {
		if err := w.send(w.buf[:256<<10]); err != nil {
			return 0, err
		}
		w.buf = append([]byte{}, w.buf[256<<10:]...)
	}
	return len(p), nil
}

func (w *streamWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = nil
	return err
}
