package notify

import (
	"context"
	"sync"
)

// Message is one email.
type Message struct {
	To        string
	Subject   string
	Text      string
	HTML      string
	Language  string
	MessageID string // without angle brackets
}

// Mailer sends email. The SMTP adapter is in notify/smtp; Memory is its
// in-memory twin.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// BatchMailer is a Mailer that sends several messages at once, over one
// connection; the worker uses it when its Mailer is one. It returns one
// outcome per message, in order: nil for a message the server accepted.
type BatchMailer interface {
	Mailer
	SendBatch(ctx context.Context, msgs []Message) []error
}

// Memory is a Mailer that keeps what it is sent; Fail, when set, is
// returned instead.
type Memory struct {
	mu   sync.Mutex
	sent []Message
	Fail error
}

var _ Mailer = (*Memory)(nil)

// Send implements Mailer.
func (m *Memory) Send(_ context.Context, msg Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	m.sent = append(m.sent, msg)
	return nil
}

// SetFail sets the error Send returns (nil: succeed).
func (m *Memory) SetFail(err error) { m.mu.Lock(); m.Fail = err; m.mu.Unlock() }

// Sent returns the messages sent so far.
func (m *Memory) Sent() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.sent...)
}
