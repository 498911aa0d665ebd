package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"portico/invite"
	"portico/metrics"
	"portico/store"
	"portico/webhooks"
)

// buildOperators sets up metrics and webhooks from the configuration. /metrics is served only
// when asked for: on the main listener behind PORTICO_METRICS_TOKEN, or on PORTICO_METRICS_ADDR
// (also behind the token when one is set).
func (a *App) buildOperators() error {
	cfg := a.Config
	if cfg.MetricsAddr == "" && a.metricsLn != nil {
		_ = a.metricsLn.Close() // a listener for metrics that are not served separately
		a.metricsLn = nil
	}
	if cfg.MetricsEnabled() {
		a.Metrics = metrics.New(a.Store, a.Logger)
		a.MetricsHandler = a.Metrics.Handler(string(cfg.MetricsToken))
		if cfg.MetricsAddr != "" && a.metricsLn == nil {
			ln, err := net.Listen("tcp", cfg.MetricsAddr)
			if err != nil {
				return fmt.Errorf("portico: listen for metrics on %s (PORTICO_METRICS_ADDR): %w", cfg.MetricsAddr, err)
			}
			a.metricsLn = ln
		}
	}
	if len(cfg.Webhooks) > 0 {
		eps := make([]webhooks.Endpoint, 0, len(cfg.Webhooks))
		for _, e := range cfg.Webhooks {
			eps = append(eps, webhooks.Endpoint{URL: e.URL, Secret: []byte(e.Secret)})
		}
		a.Webhooks = webhooks.NewSender(eps, nil)
	}
	return nil
}

// MetricsURL is where /metrics answers on its own listener ("" : on the main one, or off).
func (a *App) MetricsURL() string {
	if a.metricsLn == nil {
		return ""
	}
	return "http://" + a.metricsLn.Addr().String() + "/metrics"
}

// mainMetrics is /metrics on the main listener: only with a token and no separate address.
func (a *App) mainMetrics() http.Handler {
	if a.MetricsHandler == nil || a.Config.MetricsAddr != "" {
		return nil
	}
	return a.MetricsHandler
}

func (a *App) observe() echo.MiddlewareFunc {
	if a.Metrics == nil {
		return nil
	}
	return a.Metrics.Middleware
}

func (a *App) inviteHooks() invite.Hooks {
	if a.Metrics == nil {
		return invite.Hooks{}
	}
	m := a.Metrics
	return invite.Hooks{
		Outcome:    func(action string, o invite.Outcome) { m.InvitationOutcome(action, string(o)) },
		JoinOpened: m.JoinOpened,
	}
}

func (a *App) onWebhook() func(eventType, result string) {
	if a.Metrics == nil {
		return nil
	}
	return a.Metrics.WebhookAttempt
}

// serveMetrics serves /metrics on PORTICO_METRICS_ADDR until the returned stop is called.
func (a *App) serveMetrics() (stop func()) {
	if a.metricsLn == nil || a.MetricsHandler == nil {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.MetricsHandler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(a.metricsLn); err != nil && err != http.ErrServerClosed {
			a.Logger.Warn("metrics listener stopped", "err", err)
		}
	}()
	a.Logger.Info("metrics served", "listen", a.metricsLn.Addr().String(), "token", a.Config.MetricsToken != "")
	if host, _, _ := net.SplitHostPort(a.Config.MetricsAddr); a.Config.MetricsToken == "" && (host == "" || host == "0.0.0.0" || host == "::") {
		a.Logger.Warn("metrics are served without a token on every interface: bind PORTICO_METRICS_ADDR to an internal address or set PORTICO_METRICS_TOKEN",
			"listen", a.metricsLn.Addr().String())
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

// webhookLog is the admin page's view of the webhook outbox.
type webhookLog struct{ a *App }

func (w webhookLog) Endpoints() []string {
	var out []string
	for _, e := range w.a.Config.Webhooks {
		out = append(out, e.URL)
	}
	return out
}

func (w webhookLog) ListWebhookDeliveries(ctx context.Context, f store.WebhookDeliveryFilter) ([]store.WebhookDelivery, error) {
	return w.a.Store.ListWebhookDeliveries(ctx, f)
}
