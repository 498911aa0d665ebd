package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/oauth2"

	"portico/app"
	"portico/config"
	"portico/devtenant"
	"portico/store"
	"portico/webhooks"
)

const (
	testMetricsToken  = "metrics-token-0123456789abcdef0123456789abcdef"
	testWebhookSecret = "webhook-secret-0123456789abcdef0123456789abcdef"
)

// receiver is a webhook endpoint in the test: it records what it got, verifies every signature
// with the documented verifier, and answers with down's status while down is positive (then
// counts down).
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []webhooks.Body
	raw  []string
	bad  []string // problems with calls (signature, headers)
	down int      // calls still to refuse with 503
	hits int
}

func newReceiver(t *testing.T, down int) *receiver {
	r := &receiver{down: down}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.hits++
		if r.down > 0 {
			r.down--
			http.Error(w, "receiver down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if err := webhooks.Verify(req.Header.Get(webhooks.SignatureHeader), body, []byte(testWebhookSecret), time.Now(), webhooks.DefaultTolerance); err != nil {
			r.bad = append(r.bad, "signature: "+err.Error())
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var b webhooks.Body
		if err := json.Unmarshal(body, &b); err != nil {
			r.bad = append(r.bad, "body: "+err.Error())
		}
		if req.Header.Get(webhooks.EventIDHeader) != b.ID || req.Header.Get(webhooks.EventTypeHeader) != b.Type {
			r.bad = append(r.bad, "headers do not repeat the id and type")
		}
		r.got = append(r.got, b)
		r.raw = append(r.raw, string(body))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// events returns the events of type typ received so far.
func (r *receiver) events(typ string) []webhooks.Body {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []webhooks.Body
	for _, b := range r.got {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

func (r *receiver) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

// startOperators starts Portico on a SQLite file with app.Options the test chooses (background
// identity, fast webhook dispatch and retries).
func startOperators(t *testing.T, tenant *devtenant.Tenant, env map[string]string, ts oauth2.TokenSource) (*harness, *app.App) {
	t.Helper()
	h, a, _ := startOperatorsStoppable(t, tenant, env, ts)
	return h, a
}

// startOperatorsStoppable is startOperators with a stop function (a graceful shutdown; later
// calls and the test's end do nothing more).
func startOperatorsStoppable(t *testing.T, tenant *devtenant.Tenant, env map[string]string, ts oauth2.TokenSource) (*harness, *app.App, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := baseEnv(tenant, ln.Addr().String())
	e["PORTICO_DATABASE_URL"] = sqliteFile(t)
	for k, v := range env {
		e[k] = v
	}
	logs := &syncBuffer{}
	cfg, err := config.Load([]string{"-addr", ln.Addr().String()}, func(k string) string { return e[k] }, logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Listener: ln, Log: logs, Background: ts,
		WebhookInterval: 200 * time.Millisecond,
		WebhookBackoff:  func(int) time.Duration { return 150 * time.Millisecond }})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("portico: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("portico did not shut down")
			}
		})
	}
	t.Cleanup(stop)
	h := &harness{t: t, tenant: tenant, Logs: logs, env: e, URL: a.URL()}
	h.waitReady()
	return h, a, stop
}

// scrape reads /metrics with the token and parses it with Prometheus' own text parser.
func scrape(t *testing.T, metricsURL, token string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, metricsURL, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	must(t, resp.StatusCode == http.StatusOK, "metrics: %d %s", resp.StatusCode, raw)
	must(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"), "text format: %q", resp.Header.Get("Content-Type"))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("Prometheus' text parser refuses /metrics: %v\n%s", err, raw)
	}
	return fams, string(raw)
}

// sample is the value of the family's series with exactly these labels (among others), and
// whether there is one.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, found
}

