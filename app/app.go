// Package app builds Portico once from its configuration (store, keys, Graph client, sign-in,
// invitation service, handlers and, in demo mode, devtenant) and serves it. The commands and the
// end-to-end tests start Portico through it.
package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"portico/bulk"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"portico/auth"
	"portico/config"
	"portico/devtenant"
	"portico/graph"
	"portico/handlers"
	"portico/internal/netaddr"
	"portico/invite"
	"portico/jobs"
	"portico/keyring"
	"portico/metrics"
	"portico/notify"
	"portico/store"
	"portico/views"
	"portico/webhooks"
)

// Options are what the caller provides besides the configuration.
type Options struct {
	// Listener is where Serve accepts connections. When nil, New listens on cfg.Addr. Tests pass a
	// listener they own, so no port is ever chosen, released and reused.
	Listener net.Listener
	// Log receives the structured logs (JSON or text per cfg); nil discards them.
	Log io.Writer
	// Background overrides Portico's own identity for background Graph calls (state sync); nil:
	// App.AppTokens, Portico's application token when configured, else those features are off.
	Background oauth2.TokenSource
	// SMTPTLS replaces the TLS settings of the SMTP notices (tests trust their own CA); nil: the
	// system's roots.
	SMTPTLS *tls.Config
	// NoticePoll and NoticeRetry are test hooks: how often queued notices are dispatched (0:
	// jobs.DefaultNoticePoll) and the wait before a notice's next attempt (nil: River's backoff).
	NoticePoll  time.Duration
	NoticeRetry func(attempt int) time.Duration
	// Clock is a test hook: Portico's own clock for reviews (nil: time.Now), moved forward
	// together with devtenant's directory clock in end-to-end tests.
	Clock func() time.Time
	// MetricsListener, when set with PORTICO_METRICS_ADDR, is where /metrics is served (tests).
	MetricsListener net.Listener
	// WebhookInterval and WebhookBackoff override how often the webhook outbox is read and the
	// wait after a failed delivery (tests; zero/nil: the defaults).
	WebhookInterval time.Duration
	WebhookBackoff  func(attempt int) time.Duration
}

// App is one Portico instance, built once by New.
type App struct {
	Config *config.Config
	Logger *slog.Logger
	Store  *store.DB
	Keys   *keyring.Ring
	Tenant *devtenant.Tenant // demo mode only
	// DemoControlToken is the bearer token of the demo devtenant's control endpoint (demo mode only).
	DemoControlToken string
	Sessions         *auth.Store
	RP               *auth.RelyingParty
	Graph            *graph.Client
	Invites          *invite.Service
	Jobs             *jobs.Runner // the durable job queue on the same database
	// Approvals carries out approval requests (PORTICO_APPROVAL); nil when none are configured.
	Approvals *invite.Approvals
	// Lifecycle runs reminders and the expiry of never-accepted guests; nil when no policy is set.
	Lifecycle *invite.Lifecycle
	Bulk      *bulk.Service
	Handler   http.Handler
	// Metrics is the Prometheus registry and its seams; MetricsHandler serves it (bearer-checked
	// when PORTICO_METRICS_TOKEN is set); nil when /metrics is off.
	Metrics        *metrics.Metrics
	MetricsHandler http.Handler
	// Webhooks sends webhook events to the configured receivers (nil: none configured).
	Webhooks *webhooks.Sender
	// AppTokens is Portico's own application token (client credentials), cached and shared by
	// the instance: set in application mode and when PORTICO_BACKGROUND=on; nil otherwise.
	// Background jobs use it.
	AppTokens oauth2.TokenSource

	// Reviews runs sponsor reviews (PORTICO_REVIEW_EVERY); nil when off.
	Reviews *invite.Reviews

	ln         net.Listener
	metricsLn  net.Listener // PORTICO_METRICS_ADDR
	background oauth2.TokenSource
	clockHook  func() time.Time // Options.Clock (tests); nil: clock() decides
	appRoles   []string         // the application permissions read at start (reporting and the lifecycle's plan); nil: unknown

	notices         *notify.Deliverer // nil: notices off
	smtpTLS         *tls.Config
	noticePoll      time.Duration
	noticeRetry     func(attempt int) time.Duration
	closeOnce       sync.Once
	closeErr        error
	webhookInterval time.Duration
	webhookBackoff  func(attempt int) time.Duration
}

