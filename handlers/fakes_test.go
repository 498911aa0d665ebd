package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"portico/auth"
	"portico/config"
	"portico/invite"
	"portico/store"
)

// The domain's record types as the handlers see them (one place to follow invite's own types).
type (
	invitation = invite.Invitation
	joinLink   = invite.JoinLink
)

var errUnexpected = errors.New("fake: unexpected call")

// fakeInvites is Invites with a function field per method; a nil field answers errUnexpected
// (a 500), and every call is recorded by name.
type fakeInvites struct {
	mu     sync.Mutex
	calls  []string
	warmed []string // tenants Warm was called for (not in calls: it answers nothing)

	PolicyFn          func() invite.Policy
	SendFn            func(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, req invite.Request, meta invite.Meta) (*invite.Result, error)
	CheckFn           func(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, email string) invite.Check
	GetFn             func(ctx context.Context, inv invite.Inviter, id string) (*invitation, error)
	ActionsFn         func(inv invite.Inviter, rec *invitation) invite.Actions
	HistoryFn         func(ctx context.Context, inv invite.Inviter, id string) ([]invite.HistoryEntry, error)
	ListFn            func(ctx context.Context, inv invite.Inviter, f invite.ListFilter) (*invite.ListPage, error)
	RefreshStatesFn   func(ctx context.Context, ts oauth2.TokenSource, invs []invitation, maxAge time.Duration) []invitation
	ResendFn          func(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, id string, meta invite.Meta) (*invite.Result, error)
	RevealRedeemURLFn func(ctx context.Context, inv invite.Inviter, id string, meta invite.Meta) (string, error)
	JoinURLFn         func(ctx context.Context, inv invite.Inviter, id string) (string, *joinLink, error)
	JoinActivityFn    func(ctx context.Context, inv invite.Inviter, recs []invitation) (map[string]*joinLink, error)
	NewJoinLinkFn     func(ctx context.Context, inv invite.Inviter, id string, meta invite.Meta) (string, *joinLink, error)
	RevokeJoinLinkFn  func(ctx context.Context, inv invite.Inviter, id string, meta invite.Meta) error
	OpenJoinFn        func(ctx context.Context, token string, meta invite.Meta) (*invite.JoinView, error)
	AcceptJoinFn      func(ctx context.Context, token string, meta invite.Meta) (string, error)
	QuotaFn           func(ctx context.Context, inv invite.Inviter) (invite.QuotaDecision, error)
	SettleSendingFn   func(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, id string) (bool, error)
}

var _ Invites = (*fakeInvites)(nil)

func (f *fakeInvites) called(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
}

// Calls are the recorded method names (Policy excluded: it is configuration).
func (f *fakeInvites) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeInvites) Policy() invite.Policy {
	if f.PolicyFn != nil {
		return f.PolicyFn()
	}
	return invite.Policy{Languages: invite.DefaultLanguages, MaxMessageRunes: 2000, DefaultRedirectURL: "http://127.0.0.1:8080/welcome"}
}

// Quota is configuration-like (every form shows it): without QuotaFn no quota is configured.
func (f *fakeInvites) Quota(ctx context.Context, inv invite.Inviter) (invite.QuotaDecision, error) {
	f.called("Quota")
	if f.QuotaFn != nil {
		return f.QuotaFn(ctx, inv)
	}
	return invite.QuotaDecision{Allowed: true}, nil
}

// SettleSending: without SettleSendingFn no send is in flight (and the call is not recorded, so
// tests of the pages list only what they are about).
func (f *fakeInvites) SettleSending(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, id string) (bool, error) {
	if f.SettleSendingFn == nil {
		return true, nil
	}
	f.called("SettleSending")
	return f.SettleSendingFn(ctx, ts, inv, id)
}

func (f *fakeInvites) Warm(_ context.Context, _ oauth2.TokenSource, tenantID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.warmed = append(f.warmed, tenantID)
}

func (f *fakeInvites) Warmed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.warmed...)
}

func (f *fakeInvites) Send(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, req invite.Request, meta invite.Meta) (*invite.Result, error) {
	f.called("Send")
	if f.SendFn == nil {
		return nil, errUnexpected
	}
	return f.SendFn(ctx, ts, inv, req, meta)
}

