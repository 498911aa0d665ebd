package main

// End-to-end tests of issue 16 ("no invitation lost, none sent twice"): Portico against devtenant
// with Graph faults injected from outside (the fault spec syntax of `portico devtenant -fault`),
// on SQLite and PostgreSQL. After kill -9 and SIGTERM, and with a 66 s Graph, the restarted (or
// running) Portico settles open intents with its own reconciler, in real time. Elsewhere the open
// intents an unknown answer leaves behind are settled by a reconciler run as Portico's jobs run it
// (invite.Service.Reconcile with Portico's own read-only identity), with the clock moved past the
// intents' lease instead of waiting for it.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"portico/app"
	"portico/config"
	"portico/devtenant"
	"portico/invite"
	"portico/store"
)

// faultInstance starts Portico on dsn against tenant and returns it with its store.
func faultInstance(t *testing.T, tenant *devtenant.Tenant, dsn string, env map[string]string) *instance {
	t.Helper()
	e := map[string]string{"PORTICO_DATABASE_URL": dsn, "PORTICO_INVITE_QUOTA": "off", "PORTICO_LOG_LEVEL": "info"}
	for k, v := range env {
		e[k] = v
	}
	in := launch(t, tenant, e)
	in.await(t)
	return in
}

// injectSpecs injects faults written as `portico devtenant -fault` takes them.
func injectSpecs(t *testing.T, tenant *devtenant.Tenant, specs ...string) {
	t.Helper()
	for _, s := range specs {
		f, err := devtenant.ParseFault(s)
		if err != nil {
			t.Fatalf("fault %q: %v", s, err)
		}
		tenant.InjectFault(f)
	}
}

// submitter sends invitation forms from goroutines (browser.post calls t.Fatal, which only the
// test goroutine may).
type submitter struct {
	c    *http.Client
	base string
	csrf string
}

func newSubmitter(t *testing.T, h *harness, upn string) (*submitter, *browser) {
	t.Helper()
	b := h.browser()
	b.signIn(upn)
	c := *b.c
	c.Timeout = 90 * time.Second // longer than any budget: a cut connection must be Portico's doing
	return &submitter{c: &c, base: h.URL, csrf: b.csrf()}, b
}

// on is the same signed-in browser talking to another instance (a load balancer in front of both).
func (s *submitter) on(t *testing.T, b *browser, other *harness) *submitter {
	t.Helper()
	ob := other.browser()
	shareSession(t, b, ob)
	c := *ob.c
	c.Timeout = s.c.Timeout
	return &submitter{c: &c, base: other.URL, csrf: s.csrf}
}

type submitResult struct {
	status   int
	location string
	body     string
	took     time.Duration
	err      error
}

func (s *submitter) post(path string, form url.Values) submitResult {
	form.Set("_csrf", s.csrf)
	req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	start := time.Now()
	resp, err := s.c.Do(req)
	if err != nil {
		return submitResult{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return submitResult{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), took: time.Since(start)}
}

func (s *submitter) submit(addr string) submitResult {
	return s.post("/invitations", inviteForm(addr, func(v url.Values) { v.Del("ccRecipient") }))
}

// submitAll sends every address, workers at a time, and returns the results by address.
func (s *submitter) submitAll(addrs []string, workers int) map[string]submitResult {
	var (
		mu  sync.Mutex
		out = map[string]submitResult{}
		wg  sync.WaitGroup
		ch  = make(chan string)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range ch {
				r := s.submit(a)
				mu.Lock()
				out[a] = r
				mu.Unlock()
			}
		}()
	}
	for _, a := range addrs {
		ch <- a
	}
	close(ch)
	wg.Wait()
	return out
}

// reconciler is the intent reconciler as Portico's job runs it, on the instance's store, Graph
// client and keys, with Portico's own read-only identity and a clock shift (past the intents'
// lease, instead of waiting two minutes).
func reconciler(t *testing.T, a *app.App, tenant *devtenant.Tenant, shift time.Duration) func() invite.ReconcileResult {
	t.Helper()
	svc := invite.NewService(invite.Config{
		Graph:     a.Graph,
		Store:     invite.NewStoreAdapter(a.Store),
		Keys:      a.Keys,
		Policy:    app.InvitePolicy(a.Config),
		PublicURL: a.Config.PublicURL.String(),
		JoinTTL:   a.Config.JoinLinkTTL,
		Clock:     func() time.Time { return time.Now().Add(shift) },
		Logger:    a.Logger,
	})
	ts := backgroundTokens(t, tenant)
	return func() invite.ReconcileResult {
		res, err := svc.Reconcile(context.Background(), ts, 200)
		if err != nil {
			t.Logf("reconcile: %v", err)
		}
		return res
	}
}

