package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"portico/app"
	"portico/config"
	"portico/store"
)

// smtpSink is a real SMTP server (emersion/go-smtp) with STARTTLS (a self-signed certificate the
// test trusts) and AUTH PLAIN, which refuses every connection while down.
type smtpSink struct {
	addr string
	pool *x509.CertPool
	down atomic.Bool
	mu   sync.Mutex
	msgs []string // "to|data"
}

func (s *smtpSink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

type sinkListener struct {
	net.Listener
	s *smtpSink
}

func (l sinkListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.s.down.Load() {
			return c, err
		}
		_ = c.Close()
	}
}

type sinkSession struct {
	s      *smtpSink
	c      *smtp.Conn
	authed bool
	to     []string
}

func (ss *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, u, p string) error {
		if u != "portico@contoso.example" || p != "smtp pass/word" {
			return &smtp.SMTPError{Code: 535, Message: "bad credentials"}
		}
		ss.authed = true
		return nil
	}), nil
}
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error {
	if _, ok := ss.c.TLSConnectionState(); !ok || !ss.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, strings.Join(ss.to, ",")+"|"+string(b))
	ss.s.mu.Unlock()
	return err
}
func (ss *sinkSession) Reset()        { ss.to = nil }
func (ss *sinkSession) Logout() error { return nil }

func startSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	s := &smtpSink{pool: x509.NewCertPool()}
	s.pool.AddCert(leaf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s, c: c}, nil }))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	go func() { _ = srv.Serve(sinkListener{ln, s}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Over SMTP (STARTTLS + AUTH, the production transport) through the real program: the mail server
// is down when the partner accepts; the notice waits, is retried, and arrives once when the server
// is back; the database says sent.
func TestAcceptedNoticeOverSMTPServerDownThenUp(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	tenant := newTenant(t)
	sink := startSMTPSink(t)
	sink.down.Store(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := baseEnv(tenant, ln.Addr().String())
	e["PORTICO_DATABASE_URL"] = sqliteFile(t)
	e["PORTICO_SMTP_URL"] = "smtp://portico%40contoso.example:smtp%20pass%2Fword@" + sink.addr
	e["PORTICO_MAIL_FROM"] = "Portico <portico@contoso.example>"
	logs := &syncBuffer{}
	cfg, err := config.Load([]string{"-addr", ln.Addr().String()}, func(k string) string { return e[k] }, logs)
	if err != nil {
		t.Fatal(err)
	}
	must(t, !strings.Contains(cfg.String(), "pass"), "the SMTP password never prints: %s", cfg)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Listener: ln, Log: logs, Background: backgroundTokens(t, tenant),
		SMTPTLS: &tls.Config{RootCAs: sink.pool, MinVersion: tls.VersionTLS12}, NoticePoll: 200 * time.Millisecond,
		NoticeRetry: func(int) time.Duration { return 300 * time.Millisecond }})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("portico: %v", err)
		}
	})
	h := &harness{t: t, tenant: tenant, Logs: logs, env: e, URL: a.URL()}
	h.waitReady()
	in := &instance{harness: h, App: a}
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	// A second sponsor: two notices (the inviter's and the sponsor's) wait for the server.
	acceptByLink(t, in, emp, "casey@fabrikam.example", func(v url.Values) { v["sponsors"] = []string{"megan@contoso.example"} })

	var waiting []store.Notice
	deadline := time.Now().Add(15 * time.Second)
	for {
		list, _ := a.Store.RecentNotices(context.Background(), 5)
		if len(list) == 2 && list[0].Attempts >= 2 && list[1].Attempts >= 2 && list[0].State == store.NoticeQueued && list[1].State == store.NoticeQueued {
			waiting = list
			break
		}
		must(t, time.Now().Before(deadline), "the notices were not retried while the server was down: %+v\n%s", list, logs)
		time.Sleep(100 * time.Millisecond)
	}
	for _, n := range waiting {
		must(t, n.LastError != "" && !strings.Contains(n.LastError, "pass/word"), "why is recorded, without the password: %q", n.LastError)
	}
	must(t, len(sink.messages()) == 0, "nothing delivered while down")

	sink.down.Store(false)
	for len(sink.messages()) < 2 {
		must(t, time.Now().Before(deadline.Add(15*time.Second)), "not delivered after the server came back\n%s", logs)
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	msgs := sink.messages()
	slices.Sort(msgs)
	must(t, len(msgs) == 2 && strings.HasPrefix(msgs[0], "employee@contoso.example|") && strings.HasPrefix(msgs[1], "megan@contoso.example|"),
		"delivered once to each, none lost: %d %q", len(msgs), msgs)
	for _, m := range msgs {
		must(t, strings.Contains(m, "Subject: Taylor Partner accepted the invitation") && strings.Contains(m, "text/plain") && strings.Contains(m, "text/html"),
			"text and HTML: %q", m)
	}
	for _, n := range waiting {
		got, _ := a.Store.GetNotice(context.Background(), n.ID)
		must(t, got.State == store.NoticeSent && got.Transport == "smtp" && got.SentAt != nil, "notice %+v", got)
	}
	must(t, !strings.Contains(logs.String(), "pass/word") && !strings.Contains(logs.String(), "pass%2Fword"), "the SMTP password is in the logs")
}