// New builds every part of Portico from cfg. In demo mode it starts devtenant first and points the
// configuration at it; cfg is changed in place (public URL, authority, Graph URL). On error,
// everything already opened is closed again.
func New(ctx context.Context, cfg *config.Config, opts Options) (*App, error) {
	logOut := opts.Log
	if logOut == nil {
		logOut = io.Discard
	}
	a := &App{Config: cfg, Logger: NewLogger(cfg.LogLevel, cfg.LogJSON, logOut), ln: opts.Listener, background: opts.Background,
		smtpTLS: opts.SMTPTLS, noticePoll: opts.NoticePoll, noticeRetry: opts.NoticeRetry,
		metricsLn: opts.MetricsListener, webhookInterval: opts.WebhookInterval, webhookBackoff: opts.WebhookBackoff,
		clockHook: opts.Clock}
	if err := a.build(ctx); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

// build opens and wires every part; New closes what it opened when build fails.
func (a *App) build(ctx context.Context) (err error) {
	cfg := a.Config
	if a.ln == nil {
		if a.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("portico: listen on %s: %w", cfg.Addr, err)
		}
	}
	if cfg.PublicURLFromAddr {
		cfg.PublicURL.Host = a.ln.Addr().String()
	}
	if cfg.Demo {
		if err := a.startDemoTenant(); err != nil {
			return err
		}
	}
	if a.Store, err = store.Open(ctx, cfg.DatabaseURL, a.Logger); err != nil {
		return err
	}
	if err := a.buildOperators(); err != nil {
		return err
	}
	if a.Keys, err = keyring.New(cfg.DataKeys...); err != nil {
		return err
	}
	sessionKeys := make([]string, len(cfg.SessionKeys))
	for i, k := range cfg.SessionKeys {
		sessionKeys[i] = string(k)
	}
	a.Sessions, err = auth.NewStore(a.Store, a.Keys, sessionKeys, auth.StoreOptions{
		Secure:      cfg.SecureCookies(),
		IdleTimeout: cfg.SessionIdleTimeout,
		MaxLifetime: cfg.SessionMaxLifetime,
	})
	if err != nil {
		return err
	}
	outbound := &http.Client{Timeout: 30 * time.Second}
	appID, err := a.buildAppIdentity(outbound)
	if err != nil {
		return err
	}
	if err := a.checkAppIdentity(ctx, appID); err != nil {
		return err
	}
	var assertion func() (string, error)
	if cfg.ClientSecret == "" && appID != nil {
		assertion = appID.Assertion
	}
	a.RP = auth.NewRelyingParty(auth.RPConfig{
		Issuer:                cfg.Issuer(),
		TenantID:              cfg.TenantID,
		ClientID:              cfg.ClientID,
		ClientSecret:          string(cfg.ClientSecret),
		RedirectURL:           cfg.RedirectURL(),
		PostLogoutRedirectURL: cfg.PublicPath("/signed-out"),
		GraphResource:         graphResource(cfg.GraphURL),
		SignInOnly:            cfg.Application(),
		GraphScopes:           delegatedGroupScopes(cfg),
		ClientAssertion:       assertion,
		HTTPClient:            outbound,
		Logger:                a.Logger,
	})
	graphOpts := []graph.Option{graph.WithLogger(a.Logger)}
	if a.Metrics != nil {
		graphOpts = append(graphOpts, graph.WithObserver(a.Metrics))
	}
	a.Graph = graph.NewClient(cfg.GraphURL, outbound, graphOpts...)
	a.Invites = invite.NewService(invite.Config{
		Graph:     a.Graph,
		Store:     invite.NewStoreAdapter(a.Store),
		Keys:      a.Keys,
		Policy:    InvitePolicy(cfg),
		PublicURL: cfg.PublicURL.String(),
		JoinTTL:   cfg.JoinLinkTTL,
		Quota:     invite.QuotaLimits{PerHour: cfg.InviteQuotaHour, PerDay: cfg.InviteQuotaDay},
		AppOnly:   cfg.Application(),
		Logger:    a.Logger,
		Clock:     a.clock(),
		// A submit answers within SendWait ("Still sending…" past it), well before the server's
		// 60 s write timeout; the Graph call itself has its own budget, detached from the request.
		DirectLink:        a.directLink(),
		SendWait:          cfg.SendWait,
		ReconcilePatience: cfg.ReconcilePatience,
		// Sponsors picker, sponsors and groups (access.go in invite).
		Access:      a.Graph,
		GuestGroups: guestGroups(cfg),
		Hooks:       a.inviteHooks(),
	})
	a.buildNotices(appID)
	a.Approvals = a.buildApprovals()
	background := a.background
	if background == nil {
		background = a.AppTokens // application mode, or PORTICO_BACKGROUND=on with application credentials
	}
	a.Reviews = a.buildReviews(background)
	if err := a.buildLifecycle(background); err != nil {
		return err
	}
	if err := a.buildJobs(ctx, background); err != nil {
		return err
	}
	jobsAdmin, landings := a.jobsDeps()
	a.Handler = handlers.New(handlers.Deps{
		Config:        cfg,
		Logger:        a.Logger,
		Sessions:      a.Sessions,
		RP:            a.RP,
		Tokens:        a.handlerTokens(),
		Invites:       a.Invites,
		Audit:         a.Store,
		DB:            a.Store,
		DemoAccounts:  a.demoAccounts(),
		Jobs:          jobsAdmin,
		Landings:      landings,
		Access:        a.Invites,
		DemoOutboxURL: a.demoOutboxURL(),
		Approvals:     a.handlerApprovals(),
		Reviews:       a.handlerReviews(),
		Lifecycle:     a.handlerLifecycle(),
		Bulk:          a.Bulk,
		Observe:       a.observe(),
		Metrics:       a.mainMetrics(),
		Webhooks:      webhookLog{a},
		API:           auth.API{RP: a.RP, AppTokens: a.AppTokens, Application: cfg.Application()},
	})
	return nil
}