func (f *fakeInvites) Check(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, email string) invite.Check {
	f.called("Check")
	if f.CheckFn == nil {
		return invite.Check{Message: "unexpected"}
	}
	return f.CheckFn(ctx, ts, inv, email)
}

func (f *fakeInvites) Get(ctx context.Context, inv invite.Inviter, id string) (*invitation, error) {
	f.called("Get")
	if f.GetFn == nil {
		return nil, errUnexpected
	}
	return f.GetFn(ctx, inv, id)
}

// Actions allows everything on a created invitation unless ActionsFn decides.
func (f *fakeInvites) Actions(inv invite.Inviter, rec *invitation) invite.Actions {
	if f.ActionsFn != nil {
		return f.ActionsFn(inv, rec)
	}
	ok := invite.Action{Allowed: rec.Created()}
	return invite.Actions{Resend: ok, RevealRedeemURL: ok, NewJoinLink: ok, RevokeJoinLink: ok}
}

func (f *fakeInvites) History(ctx context.Context, inv invite.Inviter, id string) ([]invite.HistoryEntry, error) {
	f.called("History")
	if f.HistoryFn == nil {
		return nil, nil
	}
	return f.HistoryFn(ctx, inv, id)
}

func (f *fakeInvites) List(ctx context.Context, inv invite.Inviter, lf invite.ListFilter) (*invite.ListPage, error) {
	f.called("List")
	if f.ListFn == nil {
		return nil, errUnexpected
	}
	return f.ListFn(ctx, inv, lf)
}

func (f *fakeInvites) RefreshStates(ctx context.Context, ts oauth2.TokenSource, invs []invitation, maxAge time.Duration) []invitation {
	f.called("RefreshStates")
	if f.RefreshStatesFn == nil {
		return invs
	}
	return f.RefreshStatesFn(ctx, ts, invs, maxAge)
}

func (f *fakeInvites) Resend(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, id string, meta invite.Meta) (*invite.Result, error) {
	f.called("Resend")
	if f.ResendFn == nil {
		return nil, errUnexpected
	}
	return f.ResendFn(ctx, ts, inv, id, meta)
}

func (f *fakeInvites) RevealRedeemURL(ctx context.Context, inv invite.Inviter, id string, meta invite.Meta) (string, error) {
	f.called("RevealRedeemURL")
	if f.RevealRedeemURLFn == nil {
		return "", errUnexpected
	}
	return f.RevealRedeemURLFn(ctx, inv, id, meta)
}

func (f *fakeInvites) JoinURL(ctx context.Context, inv invite.Inviter, id string) (string, *joinLink, error) {
	f.called("JoinURL")
	if f.JoinURLFn == nil {
		return "", nil, nil
	}
	return f.JoinURLFn(ctx, inv, id)
}

func (f *fakeInvites) JoinActivity(ctx context.Context, inv invite.Inviter, recs []invitation) (map[string]*joinLink, error) {
	f.called("JoinActivity")
	if f.JoinActivityFn == nil {
		return nil, nil
	}
	return f.JoinActivityFn(ctx, inv, recs)
}

func (f *fakeInvites) NewJoinLink(ctx context.Context, inv invite.Inviter, id string, meta invite.Meta) (string, *joinLink, error) {
	f.called("NewJoinLink")
	if f.NewJoinLinkFn == nil {
		return "", nil, errUnexpected
	}
	return f.NewJoinLinkFn(ctx, inv, id, meta)
}

func (f *fakeInvites) RevokeJoinLink(ctx context.Context, inv invite.Inviter, id string, meta invite.Meta) error {
	f.called("RevokeJoinLink")
	if f.RevokeJoinLinkFn == nil {
		return errUnexpected
	}
	return f.RevokeJoinLinkFn(ctx, inv, id, meta)
}

func (f *fakeInvites) OpenJoin(ctx context.Context, token string, meta invite.Meta) (*invite.JoinView, error) {
	f.called("OpenJoin")
	if f.OpenJoinFn == nil {
		return nil, errUnexpected
	}
	return f.OpenJoinFn(ctx, token, meta)
}

func (f *fakeInvites) AcceptJoin(ctx context.Context, token string, meta invite.Meta) (string, error) {
	f.called("AcceptJoin")
	if f.AcceptJoinFn == nil {
		return "", errUnexpected
	}
	return f.AcceptJoinFn(ctx, token, meta)
}

