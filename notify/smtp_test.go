package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCert is a self-signed certificate for 127.0.0.1 and a pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// received is one message the test server accepted.
type received struct {
	From, User string
	To         []string
	Data       string
	TLS        bool
}

// mailServer is a real SMTP server (emersion/go-smtp) on a listener the test owns: STARTTLS with
// a self-signed certificate, AUTH PLAIN only after STARTTLS, and switches for failures.
type mailServer struct {
	user, pass string
	rcptCode   int  // when set, RCPT TO is answered with this code
	dropData   bool // close the connection after reading the data, without answering
	down       atomic.Bool

	mu   sync.Mutex
	msgs []received
	addr string
}

func (m *mailServer) messages() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]received(nil), m.msgs...)
}

// downListener closes every connection while the server is "down": the port answers, SMTP does not.
type downListener struct {
	net.Listener
	m *mailServer
}

func (l downListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.m.down.Load() {
			return c, err
		}
		_ = c.Close()
	}
}

func startMailServer(t *testing.T, m *mailServer, cert *tls.Certificate) *mailServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{m: m, c: c}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	if cert != nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	}
	go func() { _ = s.Serve(downListener{ln, m}) }()
	t.Cleanup(func() { _ = s.Close() })
	return m
}

type mailSession struct {
	m    *mailServer
	c    *smtp.Conn
	user string
	from string
	to   []string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.m.user || pass != s.m.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.user = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.m.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.m.rcptCode != 0 {
		return &smtp.SMTPError{Code: s.m.rcptCode, EnhancedCode: smtp.EnhancedCode{s.m.rcptCode / 100, 1, 1}, Message: "mailbox says " + strconv.Itoa(s.m.rcptCode)}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.c.TLSConnectionState()
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, received{From: s.from, User: s.user, To: s.to, Data: string(b), TLS: isTLS})
	s.m.mu.Unlock()
	if s.m.dropData {
		_ = s.c.Conn().Close() // accepted, but the answer never arrives
	}
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

func smtpTransport(t *testing.T, m *mailServer, pool *x509.CertPool) *SMTPTransport {
	t.Helper()
	host, port, _ := net.SplitHostPort(m.addr)
	p, _ := strconv.Atoi(port)
	return &SMTPTransport{Server: SMTPConfig{Host: host, Port: p, Username: m.user, Password: m.pass},
		From: &mail.Address{Name: "Portico", Address: "portico@contoso.example"}, Timeout: 5 * time.Second,
		TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, HELO: "portico.test"}
}

func testMessage(t *testing.T) Message {
	t.Helper()
	m, err := Render(KindInvitationAccepted, Recipient{Address: "ines@contoso.example", Name: "Ines \"I\" Inviter\r\nBcc: eve@evil.example", Language: "fr-FR"},
		"https://portico.example/invitations/r1", map[string]string{DataPartner: "Pat <Partner>\r\nBcc: eve@evil.example"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSMTPTransportSTARTTLSAndAuth(t *testing.T) {
	cert, pool := testCert(t)
	m := startMailServer(t, &mailServer{user: "portico@contoso.example", pass: "s3cret pass"}, &cert)
	tr := smtpTransport(t, m, pool)
	begins := 0
	if err := tr.Send(context.Background(), testMessage(t), func() error { begins++; return nil }); err != nil {
		t.Fatal(err)
	}
	msgs := m.messages()
	if begins != 1 || len(msgs) != 1 {
		t.Fatalf("begin called %d times, %d messages; want 1 and 1", begins, len(msgs))
	}
	got := msgs[0]
	if !got.TLS || got.User != "portico@contoso.example" || got.From != "portico@contoso.example" || len(got.To) != 1 || got.To[0] != "ines@contoso.example" {
		t.Fatalf("received %+v", got)
	}
	head, _, _ := strings.Cut(got.Data, "\r\n\r\n")
	for _, want := range []string{"Content-Type: multipart/alternative", "Content-Language: fr", "Auto-Submitted: auto-generated"} {
		if !strings.Contains(got.Data, want) {
			t.Errorf("message lacks %q:\n%s", want, got.Data)
		}
	}
	for _, want := range []string{"Content-Type: text/plain", "Content-Type: text/html"} {
		if !strings.Contains(got.Data, want) {
			t.Errorf("message lacks part %q", want)
		}
	}
	// No injected header: Bcc appears nowhere as a header line, and there is one To.
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "bcc:") {
			t.Errorf("injected header line %q", line)
		}
	}
	if strings.Count(strings.ToLower(head), "\r\nto:") != 1 {
		t.Errorf("want exactly one To header:\n%s", head)
	}
}

func TestSMTPTransportImplicitTLS(t *testing.T) {
	cert, pool := testCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	m := &mailServer{addr: ln.Addr().String()}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{m: m, c: c}, nil }))
	s.Domain = "localhost"
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	tr := smtpTransport(t, m, pool)
	tr.Server.ImplicitTLS = true
	if err := tr.Send(context.Background(), testMessage(t), func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if msgs := m.messages(); len(msgs) != 1 || !msgs[0].TLS {
		t.Fatalf("messages %+v", msgs)
	}
}

func TestSMTPTransportNothingHandedOver(t *testing.T) {
	cert, pool := testCert(t)
	_, otherPool := testCert(t)
	for _, tc := range []struct {
		name string
		srv  *mailServer
		cert *tls.Certificate
		pool *x509.CertPool
		pass string
	}{
		{"no STARTTLS offered", &mailServer{}, nil, pool, ""},
		{"certificate not trusted", &mailServer{}, &cert, otherPool, ""},
		{"wrong password", &mailServer{user: "u@contoso.example", pass: "right"}, &cert, pool, "wrong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := startMailServer(t, tc.srv, tc.cert)
			tr := smtpTransport(t, m, tc.pool)
			if tc.pass != "" {
				tr.Server.Password = tc.pass
			}
			began := false
			err := tr.Send(context.Background(), testMessage(t), func() error { began = true; return nil })
			if !errors.Is(err, ErrNotSent) || began || len(m.messages()) != 0 {
				t.Fatalf("err %v, began %v, %d messages; want ErrNotSent before begin and nothing received", err, began, len(m.messages()))
			}
			if strings.Contains(err.Error(), "right") || strings.Contains(err.Error(), "wrong") {
				t.Fatalf("the error shows a password: %v", err)
			}
		})
	}
}

func TestSMTPTransportRecipientAnswers(t *testing.T) {
	cert, pool := testCert(t)
	for code, want := range map[int]error{451: ErrNotSent, 550: ErrRefused} {
		m := startMailServer(t, &mailServer{rcptCode: code}, &cert)
		err := smtpTransport(t, m, pool).Send(context.Background(), testMessage(t), func() error { return nil })
		if !errors.Is(err, want) {
			t.Errorf("RCPT %d: %v, want %v", code, err, want)
		}
	}
}

func TestSMTPTransportLostAnswerIsUncertain(t *testing.T) {
	cert, pool := testCert(t)
	m := startMailServer(t, &mailServer{dropData: true}, &cert)
	err := smtpTransport(t, m, pool).Send(context.Background(), testMessage(t), func() error { return nil })
	if !errors.Is(err, ErrUncertain) || len(m.messages()) != 1 {
		t.Fatalf("err %v with %d messages received; want ErrUncertain", err, len(m.messages()))
	}
}
