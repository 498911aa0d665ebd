package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/oauth2"

	"portico/app"
	"portico/config"
	"portico/devtenant"
	"portico/graph"
	"portico/invite"
	"portico/jobs"
	"portico/keyring"
	"portico/store"
)

// graphReadsUnder lists the GET requests devtenant received on paths starting with prefix.
func graphReadsUnder(tenant *devtenant.Tenant, prefix string) []devtenant.RecordedRequest {
	var out []devtenant.RecordedRequest
	for _, r := range tenant.Requests() {
		if r.Method == http.MethodGet && strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// backgroundTokens is Portico's own read-only identity in devtenant (what application
// credentials give in production).
func backgroundTokens(t *testing.T, tenant *devtenant.Tenant) oauth2.TokenSource {
	t.Helper()
	tok, err := tenant.AppAccessToken("User.Read.All")
	if err != nil {
		t.Fatal(err)
	}
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, Expiry: time.Now().Add(time.Hour)})
}

// startWithBackground is start with app.Options.Background set.
func startWithBackground(t *testing.T, tenant *devtenant.Tenant, env map[string]string, ts oauth2.TokenSource) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := baseEnv(tenant, ln.Addr().String())
	for k, v := range env {
		e[k] = v
	}
	logs := &syncBuffer{}
	cfg, err := config.Load([]string{"-addr", ln.Addr().String()}, func(k string) string { return e[k] }, logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Listener: ln, Log: logs, Background: ts})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
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
	h := &harness{t: t, tenant: tenant, Logs: logs, env: e, URL: a.URL()}
	h.waitReady()
	return h
}

// With a background identity, a partner who accepts through a join link is Accepted in the
// inviter's list within 5 seconds of landing on Portico, and list pages make no Graph call.
func TestAcceptanceSeenWithinSeconds(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t)}, backgroundTokens(t, tenant))
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	_, join := inviteByLink(t, emp, "quinn@fabrikam.example")
	posted := invitationBodies(t, tenant)
	must(t, len(posted) == 1 && strings.HasPrefix(fmt.Sprint(posted[0]["inviteRedirectUrl"]), h.URL+"/welcome?i="),
		"Graph is asked to send the partner to Portico's welcome page with a reference: %v", posted)

	partner := h.browser()
	acc := partner.post(strings.TrimPrefix(join, h.URL)+"/accept", url.Values{"_csrf": {""}})
	redeemed := partner.post(acc.Header.Get("Location"), url.Values{"_csrf": {""}})
	landing := redeemed.Header.Get("Location")
	must(t, strings.HasPrefix(landing, h.URL+"/welcome?i="), "lands on Portico's welcome page with the reference: %q", landing)

	tenant.ResetRequests()
	landed := time.Now()
	welcome := partner.get(landing)
	must(t, welcome.Status == http.StatusOK && strings.Contains(welcome.Body, "all set"), "welcome page %d", welcome.Status)
	for {
		list := emp.get("/invitations?state=accepted")
		if list.Doc.Find(`[data-testid="invitation-row"]`).Length() == 1 {
			break
		}
		must(t, time.Since(landed) < 5*time.Second, "not Accepted in the list 5 s after landing\n%s", h.Logs)
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("Accepted in the list %v after the partner landed", time.Since(landed).Round(time.Millisecond))
	reads := graphReadsUnder(tenant, "/v1.0/users/")
	must(t, len(reads) >= 1, "the state was read")
	for _, r := range reads {
		must(t, r.Header.Get("x-ms-throttle-priority") == "low", "background read at low priority: %q", r.Header.Get("x-ms-throttle-priority"))
	}

	// The welcome page again, many times: no more reads (one per invitation per period, and
	// the partner is already Accepted).
	n := len(tenant.Requests())
	for range 5 {
		partner.get(landing)
	}
	// Lists render from the database.
	emp.get("/invitations")
	emp.get("/invitations?state=pending")
	time.Sleep(300 * time.Millisecond)
	must(t, len(tenant.Requests()) == n, "landing again or rendering lists called Graph: %d new requests", len(tenant.Requests())-n)

	admin := h.browser()
	admin.signIn("admin@contoso.example")
	page := admin.get("/admin/jobs")
	must(t, page.Status == http.StatusOK, "jobs page %d", page.Status)
	must(t, page.Doc.Find(`tr[data-kind="state_refresh"][data-state="completed"]`).Length() == 1, "the refresh is listed as completed:\n%s", page.Body)
	must(t, page.Doc.Find(`[data-testid="job-feature"][data-on="true"]`).Length() == 3, "the state sync, the intent reconciler and bulk sending are on")
	must(t, strings.Contains(h.Logs.String(), `"job finished"`), "operators see jobs in the logs")
}