// After a journey (sign in, invite through one throttled answer, open the join link, accept, the
// state sync sees Accepted), /metrics (token-protected) shows each counter with its labels and
// Prometheus' parser reads all of it; the webhook receiver gets invitation.created and
// invitation.accepted exactly once each, signed, without redemption URLs or join tokens.
func TestOperatorsJourneyMetricsAndWebhooks(t *testing.T) {
	tenant := newTenant(t)
	rcv := newReceiver(t, 0)
	h, a := startOperators(t, tenant, map[string]string{
		"PORTICO_METRICS_TOKEN":  testMetricsToken,
		"PORTICO_WEBHOOK_URL":    rcv.srv.URL + "/hooks/portico",
		"PORTICO_WEBHOOK_SECRET": testWebhookSecret,
	}, backgroundTokens(t, tenant))

	// Without the token, or with a wrong one: 401, and nothing of the registry.
	for _, hdr := range []string{"", "Bearer wrong", "Basic " + testMetricsToken, "Bearer " + testMetricsToken + "x"} {
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/metrics", nil)
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		must(t, resp.StatusCode == http.StatusUnauthorized && !strings.Contains(string(body), "portico_"), "metrics with %q: %d", hdr, resp.StatusCode)
	}

	emp := h.browser()
	emp.signIn("employee@contoso.example")
	// Graph throttles the first invitation POST for 1 s: the client waits (Retry-After) and retries.
	tenant.InjectFault(devtenant.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/invitations", Status: http.StatusTooManyRequests,
		Code: "TooManyRequests", Message: "Too many requests", RetryAfter: "1", Times: 1})
	_, join := inviteByLink(t, emp, "quinn@fabrikam.example")
	token := join[strings.LastIndex(join, "/")+1:]

	partner := h.browser()
	must(t, partner.get(strings.TrimPrefix(join, h.URL)).Status == http.StatusOK, "join page")
	acc := partner.post(strings.TrimPrefix(join, h.URL)+"/accept", url.Values{"_csrf": {""}})
	redeemed := partner.post(acc.Header.Get("Location"), url.Values{"_csrf": {""}})
	landing := redeemed.Header.Get("Location")
	must(t, partner.get(landing).Status == http.StatusOK, "welcome page")

	deadline := time.Now().Add(15 * time.Second)
	for len(rcv.events(webhooks.InvitationAccepted)) == 0 {
		must(t, time.Now().Before(deadline), "no invitation.accepted within 15 s; problems %v\n%s", rcv.problems(), h.Logs)
		time.Sleep(100 * time.Millisecond)
	}
	// Nothing more arrives: a later state read (the list refreshes, the periodic sync) finds the
	// partner Accepted already and emits nothing; the same event is never delivered twice.
	emp.get("/invitations")
	time.Sleep(1500 * time.Millisecond)
	must(t, len(rcv.problems()) == 0, "receiver problems: %v", rcv.problems())
	created, accepted := rcv.events(webhooks.InvitationCreated), rcv.events(webhooks.InvitationAccepted)
	must(t, len(created) == 1 && len(accepted) == 1, "created %d, accepted %d (each exactly once)", len(created), len(accepted))
	var data map[string]any
	must(t, json.Unmarshal(accepted[0].Data, &data) == nil, "accepted data is JSON")
	must(t, data["email"] == "quinn@fabrikam.example" && data["externalUserState"] == "Accepted" && data["invitationId"] != "",
		"accepted data: %v", data)
	for _, raw := range rcv.raw {
		for _, secret := range []string{token, "/join/", "redeem", "ticket", "inviteRedeemUrl"} {
			must(t, !strings.Contains(raw, secret), "a webhook body carries %q: %s", secret, raw)
		}
	}

	// Unknown paths do not become labels.
	for _, p := range []string{"/no-such-page-12345", "/static/no-such-file-67890.css", "/join/" + token + "x"} {
		emp.get(p)
	}
	fams, raw := scrape(t, h.URL+"/metrics", testMetricsToken)
	checks := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"portico_http_requests_total", map[string]string{"method": "POST", "route": "/invitations", "status": "303"}, 1},
		{"portico_http_requests_total", map[string]string{"method": "GET", "route": "/join/:token", "status": "200"}, 1},
		{"portico_http_requests_total", map[string]string{"method": "POST", "route": "/join/:token/accept", "status": "302"}, 1},
		{"portico_http_requests_total", map[string]string{"method": "GET", "route": "/metrics", "status": "401"}, 4},
		{"portico_http_requests_total", map[string]string{"method": "GET", "route": "unmatched", "status": "404"}, 1},
		{"portico_http_requests_total", map[string]string{"method": "GET", "route": "/join/:token", "status": "404"}, 1},
		{"portico_http_request_duration_seconds", map[string]string{"method": "GET", "route": "/join/:token"}, 1},
		{"portico_graph_requests_total", map[string]string{"endpoint": "POST /invitations", "status": "429", "retry": "false"}, 1},
		{"portico_graph_requests_total", map[string]string{"endpoint": "POST /invitations", "status": "201", "retry": "true"}, 1},
		{"portico_graph_requests_total", map[string]string{"endpoint": "POST /$batch", "status": "200"}, 1},
		{"portico_graph_request_duration_seconds", map[string]string{"endpoint": "POST /invitations"}, 2},
		{"portico_graph_throttle_waits_total", map[string]string{"endpoint": "POST /invitations"}, 1},
		{"portico_graph_throttle_wait_seconds_total", map[string]string{"endpoint": "POST /invitations"}, 1},
		{"portico_invitations_total", map[string]string{"action": "invitation.create", "outcome": "created"}, 1},
		{"portico_join_link_opens_total", nil, 1},
		{"portico_jobs", map[string]string{"kind": "state_refresh", "state": "completed"}, 1},
		{"portico_jobs", map[string]string{"kind": "webhook_deliver"}, 2},
		{"portico_job_queue_depth", map[string]string{"kind": "state_refresh"}, 0},
		{"portico_webhook_attempts_total", map[string]string{"type": "invitation.accepted", "result": "delivered"}, 1},
		{"portico_webhook_deliveries", map[string]string{"state": "delivered"}, 2},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	}
	for _, c := range checks {
		v, ok := sample(fams, c.name, c.labels)
		must(t, ok && v >= c.min, "%s%v = %v (present %v), want ≥ %v\n%s", c.name, c.labels, v, ok, c.min, raw)
	}
	if v, _ := sample(fams, "portico_invitations_total", map[string]string{"outcome": "created"}); v != 1 {
		t.Errorf("one invitation created, counted %v", v)
	}
	if v, _ := sample(fams, "portico_webhook_attempts_total", map[string]string{"type": "invitation.accepted"}); v != 1 {
		t.Errorf("invitation.accepted attempted %v times, want once", v)
	}
	// Labels are templates: no join token, no address, no raw id anywhere in the output.
	for _, s := range []string{token, "quinn@", "fabrikam", "no-such-page", "no-such-file"} {
		must(t, !strings.Contains(raw, s), "/metrics contains %q", s)
	}

	// The delivery log, for admins.
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	page := admin.get("/admin/webhooks")
	must(t, page.Status == http.StatusOK, "webhooks page %d", page.Status)
	must(t, page.Doc.Find(`tr[data-testid="webhook-row"][data-state="delivered"]`).Length() == 2, "two delivered rows:\n%s", page.Body)
	must(t, page.Doc.Find(`[data-testid="webhook-endpoint"]`).Text() == rcv.srv.URL+"/hooks/portico", "receiver listed")
	must(t, !strings.Contains(page.Body, testWebhookSecret), "the secret is never shown")
	must(t, emp.get("/admin/webhooks").Status == http.StatusForbidden, "an employee cannot read the delivery log")
	_ = a
}

