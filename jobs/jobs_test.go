package jobs

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"golang.org/x/oauth2"

	"portico/devtenant"
	"portico/graph"
	"portico/invite"
	"portico/keyring"
	"portico/store"
	"portico/store/storetest"
)

// env is a store, a devtenant with guests, the invite service and Portico's background identity.
type env struct {
	db      *store.DB
	tenant  *devtenant.Tenant
	invites *invite.Service
	tokens  oauth2.TokenSource
	recs    []*store.Invitation // oldest checked first
}

func testKeys(t *testing.T) *keyring.Ring {
	k, err := keyring.New(bytes.Repeat([]byte{7}, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sqliteURL(t *testing.T) string { return filepath.Join(t.TempDir(), "portico.db") }

func postgresURL(t *testing.T) string { return storetest.FreshPostgres(t) }

var engines = []struct {
	name string
	url  func(t *testing.T) string
}{{"sqlite", sqliteURL}, {"postgres", postgresURL}}

// newEnv makes n pending invitations of guests in devtenant, the first accepted ones accepted there.
func newEnv(t *testing.T, dsn string, n, accepted int) *env {
	t.Helper()
	ctx := context.Background()
	tenant, err := devtenant.New(devtenant.Options{ClientSecret: "test-secret-0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tenant.Close(context.Background()) })
	db, err := store.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	tok, err := tenant.AppAccessToken("User.Read.All")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, tenant: tenant, tokens: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, Expiry: time.Now().Add(time.Hour)})}
	e.invites = invite.NewService(invite.Config{
		Graph: graph.NewClient(tenant.URL(), &http.Client{Timeout: 10 * time.Second}),
		Store: invite.NewStoreAdapter(db), PublicURL: "http://portico.test", Keys: testKeys(t), JoinTTL: time.Hour,
		Policy: invite.Policy{DefaultRedirectURL: "http://portico.test/welcome"},
	})
	base := time.Now().Add(-time.Hour).UTC()
	for i := range n {
		id := fmt.Sprintf("guest-%03d", i)
		mail := fmt.Sprintf("partner%03d@fabrikam.example", i)
		state := "PendingAcceptance"
		if i < accepted {
			state = "Accepted"
		}
		tenant.AddUser(devtenant.User{ID: id, DisplayName: id, Mail: mail, UserPrincipalName: strings.ReplaceAll(mail, "@", "_") + "#EXT#@contoso.example",
			UserType: "Guest", ExternalUserState: state, CreationType: "Invitation", AccountEnabled: true})
		checked := base.Add(time.Duration(i) * time.Second)
		rec := &store.Invitation{TenantID: tenant.TenantID(), InviterOID: "inviter", InviterUPN: "inviter@contoso.example", InviterName: "Inviter",
			Email: mail, Outcome: "created", GraphUserID: id, ExternalUserState: "PendingAcceptance", StateCheckedAt: &checked,
			CreatedAt: base, UserType: "Guest"}
		if err := db.CreateInvitation(ctx, rec); err != nil {
			t.Fatal(err)
		}
		e.recs = append(e.recs, rec)
	}
	return e
}

func (e *env) runner(t *testing.T, cfg Config) *Runner {
	t.Helper()
	cfg.Store, cfg.Invites = e.db, e.invites
	if os.Getenv("JOBS_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Tokens == nil {
		cfg.Tokens = e.tokens
	}
	cfg.PollInterval = cmpOr(cfg.PollInterval, 50*time.Millisecond)
	cfg.SyncInterval = cmpOr(cfg.SyncInterval, -1) // SyncNow only, unless a test asks
	r, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func start(t *testing.T, r *Runner) {
	t.Helper()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// userReads counts the GET /users/{id} requests devtenant received, by user id.
func userReads(tenant *devtenant.Tenant) map[string]int {
	out := map[string]int{}
	for _, r := range tenant.Requests() {
		if r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/v1.0/users/") {
			out[strings.TrimPrefix(r.Path, "/v1.0/users/")]++
		}
	}
	return out
}

func batches(tenant *devtenant.Tenant) int {
	n := 0
	for _, rt := range tenant.RoundTrips() {
		if strings.HasSuffix(rt.Path, "$batch") {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitState(t *testing.T, r *Runner, id int64, want string, timeout time.Duration) *Job {
	t.Helper()
	var j *Job
	waitFor(t, "job "+want, timeout, func() bool {
		var err error
		if j, err = r.Get(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return j.State == want
	})
	return j
}

// The state sync reads every pending state once, 20 per $batch at low priority, least recently
// checked first, and saves them; on SQLite and on PostgreSQL.
func TestStateSyncRuns(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newEnv(t, eng.url(t), 45, 3)
			r := e.runner(t, Config{SyncPause: time.Millisecond})
			start(t, r)
			id, err := r.SyncNow(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			j := waitState(t, r, id, "completed", 20*time.Second)
			if j.Attempt != 1 || j.Kind != KindStateSync || j.FinishedAt == nil || j.StartedAt == nil {
				t.Errorf("job = %+v, want one completed attempt with start and finish times", j)
			}
			if got := batches(e.tenant); got != 3 {
				t.Errorf("$batch requests = %d, want 3 (20 + 20 + 5)", got)
			}
			reads := userReads(e.tenant)
			for _, rec := range e.recs {
				if reads[rec.GraphUserID] != 1 {
					t.Errorf("%s read %d times, want once", rec.GraphUserID, reads[rec.GraphUserID])
				}
			}
			var first []string
			for _, req := range e.tenant.Requests() {
				if req.BatchID == "" {
					continue
				}
				if p := req.Header.Get("x-ms-throttle-priority"); p != "low" {
					t.Errorf("%s priority %q, want low", req.Path, p)
				}
				if len(first) < 20 {
					first = append(first, strings.TrimPrefix(req.Path, "/v1.0/users/"))
				}
			}
			slices.Sort(first)
			for i, id := range first {
				if want := fmt.Sprintf("guest-%03d", i); id != want {
					t.Fatalf("first batch read %v; want the 20 least recently checked (guest-000..019)", first)
				}
			}
			accepted := 0
			for _, rec := range e.recs {
				got, err := e.db.GetInvitation(context.Background(), rec.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.StateCheckedAt == nil || !got.StateCheckedAt.After(*rec.StateCheckedAt) {
					t.Errorf("%s: state not re-checked", rec.ID)
				}
				if got.ExternalUserState == "Accepted" {
					accepted++
				}
			}
			if accepted != 3 {
				t.Errorf("accepted in the database = %d, want 3", accepted)
			}
		})
	}
}

// A throttled answer snoozes the job for Graph's Retry-After and it goes on where it stopped; a
// run that reads nothing fails, is recorded and is retried with backoff.
func TestStateSyncRetriesAndThrottling(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newEnv(t, eng.url(t), 25, 0)
			// No retry inside the Graph client: Graph's answers reach the job.
			e.invites = invite.NewService(invite.Config{
				Graph: graph.NewClient(e.tenant.URL(), nil, graph.WithMaxRetries(0)),
				Store: invite.NewStoreAdapter(e.db), PublicURL: "http://portico.test", Keys: testKeys(t), JoinTTL: time.Hour,
			})
			// Attempt 1: every read fails (500). Attempt 2: guest-020 is throttled (1 s) once.
			e.tenant.InjectFault(devtenant.Fault{PathPrefix: "/users/", Status: http.StatusInternalServerError, Code: "generalException", Times: 25})
			e.tenant.InjectFault(devtenant.Fault{PathPrefix: "/users/guest-020", Status: http.StatusTooManyRequests, Code: "TooManyRequests", RetryAfter: "1", Times: 1})
			r := e.runner(t, Config{SyncPause: time.Millisecond})
			start(t, r)
			id, err := r.SyncNow(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			j := waitState(t, r, id, "completed", 40*time.Second)
			if j.Attempt != 2 || !strings.Contains(j.LastError, "read no state") {
				t.Errorf("job attempt %d, last error %q; want attempt 2 after a recorded failure", j.Attempt, j.LastError)
			}
			reads := userReads(e.tenant)
			for _, rec := range e.recs {
				want := 2 // failed, then answered
				if rec.GraphUserID == "guest-020" {
					want = 3 // failed, throttled, then answered
				}
				if reads[rec.GraphUserID] != want {
					t.Errorf("%s read %d times, want %d", rec.GraphUserID, reads[rec.GraphUserID], want)
				}
			}
		})
	}
}

// Two instances on one PostgreSQL share the queue: every job runs once, on one of them, and
// both work.
func TestTwoInstancesNeverRunOneJobTogether(t *testing.T) {
	e := newEnv(t, postgresURL(t), 40, 40)
	// Each read takes a while, so jobs overlap in time across the two instances.
	e.tenant.InjectFault(devtenant.Fault{PathPrefix: "/users/", Delay: 150 * time.Millisecond})
	a := e.runner(t, Config{ID: "instance-a", Workers: 3, SyncInterval: -1})
	b := e.runner(t, Config{ID: "instance-b", Workers: 3, SyncInterval: -1})
	start(t, a)
	start(t, b)
	ctx := context.Background()
	for _, rec := range e.recs {
		if err := a.RefreshSoon(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		// A second landing of the same partner adds nothing.
		if err := b.RefreshSoon(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
	}
	var all []Job
	waitFor(t, "40 completed refreshes", 60*time.Second, func() bool {
		var err error
		all, _, err = a.List(ctx, 0, 200)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, j := range all {
			if j.Kind == KindStateRefresh && j.State == "completed" {
				done++
			}
		}
		return done == 40
	})
	by, refreshes := map[string]int{}, 0
	for _, j := range all {
		if j.Kind != KindStateRefresh {
			continue
		}
		refreshes++
		if j.Attempt != 1 || len(j.AttemptedBy) != 1 {
			t.Errorf("job %d: attempt %d by %v; want one attempt by one instance", j.ID, j.Attempt, j.AttemptedBy)
		}
		by[strings.Join(j.AttemptedBy, ",")]++
	}
	if refreshes != 40 {
		t.Errorf("%d refresh jobs, want 40 (a repeated landing is not queued twice)", len(all))
	}
	if by["instance-a"] == 0 || by["instance-b"] == 0 {
		t.Errorf("jobs per instance %v; want both to work", by)
	}
	for id, n := range userReads(e.tenant) {
		if n != 1 {
			t.Errorf("%s read %d times, want once", id, n)
		}
	}
}

// A cancelled job reads nothing more; Stop lets a running job finish (drain).
func TestCancelAndDrain(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newEnv(t, eng.url(t), 60, 0)
			r := e.runner(t, Config{SyncPause: time.Hour})
			start(t, r)
			ctx := context.Background()
			id, err := r.SyncNow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the first batch", 20*time.Second, func() bool { return batches(e.tenant) == 1 })
			if err := r.Cancel(ctx, id); err != nil {
				t.Fatal(err)
			}
			waitState(t, r, id, "cancelled", 20*time.Second)
			time.Sleep(200 * time.Millisecond)
			if n := batches(e.tenant); n != 1 {
				t.Errorf("%d batches after cancelling, want 1", n)
			}

			// Drain: a sync of three slow batches is running when Stop is called; it completes.
			// (The first runner stops first, so the second one is the only one working.)
			if err := r.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			r2 := e.runner(t, Config{SyncPause: 300 * time.Millisecond})
			if err := r2.Start(ctx); err != nil {
				t.Fatal(err)
			}
			id2, err := r2.SyncNow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the second run's first batch", 20*time.Second, func() bool { return batches(e.tenant) == 2 })
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := r2.Stop(sctx); err != nil {
				t.Fatal(err)
			}
			j, err := r2.Get(ctx, id2)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != "completed" || batches(e.tenant) != 4 {
				t.Errorf("after Stop: job %s, %d batches; want completed after 3 more batches", j.State, batches(e.tenant))
			}
		})
	}
}

type probeArgs struct {
	Asker    *Asker     `json:"asker,omitempty"`
	NotAfter *time.Time `json:"not_after,omitempty"`
	Name     string     `json:"name"`
}

func (probeArgs) Kind() string { return "probe" }

type probeWorker struct {
	river.WorkerDefaults[probeArgs]
	mu  sync.Mutex
	ran []string
}

func (w *probeWorker) Work(_ context.Context, job *river.Job[probeArgs]) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ran = append(w.ran, job.Args.Name)
	return nil
}

// Security checklist item 40: a job records who asked; one an employee asked for runs only
// while the policy still allows that employee; an expired job or one without an asker does nothing.
func TestJobsKeepTheAskersLimits(t *testing.T) {
	e := newEnv(t, sqliteURL(t), 0, 0)
	probe := &probeWorker{}
	var mu sync.Mutex
	var rechecked []string
	r := e.runner(t, Config{
		SyncInterval: -1,
		Register:     func(w *river.Workers) { river.AddWorker(w, probe) },
		Recheck: func(_ context.Context, a Asker, kind string) error {
			mu.Lock()
			defer mu.Unlock()
			rechecked = append(rechecked, a.UPN+"/"+kind)
			if a.ObjectID == "oid-removed" {
				return ErrNoLongerAllowed
			}
			return nil
		},
	})
	start(t, r)
	past := time.Now().Add(-time.Minute)
	future := time.Now().Add(time.Hour)
	cases := []struct {
		args      probeArgs
		state     string
		errSubstr string
	}{
		{probeArgs{Name: "employee", Asker: &Asker{Kind: AskerEmployee, TenantID: "t", ObjectID: "oid-ann", UPN: "ann@contoso.example"}, NotAfter: &future}, "completed", ""},
		{probeArgs{Name: "removed", Asker: &Asker{Kind: AskerEmployee, TenantID: "t", ObjectID: "oid-removed", UPN: "bob@contoso.example"}}, "cancelled", "no longer allowed"},
		{probeArgs{Name: "nobody"}, "cancelled", "does not say who asked"},
		{probeArgs{Name: "expired", Asker: &Asker{Kind: AskerSchedule}, NotAfter: &past}, "cancelled", "expired"},
		{probeArgs{Name: "forged", Asker: &Asker{Kind: "admin"}}, "cancelled", "unknown asker"},
		{probeArgs{Name: "schedule", Asker: &Asker{Kind: AskerSchedule}}, "completed", ""},
	}
	for _, c := range cases {
		id, err := r.Insert(context.Background(), c.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		j := waitState(t, r, id, c.state, 20*time.Second)
		if !strings.Contains(j.LastError, c.errSubstr) {
			t.Errorf("%s: last error %q, want %q", c.args.Name, j.LastError, c.errSubstr)
		}
	}
	probe.mu.Lock()
	defer probe.mu.Unlock()
	if fmt.Sprint(probe.ran) != "[employee schedule]" {
		t.Errorf("ran %v, want only the allowed employee's and the scheduled job", probe.ran)
	}
	// The admin page's keyset pages: newest first, then the rest.
	page1, next, err := r.List(context.Background(), 0, 4)
	if err != nil || len(page1) != 4 || next != page1[3].ID || page1[0].ID <= page1[3].ID {
		t.Fatalf("first page %+v next %d: %v", page1, next, err)
	}
	page2, next2, err := r.List(context.Background(), next, 4)
	if err != nil || len(page2) != 2 || next2 != 0 || page2[0].ID >= next {
		t.Fatalf("second page %+v next %d: %v", page2, next2, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(rechecked) != "[ann@contoso.example/probe bob@contoso.example/probe]" {
		t.Errorf("policy re-checked for %v", rechecked)
	}
}

// The periodic state sync is queued when the queue starts (and every SyncInterval after).
func TestPeriodicSyncRunsOnStart(t *testing.T) {
	e := newEnv(t, sqliteURL(t), 3, 1)
	r := e.runner(t, Config{SyncInterval: time.Hour})
	start(t, r)
	var jobs []Job
	waitFor(t, "the periodic sync", 20*time.Second, func() bool {
		var err error
		if jobs, _, err = r.List(context.Background(), 0, 10); err != nil {
			t.Fatal(err)
		}
		return len(jobs) == 1 && jobs[0].State == "completed"
	})
	if jobs[0].Kind != KindStateSync || len(userReads(e.tenant)) != 3 {
		t.Errorf("jobs %+v, reads %v", jobs, userReads(e.tenant))
	}
}

// Migrate (portico migrate) creates River's tables next to the store's, and runs again harmlessly.
func TestMigrate(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			db, err := store.Open(context.Background(), eng.url(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for range 2 {
				if err := Migrate(context.Background(), db, nil); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			if err := db.SQL().QueryRow("SELECT COUNT(*) FROM river_job").Scan(&n); err != nil || n != 0 {
				t.Fatalf("river_job: %d rows, %v", n, err)
			}
		})
	}
}

// Without a background identity a landing only marks the state due: the next refresh reads it first.
func TestRefreshSoonWithoutIdentityMarksDue(t *testing.T) {
	e := newEnv(t, sqliteURL(t), 2, 0)
	cfg := Config{Store: e.db, Invites: e.invites, SyncInterval: -1}
	r, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if f := r.Features(); len(f) != 4 || f[0].On || f[1].On || f[2].On || f[3].On || !strings.Contains(f[0].Reason, "no background identity") ||
		!strings.Contains(f[1].Reason, "no background identity") || !strings.Contains(f[2].Reason, "no transport") || !strings.Contains(f[3].Reason, "no background identity") {
		t.Errorf("features %+v: want the state sync, the reconciler, the notices and bulk sending off, saying why", f)
	}
	if err := r.RefreshSoon(context.Background(), e.recs[1].ID); err != nil {
		t.Fatal(err)
	}
	got, err := e.db.GetInvitation(context.Background(), e.recs[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.StateCheckedAt != nil || got.ExternalUserState != "PendingAcceptance" {
		t.Errorf("after a landing: checked %v, state %q; want due (never checked), state unchanged", got.StateCheckedAt, got.ExternalUserState)
	}
	pending, err := e.db.PendingStateSync(context.Background(), time.Now(), 1)
	if err != nil || len(pending) != 1 || pending[0].ID != e.recs[1].ID {
		t.Errorf("next to sync: %v %v; want the landed one first", pending, err)
	}
	if len(e.tenant.Requests()) != 0 {
		t.Error("Graph was called without a background identity")
	}
	if jobs, _, _ := r.List(context.Background(), 0, 10); len(jobs) != 0 {
		t.Errorf("jobs queued without an identity: %+v", jobs)
	}
}

// A background identity without the read permission gets Graph's 403: the job stops at once
// (no retries) and says which permission is missing.
func TestStateSyncWithoutPermission(t *testing.T) {
	e := newEnv(t, sqliteURL(t), 30, 0)
	tok, err := e.tenant.AppAccessToken("Organization.Read.All")
	if err != nil {
		t.Fatal(err)
	}
	r := e.runner(t, Config{Tokens: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, Expiry: time.Now().Add(time.Hour)})})
	start(t, r)
	id, err := r.SyncNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	j := waitState(t, r, id, "cancelled", 20*time.Second)
	if j.Attempt != 1 || !strings.Contains(j.LastError, "User.Read.All") || !strings.Contains(j.LastError, "403") {
		t.Errorf("job attempt %d, last error %q; want one attempt naming the missing permission", j.Attempt, j.LastError)
	}
	if n := batches(e.tenant); n != 1 {
		t.Errorf("%d batches, want 1", n)
	}
}

func TestCancellable(t *testing.T) {
	done := time.Now()
	for _, tt := range []struct {
		state     rivertype.JobState
		finalized *time.Time
		want      bool
	}{
		{rivertype.JobStateAvailable, nil, true},
		{rivertype.JobStateScheduled, nil, true},
		{rivertype.JobStateRunning, nil, true},
		{rivertype.JobStateRetryable, nil, true},
		{rivertype.JobStateCompleted, &done, false},
		{rivertype.JobStateCancelled, &done, false},
		{rivertype.JobStateDiscarded, &done, false},
		{rivertype.JobStateCompleted, nil, false},
	} {
		if got := cancellable(&rivertype.JobRow{State: tt.state, FinalizedAt: tt.finalized}); got != tt.want {
			t.Errorf("%s (finalized %v): cancellable %v, want %v", tt.state, tt.finalized != nil, got, tt.want)
		}
	}
}

// River's Info chatter (a periodic constructor with nothing to do, every few seconds) stays out of
// the log; its warnings and errors pass.
func TestRiverLoggerKeepsWarnings(t *testing.T) {
	var buf bytes.Buffer
	l := riverLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "river"))
	l.Info("maintenance.PeriodicJobEnqueuer: nil returned from periodic job constructor, skipping")
	l.WithGroup("g").Debug("debug")
	l.Warn("a job failed", "kind", "x")
	out := buf.String()
	if strings.Contains(out, "periodic job constructor") || strings.Contains(out, "debug") || !strings.Contains(out, "a job failed") || !strings.Contains(out, "component=river") {
		t.Fatalf("log %q: want the warning only, with its attributes", out)
	}
}