// settleAll runs the reconciler until no intent is open for addrs, within limit.
func settleAll(t *testing.T, db *store.DB, run func() invite.ReconcileResult, addrs []string, tenantID string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		open := openIntents(t, db, tenantID, addrs)
		if len(open) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d intents still open after %v: %v", len(open), limit, open)
		}
		run()
		time.Sleep(200 * time.Millisecond)
	}
}

func openIntents(t *testing.T, db *store.DB, tenantID string, addrs []string) []string {
	t.Helper()
	var open []string
	for _, a := range addrs {
		in, err := db.OpenIntentFor(context.Background(), tenantID, a)
		if err == nil && in != nil {
			open = append(open, a)
		}
	}
	return open
}

func tenantInvitations(tenant *devtenant.Tenant) map[string]int {
	out := map[string]int{}
	for _, inv := range tenant.Invitations() {
		out[strings.ToLower(inv.Email)]++
	}
	return out
}

func recordsByAddress(t *testing.T, db *store.DB) map[string][]store.Invitation {
	t.Helper()
	out := map[string][]store.Invitation{}
	for _, r := range mustList(t, db) {
		out[strings.ToLower(r.Email)] = append(out[strings.ToLower(r.Email)], r)
	}
	return out
}

// checkExactlyOnce asserts the property for addrs: no more than one invitation in the
// tenant; exactly one record in Portico, in a definite state, with its audit event; and a record
// that says "created" exactly when the tenant holds the invitation.
func checkExactlyOnce(t *testing.T, tenant *devtenant.Tenant, db *store.DB, addrs []string) (created int) {
	t.Helper()
	inTenant := tenantInvitations(tenant)
	recs := recordsByAddress(t, db)
	for _, a := range addrs {
		n := inTenant[a]
		if n > 1 {
			t.Errorf("%s: %d invitations in the tenant (sent twice)", a, n)
		}
		rs := recs[a]
		if len(rs) != 1 {
			t.Errorf("%s: %d records in Portico, want 1", a, len(rs))
			continue
		}
		r := rs[0]
		switch {
		case r.Outcome == "sending":
			t.Errorf("%s: record still sending", a)
		case n == 1 && r.Outcome != "created":
			t.Errorf("%s: the tenant holds the invitation, Portico says %q (lost)", a, r.Outcome)
		case n == 0 && r.Outcome == "created":
			t.Errorf("%s: Portico says created, the tenant holds no invitation", a)
		}
		if n == 1 {
			created++
		}
		if evs := auditEvents(t, db, store.AuditFilter{Target: a}); len(evs) == 0 {
			t.Errorf("%s: no audit event", a)
		}
	}
	return created
}

func addresses(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d@fabrikam.example", prefix, i)
	}
	return out
}

// The mix, about 30% of invitation writes and lookups: 429 with Retry-After (Graph did not
// act), 503 after Graph acted, the connection dropped after Graph acted, the answer held past the
// graph client's 25 s attempt timeout, and 10 s delays on lookups (whole round trips, as a proxy
// delays them).
var faultMix = []string{
	"POST /invitations status=429 retry-after=1 rate=0.08",
	"POST /invitations status=503 after rate=0.08",
	"POST /invitations drop=after rate=0.08",
	"POST /invitations hold=27s rate=0.08",
	"GET /users delay=10s rate=0.1 alone",
	"POST /$batch delay=10s rate=0.1", // the preflight's lookups travel in one $batch
}

func TestFaultsHundredSubmits(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	if testing.Short() {
		t.Skip("about a minute per engine")
	}
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			dsn := dsn(t)
			tenant := tenantWith(t, func(o *devtenant.Options) { o.FaultSeed = 16 })
			in := faultInstance(t, tenant, dsn, nil)
			s, _ := newSubmitter(t, in.harness, "employee@contoso.example")
			injectSpecs(t, tenant, faultMix...)
			addrs := addresses("mix-"+name, 100)
			results := s.submitAll(addrs, 10)
			var slowest time.Duration
			for _, a := range addrs {
				r := results[a]
				if r.err != nil {
					t.Errorf("%s: the submit's connection failed after %v: %v", a, r.took, r.err)
				} else if r.took > 50*time.Second {
					t.Errorf("%s: the submit took %v, close to the server's 60 s write timeout: %d %s", a, r.took, r.status, snippet(r))
				}
				slowest = max(slowest, r.took)
			}
			hits := 0
			for _, f := range tenant.Faults() {
				hits += f.Hits
			}
			t.Logf("%d faults met; the slowest submit answered in %v", hits, slowest.Round(time.Millisecond))
			must(t, hits >= 20, "only %d faults met: the mix did not bite", hits)
			tenant.ClearFaults()

			db := in.App.Store
			settleAll(t, db, reconciler(t, in.App, tenant, 3*time.Minute), addrs, tenant.TenantID(), 90*time.Second)
			created := checkExactlyOnce(t, tenant, db, addrs)
			t.Logf("%d of %d created", created, len(addrs))
			must(t, created >= 90, "only %d of 100 created: faults where Graph acted must end created", created)
		})
	}
}

