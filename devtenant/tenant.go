package devtenant

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTenantID is the tenant id a Tenant uses unless Options.TenantID says otherwise.
const DefaultTenantID = "7f4c2d8e-1b3a-4c5d-9e6f-0a1b2c3d4e5f"

// DefaultClientID is the application (client) id registered in the tenant unless Options.ClientID says otherwise.
const DefaultClientID = "portico-demo"

// Directory role template ids as Entra publishes them.
const (
	RoleGlobalAdministrator = "62e90394-69f5-4237-9190-012177145e10"
	RoleUserAdministrator   = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	RoleGuestInviter        = "95e79109-95c0-4d8e-aee3-d01accf2d47b"
)

// GraphAudience is the audience of the access tokens devtenant issues for Graph, as Entra does.
const GraphAudience = "https://graph.microsoft.com"

// Options configures a Tenant.
type Options struct {
	TenantID     string // default DefaultTenantID
	ClientID     string // default DefaultClientID
	ClientSecret string // required
	// RedirectURIs are the exact registered redirect URIs; in addition any port of
	// http://127.0.0.1/auth/callback and http://localhost/auth/callback is accepted (Entra's loopback rule).
	RedirectURIs []string
	// PostLogoutRedirectURIs are the exact registered post-logout URIs; loopback URIs whose path is
	// registered, /signed-out or / are accepted on any port.
	PostLogoutRedirectURIs []string
	// AppRoles are the application permissions granted to the client for client_credentials tokens;
	// default User.Invite.All, User.Read.All, Organization.Read.All and GroupMember.ReadWrite.All.
	AppRoles []string
	// ClientCertificates are registered on the application: client assertions signed with their
	// keys authenticate the client (RegisterCertificate adds more).
	ClientCertificates []*x509.Certificate
	Clock              func() time.Time // default time.Now
	// ClockOffset starts the directory clock this far ahead of Clock (SetClockOffset moves it later).
	ClockOffset time.Duration
	Logger      *slog.Logger // default discards
	// Latency is added before every Graph answer, to stand in for a Graph that is far away.
	Latency time.Duration
	// FaultSeed seeds the generator that decides which requests a fault with a Rate meets (default 1).
	FaultSeed uint64
	// ControlToken enables the operator's control endpoint (/_devtenant/faults,
	// /_devtenant/write-quota) for loopback callers presenting it as a bearer token; empty disables it.
	ControlToken string
}

// Tenant is one in-memory Entra tenant with its OIDC issuer and the Graph endpoints Portico uses.
type Tenant struct {
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	mux       http.Handler
	pages     *template.Template
	closing   chan struct{}
	closeOnce sync.Once

	mu             sync.Mutex
	base           string
	srv            *http.Server
	served         chan struct{}
	keys           []*signingKey // keys[0] signs; the rest still verify
	unknownKey     *signingKey
	idTamper       []func(map[string]any)
	unknownNext    int
	accessLifetime time.Duration
	searchLag      time.Duration
	users          map[string]*User // by object id
	userOrder      []string
	groups         map[string]*Group // by object id
	groupOrder     []string
	invitations    []*Invitation
	tickets        map[string]*ticket
	codes          map[string]*authCode
	refresh        map[string]*refreshGrant
	outbox         []Message
	notices        []Notice // sent with sendMail
	requests       []RecordedRequest
	roundTrips     []RoundTrip
	faults         []*activeFault
	faultRand      *rand.Rand
	quota          quota
	blocked        []string
	certs          []*x509.Certificate     // registered application certificates
	deleted        map[string]*deletedUser // deleted items, by object id
	clockOffset    atomic.Int64            // ClockOffset, in nanoseconds
}

// DefaultAppRoles are the application permissions granted when Options.AppRoles is empty.
func DefaultAppRoles() []string {
	return []string{"User.Invite.All", "User.Read.All", "Organization.Read.All", "GroupMember.ReadWrite.All"}
}

