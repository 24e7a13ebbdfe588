package command

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"
)

// Exit codes of the cpx command. They are part of the CLI's contract for
// scripts; docs/cli.md lists them.
const (
	ExitOK        = 0 // success
	ExitError     = 1 // any other error, including rejected import rows
	ExitUsage     = 2 // bad flags or arguments, missing connection details
	ExitNotFound  = 3 // the case, user or other object does not exist
	ExitForbidden = 4 // the token was refused or the caller lacks permission
)

// exitError carries an exit code chosen by a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf returns an error that exits with ExitUsage.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// unreachableError is returned by the HTTP transport when the node's API
// address does not answer at all.
type unreachableError struct {
	url  string
	from string // where url came from ("--api", "CPX_API", ...), if known
	dir  string
	err  error
}

func (e *unreachableError) Error() string {
	dir := e.dir
	if dir == "" {
		dir = "DIR"
	}
	at := e.url
	if e.from != "" {
		at += " (from " + e.from + ")"
	}
	return fmt.Sprintf("cannot reach the node at %s: is it running? (cpx start --dir %s): %v", at, dir, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// ExitCode maps an error returned by the app to the process exit code. This
// is the one place where Connect codes become exit codes.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if ee, ok := errors.AsType[*exitError](err); ok {
		return ee.code
	}
	if _, ok := errors.AsType[*unreachableError](err); ok {
		return ExitError
	}
	if ce, ok := errors.AsType[*connect.Error](err); ok {
		switch ce.Code() {
		case connect.CodeNotFound:
			return ExitNotFound
		case connect.CodeUnauthenticated, connect.CodePermissionDenied:
			return ExitForbidden
		}
	}
	return ExitError
}

// Message returns the text printed after "cpx: " for an error: the node's
// own message for API errors, with what to do about it where that helps.
func Message(err error) string {
	if _, ok := errors.AsType[*exitError](err); ok {
		return err.Error()
	}
	if ue, ok := errors.AsType[*unreachableError](err); ok {
		return ue.Error()
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	ce, ok := errors.AsType[*connect.Error](err)
	if !ok {
		return err.Error()
	}
	msg := ce.Message()
	if msg == "" {
		msg = ce.Code().String()
	}
	// say a thing once: the node's message may already start with the
	// words the code adds ("invalid request: invalid request: ...").
	once := func(prefix, msg string) string {
		for strings.HasPrefix(msg, prefix) {
			msg = strings.TrimPrefix(msg, prefix)
		}
		return prefix + msg
	}
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		return "the node refused the token: " + msg + " (check --token, CPX_TOKEN or DIR/credentials.json)"
	case connect.CodePermissionDenied:
		return once("permission denied: ", msg)
	case connect.CodeNotFound:
		return once("not found: ", msg)
	case connect.CodeAlreadyExists:
		return once("already exists: ", msg)
	case connect.CodeInvalidArgument:
		return once("invalid request: ", msg)
	case connect.CodeAborted, connect.CodeFailedPrecondition:
		return once("conflict: ", msg)
	case connect.CodeUnimplemented:
		return "the node does not support this call (is it older than this cpx?): " + msg
	case connect.CodeDeadlineExceeded:
		return "the node did not answer in time: " + msg
	case connect.CodeCanceled:
		return "interrupted"
	case connect.CodeUnavailable:
		return once("the node is unavailable: ", msg)
	}
	return msg
}