// Each kind of unknown outcome alone: one invitation in the tenant, and the user is shown it.
func TestFaultsUncertainAnswersShown(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	cases := []struct {
		name   string
		faults []string
	}{
		{"503 after Graph acted", []string{"POST /invitations status=503 after times=1"}},
		{"dropped answer", []string{"POST /invitations drop=after times=1"}},
		{"dropped answer and slow lookup", []string{"POST /invitations drop=after times=1", "GET /users delay=8s alone"}},
	}
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			dsn := dsn(t)
			tenant := newTenant(t)
			in := faultInstance(t, tenant, dsn, nil)
			s, b := newSubmitter(t, in.harness, "employee@contoso.example")
			run := reconciler(t, in.App, tenant, 3*time.Minute)
			for i, c := range cases {
				addr := fmt.Sprintf("uncertain-%d@fabrikam.example", i)
				tenant.ClearFaults()
				injectSpecs(t, tenant, c.faults...)
				r := s.submit(addr)
				must(t, r.err == nil && r.status == http.StatusSeeOther && strings.HasPrefix(r.location, "/invitations/"),
					"%s: submit %d %v %s", c.name, r.status, r.err, r.body)
				p := b.get(r.location)
				must(t, p.Status == http.StatusOK && strings.Contains(p.Body, addr), "%s: the page does not show the invitation: %d", c.name, p.Status)
				tenant.ClearFaults()
				settleAll(t, in.App.Store, run, []string{addr}, tenant.TenantID(), 60*time.Second)
				must(t, checkExactlyOnce(t, tenant, in.App.Store, []string{addr}) == 1, "%s: not created once", c.name)
				p = b.get(r.location)
				must(t, p.Status == http.StatusOK && strings.Contains(p.Body, addr) && !strings.Contains(p.Body, "Still sending"),
					"%s: after settling the page shows the invitation: %d", c.name, p.Status)
				list := b.get("/invitations")
				must(t, strings.Contains(list.Body, addr), "%s: not in My invitations", c.name)
				posts := 0
				for _, rq := range tenant.Requests() {
					if rq.Method == http.MethodPost && strings.HasSuffix(rq.Path, "/invitations") && strings.Contains(string(rq.Body), addr) {
						posts++
					}
				}
				must(t, posts == 1, "%s: the invitation was POSTed %d times", c.name, posts)
			}
		})
	}
}

// The same new address submitted at once (double clicks, on two instances sharing the database,
// PostgreSQL or an SQLite file) makes one invitation; the second caller is shown the first one's.
func TestFaultsConcurrentSubmitsOneAddress(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			dsn := dsn(t)
			tenant := newTenant(t)
			injectSpecs(t, tenant, "POST /invitations delay=300ms")
			a := faultInstance(t, tenant, dsn, nil)
			s, b := newSubmitter(t, a.harness, "employee@contoso.example")
			// Two instances on one database (on SQLite, sharing the file).
			other := faultInstance(t, tenant, dsn, nil)
			subs := []*submitter{s, s.on(t, b, other.harness)}
			for round := range 5 {
				addr := fmt.Sprintf("twice-%d@fabrikam.example", round)
				var wg sync.WaitGroup
				res := make([]submitResult, 4)
				for i := range res {
					wg.Add(1)
					go func() { defer wg.Done(); res[i] = subs[i%2].submit(addr) }()
				}
				wg.Wait()
				for i, r := range res {
					must(t, r.err == nil && r.status < 500, "round %d submit %d: %d %v %s", round, i, r.status, r.err, r.body)
					// Every caller is shown the one invitation.
					must(t, r.status == http.StatusSeeOther && r.location == res[0].location && strings.HasPrefix(r.location, "/invitations/"),
						"round %d submit %d: %d %q, the first went to %q", round, i, r.status, r.location, res[0].location)
				}
				must(t, tenantInvitations(tenant)[addr] <= 1, "round %d: %d invitations", round, tenantInvitations(tenant)[addr])
			}
			tenant.ClearFaults()
			addrs := []string{}
			for round := range 5 {
				addrs = append(addrs, fmt.Sprintf("twice-%d@fabrikam.example", round))
			}
			settleAll(t, a.App.Store, reconciler(t, a.App, tenant, 3*time.Minute), addrs, tenant.TenantID(), 60*time.Second)
			must(t, checkExactlyOnce(t, tenant, a.App.Store, addrs) == 5, "every address created once")
		})
	}
}