// New builds a tenant with the demo directory; it does not listen until Start.
func New(opts Options) (*Tenant, error) {
	if opts.ClientSecret == "" {
		return nil, errors.New("devtenant: a client secret is required")
	}
	if opts.TenantID == "" {
		opts.TenantID = DefaultTenantID
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if len(opts.AppRoles) == 0 {
		opts.AppRoles = DefaultAppRoles()
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tenant{
		opts:           opts,
		log:            opts.Logger,
		now:            opts.Clock,
		closing:        make(chan struct{}),
		accessLifetime: time.Hour,
		users:          map[string]*User{},
		groups:         map[string]*Group{},
		tickets:        map[string]*ticket{},
		codes:          map[string]*authCode{},
		refresh:        map[string]*refreshGrant{},
		certs:          slices.Clone(opts.ClientCertificates),
	}
	t.quota.reset(3000, 150*time.Second)
	t.clockOffset.Store(int64(max(opts.ClockOffset, 0)))
	if opts.FaultSeed == 0 {
		opts.FaultSeed = 1
	}
	t.faultRand = rand.New(rand.NewPCG(opts.FaultSeed, opts.FaultSeed^0x9e3779b97f4a7c15)) //nolint:gosec // G404: a seeded, repeatable choice of faulted requests, not a secret
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	t.pages = pages
	key, err := newSigningKey(t.now())
	if err != nil {
		return nil, err
	}
	t.keys = []*signingKey{key}
	t.seed()
	t.mux = t.routes()
	return t, nil
}

func (t *Tenant) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", t.handleDiscovery)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", t.handleKeys)
	mux.HandleFunc("/{tenant}/oauth2/v2.0/authorize", t.handleAuthorize)
	mux.HandleFunc("/{tenant}/oauth2/v2.0/token", t.handleToken)
	mux.HandleFunc("/{tenant}/oauth2/v2.0/logout", t.handleLogout)
	mux.HandleFunc("/redeem", t.handleRedeem)
	mux.HandleFunc("GET /{$}", t.handleIndex)
	mux.HandleFunc("GET /outbox", t.handleOutbox)
	mux.HandleFunc("/_devtenant/faults", t.handleControlFaults)
	mux.HandleFunc("/_devtenant/write-quota", t.handleControlQuota)
	mux.HandleFunc("/_devtenant/clock", t.handleControlClock)
	// Graph shares the listener; its prefix is routed first because a "/{tenant}/..." pattern
	// would otherwise overlap it.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1.0/") {
			start := time.Now()
			t.delay(r.Context())
			if r.URL.Path == "/v1.0/$batch" {
				t.handleBatch(w, r)
			} else {
				t.handleGraph(w, r)
			}
			t.recordRoundTrip(RoundTrip{Method: r.Method, Path: r.URL.Path, Start: start, End: time.Now()})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Handler serves the issuer, Graph and the redemption pages on one mux.
func (t *Tenant) Handler() http.Handler { return t.mux }

// Start listens on addr (e.g. "127.0.0.1:0" for a free port) and serves in the background.
func (t *Tenant) Start(addr string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.srv != nil {
		return errors.New("devtenant: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("devtenant: listen on %s: %w", addr, err)
	}
	host := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	t.base = "http://" + host
	t.srv = &http.Server{
		Handler:           t.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(t.log.Handler(), slog.LevelDebug),
	}
	t.served = make(chan struct{})
	srv, served := t.srv, t.served
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.log.Error("devtenant: serve", "err", err)
		}
	}()
	t.log.Info("devtenant listening", "url", t.base, "tenant", t.opts.TenantID)
	return nil
}

// URL is the base URL once started (authority and Graph base), e.g. http://127.0.0.1:41234.
func (t *Tenant) URL() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.base
}

// Close stops the listener, ends injected delays and waits for the server goroutine.
func (t *Tenant) Close(ctx context.Context) error {
	t.closeOnce.Do(func() { close(t.closing) })
	t.mu.Lock()
	srv, served := t.srv, t.served
	t.mu.Unlock()
	if srv == nil {
		return nil
	}
	// A short grace period: net/http counts a dialled but unused connection as active for 5 s,
	// and nothing devtenant serves takes long once the injected delays have ended.
	grace, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := srv.Shutdown(grace)
	if err != nil {
		_ = srv.Close()
	}
	<-served
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("devtenant: shutdown: %w", ctx.Err())
	}
	return nil
}