// fakeRP is the relying party with function fields.
type fakeRP struct {
	DiscoverFn    func(ctx context.Context) error
	StartLoginFn  func(ctx context.Context, returnPath, loginHint string) (string, auth.Flow, error)
	FinishLoginFn func(ctx context.Context, f auth.Flow, code string) (*auth.Identity, *auth.Token, error)
	LogoutURLFn   func(idTokenHint string) string
}

var _ RelyingParty = (*fakeRP)(nil)

func (f *fakeRP) Discover(ctx context.Context) error {
	if f.DiscoverFn == nil {
		return nil
	}
	return f.DiscoverFn(ctx)
}

func (f *fakeRP) StartLogin(ctx context.Context, returnPath, loginHint string) (string, auth.Flow, error) {
	if f.StartLoginFn == nil {
		return "", auth.Flow{}, errUnexpected
	}
	return f.StartLoginFn(ctx, returnPath, loginHint)
}

func (f *fakeRP) FinishLogin(ctx context.Context, fl auth.Flow, code string) (*auth.Identity, *auth.Token, error) {
	if f.FinishLoginFn == nil {
		return nil, nil, errUnexpected
	}
	return f.FinishLoginFn(ctx, fl, code)
}

func (f *fakeRP) LogoutURL(hint string) string {
	if f.LogoutURLFn == nil {
		return "https://idp.example/logout"
	}
	return f.LogoutURLFn(hint)
}

// fakeTokens hands out one static token source and remembers which session asked.
type fakeTokens struct {
	mu    sync.Mutex
	asked []*auth.Session
}

var _ Tokens = (*fakeTokens)(nil)

func (f *fakeTokens) ForSession(_ context.Context, sess *auth.Session) oauth2.TokenSource {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, sess)
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "graph-token"})
}

// fakeAudit is the audit trail in memory: handlers only read it; auth appends sign-in and sign-out.
type fakeAudit struct {
	mu       sync.Mutex
	events   []store.AuditEvent
	ListFn   func(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)
	appended int
}

var _ AuditLog = (*fakeAudit)(nil)
var _ auth.AuditLog = (*fakeAudit)(nil)

func (f *fakeAudit) AppendAudit(_ context.Context, ev *store.AuditEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, *ev)
	f.appended++
	return nil
}

func (f *fakeAudit) ListAudit(ctx context.Context, flt store.AuditFilter) ([]store.AuditEvent, error) {
	if f.ListFn != nil {
		return f.ListFn(ctx, flt)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.AuditEvent
	for _, ev := range f.events {
		if (flt.Action == "" || ev.Action == flt.Action) && (flt.Outcome == "" || ev.Outcome == flt.Outcome) && (flt.Actor == "" || ev.ActorOID == flt.Actor) {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (f *fakeAudit) EachAudit(ctx context.Context, flt store.AuditFilter, fn func(*store.AuditEvent) error) error {
	evs, err := f.ListAudit(ctx, flt)
	if err != nil {
		return err
	}
	for i := range evs {
		if err := fn(&evs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeAudit) Events() []store.AuditEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]store.AuditEvent(nil), f.events...)
}

// memSessions is the session database in memory.
type memSessions struct {
	mu sync.Mutex
	m  map[string]store.Session
}

func (m *memSessions) GetSession(_ context.Context, id string) (*store.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &s, nil
}

func (m *memSessions) SaveSession(_ context.Context, s *store.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[s.ID] = *s
	return nil
}

func (m *memSessions) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, id)
	return nil
}

func (m *memSessions) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}

// plainSealer stands in for the keyring: tests do not need encryption at rest.
type plainSealer struct{}

func (plainSealer) Seal(p, _ []byte) ([]byte, error) { return append([]byte(nil), p...), nil }
func (plainSealer) Open(s, _ []byte) ([]byte, error) { return append([]byte(nil), s...), nil }

type fakePinger struct{ err error }

func (p fakePinger) Ping(context.Context) error { return p.err }

// env is the real router over fakes.
type env struct {
	t        *testing.T
	e        *echo.Echo
	cfg      *config.Config
	inv      *fakeInvites
	rp       *fakeRP
	tokens   *fakeTokens
	audit    *fakeAudit
	sessDB   *memSessions
	sessions *auth.Store
	db       *fakePinger
	logs     *bytes.Buffer
	now      time.Time
}

