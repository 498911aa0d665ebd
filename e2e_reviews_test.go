package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/app"
	"portico/config"
	"portico/devtenant"
	"portico/invite"
	"portico/store"
)

// reviewClock is Portico's own clock in the review tests: real time plus an offset that the test
// moves together with devtenant's directory clock.
type reviewClock struct{ offset atomic.Int64 }

func (c *reviewClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *reviewClock) advance(tenant *devtenant.Tenant, d time.Duration) {
	c.offset.Add(int64(d))
	tenant.AdvanceClock(d)
}

// startReviews runs Portico with sponsor reviews, a background identity holding roles, and a
// movable clock; it returns the harness and the app (for the on-demand sweep).
func startReviews(t *testing.T, tenant *devtenant.Tenant, env map[string]string, clock *reviewClock, roles ...string) (*harness, *app.App) {
	t.Helper()
	tok, err := tenant.AppAccessToken(roles...)
	if err != nil {
		t.Fatal(err)
	}
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, Expiry: time.Now().Add(time.Hour)})
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
	a, err := app.New(ctx, cfg, app.Options{Listener: ln, Log: logs, Background: ts, Clock: clock.now})
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
	return h, a
}

// acceptForReview walks the partner through the join link and waits until Portico has the
// invitation as Accepted.
func acceptForReview(t *testing.T, h *harness, db *store.DB, join, email string) *store.Invitation {
	t.Helper()
	partner := h.browser()
	acc := partner.post(strings.TrimPrefix(join, h.URL)+"/accept", url.Values{"_csrf": {""}})
	redeemed := partner.post(acc.Header.Get("Location"), url.Values{"_csrf": {""}})
	partner.get(redeemed.Header.Get("Location"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := db.ListInvitations(context.Background(), store.InvitationFilter{Email: email})
		if err == nil && len(l) == 1 && l[0].ExternalUserState == store.StateAccepted {
			return &l[0]
		}
		must(t, time.Now().Before(deadline), "%s not Accepted in Portico within 10 s\n%s", email, h.Logs)
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitReview waits until the guest's latest round is in state.
func awaitReview(t *testing.T, h *harness, db *store.DB, invitationID, state string) store.GuestReview {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, err := db.ListGuestReviews(context.Background(), store.GuestReviewFilter{InvitationIDs: []string{invitationID}})
		if err == nil && len(l) > 0 {
			last := l[0]
			for _, r := range l {
				if r.Round > last.Round {
					last = r
				}
			}
			if last.State == state {
				return last
			}
		}
		must(t, time.Now().Before(deadline), "review of %s not %s within 15 s: %+v %v\n%s", invitationID, state, l, err, h.Logs)
		time.Sleep(100 * time.Millisecond)
	}
}

func userOf(tenant *devtenant.Tenant, id string) *devtenant.User {
	for _, u := range tenant.Users() {
		if u.ID == id {
			return &u
		}
	}
	return nil
}

// The demo with a moved clock: a sponsor keeps one guest and removes another; the removed
// one is disabled in devtenant (policy disable) by the job, the kept one is next due 180 days
// after the keep; later, nobody answers the kept guest's next review, and after the grace the
// daily sweep disables it too. Every step is in the audit trail.
func TestReviewsEndToEndMovedClock(t *testing.T) {
	// Notices go through Graph sendMail from devtenant's notices mailbox with Portico's own token.
	tenant := tenantWith(t, func(o *devtenant.Options) { o.AppRoles = append(devtenant.DefaultAppRoles(), "Mail.Send") })
	dsn := sqliteFile(t)
	clock := &reviewClock{}
	h, a := startReviews(t, tenant, map[string]string{"PORTICO_DATABASE_URL": dsn, "PORTICO_REVIEW_EVERY": "180d",
		"PORTICO_REVIEW_GRACE": "14d", "PORTICO_WARN_BEFORE": "7d", "PORTICO_REVIEW_ACTION": "disable",
		"PORTICO_NOTICE_MAILBOX": devtenant.DemoMailbox}, clock, "User.Read.All", "User.ReadWrite.All", "Mail.Send")
	db := openStore(t, dsn)
	ctx := context.Background()

	emp := h.browser()
	emp.signIn("employee@contoso.example")
	_, joinKeep := inviteByLink(t, emp, "kim@fabrikam.example")
	_, joinRemove := inviteByLink(t, emp, "rex@fabrikam.example")
	kim := acceptForReview(t, h, db, joinKeep, "kim@fabrikam.example")
	rex := acceptForReview(t, h, db, joinRemove, "rex@fabrikam.example")

	// Nothing is due yet.
	must(t, a.Reviews != nil && a.Reviews.Policy().Action == invite.ReviewActionDisable, "policy: %+v", a.Reviews.Policy())
	if _, err := a.Reviews.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	page := emp.get("/reviews")
	must(t, page.Status == http.StatusOK && page.Doc.Find(`[data-testid="review-row"]`).Length() == 0, "nothing due yet: %d", page.Status)

	// 181 days later (Portico's and the directory's clocks): an admin's "Run now" on /admin/guests
	// runs the review sweep, which opens both reviews.
	clock.advance(tenant, 181*24*time.Hour)
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	run := admin.post("/admin/guests/run", url.Values{})
	must(t, run.Status == http.StatusSeeOther, "run now: %d %s", run.Status, run.Body)
	rk := awaitReview(t, h, db, kim.ID, store.ReviewOpen)
	rr := awaitReview(t, h, db, rex.ID, store.ReviewOpen)
	page = emp.get("/reviews")
	must(t, page.Doc.Find(`[data-testid="review-row"]`).Length() == 2, "two guests due:\n%s", page.Body)
	must(t, page.Doc.Find(`[data-testid="reviews-count"]`).Text() == "2 due", "header count: %q", page.Doc.Find(`[data-testid="reviews-count"]`).Text())
	must(t, strings.Contains(page.Body, "Not available"), "signInActivity is not granted: said so")

	// The admins' guest list counts them and shows each guest's review.
	other := h.browser()
	other.signIn("admin@contoso.example")
	guests := other.get("/admin/guests")
	must(t, guests.Status == http.StatusOK && strings.Contains(guests.Doc.Find(`[data-testid="count-review"]`).Text(), "2"),
		"due for review on /admin/guests: %d %q", guests.Status, guests.Doc.Find(`[data-testid="count-review"]`).Text())
	must(t, strings.Contains(guests.Doc.Find(`[data-testid="guest-review-row"][data-id="`+rex.ID+`"] [data-testid="guest-review"]`).Text(), "Due for review"), "Rex's review on /admin/guests")
	must(t, strings.Contains(guests.Body, "PORTICO_REVIEW_EVERY"), "the review policy is shown")

	// A stranger (an employee who is not the guest's inviter or sponsor; here an admin) cannot
	// decide the employee's guests.
	res := other.post("/reviews/"+rr.ID+"/remove", url.Values{"reason": {"not mine"}})
	must(t, res.Status == http.StatusForbidden, "someone else's guest: %d", res.Status)

	keptAt := clock.now()
	res = emp.post("/reviews/"+rk.ID+"/keep", url.Values{})
	must(t, res.Status == http.StatusSeeOther, "keep: %d %s", res.Status, res.Body)
	res = emp.post("/reviews/"+rr.ID+"/remove", url.Values{"reason": {"The project with Rex ended."}})
	must(t, res.Status == http.StatusSeeOther, "remove: %d %s", res.Status, res.Body)

	// The removal is carried out by the review_action job with Portico's identity.
	done := awaitReview(t, h, db, rex.ID, store.ReviewRemoved)
	must(t, done.Action == invite.ReviewActionDisable && done.GraphRequestID != "", "removed: %+v", done)
	u := userOf(tenant, rex.GraphUserID)
	must(t, u != nil && !u.AccountEnabled, "Rex disabled in devtenant: %+v", u)
	must(t, len(graphRequests(tenant, http.MethodPatch, "/v1.0/users/"+rex.GraphUserID)) == 1, "one PATCH for Rex")
	k := userOf(tenant, kim.GraphUserID)
	must(t, k != nil && k.AccountEnabled, "Kim untouched: %+v", k)

	// The kept guest is next due 180 days after the keep.
	next := awaitReview(t, h, db, kim.ID, store.ReviewScheduled)
	must(t, next.Round == 2 && next.DueAt.Sub(keptAt) >= 180*24*time.Hour && next.DueAt.Sub(keptAt) < 180*24*time.Hour+time.Minute,
		"next round: %+v (kept at %s)", next, keptAt)

	guests = other.get("/admin/guests")
	rexRow := guests.Doc.Find(`[data-testid="guest-review-row"][data-id="` + rex.ID + `"]`)
	kimRow := guests.Doc.Find(`[data-testid="guest-review-row"][data-id="` + kim.ID + `"]`)
	must(t, strings.Contains(rexRow.Text(), "Removed by review") && strings.Contains(rexRow.Text(), "The project with Rex ended.") &&
		strings.Contains(kimRow.Text(), "Scheduled") && strings.Contains(kimRow.Text(), "round 2"), "review states on /admin/guests:\n%s\n%s", rexRow.Text(), kimRow.Text())

	// Running the sweep again changes nothing (idempotent).
	if _, err := a.Reviews.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, len(graphRequests(tenant, http.MethodPatch, "/v1.0/users/"+rex.GraphUserID)) == 1, "still one PATCH for Rex")

	// 181 days on, Kim's second review opens; nobody answers; after the 14-day grace the sweep
	// disables Kim.
	clock.advance(tenant, 181*24*time.Hour)
	if _, err := a.Reviews.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	awaitReview(t, h, db, kim.ID, store.ReviewOpen)
	clock.advance(tenant, 8*24*time.Hour) // a week before the grace ends: the warning
	if res, err := a.Reviews.Sweep(ctx); err != nil || res.Warned != 1 {
		t.Fatalf("warning sweep: %+v %v", res, err)
	}
	clock.advance(tenant, 7*24*time.Hour)
	if res, err := a.Reviews.Sweep(ctx); err != nil || res.NoAnswer != 1 {
		t.Fatalf("no-answer sweep: %+v %v", res, err)
	}
	last := awaitReview(t, h, db, kim.ID, store.ReviewRemoved)
	must(t, last.Decision == store.DecisionNoAnswer, "no answer: %+v", last)
	k = userOf(tenant, kim.GraphUserID)
	must(t, k != nil && !k.AccountEnabled, "Kim disabled after the grace: %+v", k)

	// The audit trail has every step, each naming the policy.
	for action, n := range map[string]int{invite.ActionReviewOpen: 3, invite.ActionReviewKeep: 1, invite.ActionReviewRemove: 1,
		invite.ActionReviewNoAnswer: 1, invite.ActionReviewDisable: 2} {
		ev := auditEvents(t, db, store.AuditFilter{Action: action})
		must(t, len(ev) == n, "%d %s events, want %d: %+v", len(ev), action, n, ev)
		for _, e := range ev {
			must(t, strings.Contains(e.Detail, "review every 180d, grace 14d, action disable"), "%s names the policy: %q", action, e.Detail)
		}
	}
	rm := auditEvents(t, db, store.AuditFilter{Action: invite.ActionReviewRemove})
	must(t, strings.Contains(rm[0].Detail, "The project with Rex ended.") && rm[0].ActorUPN == "employee@contoso.example", "remove audit: %+v", rm[0])
	// And in the lifecycle log (the admins' guest list).
	la, err := db.ListLifecycleActions(ctx, store.LifecycleFilter{})
	must(t, err == nil && len(la) == 2, "lifecycle log: %+v %v", la, err)
	// Notices: review.due to the employee for each opened round, and the warning before Kim's
	// account was disabled, once each; delivered through sendMail.
	notices, _ := db.RecentNotices(ctx, 100)
	kinds := map[string]int{}
	for _, n := range notices {
		kinds[n.Kind]++
	}
	must(t, kinds["review.due"] == 3 && kinds["guest.action_soon"] == 1, "notices: %v", kinds)
	deadline := time.Now().Add(15 * time.Second)
	for {
		subjects := ""
		for _, n := range noticesTo(tenant, "employee@contoso.example") {
			subjects += n.Subject + "\n"
		}
		if strings.Count(subjects, "Review needed") == 3 && strings.Count(subjects, "Reminder:") == 1 {
			break
		}
		must(t, time.Now().Before(deadline), "delivered notices:\n%s", subjects)
		time.Sleep(200 * time.Millisecond)
	}
}

// Without User.ReadWrite.All, the policy's disable is refused by Graph and the round ends
// reported: nobody is disabled, and the audit says why.
func TestReviewsMissingPermissionReports(t *testing.T) {
	tenant := newTenant(t)
	dsn := sqliteFile(t)
	clock := &reviewClock{}
	h, a := startReviews(t, tenant, map[string]string{"PORTICO_DATABASE_URL": dsn, "PORTICO_REVIEW_EVERY": "180d",
		"PORTICO_REVIEW_ACTION": "disable"}, clock, "User.Read.All")
	db := openStore(t, dsn)
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	_, join := inviteByLink(t, emp, "max@fabrikam.example")
	inv := acceptForReview(t, h, db, join, "max@fabrikam.example")
	clock.advance(tenant, 181*24*time.Hour)
	if _, err := a.Reviews.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := awaitReview(t, h, db, inv.ID, store.ReviewOpen)
	res := emp.post("/reviews/"+r.ID+"/remove", url.Values{"reason": {"left the company"}})
	must(t, res.Status == http.StatusSeeOther, "remove: %d", res.Status)
	got := awaitReview(t, h, db, inv.ID, store.ReviewReported)
	must(t, strings.Contains(got.ActionWhy, "User.ReadWrite.All"), "why: %q", got.ActionWhy)
	u := userOf(tenant, inv.GraphUserID)
	must(t, u != nil && u.AccountEnabled, "not disabled: %+v", u)
	ev := auditEvents(t, db, store.AuditFilter{Action: invite.ActionReviewReport})
	must(t, len(ev) == 1 && strings.Contains(ev[0].Detail, "reported instead"), "report audit: %+v", ev)
}
