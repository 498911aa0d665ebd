package main

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gorilla/securecookie"

	"portico/app"
	"portico/config"
	"portico/devtenant"
	"portico/internal/skipreport"
	"portico/keyring"
	"portico/store"
	"portico/store/storetest"
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
	warmed bool // the first sign-in's organization read has landed (awaitWarm)
}

func newTenant(t testing.TB) *devtenant.Tenant {
	t.Helper()
	return tenantWith(t, func(*devtenant.Options) {})
}

// tenantWith is a devtenant of the test's own, configured by mutate, closed when the test ends.
func tenantWith(t testing.TB, mutate func(o *devtenant.Options)) *devtenant.Tenant {
	t.Helper()
	o := devtenant.Options{ClientSecret: testClientSecret}
	mutate(&o)
	tenant, err := devtenant.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tenant.Close(context.Background()) })
	return tenant
}

// Keys for test instances, made with `openssl rand -base64 32` (config refuses weak and documented keys).
const (
	testSessionKey = "session-key-one-0123456789abcdef0123"
	testDataKey    = "cG+vsXa3kKJnO9nhaADuZfnq+Ed1+1ckJZhE6/497PU="
	testDataKey2   = "wzqUGItif5YlIRCfhZxgny8rl9WdfMNrZjIpO4OImFE="
)

func baseEnv(tenant *devtenant.Tenant, addr string) map[string]string {
	return map[string]string{
		"PORTICO_TENANT_ID":     tenant.TenantID(),
		"PORTICO_CLIENT_ID":     "portico-demo",
		"PORTICO_CLIENT_SECRET": testClientSecret,
		"PORTICO_AUTHORITY":     tenant.URL(),
		"PORTICO_GRAPH_URL":     tenant.URL(),
		"PORTICO_PUBLIC_URL":    "http://" + addr,
		"PORTICO_SESSION_KEYS":  testSessionKey,
		"PORTICO_DATA_KEY":      testDataKey,
		"PORTICO_DATABASE_URL":  ":memory:",
		"PORTICO_LOG_FORMAT":    "json",
		"PORTICO_LOG_LEVEL":     "debug",
	}
}

// instance is one Portico built by app.New and served on a listener the test owns, exactly as
// `portico serve` does (config.Load, app.New, banner, Serve). It may be started concurrently
// with others (launch never calls t.Fatal off the test goroutine) and stopped by the test.
type instance struct {
	*harness
	App    *app.App
	cancel context.CancelFunc
	ready  chan *app.App
	done   chan error
	once   sync.Once
}

// start runs Portico with the given environment until the test ends and waits until it is ready.
// Without a tenant it gets a devtenant of its own.
func start(t testing.TB, tenant *devtenant.Tenant, env map[string]string) *harness {
	t.Helper()
	if tenant == nil {
		tenant = newTenant(t)
	}
	in := launch(t, tenant, env)
	in.await(t)
	return in.harness
}

// launch starts Portico in the background with flags args. With a tenant, the environment starts
// from baseEnv; without one (demo mode, or settings printed by `portico devtenant`) it starts
// almost empty. env overrides it. PORTICO_PUBLIC_URL defaults to the listener's address, except in
// demo mode, where Portico derives it from the address it is given.
func launch(t testing.TB, tenant *devtenant.Tenant, env map[string]string, args ...string) *instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	e := map[string]string{"PORTICO_LOG_FORMAT": "json"}
	switch {
	case tenant != nil:
		e = baseEnv(tenant, addr)
	case !slices.Contains(args, "-demo"):
		e["PORTICO_PUBLIC_URL"] = "http://" + addr
	}
	maps.Copy(e, env)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{
		harness: &harness{t: t, tenant: tenant, Logs: logs, env: e},
		cancel:  cancel,
		ready:   make(chan *app.App, 1),
		done:    make(chan error, 1),
	}
	go func() {
		in.done <- serveOn(ctx, ln, append(args, "-addr", addr), func(k string) string { return e[k] }, logs, in.ready)
	}()
	t.Cleanup(func() { in.stop(t) })
	return in
}

// serveOn is runServe with the test's listener: it hands the built app to ready, then serves.
func serveOn(ctx context.Context, ln net.Listener, args []string, getenv func(string) string, out io.Writer, ready chan<- *app.App) error {
	cfg, err := config.Load(args, getenv, out)
	if err != nil {
		_ = ln.Close()
		return err
	}
	a, err := app.New(ctx, cfg, app.Options{Listener: ln, Log: out})
	if err != nil {
		return err
	}
	a.WriteBanner(out)
	ready <- a
	return a.Serve(ctx)
}

// await waits, on the test goroutine, until the app is built, takes its URL from it and waits
// until it answers /readyz.
func (in *instance) await(t testing.TB) {
	t.Helper()
	select {
	case in.App = <-in.ready:
		in.URL = in.App.URL()
	case err := <-in.done:
		in.done <- err
		t.Fatalf("portico exited early: %v\n%s", err, in.Logs)
	case <-time.After(15 * time.Second):
		t.Fatalf("portico did not start\n%s", in.Logs)
	}
	in.waitReady()
}

