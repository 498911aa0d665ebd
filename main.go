// Command portico is a self-hosted portal for self-service guest onboarding on Microsoft Entra ID.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"portico/auth"
	"portico/config"
	"portico/devtenant"
	"portico/graph"
	"portico/handlers"
	"portico/invite"
	"portico/keyring"
	"portico/store"
	"portico/views"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run wires Portico together and serves until ctx ends; tests call it as main does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "devtenant" {
		return runDevtenant(ctx, args[1:], stdout, stderr)
	}
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel, cfg.LogJSON, stdout)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("portico: listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	if cfg.PublicURLFromAddr {
		cfg.PublicURL.Host = ln.Addr().String()
	}

	var tenant *devtenant.Tenant
	if cfg.Demo {
		tenant, err = devtenant.New(devtenant.Options{
			TenantID:               cfg.TenantID,
			ClientID:               cfg.ClientID,
			ClientSecret:           string(cfg.ClientSecret),
			RedirectURIs:           []string{cfg.RedirectURL()},
			PostLogoutRedirectURIs: []string{cfg.PublicPath("/signed-out")},
			Logger:                 logger.With("component", "devtenant"),
		})
		if err != nil {
			return err
		}
		if err := tenant.Start("127.0.0.1:0"); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tenant.Close(sctx)
		}()
		cfg.Authority, cfg.GraphURL = tenant.URL(), tenant.URL()
	}

	db, err := store.Open(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return err
	}
	defer db.Close()

	ring, err := keyring.New(cfg.DataKeys...)
	if err != nil {
		return err
	}
	sessionKeys := make([]string, len(cfg.SessionKeys))
	for i, k := range cfg.SessionKeys {
		sessionKeys[i] = string(k)
	}
	sessions, err := auth.NewStore(db, ring, sessionKeys, auth.StoreOptions{
		Secure:      cfg.SecureCookies(),
		IdleTimeout: cfg.SessionIdleTimeout,
		MaxLifetime: cfg.SessionMaxLifetime,
	})
	if err != nil {
		return err
	}
	outbound := &http.Client{Timeout: 30 * time.Second}
	rp := auth.NewRelyingParty(auth.RPConfig{
		Issuer:                cfg.Issuer(),
		TenantID:              cfg.TenantID,
		ClientID:              cfg.ClientID,
		ClientSecret:          string(cfg.ClientSecret),
		RedirectURL:           cfg.RedirectURL(),
		PostLogoutRedirectURL: cfg.PublicPath("/signed-out"),
		GraphResource:         graphResource(cfg.GraphURL),
		HTTPClient:            outbound,
		Logger:                logger,
	})
	go discover(ctx, rp, logger)

	gc := graph.NewClient(cfg.GraphURL, outbound, graph.WithLogger(logger))
	svc := invite.NewService(invite.Config{
		Graph:     gc,
		Store:     invite.NewStoreAdapter(db),
		Keys:      ring,
		Policy:    invitePolicy(cfg),
		PublicURL: cfg.PublicURL.String(),
		JoinTTL:   cfg.JoinLinkTTL,
		Quota:     invite.QuotaLimits{PerHour: cfg.InviteQuotaHour, PerDay: cfg.InviteQuotaDay},
		Logger:    logger,
	})

	var demoAccounts []views.DemoAccount
	if tenant != nil {
		for _, a := range tenant.Accounts() {
			demoAccounts = append(demoAccounts, views.DemoAccount{Label: a.DisplayName, UPN: a.UPN, Description: a.Description})
		}
	}
	e := handlers.New(handlers.Deps{
		Config:       cfg,
		Logger:       logger,
		Sessions:     sessions,
		RP:           rp,
		Invites:      svc,
		Audit:        db,
		DB:           db,
		DemoAccounts: demoAccounts,
	})
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go sweepSessions(ctx, db, logger)

	printBanner(stdout, cfg, tenant)
	logger.Info("portico started", "url", cfg.PublicURL.String(), "demo", cfg.Demo, "database", db.Dialect())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("portico: serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("portico: shutdown: %w", err)
	}
	return nil
}

// runDevtenant serves the Entra stand-in on its own so several Portico instances can share it.
func runDevtenant(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("portico devtenant", stderr)
	addr := fs.String("addr", "127.0.0.1:9999", "listen address host:port (loopback)")
	secret := fs.String("client-secret", "", "client secret to accept (default: random, printed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		*secret = randomSecret()
	}
	t, err := devtenant.New(devtenant.Options{ClientSecret: *secret, Logger: newLogger("info", nil, stderr)})
	if err != nil {
		return err
	}
	if err := t.Start(*addr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "devtenant: a local stand-in for an Entra tenant is running at %s\n", t.URL())
	fmt.Fprintln(stdout, "Point Portico instances at it with these settings (plus PORTICO_PUBLIC_URL, PORTICO_SESSION_KEYS, PORTICO_DATA_KEY):")
	t.WriteSettings(stdout)
	fmt.Fprintln(stdout, "Accounts:")
	for _, a := range t.Accounts() {
		fmt.Fprintf(stdout, "  %-28s %s\n", a.UPN, a.Description)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.Close(sctx)
}

func printBanner(w io.Writer, cfg *config.Config, t *devtenant.Tenant) {
	fmt.Fprintf(w, "Portico is running at %s\n", cfg.PublicURL)
	if t == nil {
		return
	}
	fmt.Fprintf(w, "Demo mode: signing in against devtenant at %s (nothing leaves this machine).\n", t.URL())
	fmt.Fprintln(w, "Demo accounts (no password; pick one on the home page):")
	for _, a := range t.Accounts() {
		fmt.Fprintf(w, "  %-28s %s\n", a.UPN, a.Description)
	}
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

// graphResource is the scope prefix for Graph permissions. devtenant and sovereign clouds keep the
// global resource name in scopes, as Entra does for the public Graph.
func graphResource(graphURL string) string {
	if strings.HasPrefix(graphURL, "https://") {
		return graphURL
	}
	return "https://graph.microsoft.com"
}