// "Send again" of one pending invitation, at once from two instances (sharing the database,
// PostgreSQL or an SQLite file), makes one new invitation.
func TestFaultsConcurrentResends(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			dsn := dsn(t)
			tenant := newTenant(t)
			a := faultInstance(t, tenant, dsn, nil)
			s, b := newSubmitter(t, a.harness, "employee@contoso.example")
			// Two instances on one database (on SQLite, sharing the file).
			other := faultInstance(t, tenant, dsn, nil)
			subs := []*submitter{s, s.on(t, b, other.harness)}
			for round := range 3 {
				addr := fmt.Sprintf("resend-%d@fabrikam.example", round)
				r := s.submit(addr)
				must(t, r.err == nil && r.status == http.StatusSeeOther, "first send: %d %v %s", r.status, r.err, r.body)
				id := strings.TrimPrefix(r.location, "/invitations/")
				must(t, tenantInvitations(tenant)[addr] == 1, "first send made %d", tenantInvitations(tenant)[addr])
				injectSpecs(t, tenant, "POST /invitations delay=300ms times=2")
				var wg sync.WaitGroup
				res := make([]submitResult, 2)
				for i := range res {
					wg.Add(1)
					go func() { defer wg.Done(); res[i] = subs[i].post("/invitations/"+id+"/resend", url.Values{}) }()
				}
				wg.Wait()
				tenant.ClearFaults()
				for i, r := range res {
					must(t, r.err == nil && r.status < 500, "round %d resend %d: %d %v %s", round, i, r.status, r.err, r.body)
				}
				must(t, tenantInvitations(tenant)[addr] == 2, "round %d: two concurrent resends made %d new invitations, want 1",
					round, tenantInvitations(tenant)[addr]-1)
			}
		})
	}
}

// The quota is reserved with the intent: 16 concurrent submits across two instances against 5/h
// create exactly 5, on PostgreSQL and on SQLite (two instances sharing the database file).
func TestFaultsQuotaAcrossInstances(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			dsn := dsn(t)
			tenant := newTenant(t)
			injectSpecs(t, tenant, "POST /invitations delay=200ms")
			env := map[string]string{"PORTICO_INVITE_QUOTA": "5/h"}
			a := faultInstance(t, tenant, dsn, env)
			b2 := faultInstance(t, tenant, dsn, env)
			s, b := newSubmitter(t, a.harness, "employee@contoso.example")
			subs := []*submitter{s, s.on(t, b, b2.harness)}
			addrs := addresses("quota-"+name, 16)
			res := make([]submitResult, len(addrs))
			var wg sync.WaitGroup
			for i, addr := range addrs {
				wg.Add(1)
				go func() { defer wg.Done(); res[i] = subs[i%2].submit(addr) }()
			}
			wg.Wait()
			tenant.ClearFaults()
			n, sent, refused := 0, 0, 0
			for i, addr := range addrs {
				n += tenantInvitations(tenant)[addr]
				r := res[i]
				switch {
				case r.err != nil || r.status >= 500:
					t.Errorf("%s: %d %v %s", addr, r.status, r.err, snippet(r))
				case r.status == http.StatusSeeOther:
					sent++
				case r.status == http.StatusTooManyRequests:
					refused++
				}
			}
			t.Logf("%d sent, %d refused by the quota, %d invitations in the tenant", sent, refused, n)
			must(t, n == 5 && sent == 5 && refused == 11, "16 concurrent submits against 5/h: %d invitations, %d sent, %d refused", n, sent, refused)
		})
	}
}

