// Package metrics is Portico's Prometheus instrumentation: one private registry (never the global
// one) with the Go and process collectors and Portico's own metrics, fed through small seams so
// the other packages do not import Prometheus: an echo middleware (HTTP), graph.Observer (Graph
// calls), invite.Hooks (invitations, join links), a callback for webhook attempts, and collectors
// that read the job queue and the webhook outbox when scraped.
package metrics

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"portico/store"
)

// Metrics holds the registry and Portico's metrics.
type Metrics struct {
	Registry *prometheus.Registry

	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	graphRequests *prometheus.CounterVec
	graphDuration *prometheus.HistogramVec
	throttleWaits *prometheus.CounterVec
	throttleSecs  *prometheus.CounterVec
	backoffWaits  *prometheus.CounterVec
	invitations   *prometheus.CounterVec
	joinOpens     prometheus.Counter
	webhookTries  *prometheus.CounterVec
}

// Source is what the scrape-time collectors read: River's job table and the webhook outbox
// (*store.DB implements it).
type Source interface {
	JobCounts(ctx context.Context) ([]store.JobCount, error)
	WebhookDeliveryCounts(ctx context.Context) (map[string]int, error)
}

// New registers every metric on a new private registry; src (nil: none) is read on each scrape.
func New(src Source, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_http_requests_total",
			Help: "HTTP requests answered, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route template.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route"}),
		graphRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_graph_requests_total",
			Help: "Microsoft Graph request attempts, by endpoint template, status (0: no answer) and whether the attempt was a retry.",
		}, []string{"endpoint", "status", "retry"}),
		graphDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_graph_request_duration_seconds",
			Help:    "Duration of one Microsoft Graph request attempt, by endpoint template.",
			Buckets: []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		throttleWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_graph_throttle_waits_total",
			Help: "Waits before a retry that Graph asked for with Retry-After (throttling), by endpoint template.",
		}, []string{"endpoint"}),
		throttleSecs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_graph_throttle_wait_seconds_total",
			Help: "Seconds waited because Graph asked for it with Retry-After, by endpoint template.",
		}, []string{"endpoint"}),
		backoffWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_graph_backoff_waits_total",
			Help: "Waits before a retry without Retry-After (Portico's own backoff), by endpoint template.",
		}, []string{"endpoint"}),
		invitations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_invitations_total",
			Help: "Invitation attempts by action (invitation.create, invitation.resend) and outcome (created, denied, rejected, failed, throttled).",
		}, []string{"action", "outcome"}),
		joinOpens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portico_join_link_opens_total",
			Help: "Visits of live join links.",
		}),
		webhookTries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_webhook_attempts_total",
			Help: "Webhook delivery attempts by event type and result (delivered, retry, failed).",
		}, []string{"type", "result"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.graphRequests, m.graphDuration, m.throttleWaits, m.throttleSecs,
		m.backoffWaits, m.invitations, m.joinOpens, m.webhookTries,
	)
	if src != nil {
		reg.MustRegister(&tableCollector{src: src, log: log})
	}
	return m
}

// Handler serves the registry in Prometheus' text format; with a token, only to requests carrying
// "Authorization: Bearer <token>" (compared in constant time), others get 401.
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry, ErrorHandling: promhttp.ContinueOnError})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "metrics need the bearer token (PORTICO_METRICS_TOKEN)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Middleware counts every request by its route template (echo's c.Path(): "/join/:token", never
// the URL, which would carry tokens and make unbounded labels) and final status. It must run
// outside the middleware that turns errors into answers, or be given the committed status.
func (m *Metrics) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" || route == "/*" { // echo's not-found route: no route matched
			route = "unmatched"
		}
		method := c.Request().Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		default:
			method = "other"
		}
		m.httpRequests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
		m.httpDuration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		return nil
	}
}

// GraphCall implements graph.Observer.
func (m *Metrics) GraphCall(endpoint string, status, attempt int, d time.Duration) {
	m.graphRequests.WithLabelValues(endpoint, strconv.Itoa(status), strconv.FormatBool(attempt > 1)).Inc()
	m.graphDuration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// GraphWait implements graph.Observer.
func (m *Metrics) GraphWait(endpoint string, d time.Duration, throttled bool) {
	if throttled {
		m.throttleWaits.WithLabelValues(endpoint).Inc()
		m.throttleSecs.WithLabelValues(endpoint).Add(d.Seconds())
		return
	}
	m.backoffWaits.WithLabelValues(endpoint).Inc()
}

// InvitationOutcome counts one invitation attempt (invite.Hooks.Outcome).
func (m *Metrics) InvitationOutcome(action, outcome string) {
	m.invitations.WithLabelValues(action, outcome).Inc()
}

// JoinOpened counts one visit of a live join link (invite.Hooks.JoinOpened).
func (m *Metrics) JoinOpened() { m.joinOpens.Inc() }

// WebhookAttempt counts one delivery attempt (jobs.Config.OnWebhook).
func (m *Metrics) WebhookAttempt(eventType, result string) {
	m.webhookTries.WithLabelValues(eventType, result).Inc()
}

// tableCollector reads River's job table and the webhook outbox on each scrape (bounded by a short
// timeout: a slow database makes the scrape report an error for these, not hang).
type tableCollector struct {
	src Source
	log *slog.Logger
}

var (
	jobsDesc = prometheus.NewDesc("portico_jobs", "Background jobs in River's table by kind and state (available, scheduled, running, retryable, completed, cancelled, discarded, pending).",
		[]string{"kind", "state"}, nil)
	depthDesc = prometheus.NewDesc("portico_job_queue_depth", "Background jobs waiting to run (available, scheduled, retryable or pending), by kind.",
		[]string{"kind"}, nil)
	deliveriesDesc = prometheus.NewDesc("portico_webhook_deliveries", "Webhook deliveries in the outbox by state (pending, delivered, failed).",
		[]string{"state"}, nil)
)

func (t *tableCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- depthDesc
	ch <- deliveriesDesc
}

func (t *tableCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	counts, err := t.src.JobCounts(ctx)
	if err != nil {
		t.log.Warn("metrics: job counts", "err", err)
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
	} else {
		depth := map[string]int{}
		for _, c := range counts {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(c.N), c.Kind, c.State)
			switch c.State {
			case "available", "scheduled", "retryable", "pending":
				depth[c.Kind] += c.N
			default:
				depth[c.Kind] += 0
			}
		}
		for kind, n := range depth {
			ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(n), kind)
		}
	}
	dc, err := t.src.WebhookDeliveryCounts(ctx)
	if err != nil {
		t.log.Warn("metrics: webhook delivery counts", "err", err)
		ch <- prometheus.NewInvalidMetric(deliveriesDesc, err)
		return
	}
	for _, s := range []string{store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed} {
		ch <- prometheus.MustNewConstMetric(deliveriesDesc, prometheus.GaugeValue, float64(dc[s]), s)
	}
}
