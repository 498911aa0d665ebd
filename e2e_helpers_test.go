package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"portico/devtenant"
)

const testClientSecret = "test-client-secret-value-SENTINEL"

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is one Portico instance started through run, against a devtenant the test owns.
type harness struct {
	t      testing.TB
	tenant *devtenant.Tenant
	URL    string
	Logs   *syncBuffer
	env    map[string]string
}

func newTenant(t testing.TB) *devtenant.Tenant {
	t.Helper()
	tenant, err := devtenant.New(devtenant.Options{ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tenant.Close(context.Background()) })
	return tenant
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func baseEnv(tenant *devtenant.Tenant, addr string) map[string]string {
	return map[string]string{
		"PORTICO_TENANT_ID":     tenant.TenantID(),
		"PORTICO_CLIENT_ID":     "portico-demo",
		"PORTICO_CLIENT_SECRET": testClientSecret,
		"PORTICO_AUTHORITY":     tenant.URL(),
		"PORTICO_GRAPH_URL":     tenant.URL(),
		"PORTICO_PUBLIC_URL":    "http://" + addr,
		"PORTICO_SESSION_KEYS":  "session-key-one-0123456789abcdef0123",
		"PORTICO_DATA_KEY":      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"PORTICO_DATABASE_URL":  ":memory:",
		"PORTICO_LOG_FORMAT":    "json",
		"PORTICO_LOG_LEVEL":     "debug",
	}
}

// start runs Portico with the given environment until the test ends.
func start(t testing.TB, tenant *devtenant.Tenant, env map[string]string) *harness {
	t.Helper()
	if tenant == nil {
		tenant = newTenant(t)
	}
	addr := freeAddr(t)
	e := baseEnv(tenant, addr)
	for k, v := range env {
		e[k] = v
	}
	logs := &syncBuffer{}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", addr}, func(k string) string { return e[k] }, io.MultiWriter(pw, logs), logs)
		pw.Close()
	}()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.HasPrefix(sc.Text(), "Portico is running at") {
				close(ready)
				signalled = true
			}
		}
		if !signalled {
			close(ready)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run exited early: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		t.Fatal("portico did not start")
	}
	h := &harness{t: t, tenant: tenant, URL: "http://" + addr, Logs: logs, env: e}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("portico did not shut down")
		}
	})
	h.waitReady()
	return h
}

func (h *harness) waitReady() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(h.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("portico never became ready\n%s", h.Logs)
}

// browser is a cookie-keeping client that does not follow redirects by itself.
type browser struct {
	t    testing.TB
	h    *harness
	c    *http.Client
	last *goquery.Document
}

func (h *harness) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: h.t, h: h, c: &http.Client{
		Jar:           jar,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type page struct {
	Status int
	Header http.Header
	Body   string
	URL    *url.URL
	Doc    *goquery.Document
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := &page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), URL: req.URL}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		p.Doc, _ = goquery.NewDocumentFromReader(bytes.NewReader(body))
		b.last = p.Doc
	}
	return p
}

func (b *browser) abs(path string) string {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path
	}
	return b.h.URL + path
}

// get fetches one URL without following redirects.
func (b *browser) get(path string, hdr ...string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.abs(path), nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// follow GETs path and then every redirect, across Portico and devtenant, up to a limit.
func (b *browser) follow(path string) *page {
	b.t.Helper()
	p := b.get(path)
	for i := 0; i < 10 && p.Status >= 300 && p.Status < 400; i++ {
		loc, err := p.URL.Parse(p.Header.Get("Location"))
		if err != nil {
			b.t.Fatalf("bad Location %q", p.Header.Get("Location"))
		}
		p = b.get(loc.String())
	}
	return p
}

// post submits a form, adding the CSRF token from the last page when the form lacks one.
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", b.csrf())
	}
	req, _ := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.h.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// csrf reads the session's CSRF token from the home page.
func (b *browser) csrf() string {
	b.t.Helper()
	if b.last != nil {
		if v, ok := b.last.Find(`input[name="_csrf"]`).First().Attr("value"); ok && v != "" {
			return v
		}
	}
	p := b.get("/")
	v, _ := p.Doc.Find(`input[name="_csrf"]`).First().Attr("value")
	return v
}

// signIn runs the whole OIDC flow for a demo account and returns the page it lands on.
func (b *browser) signIn(upn string) *page {
	b.t.Helper()
	p := b.follow("/login?login_hint=" + url.QueryEscape(upn))
	if p.Status != http.StatusOK {
		b.t.Fatalf("sign-in as %s ended with %d: %s", upn, p.Status, p.Body)
	}
	return p
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.h.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func text(p *page, sel string) string {
	if p.Doc == nil {
		return ""
	}
	return strings.TrimSpace(p.Doc.Find(sel).First().Text())
}

func must(t testing.TB, cond bool, format string, args ...any) {
	t.Helper()
	if !cond {
		t.Fatalf(format, args...)
	}
}

var _ = fmt.Sprintf

func newJar() (http.CookieJar, error) { return cookiejar.New(nil) }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func devtenantFault403() devtenant.Fault {
	return devtenant.Fault{Method: http.MethodGet, PathPrefix: "/v1.0/users", Status: http.StatusForbidden, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."}
}