// Graph answering in 22 s per call (three calls: 66 s: the preflight's lookups, the invitation,
// the confirming lookup): the submit answers with a page showing the invitation ("Still
// sending…"), well before the server's 60 s write timeout, never a dropped connection; the send
// settles later. 22 s is within the graph client's 25 s attempt timeout and the preflight's 30 s
// budget: a Graph this slow still invites, once. Portico's own reconciler runs meanwhile (a
// background identity): the heartbeat keeps the live call's intent its own, so the call settles
// it with Graph's answer (and its redemption URL), never the reconciler under its feet.
func TestFaultsSlowGraphSubmitShowsInvitation(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	if testing.Short() {
		t.Skip("over a minute")
	}
	tenant := newTenant(t)
	in := faultInstance(t, tenant, sqliteFile(t), map[string]string{"PORTICO_BACKGROUND": "on"})
	s, b := newSubmitter(t, in.harness, "employee@contoso.example")
	injectSpecs(t, tenant, "POST /$batch delay=22s times=1", "POST /invitations hold=22s times=1", "GET /users delay=22s times=1 alone")
	addr := "slow-graph@fabrikam.example"
	began := time.Now()
	r := s.submit(addr)
	t.Logf("the submit answered in %v", r.took.Round(time.Millisecond))
	must(t, r.err == nil, "the submit's connection failed after %v: %v", r.took, r.err)
	must(t, r.took < 45*time.Second, "the submit took %v, too close to the 60 s write timeout", r.took)
	must(t, r.status == http.StatusSeeOther && strings.HasPrefix(r.location, "/invitations/"), "submit: %d %s", r.status, snippet(r))
	p := b.get(r.location)
	must(t, p.Status == http.StatusOK && strings.Contains(p.Body, addr), "the page does not show the invitation: %d", p.Status)
	deadline := time.Now().Add(100 * time.Second)
	for {
		recs := recordsByAddress(t, in.App.Store)[addr]
		if len(recs) == 1 && recs[0].Outcome != "sending" {
			break
		}
		must(t, time.Now().Before(deadline), "the send never settled: %+v", recs)
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("settled %v after the submit began", time.Since(began).Round(time.Millisecond))
	must(t, checkExactlyOnce(t, tenant, in.App.Store, []string{addr}) == 1, "created once")
	rec := recordsByAddress(t, in.App.Store)[addr][0]
	evs := auditEvents(t, in.App.Store, store.AuditFilter{Target: addr})
	must(t, len(evs) == 1 && evs[0].Outcome == "created" && !strings.Contains(evs[0].Detail, "lookup") && len(rec.RedeemURLSealed) > 0,
		"the live call must settle its own intent with Graph's answer: audit %+v, redemption URL kept: %v", evs, len(rec.RedeemURLSealed) > 0)
	p = b.get(r.location)
	must(t, p.Status == http.StatusOK && strings.Contains(p.Body, addr) && !strings.Contains(p.Body, "Still sending"), "the settled page: %d", p.Status)
}

const (
	faultsChild     = "PORTICO_TEST_FAULTS_CHILD"
	faultsChildAddr = "PORTICO_TEST_FAULTS_ADDR"
)

// TestFaultsChildPortico is the real program (runServe) in a child process, for kill -9 and
// SIGTERM; its settings come from the environment the parent gives it.
func TestFaultsChildPortico(t *testing.T) {
	if os.Getenv(faultsChild) != "1" {
		t.Skip("the child process of TestFaultsKilledDuringSubmits")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := runServe(ctx, []string{"-addr", os.Getenv(faultsChildAddr)}, os.Getenv, os.Stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

// startChild runs Portico in a child process on dsn against tenant and waits until it is ready.
func startChild(t *testing.T, tenant *devtenant.Tenant, dsn string) (*exec.Cmd, *harness) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	env := baseEnv(tenant, addr)
	env["PORTICO_DATABASE_URL"], env["PORTICO_INVITE_QUOTA"], env["PORTICO_LOG_LEVEL"] = dsn, "off", "info"
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultsChildPortico$", "-test.count=1")
	cmd.Env = append(os.Environ(), faultsChild+"=1", faultsChildAddr+"="+addr)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	h := &harness{t: t, tenant: tenant, Logs: logs, env: env, URL: "http://" + addr}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(h.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, h
			}
		}
		must(t, time.Now().Before(deadline), "the child never became ready\n%s", logs)
		time.Sleep(100 * time.Millisecond)
	}
}

// kill -9, and SIGTERM with Graph answering slowly, while 8 submits are in flight; then restart
// (with a background identity, so the restarted Portico runs its own reconciler): in real time,
// within 60 s of the restart every invitation the tenant holds is in My invitations, settled (not
// "Sending…"), exactly once, with its audit event. The dead process's intents became claimable
// when their 20 s leases lapsed (no heartbeat renews them any more); the reconciler, every 15 s,
// settles them by lookup. An intent whose POST Graph never received stays "Sending…" in My
// invitations while the reconciler keeps looking (the reconcile patience, 10 minutes); at the
// end a reconciler with the clock past the patience shows it ends as not sent.
func TestFaultsKilledDuringSubmits(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	if testing.Short() {
		t.Skip("up to a minute and a half per case")
	}
	cases := []struct {
		name   string
		fault  string
		signal os.Signal
	}{
		{"kill -9, Graph answering at once", "", os.Kill},
		{"kill -9, Graph answering in 3 s", "POST /invitations hold=3s", os.Kill},
		{"SIGTERM, Graph answering in 25 s", "POST /invitations hold=25s", syscall.SIGTERM},
		// Four POSTs wait before Graph acts, and the process dies meanwhile: Graph never
		// receives them, their intents stay open.
		{"kill -9, half the POSTs not received", "POST /invitations delay=40s times=4", os.Kill},
	}
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			for i, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel() // each case has its own tenant and database; most of it is waiting
					killedDuringSubmits(t, dsn(t), fmt.Sprintf("killed-%s-%d", name, i), c.fault, c.signal)
				})
			}
		})
	}
}

