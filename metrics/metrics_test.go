package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"portico/store"
)

type fakeSource struct {
	jobs []store.JobCount
	err  error
}

func (f fakeSource) JobCounts(context.Context) ([]store.JobCount, error) { return f.jobs, f.err }
func (f fakeSource) WebhookDeliveryCounts(context.Context) (map[string]int, error) {
	return map[string]int{store.DeliveryPending: 2}, f.err
}

func get(t *testing.T, h http.Handler, auth string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerTokenAndFormat(t *testing.T) {
	m := New(fakeSource{jobs: []store.JobCount{{Kind: "state_sync", State: "available", N: 3}, {Kind: "state_sync", State: "completed", N: 7}}}, nil)
	h := m.Handler("tok-0123456789abcdef0123456789abcdef")
	for _, auth := range []string{"", "Bearer nope", "bearer tok-0123456789abcdef0123456789abcdef", "Bearer tok-0123456789abcdef0123456789abcdef "} {
		if rec := get(t, h, auth); rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "go_") ||
			rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%q: %d", auth, rec.Code)
		}
	}
	m.GraphCall("POST /invitations", 429, 1, 20*time.Millisecond)
	m.GraphWait("POST /invitations", 2*time.Second, true)
	m.GraphWait("GET /users", time.Second, false)
	m.InvitationOutcome("invitation.create", "created")
	m.JoinOpened()
	m.WebhookAttempt("invitation.accepted", "retry")
	rec := get(t, h, "Bearer tok-0123456789abcdef0123456789abcdef")
	if rec.Code != http.StatusOK {
		t.Fatalf("with the token: %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, want := range []string{
		`portico_graph_requests_total{endpoint="POST /invitations",retry="false",status="429"} 1`,
		`portico_graph_throttle_wait_seconds_total{endpoint="POST /invitations"} 2`,
		`portico_graph_backoff_waits_total{endpoint="GET /users"} 1`,
		`portico_invitations_total{action="invitation.create",outcome="created"} 1`,
		`portico_join_link_opens_total 1`,
		`portico_webhook_attempts_total{result="retry",type="invitation.accepted"} 1`,
		`portico_jobs{kind="state_sync",state="available"} 3`,
		`portico_job_queue_depth{kind="state_sync"} 3`,
		`portico_webhook_deliveries{state="pending"} 2`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("missing %s", want)
		}
	}
	if fams["process_open_fds"] == nil && fams["go_goroutines"] == nil {
		t.Error("no Go/process collectors")
	}
	// No token: served to anyone (the separate address).
	if rec := get(t, m.Handler(""), ""); rec.Code != http.StatusOK {
		t.Fatalf("no token: %d", rec.Code)
	}
}

// A database that does not answer makes the table metrics an error of the scrape, not a hang or
// a missing page: the rest is still served.
func TestCollectorErrors(t *testing.T) {
	m := New(fakeSource{err: errors.New("db down")}, nil)
	rec := get(t, m.Handler(""), "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "go_goroutines") || strings.Contains(rec.Body.String(), "portico_jobs{") {
		t.Fatalf("%d\n%s", rec.Code, rec.Body.String())
	}
}

func TestMiddlewareLabelsByRoute(t *testing.T) {
	m := New(nil, nil)
	e := echo.New()
	e.Use(m.Middleware)
	e.GET("/join/:token", func(c echo.Context) error { return c.String(http.StatusOK, "hi") })
	e.GET("/boom", func(c echo.Context) error { return echo.NewHTTPError(http.StatusTeapot) })
	for _, p := range []string{"/join/SECRETTOKEN1", "/join/SECRETTOKEN2", "/boom", "/unknown/SECRETPATH"} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
	}
	req := httptest.NewRequest("PROPFIND", "/join/x", nil)
	e.ServeHTTP(httptest.NewRecorder(), req)
	body := get(t, m.Handler(""), "").Body.String()
	for _, want := range []string{
		`portico_http_requests_total{method="GET",route="/join/:token",status="200"} 2`,
		`portico_http_requests_total{method="GET",route="/boom",status="418"} 1`,
		`portico_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`portico_http_request_duration_seconds_count{method="GET",route="/join/:token"} 2`,
		`method="other"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(body, "SECRET") {
		t.Error("a raw path became a label")
	}
}
