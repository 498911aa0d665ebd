package bulk

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	rand2 "math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/devtenant"
	"portico/graph"
	"portico/invite"
	"portico/keyring"
	"portico/store"
	"portico/webhooks"
)

// harness is bulk wired as in production (real Graph client, invite service, SQLite store)
// against devtenant; the job queue is a fake that only records what was queued.
type harness struct {
	tenant *devtenant.Tenant
	db     *store.DB
	keys   *keyring.Ring
	inv    *invite.Service
	svc    *Service
	user   oauth2.TokenSource // the employee's delegated token (dry runs)
	admin  invite.Inviter
	queued []string

	mu    sync.Mutex
	sends map[string]int // idempotency key → Send calls
	ahead atomic.Int64   // how far the invite services' clocks run ahead (past send leases)
	appTS oauth2.TokenSource
}

type hopts struct {
	latency     time.Duration
	rate        float64
	concurrency int
	policy      invite.Policy
}

func newHarness(t testing.TB, o hopts) *harness {
	t.Helper()
	tn, err := devtenant.New(devtenant.Options{ClientSecret: "bulk-secret", Latency: o.latency})
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tn.Close(context.Background()) })
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "bulk.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ring, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	const upn = "admin@contoso.example"
	u, ok := tn.UserByMail(upn)
	if !ok {
		t.Fatal("no demo admin")
	}
	tok, err := tn.AccessTokenFor(upn)
	if err != nil {
		t.Fatal(err)
	}
	appTok, err := tn.AppAccessToken()
	if err != nil {
		t.Fatal(err)
	}
	if o.policy.DefaultRedirectURL == "" {
		o.policy.DefaultRedirectURL = "https://myapps.microsoft.com"
	}
	h := &harness{}
	inv := invite.NewService(invite.Config{
		Graph:     graph.NewClient(tn.URL(), &http.Client{Timeout: 10 * time.Second}, graph.WithMaxWait(2*time.Second)),
		Store:     invite.NewStoreAdapter(db),
		Keys:      ring,
		Policy:    o.policy,
		PublicURL: "http://127.0.0.1:8080",
		JoinTTL:   14 * 24 * time.Hour,
		Clock:     h.clock,
		SendWait:  time.Second,
	})
	*h = harness{tenant: tn, db: db, inv: inv, keys: ring, sends: map[string]int{},
		user:  oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}),
		admin: invite.Inviter{TenantID: tn.TenantID(), ObjectID: u.ID, UPN: upn, Name: u.DisplayName, Email: upn, Roles: []invite.Role{invite.RoleAdministrator}},
	}
	h.appTS = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: appTok})
	h.svc = NewService(Config{
		Store: db, Invites: inv, Tokens: h.appTS,
		Send: func(ctx context.Context, ts oauth2.TokenSource, who invite.Inviter, req invite.Request, key string, meta invite.Meta) (*invite.Result, error) {
			h.mu.Lock()
			h.sends[key]++
			h.mu.Unlock()
			req.IdempotencyKey = key
			return inv.Send(ctx, ts, who, req, meta)
		},
		Idempotent: true,
		Rate:       o.rate, Concurrency: o.concurrency,
	})
	h.svc.SetQueue(h)
	return h
}

func (h *harness) clock() time.Time { return time.Now().Add(time.Duration(h.ahead.Load())) }

// settle does what the intent reconciler does once open sends' leases have passed: it moves the
// clock past them and settles their intents by lookup, without writing to Graph.
func (h *harness) settle(t testing.TB, svc *invite.Service) int {
	t.Helper()
	h.ahead.Add(int64(3 * time.Minute))
	res, err := svc.Reconcile(context.Background(), h.appTS, 1000)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res.Confirmed + res.NotSent
}

func (h *harness) EnqueueBulk(_ context.Context, jobID string, _ invite.Inviter) (int64, error) {
	h.queued = append(h.queued, jobID)
	return int64(len(h.queued)), nil
}

func (h *harness) prepare(t testing.TB, file string, d Defaults) *store.BulkJob {
	t.Helper()
	j, err := h.svc.Prepare(context.Background(), h.user, h.admin, strings.NewReader(file), Source{Name: "t.csv", Defaults: d}, invite.HTTPMeta("req", "127.0.0.1"))
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return j
}