// Without a background identity the state sync is off: said at start-up and on /admin/jobs.
func TestBackgroundOffIsSaid(t *testing.T) {
	h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t)})
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	page := admin.get("/admin/jobs")
	must(t, page.Status == http.StatusOK, "jobs page %d", page.Status)
	off := page.Doc.Find(`[data-testid="job-feature"][data-on="false"]`)
	must(t, off.Length() == 4, "the page lists the state sync, the intent reconciler, the notices and bulk sending as off: %q", off.Text())
	off.Each(func(_ int, f *goquery.Selection) {
		must(t, strings.Contains(f.Text(), "no background identity") || strings.Contains(f.Text(), "Email notices off: no transport"), "the page says why %q is off", f.Text())
	})
	must(t, strings.Contains(h.Logs.String(), "background feature off"), "the start-up log says so")
}

// Environment of the job child process (TestJobsChildProcess).
const (
	childEnv      = "PORTICO_TEST_JOBS_CHILD"
	childDSN      = "PORTICO_TEST_JOBS_DSN"
	childGraph    = "PORTICO_TEST_JOBS_GRAPH"
	childToken    = "PORTICO_TEST_JOBS_TOKEN"
	childPause    = "PORTICO_TEST_JOBS_PAUSE"
	childEnqueue  = "PORTICO_TEST_JOBS_ENQUEUE"
	childInstance = "PORTICO_TEST_JOBS_ID"
)

// childRunnerConfig is the job queue of the child processes: short timeouts, so a job whose
// instance died is rescued within seconds, and no periodic sync.
func childRunnerConfig(db *store.DB, graphURL string, ts oauth2.TokenSource, pause time.Duration, id string) (jobs.Config, error) {
	keys, err := keyring.New(bytes.Repeat([]byte{5}, keyring.KeySize))
	if err != nil {
		return jobs.Config{}, err
	}
	inv := invite.NewService(invite.Config{
		Graph: graph.NewClient(graphURL, nil), Store: invite.NewStoreAdapter(db), Keys: keys,
		PublicURL: "http://portico.test", Policy: invite.Policy{DefaultRedirectURL: "http://portico.test/welcome"}, JoinTTL: time.Hour,
	})
	return jobs.Config{Store: db, Invites: inv, Tokens: ts, ID: id, SyncInterval: -1, SyncPause: pause,
		JobTimeout: 10 * time.Second, RescueAfter: 11 * time.Second, PollInterval: 100 * time.Millisecond}, nil
}

// TestJobsChildProcess is not a test on its own: TestJobSurvivesKill9 runs the test binary again
// with it selected, as the process it kills.
func TestJobsChildProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("the child process of TestJobSurvivesKill9")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, os.Getenv(childDSN), nil)
	if err != nil {
		t.Fatal(err)
	}
	pause, _ := time.ParseDuration(os.Getenv(childPause))
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: os.Getenv(childToken), Expiry: time.Now().Add(time.Hour)})
	cfg, err := childRunnerConfig(db, os.Getenv(childGraph), ts, pause, os.Getenv(childInstance))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = app.NewLogger("debug", nil, os.Stderr)
	r, err := jobs.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if os.Getenv(childEnqueue) == "1" {
		id, err := r.SyncNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("job", id)
	}
	select {} // until killed
}