// A receiver that is down for a while gets every event once it is back (the job retries with
// backoff); one that never comes back ends "failed" after PORTICO_WEBHOOK_ATTEMPTS, and the log
// says why. Nothing is lost, nothing is delivered twice.
func TestWebhookReceiverDownIsRetried(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) { testWebhookReceiverDown(t, dsn(t)) })
	}
}

func testWebhookReceiverDown(t *testing.T, dsn string) {
	tenant := newTenant(t)
	flaky := newReceiver(t, 3)
	dead := newReceiver(t, 1_000_000)
	h, a := startOperators(t, tenant, map[string]string{
		"PORTICO_DATABASE_URL":     dsn,
		"PORTICO_METRICS_TOKEN":    testMetricsToken,
		"PORTICO_WEBHOOK_URL":      flaky.srv.URL + "/a, " + dead.srv.URL + "/b",
		"PORTICO_WEBHOOK_SECRET":   testWebhookSecret,
		"PORTICO_WEBHOOK_ATTEMPTS": "5",
	}, nil)
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	inviteByLink(t, emp, "rory@fabrikam.example")
	inviteByLink(t, emp, "sam@fabrikam.example")

	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := a.Store.ListWebhookDeliveries(context.Background(), store.WebhookDeliveryFilter{})
		must(t, err == nil, "list: %v", err)
		pending := 0
		for _, d := range list {
			if d.State == store.DeliveryPending {
				pending++
			}
		}
		if len(list) == 4 && pending == 0 {
			for _, d := range list {
				switch {
				case strings.HasSuffix(d.Endpoint, "/a"):
					must(t, d.State == store.DeliveryDelivered && d.LastStatus == 204, "flaky receiver: %+v", d)
				default:
					must(t, d.State == store.DeliveryFailed && d.Attempts == 5 && d.LastStatus == 503 &&
						strings.Contains(d.LastError, "receiver down"), "dead receiver: %+v", d)
				}
			}
			break
		}
		must(t, time.Now().Before(deadline), "deliveries not ended after 20 s: %+v\n%s", list, h.Logs)
		time.Sleep(100 * time.Millisecond)
	}
	got := flaky.events(webhooks.InvitationCreated)
	must(t, len(got) == 2 && got[0].ID != got[1].ID, "both events delivered once each after the outage: %+v", got)
	must(t, len(flaky.problems()) == 0, "problems: %v", flaky.problems())
	flaky.mu.Lock()
	hits := flaky.hits
	flaky.mu.Unlock()
	must(t, hits == 5, "flaky receiver: 3 refused + 2 delivered calls, got %d", hits)

	admin := h.browser()
	admin.signIn("admin@contoso.example")
	page := admin.get("/admin/webhooks?state=failed")
	must(t, page.Doc.Find(`tr[data-testid="webhook-row"]`).Length() == 2, "two failed rows:\n%s", page.Body)
	must(t, strings.Contains(page.Body, "answered 503"), "the last error is shown")
	must(t, admin.get("/admin/webhooks?state=bogus").Status == http.StatusBadRequest, "a bogus filter is a 400")
	must(t, admin.get("/admin/webhooks?before=garbage").Status == http.StatusBadRequest, "a damaged cursor is a 400")
	must(t, strings.Contains(h.Logs.String(), "webhook delivery failed for good"), "the failure is logged")

	// The metrics read the outbox and River's table on this engine too.
	fams, raw := scrape(t, h.URL+"/metrics", testMetricsToken)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"portico_webhook_deliveries", map[string]string{"state": "failed"}, 2},
		{"portico_webhook_deliveries", map[string]string{"state": "delivered"}, 2},
		{"portico_webhook_attempts_total", map[string]string{"type": "invitation.created", "result": "retry"}, 3 + 4*2},
		{"portico_webhook_attempts_total", map[string]string{"type": "invitation.created", "result": "failed"}, 2},
		{"portico_jobs", map[string]string{"kind": "webhook_deliver"}, 4}, // one job per delivery (River completes in batches: some may still be running)
	} {
		v, ok := sample(fams, c.name, c.labels)
		must(t, ok && v == c.want, "%s%v = %v, want %v\n%s", c.name, c.labels, v, c.want, raw)
	}
}

