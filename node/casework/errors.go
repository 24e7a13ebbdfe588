package casework

import (
	"errors"
	"fmt"
)

// Errors returned by the Service. The local API maps them to Connect codes
// in one place (node/api).
var (
	ErrNotFound = errors.New("case not found")
	ErrDenied   = errors.New("permission denied")
	ErrInvalid  = errors.New("invalid request")
	ErrConflict = errors.New("case was changed by someone else")
	ErrClosed   = errors.New("case is closed")
	ErrTooLarge = errors.New("case record too large")
	// ErrState is returned for a step the case's state does not allow
	// now: approving what is not pending, closing before an approval the
	// agency requires.
	ErrState = errors.New("not allowed in the case's current state")
	// ErrPurged is returned for a case whose data was erased by Purge (or
	// whose data key was destroyed). Errors of this kind also match
	// ErrNotFound, so callers that only know ErrNotFound treat a purged
	// case as gone.
	ErrPurged = errors.New("case was purged")
)

// purged returns an ErrPurged error about case ref.
func purged(ref string) error {
	return &kindError{kind: ErrPurged, cause: ErrNotFound, msg: fmt.Sprintf("case %s was purged: its data is erased", ref)}
}

// kindError is an error of one of the kinds above whose message does not
// repeat the kind: callers test the kind with errors.Is, and the local API
// turns it into a Connect code, so "permission denied" is said once.
type kindError struct {
	kind  error
	cause error // optional, e.g. a *forms.ValidationError
	msg   string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// errorf returns an error of the given kind.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
