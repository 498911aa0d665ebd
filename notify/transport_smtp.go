package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"portico/internal/netaddr"
)

// SMTPConfig is an SMTP server as PORTICO_SMTP_URL names it.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	// ImplicitTLS: smtps://, TLS from the first byte (port 465). Otherwise STARTTLS is required,
	// unless NoTLS.
	ImplicitTLS bool
	// NoTLS: plain SMTP without STARTTLS (smtp://...?tls=none), allowed for a loopback relay only.
	NoTLS bool
}

// String shows the server without its password.
func (c SMTPConfig) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
	if c.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if c.Username != "" {
		u.User = url.User(c.Username)
		if c.Password != "" {
			u.User = url.UserPassword(c.Username, "redacted")
		}
	}
	if c.NoTLS {
		u.RawQuery = "tls=none"
	}
	return u.String()
}

// GoString keeps the password out of %#v.
func (c SMTPConfig) GoString() string { return c.String() }

// ParseSMTPURL reads PORTICO_SMTP_URL: smtp://[user[:password]@]host[:port] (STARTTLS required,
// port 587 by default), smtps://... (implicit TLS, port 465 by default); user and password are
// URL-encoded. ?tls=none turns TLS off, for a relay on the loopback interface only.
func ParseSMTPURL(s string) (SMTPConfig, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return SMTPConfig{}, errors.New("not a URL (smtp://user:password@host:587 or smtps://host:465)")
	}
	var c SMTPConfig
	switch u.Scheme {
	case "smtp":
		c.Port = 587
	case "smtps":
		c.Port, c.ImplicitTLS = 465, true
	default:
		return SMTPConfig{}, fmt.Errorf("scheme %q: use smtp:// (STARTTLS) or smtps:// (implicit TLS)", u.Scheme)
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return SMTPConfig{}, errors.New("no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPConfig{}, fmt.Errorf("port %q is not a port number", p)
		}
		c.Port = n
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if u.Path != "" && u.Path != "/" {
		return SMTPConfig{}, errors.New("a path is not allowed")
	}
	for k, v := range u.Query() {
		switch {
		case k == "tls" && len(v) == 1 && v[0] == "none":
			if c.ImplicitTLS {
				return SMTPConfig{}, errors.New("tls=none contradicts smtps://")
			}
			if !netaddr.IsLoopbackHost(c.Host) {
				return SMTPConfig{}, errors.New("tls=none is allowed only for a relay on the loopback interface (localhost, 127.0.0.1, ::1): credentials and notices would cross the network in clear")
			}
			c.NoTLS = true
		case k == "tls" && len(v) == 1 && v[0] == "required":
		default:
			return SMTPConfig{}, fmt.Errorf("unknown parameter %q (only tls=required or tls=none)", k)
		}
	}
	if c.NoTLS && c.Username != "" {
		return SMTPConfig{}, errors.New("tls=none with a user name would send the password in clear")
	}
	return c, nil
}

// SMTPTransport sends notices to an SMTP server with wneessen/go-mail: STARTTLS required (or
// implicit TLS), certificate verified, SMTP AUTH when a user is configured (the strongest
// mechanism the server offers over TLS).
type SMTPTransport struct {
	Server SMTPConfig
	From   *mail.Address // PORTICO_MAIL_FROM
	// TLSConfig, when set, replaces the default verification settings (tests trust their own CA).
	TLSConfig *tls.Config
	Timeout   time.Duration // per connection step; 0: 30s
	HELO      string        // the name in EHLO; "" : go-mail's default (the host name)
}

// Name implements Transport.
func (*SMTPTransport) Name() string { return "smtp" }

// Send implements Transport: one connection per message. Failures while connecting, in TLS or in
// AUTH, and refusals of MAIL FROM, RCPT TO or DATA leave the message unsent; only a lost answer
// to the end of the message's data leaves its outcome unknown.
func (t *SMTPTransport) Send(ctx context.Context, m Message, begin func() error) error {
	if t.From == nil || t.From.Address == "" {
		return fmt.Errorf("%w: no sender address (PORTICO_MAIL_FROM)", ErrRefused)
	}
	to, err := PlainAddress(m.To.Address)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	msg := gomail.NewMsg()
	if err := msg.FromFormat(oneLine(t.From.Name), t.From.Address); err != nil {
		return fmt.Errorf("%w: sender %q: %w", ErrRefused, t.From.Address, err)
	}
	if err := msg.AddToFormat(oneLine(m.To.Name), to); err != nil {
		return fmt.Errorf("%w: recipient: %w", ErrRefused, err)
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetMessageID()
	msg.SetDate()
	msg.SetGenHeader(gomail.HeaderContentLang, baseLanguage(m.Language))
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)

	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tlsConf := t.TLSConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tlsConf = tlsConf.Clone()
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = t.Server.Host
	}
	opts := []gomail.Option{gomail.WithPort(t.Server.Port), gomail.WithTimeout(timeout), gomail.WithTLSConfig(tlsConf)}
	switch {
	case t.Server.ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case t.Server.NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if t.Server.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(t.Server.Username), gomail.WithPassword(t.Server.Password))
	}
	if t.HELO != "" {
		opts = append(opts, gomail.WithHELO(t.HELO))
	}
	c, err := gomail.NewClient(t.Server.Host, opts...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	sc, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		// Not connected, TLS refused or failed, or AUTH refused: nothing was handed over.
		return fmt.Errorf("%w: connecting to %s: %w", ErrNotSent, t.Server, err)
	}
	defer func() { _ = c.CloseWithSMTPClient(sc) }()
	if err := begin(); err != nil {
		return err
	}
	err = c.SendWithSMTPClient(sc, msg)
	if err == nil || msg.IsDelivered() {
		return nil // a failure after the server accepted the data (RSET) does not matter
	}
	return classifySMTP(err)
}

// classifySMTP says what a failed SMTP transaction means for the notice.
func classifySMTP(err error) error {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return fmt.Errorf("%w: %w", ErrUncertain, err)
	}
	code := se.ErrorCode()
	switch se.Reason {
	case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case gomail.ErrConnCheck, gomail.ErrWriteContent:
		// The data's final dot was never sent: the server cannot have accepted the message.
		return fmt.Errorf("%w: %w", ErrNotSent, err)
	case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		switch {
		case se.IsTemp() || code/100 == 4:
			return fmt.Errorf("%w: %w", ErrNotSent, err)
		case code/100 == 5:
			return fmt.Errorf("%w: %w", ErrRefused, err)
		case se.Reason == gomail.ErrSMTPDataClose:
			// The data was sent and no answer came back: the server may have accepted it.
			return fmt.Errorf("%w: %w", ErrUncertain, err)
		default:
			return fmt.Errorf("%w: %w", ErrNotSent, err)
		}
	}
	return fmt.Errorf("%w: %w", ErrUncertain, err)
}
