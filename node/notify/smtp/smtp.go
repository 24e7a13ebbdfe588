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
}

// Mailer sends each message over its own SMTP connection.
type Mailer struct {
	c    Config
	from string
}

var _ notify.Mailer = (*Mailer)(nil)

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
	return &Mailer{c: c, from: from.String()}, nil
}

// Send implements notify.Mailer.
func (m *Mailer) Send(ctx context.Context, msg notify.Message) error {
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
	client, err := gomail.NewClient(m.c.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	gm := gomail.NewMsg()
	if err := gm.From(m.from); err != nil {
		return fmt.Errorf("smtp: from: %w", err)
	}
	if err := gm.To(msg.To); err != nil {
		return fmt.Errorf("smtp: recipient %q: %w", msg.To, err)
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
	ctx, cancel := context.WithTimeout(ctx, m.c.Timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, gm); err != nil {
		return fmt.Errorf("smtp: send to %s:%d: %w", m.c.Host, m.c.Port, err)
	}
	return nil
}