// Killing the process running a job (kill -9) and starting another finishes the job exactly
// once: every state is read from Graph once, the job completes on its second attempt.
func TestJobSurvivesKill9(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn := dsn(t)
			tenant := newTenant(t)
			db := openStore(t, dsn)
			const n = 60 // three batches
			seeded := time.Now().Add(-time.Hour).UTC()
			for i := range n {
				id, mail := fmt.Sprintf("kill9-guest-%02d", i), fmt.Sprintf("kill9-%02d@fabrikam.example", i)
				tenant.AddUser(devtenant.User{ID: id, DisplayName: id, Mail: mail, UserPrincipalName: "kill9-" + strconv.Itoa(i) + "_fabrikam.example#EXT#@contoso.example",
					UserType: "Guest", ExternalUserState: "PendingAcceptance", CreationType: "Invitation", AccountEnabled: true})
				checked := seeded.Add(time.Duration(i) * time.Second)
				if err := db.CreateInvitation(context.Background(), &store.Invitation{TenantID: tenant.TenantID(), InviterOID: "oid", InviterUPN: "e@contoso.example",
					InviterName: "E", Email: mail, Outcome: "created", GraphUserID: id, ExternalUserState: "PendingAcceptance", StateCheckedAt: &checked, UserType: "Guest"}); err != nil {
					t.Fatal(err)
				}
			}
			tok, err := tenant.AppAccessToken("User.Read.All")
			if err != nil {
				t.Fatal(err)
			}
			child := func(id, pause, enqueue string) (*exec.Cmd, *syncBuffer) {
				cmd := exec.Command(os.Args[0], "-test.run=^TestJobsChildProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), childEnv+"=1", childDSN+"="+dsn, childGraph+"="+tenant.URL(), childToken+"="+tok,
					childPause+"="+pause, childEnqueue+"="+enqueue, childInstance+"="+id)
				out := &syncBuffer{}
				cmd.Stdout, cmd.Stderr = out, out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
				return cmd, out
			}
			checked := func() int {
				c := 0
				for _, r := range mustList(t, db) {
					if r.StateCheckedAt != nil && r.StateCheckedAt.After(seeded.Add(time.Hour)) {
						c++
					}
				}
				return c
			}
			reads := func() map[string]int {
				out := map[string]int{}
				for _, r := range graphReadsUnder(tenant, "/v1.0/users/kill9-") {
					out[strings.TrimPrefix(r.Path, "/v1.0/users/")]++
				}
				return out
			}

			// The first process reads one batch, then waits 3 s before the next: killed there.
			first, out1 := child("first", "3s", "1")
			deadline := time.Now().Add(60 * time.Second)
			for checked() < 20 {
				must(t, time.Now().Before(deadline), "the first batch was never saved\n%s", out1)
				time.Sleep(20 * time.Millisecond)
			}
			must(t, first.Process.Kill() == nil, "kill -9")
			_ = first.Wait()
			must(t, len(reads()) == 20 && checked() == 20, "killed after one batch: %d read, %d saved", len(reads()), checked())

			// The queue as any instance sees it (not started: it only reads).
			cfg, err := childRunnerConfig(db, tenant.URL(), nil, 0, "observer")
			if err != nil {
				t.Fatal(err)
			}
			obs, err := jobs.New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(obs.Close)
			list, _, err := obs.List(context.Background(), 0, 10)
			must(t, err == nil && len(list) == 1 && list[0].State == "running", "the job is left running by the dead process: %+v %v", list, err)
			jobID := list[0].ID

			// A second process rescues the job once the first one's lease is over and finishes it.
			_, out2 := child("second", "50ms", "0")
			var j *jobs.Job
			deadline = time.Now().Add(120 * time.Second)
			for {
				j, err = obs.Get(context.Background(), jobID)
				must(t, err == nil, "get job: %v", err)
				if j.State == "completed" {
					break
				}
				must(t, time.Now().Before(deadline), "the job was not finished by the second process: %+v\n%s", j, out2)
				time.Sleep(200 * time.Millisecond)
			}
			must(t, j.Attempt == 2 && strings.Join(j.AttemptedBy, ",") == "first,second", "finished on the second attempt, by the second process: %+v", j)
			got := reads()
			must(t, len(got) == n, "%d of %d states read", len(got), n)
			for id, c := range got {
				must(t, c == 1, "%s read %d times: the job must read each state exactly once", id, c)
			}
			must(t, checked() == n, "%d of %d states saved", checked(), n)
			list, _, _ = obs.List(context.Background(), 0, 100)
			syncs := 0
			for _, j := range list {
				if j.Kind == jobs.KindStateSync {
					syncs++
				}
			}
			must(t, syncs == 1, "one state sync, not a second one: %+v", list)
		})
	}
}