func killedDuringSubmits(t *testing.T, dsn, prefix, fault string, sig os.Signal) {
	tenant := newTenant(t)
	cmd, h := startChild(t, tenant, dsn)
	s, _ := newSubmitter(t, h, "employee@contoso.example")
	if fault != "" {
		injectSpecs(t, tenant, fault)
	}
	addrs := addresses(prefix, 8)
	done := make(chan map[string]submitResult, 1)
	go func() { done <- s.submitAll(addrs, 8) }()
	// Stop the process once Graph acted on at least half of them (at once: some may have been
	// recorded already, which is fine).
	deadline := time.Now().Add(30 * time.Second)
	for len(among(tenantInvitations(tenant), addrs)) < 4 {
		must(t, time.Now().Before(deadline), "Graph never received the submits\n%s", h.Logs)
		time.Sleep(time.Millisecond)
	}
	must(t, cmd.Process.Signal(sig) == nil, "signal")
	stopped := time.Now()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(40 * time.Second):
		t.Fatalf("the child did not exit after %v\n%s", sig, h.Logs)
	}
	<-done
	tenant.ClearFaults()
	created := among(tenantInvitations(tenant), addrs)
	t.Logf("%v: the process exited after %v; the tenant holds %d of the 8 invitations", sig, time.Since(stopped).Round(time.Millisecond), len(created))

	restarted := time.Now()
	in := faultInstance(t, tenant, dsn, map[string]string{"PORTICO_BACKGROUND": "on"})
	_, b := newSubmitter(t, in.harness, "employee@contoso.example")
	db := in.App.Store
	states := myInvitations(t, b)
	for a := range created {
		_, listed := states[a]
		must(t, listed, "%s: created in the tenant, missing from My invitations after restart: %v", a, states)
	}

	// In real time: Portico's own reconciler settles every invitation Graph created.
	var recs map[string][]store.Invitation
	for {
		states, recs = myInvitations(t, b), recordsByAddress(t, db)
		settled := 0
		for a := range created {
			if st := states[a]; st != "" && st != "Sending…" && len(recs[a]) == 1 && recs[a][0].Outcome == "created" {
				settled++
			}
		}
		if settled == len(created) {
			break
		}
		must(t, time.Since(restarted) < 60*time.Second, "%d of %d invitations Graph created settled 60 s after the restart; My invitations: %v",
			settled, len(created), states)
		time.Sleep(500 * time.Millisecond)
	}
	took := time.Since(restarted)
	t.Logf("every invitation Graph created (%d) is settled in My invitations %v after the restart", len(created), took.Round(time.Millisecond))
	sending := 0
	for _, a := range addrs {
		n := created[a]
		must(t, n <= 1, "%s: %d invitations in the tenant (sent twice)", a, n)
		switch {
		case len(recs[a]) == 0:
			// The process died before the intent was committed: nothing was sent either.
			must(t, n == 0, "%s: in the tenant, unknown to Portico (lost)", a)
		case n == 1:
			must(t, len(recs[a]) == 1 && recs[a][0].Outcome == "created", "%s: records %+v", a, recs[a])
			evs := auditEvents(t, db, store.AuditFilter{Target: a})
			must(t, len(evs) == 1 && evs[0].Outcome == "created", "%s: audit events %+v; want one, created", a, evs)
		default:
			// Graph never received it: the intent stays open, and the partner is listed as being
			// sent, while the reconciler keeps looking for the reconcile patience.
			must(t, len(recs[a]) == 1 && recs[a][0].Outcome == "sending" && states[a] == "Sending…",
				"%s: not in the tenant; record %+v, listed as %q; want \"Sending…\"", a, recs[a], states[a])
			sending++
		}
	}
	must(t, len(among(tenantInvitations(tenant), addrs)) == len(created), "the reconciler must not send: %d → %d",
		len(created), len(among(tenantInvitations(tenant), addrs)))
	if sending == 0 {
		return
	}
	// The patience passes (the clock of a second reconciler on the same database moves past it):
	// the rest end as not sent, with their audit events, and still nothing is sent.
	t.Logf("%d intent(s) Graph never received listed as \"Sending…\"", sending)
	settleAll(t, db, reconciler(t, in.App, tenant, invite.DefaultReconcilePatience+5*time.Minute), addrs, tenant.TenantID(), 60*time.Second)
	recs, states = recordsByAddress(t, db), myInvitations(t, b)
	for _, a := range addrs {
		if len(recs[a]) == 1 && created[a] == 0 {
			must(t, recs[a][0].Outcome == "failed" && recs[a][0].ErrorCode == "NotSent" && states[a] != "Sending…" && states[a] != "",
				"%s: record %+v listed as %q; want not sent", a, recs[a][0], states[a])
			must(t, len(auditEvents(t, db, store.AuditFilter{Target: a})) == 1, "%s: no audit event", a)
		}
	}
	must(t, len(among(tenantInvitations(tenant), addrs)) == len(created), "the reconciler must not send")
}