func (h *harness) rows(t testing.TB, id string) []store.BulkRow {
	t.Helper()
	rows, err := h.db.BulkRows(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// runToEnd runs the job as the queue would: again after each time slice, and after a wait for
// sends still settling, once the reconciler (settle, by default with the harness's service) had
// its turn.
func (h *harness) runToEnd(t testing.TB, id string, settle ...func()) {
	t.Helper()
	for i := 0; ; i++ {
		err := h.svc.Run(context.Background(), id, fmt.Sprint("run-", i))
		if err == nil {
			return
		}
		var w *WaitError
		if errors.As(err, &w) && i < 100 {
			if len(settle) > 0 {
				settle[0]()
			} else {
				h.settle(t, h.inv)
			}
			continue
		}
		if !errors.Is(err, ErrMore) || i > 100 {
			t.Fatalf("Run: %v", err)
		}
	}
}

func (h *harness) invitationsPosted() map[string]int {
	out := map[string]int{}
	for _, inv := range h.tenant.Invitations() {
		out[strings.ToLower(inv.Email)]++
	}
	return out
}

func addresses(n int, prefix string) string {
	var b strings.Builder
	b.WriteString("email;display name;message\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%s%d@fabrikam.example;\"Partner, %d\";\"Hello; welcome\"\n", prefix, i, i)
	}
	return b.String()
}

func TestDryRunVerdicts(t *testing.T) {
	h := newHarness(t, hopts{policy: invite.Policy{BlockedDomains: []string{"blocked.example"}}})
	file := "email,display name,user type,send,landing page\n" +
		"new@fabrikam.example,New,,link,\n" +
		"pending.guest@fabrikam.example,,,,\n" +
		"megan@contoso.example,,,,\n" +
		"x@blocked.example,,,,\n" +
		"NEW@fabrikam.example,,,,\n" +
		"not-an-address,,,,\n" +
		"member@fabrikam.example,,Member,,\n" +
		"bad-url@fabrikam.example,,,,javascript:alert(1)\n"
	j := h.prepare(t, file, Defaults{Message: "Hi", Delivery: DeliveryEmail})
	if j.State != store.BulkDraft || j.RowsTotal != 8 {
		t.Fatalf("job %+v", j)
	}
	rows := h.rows(t, j.ID)
	want := []struct{ verdict, state, reason string }{
		{store.VerdictInvite, store.RowPending, ""},
		{store.VerdictResend, store.RowPending, "sent again"},
		{store.VerdictSkip, store.RowSkipped, "own organization"},
		{store.VerdictSkip, store.RowSkipped, "PORTICO_BLOCKED_DOMAINS"},
		{store.VerdictSkip, store.RowSkipped, "same address as row 1"},
		{store.VerdictSkip, store.RowSkipped, "email:"},
		{store.VerdictInvite, store.RowPending, ""}, // an administrator may invite members
		{store.VerdictSkip, store.RowSkipped, "landing page:"},
	}
	for i, w := range want {
		r := rows[i]
		if r.Verdict != w.verdict || r.State != w.state || !strings.Contains(r.Reason, w.reason) {
			t.Errorf("row %d (%s): %s/%s %q, want %s/%s containing %q", r.N, r.Email, r.Verdict, r.State, r.Reason, w.verdict, w.state, w.reason)
		}
	}
	if rows[0].SendEmail || !rows[1].SendEmail || rows[0].Message != "Hi" || rows[0].RedirectURL != "https://myapps.microsoft.com" {
		t.Errorf("defaults not applied: %+v", rows[0])
	}
	if len(h.tenant.Invitations()) != 0 {
		t.Fatal("the dry run sent something")
	}
	// A non-administrator's Member row is skipped.
	emp := h.admin
	emp.Roles = nil
	j2, err := h.svc.Prepare(context.Background(), h.user, emp, strings.NewReader("email,user type\nm2@fabrikam.example,Member\n"), Source{}, invite.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if r := h.rows(t, j2.ID)[0]; r.State != store.RowSkipped || !strings.Contains(r.Reason, "only administrators") {
		t.Fatalf("employee's Member row: %+v", r)
	}
}

func TestPrepareRefusesBadFilesAndKeepsNothing(t *testing.T) {
	h := newHarness(t, hopts{})
	for _, in := range []string{"PK\x03\x04zip", "name\nAnn\n", "email\n"} {
		_, err := h.svc.Prepare(context.Background(), h.user, h.admin, strings.NewReader(in), Source{}, invite.Meta{})
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Fatalf("%q: %v, want a FileError", in, err)
		}
	}
	if l, _ := h.db.ListBulkJobs(context.Background(), h.admin.TenantID, "", 10); len(l) != 0 {
		t.Fatalf("jobs kept: %+v", l)
	}
	barred := h.admin
	barred.Barred = invite.BarNotInviter
	if _, err := h.svc.Prepare(context.Background(), h.user, barred, strings.NewReader("email\na@fabrikam.example\n"), Source{}, invite.Meta{}); !errors.Is(err, invite.ErrNotInviter) {
		t.Fatalf("barred: %v", err)
	}
}

// finishedEvents are the outbox's bulk.finished events of job id (nothing dispatches them here).
func finishedEvents(t *testing.T, db *store.DB, id string) []webhooks.BulkData {
	t.Helper()
	evs, err := db.DueWebhookEvents(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []webhooks.BulkData
	for _, e := range evs {
		if e.Type != webhooks.BulkFinished {
			continue
		}
		var b webhooks.Body
		var d webhooks.BulkData
		if err := json.Unmarshal(e.Payload, &b); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b.Data, &d); err != nil {
			t.Fatal(err)
		}
		if e.ID != "bulk.finished:"+d.BulkID {
			t.Fatalf("event id %q for job %s", e.ID, d.BulkID)
		}
		if d.BulkID == id {
			out = append(out, d)
		}
	}
	return out
}

func TestSendJob(t *testing.T) {
	h := newHarness(t, hopts{rate: 1000})
	j := h.prepare(t, addresses(30, "p")+"pending.guest@fabrikam.example;Pat;\n", Defaults{Delivery: DeliveryLink})
	if err := h.svc.Exclude(context.Background(), h.admin, j.ID, []int{1, 2, 3}, []int{2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Run(context.Background(), j.ID, "early"); err != nil {
		t.Fatalf("a draft ran: %v", err)
	}
	if len(h.tenant.Invitations()) != 0 {
		t.Fatal("a draft was sent")
	}
	if err := h.svc.Confirm(context.Background(), h.admin, j.ID, invite.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Confirm(context.Background(), h.admin, j.ID, invite.Meta{}); !errors.Is(err, ErrState) {
		t.Fatalf("second confirm: %v", err)
	}
	if len(h.queued) != 1 {
		t.Fatalf("queued %v", h.queued)
	}
	h.runToEnd(t, j.ID)
	got, _ := h.db.GetBulkJob(context.Background(), j.ID)
	if got.State != store.BulkDone || got.FinishedAt == nil {
		t.Fatalf("job %+v", got)
	}
	counts, _ := h.db.BulkRowCounts(context.Background(), j.ID)
	if counts[store.RowInvited] != 28 || counts[store.RowResent] != 1 || counts[store.RowExcluded] != 2 {
		t.Fatalf("counts %v", counts)
	}
	if ev := finishedEvents(t, h.db, j.ID); len(ev) != 1 || ev[0].State != store.BulkDone || ev[0].Rows != 29 || ev[0].Sent != 29 ||
		ev[0].Refused != 0 || ev[0].Failed != 0 || ev[0].NotSent != 0 || ev[0].AskerOID != got.OwnerOID || ev[0].TenantID != got.TenantID {
		t.Fatalf("bulk.finished: %+v, want one: done, 29 rows sent", ev)
	}
	if err := h.svc.Run(context.Background(), j.ID, "again"); err != nil {
		t.Fatalf("a finished job ran again: %v", err)
	}
	if n := len(finishedEvents(t, h.db, j.ID)); n != 1 {
		t.Fatalf("bulk.finished written %d times", n)
	}
	posted := h.invitationsPosted()
	if posted["p2@fabrikam.example"] != 0 || posted["p1@fabrikam.example"] != 1 || posted["pending.guest@fabrikam.example"] != 1 {
		t.Fatalf("posted %v", posted)
	}
	for k, n := range h.sends {
		if n != 1 {
			t.Errorf("%s sent %d times", k, n)
		}
	}
	rows := h.rows(t, j.ID)
	if rows[0].InvitationID == "" || rows[0].Reason != "join link ready to share" {
		t.Fatalf("row 1: %+v", rows[0])
	}
	if u := h.svc.JoinURL(context.Background(), h.admin, rows[0].InvitationID); !strings.Contains(u, "/join/") {
		t.Fatalf("join URL of a link-mode row: %q", u)
	}
	// Every bulk POST carried low priority.
	for _, rq := range h.tenant.Requests() {
		if rq.Method == http.MethodPost && strings.HasSuffix(rq.Path, "/invitations") && rq.Header.Get("x-ms-throttle-priority") != "low" {
			t.Fatalf("POST /invitations with priority %q", rq.Header.Get("x-ms-throttle-priority"))
		}
	}
}

func TestSendResumesAfterCrash(t *testing.T) {
	h := newHarness(t, hopts{rate: 1000})
	j := h.prepare(t, addresses(10, "c"), Defaults{})
	if err := h.svc.Confirm(context.Background(), h.admin, j.ID, invite.Meta{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A run died after handing rows 1 and 2 to Graph: row 1 went through, row 2 did not.
	for _, n := range []int{1, 2} {
		if err := h.db.MarkBulkRowSending(ctx, j.ID, n, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.inv.Send(ctx, h.user, h.admin, invite.Request{Email: "c1@fabrikam.example", RedirectURL: "https://myapps.microsoft.com", SendEmail: true}, invite.JobMeta("died")); err != nil {
		t.Fatal(err)
	}
	h.runToEnd(t, j.ID)
	posted := h.invitationsPosted()
	for i := 1; i <= 10; i++ {
		if n := posted[fmt.Sprintf("c%d@fabrikam.example", i)]; n != 1 {
			t.Errorf("c%d posted %d times", i, n)
		}
	}
	rows := h.rows(t, j.ID)
	if rows[0].State != store.RowInvited || !strings.Contains(rows[0].Reason, "confirmed after an interruption") || rows[0].InvitationID == "" {
		t.Errorf("row 1: %+v", rows[0])
	}
	if rows[1].State != store.RowInvited {
		t.Errorf("row 2: %+v", rows[1])
	}
}

func TestSendStopsAtAbuseBlock(t *testing.T) {
	h := newHarness(t, hopts{rate: 1000, concurrency: 1})
	j := h.prepare(t, addresses(20, "a"), Defaults{})
	if err := h.svc.Confirm(context.Background(), h.admin, j.ID, invite.Meta{}); err != nil {
		t.Fatal(err)
	}
	// Let five through, then Entra's abuse protection.
	var once sync.Once
	sent := 0
	h.svc.cfg.Send = func(ctx context.Context, ts oauth2.TokenSource, who invite.Inviter, req invite.Request, key string, meta invite.Meta) (*invite.Result, error) {
		sent++
		if sent == 6 {
			once.Do(func() {
				h.tenant.InjectFault(devtenant.Fault{Method: "POST", PathPrefix: "/invitations", Status: 403, Code: "Authorization_RequestDenied",
					Message: "Invitations are blocked for this directory due to suspicious activity."})
			})
		}
		return h.inv.Send(ctx, ts, who, req, meta)
	}
	if err := h.svc.Run(context.Background(), j.ID, "r"); err != nil {
		t.Fatal(err)
	}
	got, _ := h.db.GetBulkJob(context.Background(), j.ID)
	if got.State != store.BulkBlocked || !strings.Contains(got.Note, "support case") {
		t.Fatalf("job %+v", got)
	}
	counts, _ := h.db.BulkRowCounts(context.Background(), j.ID)
	if counts[store.RowInvited] != 5 || counts[store.RowNotSent] != 15 || sent != 6 {
		t.Fatalf("counts %v after %d sends", counts, sent)
	}
	if ev := finishedEvents(t, h.db, j.ID); len(ev) != 1 || ev[0].State != store.BulkBlocked || ev[0].Rows != 20 || ev[0].Sent != 5 || ev[0].NotSent != 15 {
		t.Fatalf("bulk.finished: %+v, want one: blocked, 5 sent, 15 not sent", ev)
	}
	rows := h.rows(t, j.ID)
	if rows[19].Reason != ReasonBlocked || rows[5].Reason != ReasonBlocked {
		t.Fatalf("rows 6 and 20: %+v / %+v", rows[5], rows[19])
	}
	if len(h.tenant.Invitations()) != 5 {
		t.Fatalf("%d invitations", len(h.tenant.Invitations()))
	}
}

func TestSendRetriesBusyGraphAndEndsEveryRow(t *testing.T) {
	h := newHarness(t, hopts{rate: 1000})
	j := h.prepare(t, addresses(30, "f"), Defaults{})
	if err := h.svc.Confirm(context.Background(), h.admin, j.ID, invite.Meta{}); err != nil {
		t.Fatal(err)
	}
	h.tenant.InjectFault(devtenant.Fault{Method: "POST", PathPrefix: "/invitations", Status: 429, Code: "TooManyRequests", RetryAfter: "1", Times: 6})
	h.tenant.InjectFault(devtenant.Fault{Method: "POST", PathPrefix: "/invitations", Status: 503, Code: "ServiceUnavailable", Times: 6})
	h.runToEnd(t, j.ID)
	counts, _ := h.db.BulkRowCounts(context.Background(), j.ID)
	if counts[store.RowPending] != 0 || counts[store.RowSending] != 0 {
		t.Fatalf("rows not final: %v", counts)
	}
	if counts[store.RowInvited] != 30 {
		t.Fatalf("counts %v", counts)
	}
	for addr, n := range h.invitationsPosted() {
		if n != 1 {
			t.Errorf("%s invited %d times", addr, n)
		}
	}
}

func TestCancel(t *testing.T) {
	h := newHarness(t, hopts{rate: 2})
	j := h.prepare(t, addresses(20, "x"), Defaults{})
	if err := h.svc.Confirm(context.Background(), h.admin, j.ID, invite.Meta{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- h.svc.Run(context.Background(), j.ID, "r") }()
	time.Sleep(1500 * time.Millisecond)
	if err := h.svc.Cancel(context.Background(), h.admin, j.ID, invite.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, _ := h.db.GetBulkJob(context.Background(), j.ID)
	counts, _ := h.db.BulkRowCounts(context.Background(), j.ID)
	sent := counts[store.RowInvited]
	if got.State != store.BulkCancelled || sent == 0 || sent > 8 || counts[store.RowNotSent] != 20-sent || counts[store.RowPending]+counts[store.RowSending] != 0 {
		t.Fatalf("job %s, counts %v", got.State, counts)
	}
	if len(h.tenant.Invitations()) != sent {
		t.Fatalf("%d invitations for %d rows invited", len(h.tenant.Invitations()), sent)
	}
	if err := h.svc.Cancel(context.Background(), h.admin, j.ID, invite.Meta{}); !errors.Is(err, ErrState) {
		t.Fatalf("second cancel: %v", err)
	}
	// Counted at the cancel: a row then being sent is in rows only.
	if ev := finishedEvents(t, h.db, j.ID); len(ev) != 1 || ev[0].State != store.BulkCancelled || ev[0].Rows != 20 ||
		ev[0].NotSent != counts[store.RowNotSent] || ev[0].Sent > sent {
		t.Fatalf("bulk.finished: %+v (final counts %v), want one: cancelled", ev, counts)
	}
	// A draft nobody confirmed is cancelled without bulk.finished.
	d := h.prepare(t, addresses(2, "d"), Defaults{})
	if err := h.svc.Cancel(context.Background(), h.admin, d.ID, invite.Meta{}); err != nil {
		t.Fatal(err)
	}
	if ev := finishedEvents(t, h.db, d.ID); len(ev) != 0 {
		t.Fatalf("a cancelled draft: %+v", ev)
	}
}

func TestJobVisibility(t *testing.T) {
	h := newHarness(t, hopts{})
	j := h.prepare(t, "email\na@fabrikam.example\n", Defaults{})
	other := invite.Inviter{TenantID: h.admin.TenantID, ObjectID: "someone-else"}
	if _, err := h.svc.Job(context.Background(), other, j.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another employee sees the job: %v", err)
	}
	otherAdmin := other
	otherAdmin.Roles = []invite.Role{invite.RoleAdministrator}
	if _, err := h.svc.Job(context.Background(), otherAdmin, j.ID); err != nil {
		t.Fatalf("an admin cannot see it: %v", err)
	}
	if err := h.svc.Confirm(context.Background(), otherAdmin, j.ID, invite.Meta{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an admin confirmed someone else's draft: %v", err)
	}
	foreign := h.admin
	foreign.TenantID = "other-tenant"
	if _, err := h.svc.Job(context.Background(), foreign, j.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant sees the job: %v", err)
	}
}

// BenchmarkDryRun1000 is the dry run of 1,000 rows with Graph 150 ms away (target ≤ 10 s).
func BenchmarkDryRun1000(b *testing.B) {
	h := newHarness(b, hopts{latency: 150 * time.Millisecond})
	file := addresses(1000, "d")
	for b.Loop() {
		h.tenant.ResetRequests()
		j := h.prepare(b, file, Defaults{})
		if j.RowsTotal != 1000 {
			b.Fatal(j.RowsTotal)
		}
		c, _ := h.db.BulkRowCounts(context.Background(), j.ID)
		if c[store.RowPending] != 1000 {
			b.Fatalf("counts %v", c)
		}
		b.ReportMetric(float64(len(h.tenant.RoundTrips())), "graphHTTP/op")
	}
}

// BenchmarkSend1000At20PerSecond sends 1,000 rows against devtenant at Graph's documented write
// limit (20 per second per app and tenant): target ≤ 1.05 × 50 s.
func BenchmarkSend1000At20PerSecond(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, hopts{rate: 20})
		h.tenant.SetWriteQuota(20, time.Second)
		j := h.prepare(b, addresses(1000, "s"), Defaults{})
		if err := h.svc.Confirm(context.Background(), h.admin, j.ID, invite.Meta{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		h.runToEnd(b, j.ID)
		el := time.Since(start)
		b.StopTimer()
		c, _ := h.db.BulkRowCounts(context.Background(), j.ID)
		if c[store.RowInvited] != 1000 {
			b.Fatalf("counts %v", c)
		}
		b.ReportMetric(el.Seconds(), "s/1000rows")
		b.StartTimer()
	}
}

// faultyTransport answers about 30% of invitation POSTs with a fault, seeded: 429 with
// Retry-After, 503, or the answer lost after devtenant created the invitation (a timeout).
type faultyTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	rnd  *rand2.Rand
	hits map[string]int
}

func (f *faultyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/invitations") {
		return f.next.RoundTrip(r)
	}
	f.mu.Lock()
	x := f.rnd.IntN(100)
	f.mu.Unlock()
	answer := func(status int, code string, hdr map[string]string) *http.Response {
		body := `{"error":{"code":"` + code + `","message":"injected","innerError":{"request-id":"inj"}}}`
		h := http.Header{"Content-Type": {"application/json"}}
		for k, v := range hdr {
			h.Set(k, v)
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case x < 10:
		f.hits["429"]++
		return answer(http.StatusTooManyRequests, "TooManyRequests", map[string]string{"Retry-After": "1"}), nil
	case x < 20:
		f.hits["503"]++
		return answer(http.StatusServiceUnavailable, "ServiceUnavailable", nil), nil
	case x < 30:
		f.hits["lost"]++
		f.mu.Unlock()
		resp, err := f.next.RoundTrip(r)
		f.mu.Lock()
		if err == nil {
			_ = resp.Body.Close()
		}
		return nil, errors.New("injected: connection reset after the request was sent")
	}
	return f.next.RoundTrip(r)
}

// With 30% of the invitation POSTs failing (throttled, unavailable, answer lost), every row ends
// in a definite state and no partner is invited twice.
func TestSendUnderThirtyPercentFaults(t *testing.T) {
	h := newHarness(t, hopts{rate: 1000})
	ft := &faultyTransport{next: http.DefaultTransport, rnd: rand2.New(rand2.NewPCG(17, 30)), hits: map[string]int{}}
	faulty := invite.NewService(invite.Config{
		Graph: graph.NewClient(h.tenant.URL(), &http.Client{Transport: ft, Timeout: 10 * time.Second}, graph.WithMaxRetries(0)),
		Store: invite.NewStoreAdapter(h.db), Keys: h.keys, Policy: invite.Policy{DefaultRedirectURL: "https://myapps.microsoft.com"},
		PublicURL: "http://127.0.0.1:8080", JoinTTL: time.Hour,
		Clock:    h.clock,
		SendWait: time.Second,
	})
	reconciled := 0
	settle := func() { reconciled += h.settle(t, faulty) }
	h.svc.cfg.Send = func(ctx context.Context, ts oauth2.TokenSource, who invite.Inviter, req invite.Request, key string, meta invite.Meta) (*invite.Result, error) {
		req.IdempotencyKey = key
		return faulty.Send(ctx, ts, who, req, meta)
	}
	j := h.prepare(t, addresses(60, "z"), Defaults{})
	if err := h.svc.Confirm(context.Background(), h.admin, j.ID, invite.Meta{}); err != nil {
		t.Fatal(err)
	}
	h.runToEnd(t, j.ID, settle)
	counts, _ := h.db.BulkRowCounts(context.Background(), j.ID)
	if counts[store.RowPending] != 0 || counts[store.RowSending] != 0 {
		t.Fatalf("rows not final: %v", counts)
	}
	t.Logf("%d sends settled by the reconciler", reconciled)
	posted := h.invitationsPosted()
	for addr, n := range posted {
		if n != 1 {
			t.Errorf("%s invited %d times", addr, n)
		}
	}
	if counts[store.RowInvited] != len(posted) || counts[store.RowInvited]+counts[store.RowFailed]+counts[store.RowNotSent] != 60 {
		t.Errorf("counts %v, %d partners invited in devtenant", counts, len(posted))
	}
	t.Logf("faults %v; rows %v", ft.hits, counts)
	if ft.hits["429"] == 0 || ft.hits["503"] == 0 || ft.hits["lost"] == 0 {
		t.Errorf("not every fault was injected: %v", ft.hits)
	}
}

// A job whose owner may no longer send bulk invitations when it runs (the operator took their
// group out of PORTICO_BULK_INVITERS) stops, its rows "not sent", and nothing reaches Graph.
func TestOwnerNoLongerAllowed(t *testing.T) {
	h := newHarness(t, hopts{rate: 1000})
	allowed := []string{"g-bulk"}
	h.svc.cfg.MayStillSend = func(c invite.Claims) bool {
		inv := invite.InviterPolicy{}.Inviter(c)
		return MayUse(inv, c, allowed)
	}
	emp := invite.Inviter{TenantID: h.admin.TenantID, ObjectID: h.admin.ObjectID, UPN: "ines@contoso.example", Name: "Ines"}
	claims := &invite.Claims{TenantID: emp.TenantID, ObjectID: emp.ObjectID, UPN: emp.UPN, Groups: []string{"g-bulk"}}
	j, err := h.svc.Prepare(context.Background(), h.user, emp, strings.NewReader(addresses(5, "n")), Source{Name: "n.csv", Claims: claims}, invite.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Confirm(context.Background(), emp, j.ID, invite.Meta{}); err != nil {
		t.Fatal(err)
	}
	allowed = []string{"g-other"}
	if err := h.svc.Run(context.Background(), j.ID, "r"); err != nil {
		t.Fatal(err)
	}
	got, _ := h.db.GetBulkJob(context.Background(), j.ID)
	counts, _ := h.db.BulkRowCounts(context.Background(), j.ID)
	if got.State != store.BulkCancelled || counts[store.RowNotSent] != 5 || len(h.tenant.Invitations()) != 0 {
		t.Fatalf("job %s %q, counts %v, %d invitations", got.State, got.Note, counts, len(h.tenant.Invitations()))
	}
	if r := h.rows(t, j.ID)[0]; r.Reason != ReasonNotAllow {
		t.Fatalf("row reason %q", r.Reason)
	}
	// Still allowed: it runs.
	allowed = []string{"g-bulk"}
	j2, _ := h.svc.Prepare(context.Background(), h.user, emp, strings.NewReader(addresses(2, "m")), Source{Claims: claims}, invite.Meta{})
	_ = h.svc.Confirm(context.Background(), emp, j2.ID, invite.Meta{})
	h.runToEnd(t, j2.ID)
	if c, _ := h.db.BulkRowCounts(context.Background(), j2.ID); c[store.RowInvited] != 2 {
		t.Fatalf("allowed owner's job: %v", c)
	}
	// A job without claims (made before they were kept, or damaged) is not sent.
	j3, _ := h.svc.Prepare(context.Background(), h.user, emp, strings.NewReader(addresses(1, "o")), Source{}, invite.Meta{})
	_ = h.svc.Confirm(context.Background(), emp, j3.ID, invite.Meta{})
	_ = h.svc.Run(context.Background(), j3.ID, "r")
	if c, _ := h.db.BulkRowCounts(context.Background(), j3.ID); c[store.RowNotSent] != 1 {
		t.Fatalf("job without claims: %v", c)
	}
}
