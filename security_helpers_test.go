package main

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"portico/devtenant"
	"portico/keyring"
	"portico/store"
)

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
	key, err := decodeTestKey(h.env["PORTICO_DATA_KEY"])
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

func decodeTestKey(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(s)
}