// myInvitations is the signed-in employee's list, My invitations: each partner's address and the
// state it shows ("Sending…", "Pending", …).
func myInvitations(t *testing.T, b *browser) map[string]string {
	t.Helper()
	p := b.get("/invitations")
	must(t, p.Status == http.StatusOK && p.Doc != nil, "My invitations: %d", p.Status)
	out := map[string]string{}
	p.Doc.Find(`tr[data-testid="invitation-row"]`).Each(func(_ int, row *goquery.Selection) {
		cell := row.Find(`td[data-label="Partner"]`).Clone()
		cell.Find("small").Remove()
		state := row.Find(`td[data-label="State"]`).Clone()
		state.Find("small").Remove()
		out[strings.ToLower(strings.TrimSpace(cell.Text()))] = strings.TrimSpace(state.Text())
	})
	return out
}

// among keeps the addresses of addrs.
func among(m map[string]int, addrs []string) map[string]int {
	out := map[string]int{}
	for _, a := range addrs {
		if n, ok := m[a]; ok {
			out[a] = n
		}
	}
	return out
}

// snippet is what a submit's answer said, for a failure message.
func snippet(r submitResult) string {
	if r.location != "" {
		return "-> " + r.location
	}
	s := r.body
	if i := strings.Index(s, "<main"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 600 {
		s = s[:600]
	}
	return s
}

// `portico devtenant -fault … -write-quota …` starts with those faults, and the operator drives
// them from outside Go through the control endpoint (scripts/faults.sh when sh and curl exist).
func TestDevtenantCommandFaults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runDevtenant(ctx, []string{"-addr", addr, "-control-token", "operator-token-for-tests",
			"-fault", "POST /invitations status=503 after rate=0.3", "-fault", "abuse times=1", "-write-quota", "20/1s"}, os.Getenv, out, errOut)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("devtenant: %v", err)
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Control endpoint") {
		must(t, time.Now().Before(deadline), "devtenant did not start: %s %s", out, errOut)
		time.Sleep(20 * time.Millisecond)
	}
	must(t, strings.Contains(out.String(), "Fault injected: POST /invitations status=503 after rate=0.3") &&
		strings.Contains(out.String(), "Graph write quota: 20 per 1s.") && strings.Contains(out.String(), "Bearer operator-token-for-tests"),
		"banner: %s", out)
	call := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer operator-token-for-tests")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := call("GET", "/_devtenant/faults", "")
	must(t, st == 200 && strings.Count(body, `"spec"`) == 2 && strings.Contains(body, "Invitations are blocked for this directory"), "list: %d %s", st, body)
	st, body = call("GET", "/_devtenant/write-quota", "")
	must(t, st == 200 && strings.Contains(body, `"writes":20`), "quota: %d %s", st, body)

	// Bad usage is a usage error, not a start.
	err = runDevtenant(context.Background(), []string{"-fault", "status=200"}, os.Getenv, io.Discard, io.Discard)
	must(t, err != nil && strings.Contains(err.Error(), "400 to 599"), "bad -fault: %v", err)
	err = runDevtenant(context.Background(), []string{"-write-quota", "lots"}, os.Getenv, io.Discard, io.Discard)
	must(t, err != nil && strings.Contains(err.Error(), "-write-quota"), "bad -write-quota: %v", err)

	sh, errSh := exec.LookPath("sh")
	_, errCurl := exec.LookPath("curl")
	if errSh != nil || errCurl != nil {
		t.Log("sh or curl missing: scripts/faults.sh not exercised")
		return
	}
	script := func(args ...string) string {
		cmd := exec.Command(sh, append([]string{"scripts/faults.sh"}, args...)...)
		cmd.Env = append(os.Environ(), "DEVTENANT_URL="+base, "DEVTENANT_CONTROL_TOKEN=operator-token-for-tests")
		b, err := cmd.CombinedOutput()
		must(t, err == nil, "faults.sh %v: %v %s", args, err, b)
		return string(b)
	}
	script("clear")
	got := script("add", "POST /invitations drop=after times=2", "GET /users delay=1s alone")
	must(t, strings.Contains(got, `"spec":"POST /invitations drop=after times=2"`) && strings.Contains(got, `"left":2`), "add: %s", got)
	got = script("quota", "off")
	must(t, strings.Contains(got, `"writes":0`), "quota off: %s", got)
	st, body = call("GET", "/_devtenant/faults", "")
	must(t, st == 200 && strings.Count(body, `"spec"`) == 2, "after the script: %s", body)
}