// With PORTICO_METRICS_ADDR, /metrics answers only there (and the main listener has no /metrics);
// without a token or an address, there is no /metrics at all.
func TestMetricsPlacement(t *testing.T) {
	tenant := newTenant(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // PORTICO_METRICS_ADDR is bound by Portico itself
	h := start(t, tenant, map[string]string{"PORTICO_METRICS_ADDR": addr})
	noMetrics := func(base string) {
		t.Helper()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+testMetricsToken)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		must(t, resp.StatusCode != http.StatusOK && !strings.Contains(string(body), "go_goroutines"), "%s/metrics answers: %d", base, resp.StatusCode)
	}
	noMetrics(h.URL)
	fams, _ := scrape(t, "http://"+addr+"/metrics", "")
	_, ok := sample(fams, "go_goroutines", nil)
	must(t, ok, "metrics on the separate address")

	noMetrics(start(t, tenant, nil).URL)
}

// The delivery log in Chromium: axe-core finds no WCAG 2.1 AA violation in light and dark, and
// the state filter works with JavaScript off.
func TestBrowserWebhooksPage(t *testing.T) {
	c := newChrome(t)
	axeJS := axeSource(t)
	tenant := newTenant(t)
	good := newReceiver(t, 0)
	dead := newReceiver(t, 1_000_000)
	h, a := startOperators(t, tenant, map[string]string{
		"PORTICO_WEBHOOK_URL":      good.srv.URL + "/hook " + dead.srv.URL + "/hook",
		"PORTICO_WEBHOOK_SECRET":   testWebhookSecret,
		"PORTICO_WEBHOOK_ATTEMPTS": "2",
	}, nil)
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	inviteByLink(t, emp, "riley@fabrikam.example")
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, _ := a.Store.WebhookDeliveryCounts(context.Background())
		if n[store.DeliveryDelivered] == 1 && n[store.DeliveryFailed] == 1 {
			break
		}
		must(t, time.Now().Before(deadline), "deliveries did not end: %v", n)
		time.Sleep(100 * time.Millisecond)
	}

	admin := c.newTab(t, h.URL)
	admin.signIn("admin@contoso.example")
	must(t, admin.open("/admin/webhooks") == http.StatusOK, "webhooks page")
	must(t, admin.count(`tr[data-testid="webhook-row"]`) == 2, "two rows")
	checkPage(t, admin, "webhooks", axeJS)

	noJS := c.newTab(t, h.URL)
	noJS.scripts(false)
	noJS.signIn("admin@contoso.example")
	must(t, noJS.open("/admin/webhooks") == http.StatusOK, "webhooks page without JavaScript")
	eval[bool](noJS, `(function(){document.querySelector("#f-state").value="failed";return true})()`)
	must(t, noJS.click(`form.filters button[type="submit"]`) == http.StatusOK, "filter")
	must(t, strings.Contains(noJS.location(), "state=failed"), "filtered by the form: %s", noJS.location())
	must(t, noJS.count(`tr[data-testid="webhook-row"]`) == 1 && noJS.count(`tr[data-state="failed"]`) == 1, "only the failed delivery")
}