// directLink is the tenant-specific sign-in a partner redeems through when Graph's answer was lost
// (invite.Config.DirectLink): Microsoft's My Apps, or in demo mode devtenant's front page, so that
// nothing leaves the machine.
func (a *App) directLink() string {
	if a.Tenant != nil {
		return a.Tenant.URL() + "/?tenantid={tenant}"
	}
	return ""
}

func (a *App) startDemoTenant() error {
	cfg := a.Config
	a.DemoControlToken = newControlToken()
	certs, err := a.demoCertificates()
	if err != nil {
		return err
	}
	t, err := devtenant.New(devtenant.Options{
		TenantID:               cfg.TenantID,
		ClientID:               cfg.ClientID,
		ClientSecret:           string(cfg.ClientSecret),
		RedirectURIs:           []string{cfg.RedirectURL()},
		PostLogoutRedirectURIs: []string{cfg.PublicPath("/signed-out")},
		AppRoles:               demoAppRoles(cfg),
		// The demo's app registration grants its API's app role to itself, so scripts can try
		// the API with client credentials (PORTICO_CLIENT_ID/SECRET) as a daemon would.
		GrantAPIAppRole:    true,
		ClientCertificates: certs,
		Logger:             a.Logger.With("component", "devtenant"),
		Latency:            cfg.DemoLatency,
		ControlToken:       a.DemoControlToken,
		ClockOffset:        cfg.Lifecycle.DemoClockOffset,
	})
	if err != nil {
		return err
	}
	for _, f := range cfg.DemoFaults {
		t.InjectFault(f)
	}
	if cfg.DemoWriteQuotaSet {
		t.SetWriteQuota(cfg.DemoWriteQuota, cfg.DemoWriteQuotaPer)
	}
	if err := t.Start("127.0.0.1:0"); err != nil {
		return err
	}
	a.Tenant = t
	cfg.Authority, cfg.GraphURL = t.URL(), t.URL()
	return nil
}