// TenantID is the tenant's id (a GUID).
func (t *Tenant) TenantID() string { return t.opts.TenantID }

// ClientID is the registered application's client id.
func (t *Tenant) ClientID() string { return t.opts.ClientID }

// Issuer is {base}/{tenantId}/v2.0; empty before Start.
func (t *Tenant) Issuer() string { return t.issuerFor(t.URL()) }

func (t *Tenant) issuerFor(base string) string {
	if base == "" {
		return ""
	}
	return base + "/" + t.opts.TenantID + "/v2.0"
}

// baseOf is the started URL, or the request's own origin when the handler is served elsewhere
// (e.g. by httptest.NewServer(t.Handler())).
func (t *Tenant) baseOf(r *http.Request) string {
	t.mu.Lock()
	b := t.base
	t.mu.Unlock()
	if b != "" {
		return b
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// WriteSettings prints the PORTICO_* settings that point Portico at this tenant, one KEY=value per line.
func (t *Tenant) WriteSettings(w io.Writer) {
	base := t.URL()
	for _, kv := range [][2]string{
		{"PORTICO_AUTHORITY", base},
		{"PORTICO_TENANT_ID", t.opts.TenantID},
		{"PORTICO_CLIENT_ID", t.opts.ClientID},
		{"PORTICO_CLIENT_SECRET", t.opts.ClientSecret},
		{"PORTICO_GRAPH_URL", base},
	} {
		fmt.Fprintf(w, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// SetAccessTokenLifetime changes the lifetime of access tokens issued from now on (default 1 h).
func (t *Tenant) SetAccessTokenLifetime(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d < time.Second {
		d = time.Second
	}
	t.accessLifetime = d
}

// SetSearchLag hides users created or re-invited less than d ago from eventually consistent
// (ConsistencyLevel: eventual) user queries, as Entra's advanced-query index lags behind writes.
func (t *Tenant) SetSearchLag(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.searchLag = d
}

// BlockInvitationDomains makes invitations to these domains fail as a tenant's external
// collaboration deny list does (403 Authorization_RequestDenied); no arguments clears the list.
func (t *Tenant) BlockInvitationDomains(domains ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.blocked = nil
	for _, d := range domains {
		t.blocked = append(t.blocked, strings.ToLower(strings.TrimSpace(d)))
	}
}

// sleep waits d unless the request ends or the tenant closes; it reports whether d elapsed.
func (t *Tenant) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
	case <-t.closing:
	}
	return false
}

func (t *Tenant) handleIndex(w http.ResponseWriter, r *http.Request) {
	base := t.baseOf(r)
	t.renderPage(w, http.StatusOK, "index", map[string]any{
		"Title":     "devtenant",
		"Org":       orgDisplayName,
		"Issuer":    t.issuerFor(base),
		"Discovery": t.issuerFor(base) + "/.well-known/openid-configuration",
		"Graph":     base + "/v1.0",
		"Accounts":  t.Accounts(),
		"Groups":    t.groupSummaries(),
	})
}

// groupSummary is a group as the index page lists it: who owns it and who is in it, by name.
type groupSummary struct{ Name, ID, Owners, Members string }

func (t *Tenant) groupSummaries() []groupSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := func(ids []string) string {
		var out []string
		for _, id := range ids {
			switch {
			case t.users[id] != nil:
				out = append(out, t.users[id].DisplayName)
			case t.groups[id] != nil:
				out = append(out, t.groups[id].DisplayName)
			}
		}
		if len(out) == 0 {
			return "none"
		}
		return strings.Join(out, ", ")
	}
	var out []groupSummary
	for _, id := range t.groupOrder {
		g := t.groups[id]
		out = append(out, groupSummary{Name: g.DisplayName, ID: g.ID, Owners: names(g.Owners), Members: names(g.Members)})
	}
	return out
}

// delay waits Options.Latency, or less if the request ends first.
func (t *Tenant) delay(ctx context.Context) {
	if t.opts.Latency <= 0 {
		return
	}
	timer := time.NewTimer(t.opts.Latency)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	case <-t.closing:
	}
}