// `portico healthcheck` (the container's HEALTHCHECK): 0 while /healthz answers 200, an error
// otherwise; `portico version` prints the stamped version.
func TestHealthcheckCommand(t *testing.T) {
	h := start(t, nil, nil)
	var out, errOut strings.Builder
	getenv := func(k string) string { return map[string]string{"PORTICO_HEALTHCHECK_URL": h.URL + "/healthz"}[k] }
	must(t, run(context.Background(), []string{"healthcheck"}, getenv, &out, &errOut) == nil && strings.TrimSpace(out.String()) == "ok",
		"healthcheck of a running Portico: %q %q", out.String(), errOut.String())
	err := run(context.Background(), []string{"healthcheck", "-url", h.URL + "/readyz-nope", "-timeout", "2s"}, func(string) string { return "" }, &out, &errOut)
	must(t, err != nil, "a non-200 answer fails the check")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	must(t, run(context.Background(), []string{"healthcheck", "-url", "http://" + dead + "/healthz"}, func(string) string { return "" }, &out, &errOut) != nil,
		"nothing listening fails the check")
	must(t, errors.Is(run(context.Background(), []string{"healthcheck", "-url", "ftp://x/healthz"}, func(string) string { return "" }, &out, &errOut), errUsage),
		"a bad URL is a usage error")
	out.Reset()
	must(t, run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, &errOut) == nil &&
		strings.HasPrefix(out.String(), "portico "), "version: %q", out.String())
}

// An event waiting for a receiver that is down survives a restart of Portico: the next instance
// on the same database delivers it once the receiver is back, exactly once.
func TestWebhookSurvivesRestart(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	tenant := newTenant(t)
	rcv := newReceiver(t, 1_000_000)
	dsn := sqliteFile(t)
	env := map[string]string{
		"PORTICO_DATABASE_URL":   dsn,
		"PORTICO_WEBHOOK_URL":    rcv.srv.URL + "/hook",
		"PORTICO_WEBHOOK_SECRET": testWebhookSecret,
	}
	h, a, stop := startOperatorsStoppable(t, tenant, env, nil)
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	inviteByLink(t, emp, "tove@fabrikam.example")
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, _ := a.Store.ListWebhookDeliveries(context.Background(), store.WebhookDeliveryFilter{})
		if len(list) == 1 && list[0].Attempts >= 2 && list[0].State == store.DeliveryPending {
			break
		}
		must(t, time.Now().Before(deadline), "no failed attempts before the restart: %+v", list)
		time.Sleep(50 * time.Millisecond)
	}
	stop()

	rcv.mu.Lock()
	rcv.down = 0 // the receiver is back
	rcv.mu.Unlock()
	_, b, _ := startOperatorsStoppable(t, tenant, env, nil)
	deadline = time.Now().Add(15 * time.Second)
	for len(rcv.events(webhooks.InvitationCreated)) == 0 {
		must(t, time.Now().Before(deadline), "not delivered after the restart")
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	must(t, len(rcv.events(webhooks.InvitationCreated)) == 1 && len(rcv.problems()) == 0, "delivered %d times (%v)",
		len(rcv.events(webhooks.InvitationCreated)), rcv.problems())
	list, _ := b.Store.ListWebhookDeliveries(context.Background(), store.WebhookDeliveryFilter{})
	must(t, len(list) == 1 && list[0].State == store.DeliveryDelivered && list[0].Attempts >= 3, "after the restart: %+v", list)
}