const (
	adminRole        = "62e90394-69f5-4237-9190-012177145e10"
	testIssuerTenant = "11111111-2222-3333-4444-555555555555"
)

var (
	ann   = &auth.Identity{TenantID: testIssuerTenant, ObjectID: "oid-ann", UPN: "ann@contoso.example", Name: "Ann"}
	admin = &auth.Identity{TenantID: testIssuerTenant, ObjectID: "oid-ada", UPN: "ada@contoso.example", Name: "Ada", Wids: []string{adminRole}}
)

// newEnv builds the router; change fakes through the returned env before sending requests.
func newEnv(t *testing.T, tweak ...func(*config.Config)) *env {
	t.Helper()
	en := &env{t: t, inv: &fakeInvites{}, rp: &fakeRP{}, tokens: &fakeTokens{}, audit: &fakeAudit{},
		sessDB: &memSessions{m: map[string]store.Session{}}, db: &fakePinger{}, logs: &bytes.Buffer{},
		now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	en.cfg = &config.Config{
		PublicURL: &url.URL{Scheme: "http", Host: "portico.test"}, OrgName: "Contoso", TenantID: testIssuerTenant,
		Authority: "https://idp.example", AdminRoles: []string{adminRole},
	}
	for _, f := range tweak {
		f(en.cfg)
	}
	st, err := auth.NewStore(en.sessDB, plainSealer{}, []string{"a-session-key-of-at-least-32-characters"},
		auth.StoreOptions{IdleTimeout: time.Hour, MaxLifetime: 8 * time.Hour, Audit: en.audit})
	if err != nil {
		t.Fatal(err)
	}
	en.sessions = st
	en.e = New(Deps{Config: en.cfg, Logger: slog.New(slog.NewTextHandler(en.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sessions: st, RP: en.rp, Tokens: en.tokens, Invites: en.inv, Audit: en.audit, DB: en.db,
		Clock: func() time.Time { return en.now }})
	return en
}

// browser is a client with a cookie jar of one session cookie and the page's CSRF token.
type browser struct {
	en      *env
	cookies map[string]*http.Cookie
	csrf    string
}

func (en *env) anon() *browser { return &browser{en: en, cookies: map[string]*http.Cookie{}} }

// signIn makes a saved session for id, as the callback would, and returns its browser.
func (en *env) signIn(id *auth.Identity) *browser {
	en.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	sess, err := en.sessions.Load(req)
	if err != nil {
		en.t.Fatal(err)
	}
	sess.Data.User = id
	sess.Data.Token = &auth.Token{AccessToken: "at", IDToken: "idt-" + id.ObjectID, Expiry: time.Now().Add(time.Hour)}
	rec := httptest.NewRecorder()
	if err := sess.Save(req, rec); err != nil {
		en.t.Fatal(err)
	}
	b := en.anon()
	b.keep(rec.Result())
	b.csrf = sess.Data.CSRF
	return b
}

func (b *browser) keep(res *http.Response) {
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
	}
}

func (b *browser) do(req *http.Request) *httptest.ResponseRecorder {
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.en.e.ServeHTTP(rec, req)
	b.keep(rec.Result())
	return rec
}

func (b *browser) get(path string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// post submits a same-origin form with the session's CSRF token.
func (b *browser) post(path string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	if b.csrf != "" && form.Get("_csrf") == "" {
		form.Set("_csrf", b.csrf)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://portico.test")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// postJSON sends a JSON API request with the CSRF header.
func (b *browser) postJSON(path, body string) *httptest.ResponseRecorder {
	return b.postJSONWith(path, body, nil)
}

// postJSONWith is postJSON with further request headers.
func (b *browser) postJSONWith(path, body string, headers map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", b.csrf)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// want fails the test unless the response has status and its body holds every text.
func want(t *testing.T, rec *httptest.ResponseRecorder, status int, texts ...string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body:\n%.2000s", rec.Code, status, rec.Body.String())
	}
	for _, s := range texts {
		if !strings.Contains(rec.Body.String(), s) {
			t.Errorf("body lacks %q:\n%.3000s", s, rec.Body.String())
		}
	}
}

// newID is a record id of the shape Portico makes.
func newID() string { return store.NewID() }