func mustList(t *testing.T, db *store.DB) []store.Invitation {
	t.Helper()
	recs, err := db.ListInvitations(context.Background(), store.InvitationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// /admin/jobs in Chromium: one h1, no overflow on a phone, visible focus, axe-clean in both
// themes, with a completed job and one that failed and waits to be retried.
func TestBrowserJobsPage(t *testing.T) {
	c := newChrome(t)
	axeJS := axeSource(t)
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t)}, backgroundTokens(t, tenant))
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	_, join := inviteByLink(t, emp, "riley@fabrikam.example")
	partner := h.browser()
	acc := partner.post(strings.TrimPrefix(join, h.URL)+"/accept", url.Values{"_csrf": {""}})
	redeemed := partner.post(acc.Header.Get("Location"), url.Values{"_csrf": {""}})
	partner.get(redeemed.Header.Get("Location"))

	admin := c.newTab(t, h.URL)
	admin.signIn("admin@contoso.example")
	deadline := time.Now().Add(20 * time.Second)
	for {
		must(t, admin.open("/admin/jobs") == http.StatusOK, "jobs page")
		if admin.count(`tr[data-testid="job-row"][data-state="completed"]`) >= 1 {
			break
		}
		must(t, time.Now().Before(deadline), "no completed job listed")
		time.Sleep(200 * time.Millisecond)
	}
	checkPage(t, admin, "jobs", axeJS)
}

// The demo in application mode (Portico's own token is the background identity, as wired by
// app): a partner who accepts through a join link is Accepted in the inviter's list within 5 s
// of landing on Portico.
func TestAppModeDemoAcceptanceWithinSeconds(t *testing.T) {
	in := launch(t, nil, nil, "-demo", "-graph-mode", "application")
	in.await(t)
	must(t, in.App.Jobs != nil && in.App.Invites.BackgroundSync(), "application mode turns the background state sync on")
	emp := in.browser()
	emp.signIn("employee@contoso.example")
	_, join := inviteByLink(t, emp, "jordan@fabrikam.example")
	partner := in.browser()
	acc := partner.post(strings.TrimPrefix(join, in.URL)+"/accept", url.Values{"_csrf": {""}})
	redeemed := partner.post(acc.Header.Get("Location"), url.Values{"_csrf": {""}})
	landing := redeemed.Header.Get("Location")
	must(t, strings.Contains(landing, "/welcome?i="), "lands on Portico's welcome page with the reference: %q", landing)
	landed := time.Now()
	must(t, partner.get(landing).Status == http.StatusOK, "welcome page")
	for emp.get("/invitations?state=accepted").Doc.Find(`[data-testid="invitation-row"]`).Length() != 1 {
		must(t, time.Since(landed) < 5*time.Second, "not Accepted in the list 5 s after landing\n%s", in.Logs)
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("demo, application mode: Accepted in the list %v after the partner landed", time.Since(landed).Round(time.Millisecond))
}