// demoCertificates are the certificates the demo devtenant registers: the configured ones, or,
// when Portico fetches its own token with a certificate (the default), a throwaway one.
func (a *App) demoCertificates() ([]*x509.Certificate, error) {
	cfg := a.Config
	if len(cfg.ClientCertificates) == 0 && cfg.AppTokensEnabled() && cfg.DemoAppCredential != "secret" {
		c, err := demoCertificate(time.Now())
		if err != nil {
			return nil, err
		}
		cfg.ClientCertificates = []*config.ClientCertificate{c}
	}
	var out []*x509.Certificate
	for _, c := range cfg.ClientCertificates {
		out = append(out, c.Cert)
	}
	return out, nil
}

func (a *App) demoAccounts() []views.DemoAccount {
	if a.Tenant == nil {
		return nil
	}
	var out []views.DemoAccount
	for _, acc := range a.Tenant.Accounts() {
		out = append(out, views.DemoAccount{Label: acc.DisplayName, UPN: acc.UPN, Description: acc.Description})
	}
	return out
}

// URL is where this instance answers directly: plain http on the bound listener address (TLS,
// when used, ends in front of Portico). Tests and local tools talk to this URL.
func (a *App) URL() string { return "http://" + a.ln.Addr().String() }

// PublicURL is the address users reach Portico at (PORTICO_PUBLIC_URL; in demo mode without it,
// the bound address).
func (a *App) PublicURL() string { return a.Config.PublicURL.String() }

// Addr is the address the listener is bound to.
func (a *App) Addr() net.Addr { return a.ln.Addr() }

// WriteBanner prints where Portico runs and, in demo mode, the demo accounts.
func (a *App) WriteBanner(w io.Writer) {
	fmt.Fprintf(w, "Portico is running at %s\n", a.PublicURL())
	a.writeIdentityBanner(w)
	if a.Tenant == nil {
		return
	}
	fmt.Fprintf(w, "Demo mode: signing in against devtenant at %s (nothing leaves this machine).\n", a.Tenant.URL())
	if a.Config.DemoLatency > 0 {
		fmt.Fprintf(w, "devtenant delays every Graph answer by %s.\n", a.Config.DemoLatency)
	}
	for _, f := range a.Tenant.Faults() {
		fmt.Fprintf(w, "devtenant fault: %s\n", f.Spec)
	}
	if off := a.Tenant.ClockOffset(); off > 0 {
		fmt.Fprintf(w, "The demo's clocks (Portico's and devtenant's) run %s ahead: it is %s for them.\n", off, a.clock()().UTC().Format(time.RFC3339))
	}
	if a.Lifecycle != nil {
		fmt.Fprintln(w, "Guest lifecycle: move the demo's clocks with PUT /_devtenant/clock (e.g. body +8d) and press Run now on /admin/guests.")
	}
	if n, per := a.Tenant.WriteQuota(); a.Config.DemoWriteQuotaSet {
		if n > 0 {
			fmt.Fprintf(w, "devtenant Graph write quota: %d per %s.\n", n, per)
		} else {
			fmt.Fprintln(w, "devtenant Graph write quota: off.")
		}
	}
	fmt.Fprintf(w, "devtenant control endpoint (loopback only): %s/_devtenant/faults, /_devtenant/write-quota, /_devtenant/clock with Authorization: Bearer %s\n",
		a.Tenant.URL(), a.DemoControlToken)
	fmt.Fprintln(w, "Demo accounts (no password; pick one on the home page):")
	for _, acc := range a.Tenant.Accounts() {
		fmt.Fprintf(w, "  %-28s %s\n", acc.UPN, acc.Description)
	}
}

