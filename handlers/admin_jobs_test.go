package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"portico/invite"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

type fakeJobs struct {
	jobs        []JobInfo // newest first
	features    []JobFeature
	cancelled   []int64
	cancelledBy []string // the admin's UPN and the request id, per cancel
}

func (f *fakeJobs) List(_ context.Context, before int64, limit int) ([]JobInfo, int64, error) {
	var out []JobInfo
	for _, j := range f.jobs {
		if before > 0 && j.ID >= before {
			continue
		}
		if len(out) == limit {
			return out, out[limit-1].ID, nil
		}
		out = append(out, j)
	}
	return out, 0, nil
}

func (f *fakeJobs) Features() []JobFeature { return f.features }

func (f *fakeJobs) Cancel(_ context.Context, id int64, by invite.Inviter, meta invite.Meta) error {
	for _, j := range f.jobs {
		if j.ID == id {
			f.cancelled = append(f.cancelled, id)
			f.cancelledBy = append(f.cancelledBy, by.UPN+" "+meta.RequestID)
			return nil
		}
	}
	return ErrJobNotFound
}

type fakeLandings struct {
	mu      sync.Mutex
	landed  []string
	forward map[string]string
}

func (f *fakeLandings) Landed(_ context.Context, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.landed = append(f.landed, ref)
	return f.forward[ref], nil
}

// withJobs rebuilds en's router with a job queue and landings.
func (en *env) withJobs(j Jobs, l Landings) {
	en.e = New(Deps{Config: en.cfg, Logger: slog.New(slog.NewTextHandler(en.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sessions: en.sessions, RP: en.rp, Tokens: en.tokens, Invites: en.inv, Audit: en.audit, DB: en.db,
		Clock: func() time.Time { return en.now }, Jobs: j, Landings: l})
}

func TestJobsPage(t *testing.T) {
	en := newEnv(t)
	started, finished := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 5, 1, 8, 0, 3, 0, time.UTC)
	fj := &fakeJobs{features: []JobFeature{{Name: "Partner states kept current in the background", Reason: "off: no background identity"}}}
	for id := int64(60); id >= 1; id-- {
		j := JobInfo{ID: id, Kind: "state_sync", State: "completed", Attempt: 1, MaxAttempts: 10, ScheduledAt: started, StartedAt: &started, FinishedAt: &finished}
		if id == 60 {
			j = JobInfo{ID: id, Kind: "state_refresh", State: "retryable", Attempt: 2, MaxAttempts: 5, ScheduledAt: started, StartedAt: &started,
				LastError: "graph: 503 serviceUnavailable", Cancellable: true}
		}
		fj.jobs = append(fj.jobs, j)
	}
	en.withJobs(fj, nil)

	// Employees are refused; admins see the page.
	want(t, en.signIn(ann).get("/admin/jobs"), http.StatusForbidden)
	b := en.signIn(admin)
	rec := b.get("/admin/jobs")
	want(t, rec, http.StatusOK, "Background jobs", "Off:", "no background identity", "graph: 503 serviceUnavailable")
	d, err := goquery.NewDocumentFromReader(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n := d.Find(`tr[data-testid="job-row"]`).Length(); n != jobsPageSize {
		t.Errorf("%d rows, want a page of %d", n, jobsPageSize)
	}
	if d.Find("table caption").Length() != 1 || d.Find(`th[scope="col"]`).Length() != 8 {
		t.Error("the table needs a caption and column headers")
	}
	first := d.Find(`tr[data-testid="job-row"]`).First()
	if first.AttrOr("data-state", "") != "retryable" || !strings.Contains(first.Text(), "2 of 5") || first.Find("button").Length() != 1 {
		t.Errorf("first row %q: want the retryable job with its attempts and a Cancel button", first.Text())
	}
	if d.Find(`tr[data-state="completed"] button`).Length() != 0 {
		t.Error("a completed job offers Cancel")
	}
	older, ok := d.Find(`a[rel="next"]`).Attr("href")
	if !ok || older != "/admin/jobs?before=11" {
		t.Fatalf("older link %q", older)
	}
	rec = b.get(older)
	want(t, rec, http.StatusOK)
	if n := strings.Count(rec.Body.String(), `data-testid="job-row"`); n != 10 {
		t.Errorf("second page %d rows, want 10", n)
	}
	for _, bad := range []string{"x", "-1", "0", "99999999999999999999"} {
		want(t, b.get("/admin/jobs?before="+bad), http.StatusBadRequest)
	}

	// Cancel: CSRF-protected, admins only, unknown ids 404.
	want(t, b.post("/admin/jobs/60/cancel", nil), http.StatusSeeOther)
	want(t, b.post("/admin/jobs/999/cancel", nil), http.StatusNotFound)
	want(t, en.signIn(ann).post("/admin/jobs/60/cancel", nil), http.StatusForbidden)
	bad := en.signIn(admin)
	bad.csrf = "wrong"
	if rec := bad.post("/admin/jobs/60/cancel", nil); rec.Code < 400 {
		t.Errorf("cancel without the CSRF token: %d", rec.Code)
	}
	if fmt.Sprint(fj.cancelled) != "[60]" {
		t.Errorf("cancelled %v, want [60]", fj.cancelled)
	}
	if len(fj.cancelledBy) != 1 || !strings.HasPrefix(fj.cancelledBy[0], admin.UPN+" ") || strings.HasSuffix(fj.cancelledBy[0], " ") {
		t.Errorf("cancelled by %q, want the admin %s and the request id", fj.cancelledBy, admin.UPN)
	}
}

func TestWelcomeReference(t *testing.T) {
	const ref = "abcdefghijklmnopqrstuvwxyz"
	const other = "zyxwvutsrqponmlkjihgfedcba"
	en := newEnv(t)
	fl := &fakeLandings{forward: map[string]string{other: "https://apps.example/start"}}
	en.withJobs(nil, fl)
	p := en.anon()

	// A well-formed reference: one landing, the welcome page.
	want(t, p.get("/welcome?i="+ref), http.StatusOK)
	// The same invitation again at once: rate limited per invitation, still the welcome page.
	want(t, p.get("/welcome?i="+ref), http.StatusOK)
	// Malformed references are ignored, never an error.
	for _, bad := range []string{"", "short", strings.ToUpper(ref), ref + "a", "abcdefghijklmnopqrstuvwxy1", "../../../../etc/passwd%00aaaaa"} {
		want(t, p.get("/welcome?i="+bad), http.StatusOK)
	}
	// An invitation with its own landing page: forwarded there (the URL comes from the record).
	rec := p.get("/welcome?i=" + other)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "https://apps.example/start" {
		t.Fatalf("forward: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if fmt.Sprint(fl.landed) != fmt.Sprint([]string{ref, other}) {
		t.Errorf("landed %v, want each invitation once", fl.landed)
	}

	// Per client address: a burst of distinct references from one address is cut off.
	fl.landed = nil
	for i := range 20 {
		p.get(fmt.Sprintf("/welcome?i=%s%02d", "abcdefghijklmnopqrstuvwx"[:24], i%10+20))
	}
	if n := len(fl.landed); n == 0 || n > 5 {
		t.Errorf("%d landings from one address in a burst of 20, want 1..5", n)
	}
}