// stop ends the instance and checks that it shut down cleanly; later calls do nothing.
func (in *instance) stop(t testing.TB) {
	in.once.Do(func() {
		in.cancel()
		select {
		case err := <-in.done:
			if err != nil {
				t.Errorf("portico: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("portico did not shut down")
		}
	})
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
	reads := b.h.organizationReads()
	p := b.follow("/login?login_hint=" + url.QueryEscape(upn))
	if p.Status != http.StatusOK {
		b.t.Fatalf("sign-in as %s ended with %d: %s", upn, p.Status, p.Body)
	}
	b.h.awaitWarm(reads)
	return p
}

// awaitWarm waits, once per instance, for the organization read that the first sign-in starts in
// the background (invite.Service.Warm), so that it lands before a test counts Graph requests:
// until devtenant has answered more than reads of them.
func (h *harness) awaitWarm(reads int) {
	if h.tenant == nil || h.warmed {
		return
	}
	h.warmed = true
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if h.organizationReads() > reads {
			return
		}
	}
}

// organizationReads counts the GET /organization requests devtenant has answered.
func (h *harness) organizationReads() int {
	if h.tenant == nil {
		return 0
	}
	n := 0
	for _, rt := range h.tenant.RoundTrips() {
		if rt.Method == http.MethodGet && rt.Path == "/v1.0/organization" {
			n++
		}
	}
	return n
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

// idp is a devtenant served through a recording proxy, so a test sees what Portico sends to the
// token endpoint (grants, codes, PKCE verifiers) and every token devtenant hands out, and can
// rewrite the next ID token (forged headers devtenant itself never signs).
type idp struct {
	t      testing.TB
	tenant *devtenant.Tenant
	srv    *httptest.Server

	mu           sync.Mutex
	grants       map[string]int // grant_type → token requests
	verifiers    []string       // code_verifier of each authorization_code request
	secrets      []string       // every code, access, refresh and ID token seen
	idTokens     []string       // ID tokens as Portico received them (after rewrites)
	rewriteNext  []func(raw string) string
	scopeRewrite func(scope string) string
	refreshDelay time.Duration
}

func newIDP(t testing.TB) *idp {
	t.Helper()
	tenant, err := devtenant.New(devtenant.Options{ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{t: t, tenant: tenant, grants: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

// env points Portico's authority and Graph at the proxy.
func (p *idp) env(extra map[string]string) map[string]string {
	e := map[string]string{"PORTICO_AUTHORITY": p.srv.URL, "PORTICO_GRAPH_URL": p.srv.URL}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

func (p *idp) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		p.tenant.Handler().ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	grant := form.Get("grant_type")
	p.mu.Lock()
	p.grants[grant]++
	if v := form.Get("code_verifier"); v != "" {
		p.verifiers = append(p.verifiers, v)
	}
	for _, k := range []string{"code", "refresh_token", "client_secret"} {
		if v := form.Get(k); v != "" {
			p.secrets = append(p.secrets, v)
		}
	}
	var rewrite func(string) string
	if grant == "authorization_code" && len(p.rewriteNext) > 0 {
		rewrite, p.rewriteNext = p.rewriteNext[0], p.rewriteNext[1:]
	}
	scopeRewrite, delay := p.scopeRewrite, p.refreshDelay
	p.mu.Unlock()
	if grant == "refresh_token" && delay > 0 {
		time.Sleep(delay)
	}

	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	p.tenant.Handler().ServeHTTP(rec, r)
	out := rec.Body.Bytes()
	var m map[string]any
	if rec.Code == http.StatusOK && json.Unmarshal(out, &m) == nil {
		if idt, ok := m["id_token"].(string); ok && rewrite != nil {
			m["id_token"] = rewrite(idt)
		}
		if s, ok := m["scope"].(string); ok && scopeRewrite != nil {
			m["scope"] = scopeRewrite(s)
		}
		p.mu.Lock()
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			if v, ok := m[k].(string); ok && v != "" {
				p.secrets = append(p.secrets, v)
				if k == "id_token" {
					p.idTokens = append(p.idTokens, v)
				}
			}
		}
		p.mu.Unlock()
		out, _ = json.Marshal(m)
	}
	for k, vs := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(out)
}

func (p *idp) grantCount(grant string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grants[grant]
}

func (p *idp) issued() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.secrets)
}

func (p *idp) lastIDToken() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idTokens) == 0 {
		return ""
	}
	return p.idTokens[len(p.idTokens)-1]
}

// rewriteNextIDToken replaces the ID token of the next code redemption with fn(original).
func (p *idp) rewriteNextIDToken(fn func(raw string) string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewriteNext = append(p.rewriteNext, fn)
}

// sqliteFile is a fresh SQLite database path for a test that reads Portico's store directly.
func sqliteFile(t testing.TB) string {
	return filepath.Join(t.TempDir(), "portico.db")
}

// openStore opens the database a running Portico uses (SQLite in WAL mode allows a second reader).
func openStore(t testing.TB, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// sessionIDOf decodes a session cookie the way auth does (HKDF-derived securecookie keys).
func sessionIDOf(t testing.TB, sessionKey, name, value string) (string, bool) {
	t.Helper()
	hashKey, err := hkdf.Key(sha256.New, []byte(sessionKey), nil, "portico session cookie hmac", 64)
	if err != nil {
		t.Fatal(err)
	}
	blockKey, err := hkdf.Key(sha256.New, []byte(sessionKey), nil, "portico session cookie aes", 32)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	if err := securecookie.DecodeMulti(name, value, &id, securecookie.CodecsFromPairs(hashKey, blockKey)...); err != nil {
		return "", false
	}
	return id, true
}

// sessionData reads and decrypts a session record the way auth stores it.
func sessionData(t testing.TB, h *harness, db *store.DB, id string) (map[string]any, []byte, bool) {
	t.Helper()
	rec, err := db.GetSession(context.Background(), id)
	if err != nil {
		return nil, nil, false
	}
	key, err := keyring.DecodeKey(h.env["PORTICO_DATA_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ring.Open(rec.Data, []byte(id))
	if err != nil {
		t.Fatalf("session record does not open with the data key: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(plain, &m); err != nil {
		t.Fatal(err)
	}
	return m, rec.Data, true
}

// sessionID is the server-side id behind the browser's session cookie.
func (b *browser) sessionID() string {
	b.t.Helper()
	c := b.cookie("portico_session")
	if c == nil {
		return ""
	}
	id, _ := sessionIDOf(b.t, b.h.env["PORTICO_SESSION_KEYS"], c.Name, c.Value)
	return id
}

// graphRequests lists devtenant's recorded Graph requests with this method and path.
func graphRequests(tenant *devtenant.Tenant, method, path string) []devtenant.RecordedRequest {
	var out []devtenant.RecordedRequest
	for _, r := range tenant.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// invitationBodies decodes every POST /v1.0/invitations body devtenant received.
func invitationBodies(t testing.TB, tenant *devtenant.Tenant) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range graphRequests(tenant, http.MethodPost, "/v1.0/invitations") {
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("invitation body is not JSON: %s", r.Body)
		}
		out = append(out, m)
	}
	return out
}

// auditEvents reads the audit trail straight from the store, newest first.
func auditEvents(t testing.TB, db *store.DB, f store.AuditFilter) []store.AuditEvent {
	t.Helper()
	evs, err := db.ListAudit(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// postJSON sends a JSON invitation with the session's CSRF header, as a same-origin script would.
func (b *browser) postJSON(path, body string) *page {
	b.t.Helper()
	tok := b.csrf()
	req, _ := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", tok)
	req.Header.Set("Origin", b.h.URL)
	return b.do(req)
}

// rawPost submits a form exactly as given, with the given extra headers (no CSRF or Origin added).
func (b *browser) rawPost(path string, form url.Values, hdr ...string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// freshPostgres is storetest.FreshPostgres: an empty database of the test's own, or a skip that
// the end of `go test` reports.
func freshPostgres(t testing.TB) string { return storetest.FreshPostgres(t) }

// TestMain reports the suites that were skipped (no Chromium, axe-core or PostgreSQL) so that
// `go test ./...` shows them without -v; see internal/skipreport.
func TestMain(m *testing.M) {
	flag.Parse()
	waitingTestsOverlap()
	os.Exit(skipreport.Main(m))
}

// waitingParallel is how many tests marked t.Parallel run at once. Those are the tests that
// mostly wait in real time (Graph answering in 25 s, kill -9 and a restart, a reconciler's
// lease, a receiver that is down), not the ones that keep the processors busy (the browser
// tests stay serial): letting them overlap keeps `go test ./...` inside its 10-minute default
// on 2 cores. An explicit -parallel wins.
const waitingParallel = 8

func waitingTestsOverlap() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(max(waitingParallel, runtime.GOMAXPROCS(0))))
	}
}

// engines returns a fresh database location per engine: a SQLite file, and a PostgreSQL database
// (created lazily, so only the postgres subtest skips when PORTICO_TEST_POSTGRES_URL is unset).
func engines() map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "portico.db") },
		"postgres": func(t *testing.T) string { return freshPostgres(t) },
	}
}

// shareSession copies from's cookies into to's jar for to's address, as a load balancer in front of
// both would present them. Cookies are per host, not per port, so both 127.0.0.1 instances might
// share a jar anyway; each browser here has its own jar, so this is explicit.
func shareSession(t *testing.T, from, to *browser) {
	t.Helper()
	var cs []*http.Cookie
	for _, c := range from.c.Jar.Cookies(mustURL(from.h.URL)) {
		cs = append(cs, &http.Cookie{Name: c.Name, Value: c.Value, Path: "/"})
	}
	must(t, len(cs) > 0, "no cookie to share")
	to.c.Jar.SetCookies(mustURL(to.h.URL), cs)
}

// rebase points a URL issued by one instance at another instance's address.
func rebase(t *testing.T, link, base string) string {
	t.Helper()
	u, b := mustURL(link), mustURL(base)
	u.Scheme, u.Host = b.Scheme, b.Host
	return u.String()
}