// The demo takes faults and a write quota on its command line and prints its control endpoint;
// the abuse preset refuses the invitation with Graph's 403 and nothing is created.
func TestDemoFaultFlags(t *testing.T) {
	in := launch(t, nil, map[string]string{"PORTICO_INVITE_QUOTA": "off"}, "-demo", "-demo-fault", "abuse times=1",
		"-demo-fault", "GET /organization delay=1ms", "-demo-write-quota", "20/1s")
	in.await(t)
	tenant := in.App.Tenant
	logs := in.Logs.String()
	must(t, strings.Contains(logs, "devtenant fault: POST /invitations status=403") && strings.Contains(logs, "devtenant Graph write quota: 20 per 1s.") &&
		strings.Contains(logs, "Bearer "+in.App.DemoControlToken) && in.App.DemoControlToken != "", "banner:\n%s", logs)
	n, per := tenant.WriteQuota()
	must(t, n == 20 && per == time.Second, "write quota %d/%v", n, per)

	req, _ := http.NewRequest(http.MethodGet, tenant.URL()+"/_devtenant/faults", nil)
	req.Header.Set("Authorization", "Bearer "+in.App.DemoControlToken)
	resp, err := http.DefaultClient.Do(req)
	must(t, err == nil, "control: %v", err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(t, resp.StatusCode == http.StatusOK && strings.Count(string(body), `"spec"`) == 2, "control list: %d %s", resp.StatusCode, body)

	b := in.browser()
	b.signIn("employee@contoso.example")
	p := b.post("/invitations", inviteForm("blocked@fabrikam.example"))
	t.Logf("the abuse block is shown as %d: %q", p.Status, text(p, `[data-testid="alert"]`))
	must(t, p.Status == http.StatusForbidden, "abuse-blocked invitation: %d", p.Status)
	alert := text(p, `[data-testid="alert"]`)
	must(t, strings.Contains(alert, "Invitations are blocked for your organization") && strings.Contains(alert, "Microsoft support") &&
		!strings.Contains(alert, "isn't allowed to invite"), "the block is told as what it is: %q", alert)
	evs := auditEvents(t, in.App.Store, store.AuditFilter{Target: "blocked@fabrikam.example"})
	must(t, len(evs) == 1 && evs[0].Outcome == "failed" && strings.Contains(evs[0].Detail, "abuse protection"), "audit: %+v", evs)
	must(t, strings.Contains(in.Logs.String(), "open a Microsoft support request"), "the operator's log says what to do")
	must(t, countPosts(tenant, "/v1.0/invitations") == 1 && len(among(tenantInvitations(tenant), []string{"blocked@fabrikam.example"})) == 0,
		"one refused POST, never retried, nothing created")
	_, err = config.Load([]string{"-demo", "-demo-fault", "POST /invitations"}, func(string) string { return "" }, io.Discard)
	must(t, err != nil && strings.Contains(err.Error(), "-demo-fault"), "a fault that changes nothing is refused: %v", err)
}