// Serve answers requests on the listener until ctx ends, then shuts down gracefully and closes
// everything New opened. Background work (sign-in metadata discovery, session sweeping) runs
// for as long as Serve does.
func (a *App) Serve(ctx context.Context) error {
	defer a.Close()
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	go discover(bg, a.RP, a.Logger)
	go sweepSessions(bg, a.Store, a.Logger)
	if err := a.startJobs(bg); err != nil {
		return err
	}

	stopMetrics := a.serveMetrics()
	defer stopMetrics()
	a.Logger.Info("portico started", "url", a.PublicURL(), "listen", a.ln.Addr().String(), "demo", a.Config.Demo, "database", a.Store.Dialect())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(a.ln) }()
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if serveErr != nil {
		// The job queue was started with a context that does not end: stop it here too, or its
		// goroutines outlive the app and work on the database Close is about to close.
		a.stopJobs(sctx)
		return fmt.Errorf("portico: serve: %w", serveErr)
	}
	a.Logger.Info("shutting down")
	err := srv.Shutdown(sctx)
	// Jobs stop first (an approval being sent may start a send), then the sends still waiting for
	// Graph settle their intents if they can within the deadline, their leases renewed meanwhile;
	// Drain then stops the renewals, so the rest lapse and the reconciler settles them (another
	// instance's, or this one's after the restart): nothing is lost either way.
	a.stopJobs(sctx)
	if derr := a.Invites.Drain(sctx); derr != nil {
		a.Logger.Warn("shutdown: invitations still sending are left to the reconciler", "err", derr)
	}
	if err != nil {
		return fmt.Errorf("portico: shutdown: %w", err)
	}
	return nil
}

// Close releases the listener, the database and devtenant; Serve calls it, and so may a caller
// that never served. Later calls return the first result.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		if a.ln != nil {
			if err := a.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if a.metricsLn != nil {
			if err := a.metricsLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		a.Jobs.Close()
		if a.Store != nil {
			errs = append(errs, a.Store.Close())
		}
		if a.Tenant != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, a.Tenant.Close(ctx))
			cancel()
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// InvitePolicy turns configuration into the invitation rules.
func InvitePolicy(cfg *config.Config) invite.Policy {
	def := cfg.DefaultRedirectURL
	if def == "" {
		def = cfg.PublicPath("/welcome")
	}
	return invite.Policy{
		DefaultRedirectURL:   def,
		AllowedRedirectHosts: cfg.AllowedRedirectHosts,
		AllowHTTPLoopback:    netaddr.IsLoopbackHost(cfg.PublicURL.Hostname()),
		AllowedDomains:       cfg.AllowedDomains,
		BlockedDomains:       cfg.BlockedDomains,
	}
}

// graphResource is the scope prefix for Graph permissions. devtenant and sovereign clouds keep the
// global resource name in scopes, as Entra does for the public Graph.
func graphResource(graphURL string) string {
	if strings.HasPrefix(graphURL, "https://") {
		return graphURL
	}
	return config.DefaultGraphURL
}

func discover(ctx context.Context, rp *auth.RelyingParty, logger *slog.Logger) {
	delay := time.Second
	for {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := rp.Discover(dctx)
		cancel()
		if err == nil {
			return
		}
		logger.Error("cannot load sign-in metadata; retrying", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Minute)
	}
}

func sweepSessions(ctx context.Context, db *store.DB, logger *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := db.DeleteExpiredSessions(ctx, time.Now()); err != nil {
				logger.Warn("session sweep failed", "err", err)
			} else if n > 0 {
				logger.Debug("expired sessions removed", "count", n)
			}
		}
	}
}

// newControlToken is a random bearer token for the demo devtenant's control endpoint.
func newControlToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
