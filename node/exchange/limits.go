package exchange

import (
	"fmt"
	"unicode/utf8"
)

// Message metadata: every field of a Message that is not case data (the
// fields of the ISP's projection) is one of these, each bounded in bytes.
// The sender refuses to send more and the receiver refuses to take more
// (docs/federation.md, "What travels beside the fields").
const (
	MaxKind       = 32   // "referral.accept"
	MaxExchangeID = 64   // a UUID
	MaxCaseNumber = 64   // the sender's case number
	MaxService    = 200  // the service referred for
	MaxNote       = 4000 // a note for the receiving caseworker
	MaxReason     = 2000 // why an answer was given
	MaxActor      = 200  // "user@agency"
	MaxHandle     = 64   // a tracing answer's opaque handle
)

// checkMetadata refuses a message whose metadata exceeds its limits or is
// not valid UTF-8.
func checkMetadata(m Message) error {
	for _, f := range []struct {
		name  string
		value string
		max   int
	}{
		{"kind", m.Kind, MaxKind},
		{"exchange", m.Exchange, MaxExchangeID},
		{"case_number", m.CaseNumber, MaxCaseNumber},
		{"service", m.Service, MaxService},
		{"note", m.Note, MaxNote},
		{"reason", m.Reason, MaxReason},
		{"actor", m.Actor, MaxActor},
		{"handle", m.Handle, MaxHandle},
	} {
		if len(f.value) > f.max {
			return fmt.Errorf("%w: %s of %d bytes, at most %d", ErrBadMessage, f.name, len(f.value), f.max)
		}
		if !utf8.ValidString(f.value) {
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadMessage, f.name)
		}
	}
	return nil
}
