// Package smtp is the SMTP adapter of notify.Mailer, built on
// github.com/wneessen/go-mail: STARTTLS (mandatory or opportunistic),
// implicit TLS or plain, optional authentication, a timeout per message.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/cpx-node/cpx/node/notify"
)

// TLS modes.
const (
	TLSStartTLS      = "starttls"      // STARTTLS, required (default)
	TLSOpportunistic = "opportunistic" // STARTTLS when the server offers it
	TLSImplicit      = "tls"           // TLS from the first byte (port 465)
	TLSNone          = "none"          // plain text: loopback test servers only
)

// Config is where and how mail is sent.
type Config struct {
	Host     string
	Port     int    // default 587, or 465 for TLSImplicit
	TLS      string // default TLSStartTLS
	Username string // authenticate when set
	Password string
	From     string
	Timeout  time.Duration // default 30 s
	// RootCAs, when set, replaces the system roots (tests).
	TLSConfig *tls.Config
	// Connections is how many connections a batch is spread over at
	// once (default 2).
	Connections int
}

// Mailer sends a batch of messages over one SMTP connection.
type Mailer struct {
	c    Config
	from string
}

var _ notify.BatchMailer = (*Mailer)(nil)

// New checks c and returns a Mailer.
func New(c Config) (*Mailer, error) {
	if c.Host == "" {
		return nil, errors.New("smtp: no host")
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: from address %q: %w", c.From, err)
	}
	switch c.TLS {
	case "":
		c.TLS = TLSStartTLS
	case TLSStartTLS, TLSOpportunistic, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("smtp: unknown TLS mode %q: use starttls, opportunistic, tls or none", c.TLS)
	}
	if c.Port == 0 {
		c.Port = 587
		if c.TLS == TLSImplicit {
			c.Port = 465
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Connections <= 0 {
		c.Connections = 2
	}
	return &Mailer{c: c, from: from.String()}, nil
}

// Send implements notify.Mailer.
func (m *Mailer) Send(ctx context.Context, msg notify.Message) error {
	return m.SendBatch(ctx, []notify.Message{msg})[0]
}

// client returns a go-mail client for the configured server.
func (m *Mailer) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(m.c.Port), gomail.WithTimeout(m.c.Timeout)}
	tc := m.c.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: m.c.Host, MinVersion: tls.VersionTLS12}
	}
	opts = append(opts, gomail.WithTLSConfig(tc))
	switch m.c.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.TLSOpportunistic))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.NoTLS))
	}
	opts = append(opts, gomail.WithPort(m.c.Port))
	if m.c.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.c.Username), gomail.WithPassword(m.c.Password))
	}
	c, err := gomail.NewClient(m.c.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return c, nil
}

func (m *Mailer) build(msg notify.Message) (*gomail.Msg, error) {
	gm := gomail.NewMsg()
	if err := gm.From(m.from); err != nil {
		return nil, fmt.Errorf("smtp: from: %w", err)
	}
	if err := gm.To(msg.To); err != nil {
		return nil, fmt.Errorf("smtp: recipient %q: %w", msg.To, err)
	}
	gm.Subject(msg.Subject)
	gm.SetMessageIDWithValue(msg.MessageID)
	if msg.Language != "" {
		gm.SetGenHeader("Content-Language", msg.Language)
	}
	gm.SetGenHeader("Auto-Submitted", "auto-generated")
	gm.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		gm.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	return gm, nil
}

// SendBatch implements notify.BatchMailer: the batch is spread over up to
// Config.Connections connections at once, each carrying its share of
// messages (one SMTP transaction each), so that a batch costs a few dials,
// TLS handshakes and authentications. A message the server refuses fails
// alone; a connection that fails fails the messages not yet sent on it.
func (m *Mailer) SendBatch(ctx context.Context, msgs []notify.Message) []error {
	n := min(m.c.Connections, (len(msgs)+9)/10) // at least ten a connection
	if n <= 1 {
		return m.sendOn(ctx, msgs)
	}
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	per := (len(msgs) + n - 1) / n
	for lo := 0; lo < len(msgs); lo += per {
		hi := min(lo+per, len(msgs))
		wg.Go(func() { copy(errs[lo:hi], m.sendOn(ctx, msgs[lo:hi])) })
	}
	wg.Wait()
	return errs
}

// sendOn sends msgs over one connection.
func (m *Mailer) sendOn(ctx context.Context, msgs []notify.Message) []error {
	errs := make([]error, len(msgs))
	client, err := m.client()
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	var gms []*gomail.Msg
	var idx []int
	for i, msg := range msgs {
		gm, err := m.build(msg)
		if err != nil {
			errs[i] = err
			continue
		}
		gms = append(gms, gm)
		idx = append(idx, i)
	}
	if len(gms) == 0 {
		return errs
	}
	// The timeout bounds each message; the batch gets one per message.
	ctx, cancel := context.WithTimeout(ctx, m.c.Timeout*time.Duration(len(gms)))
	defer cancel()
	err = client.DialAndSendWithContext(ctx, gms...)
	for j, gm := range gms {
		switch {
		case gm.HasSendError():
			errs[idx[j]] = fmt.Errorf("smtp: send to %s:%d: %w", m.c.Host, m.c.Port, gm.SendError())
		case gm.IsDelivered():
		case err != nil:
			errs[idx[j]] = fmt.Errorf("smtp: send to %s:%d: %w", m.c.Host, m.c.Port, err)
		default:
			errs[idx[j]] = fmt.Errorf("smtp: send to %s:%d: not delivered", m.c.Host, m.c.Port)
		}
	}
	return errs
}
