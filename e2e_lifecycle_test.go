package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/invite"
	"portico/store"
)

const lifeDay = 24 * time.Hour

// waitAudit waits until the audit trail holds n events of action.
func waitAudit(t *testing.T, db *store.DB, action string, n int) []store.AuditEvent {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs := auditEvents(t, db, store.AuditFilter{Action: action, Limit: 100})
		if len(evs) >= n || time.Now().After(deadline) {
			if len(evs) != n {
				t.Fatalf("%d %s audit events, want %d: %+v", len(evs), action, n, evs)
			}
			return evs
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The lifecycle in the demo with a moved clock (issue 19): a pending guest is reminded twice with
// the inviter's message, disabled at expiry (policy disable), then restored by an admin from
// /admin/guests; every step is in the audit trail and in devtenant's records.
func TestLifecycleDemoMovedClock(t *testing.T) {
	in := launch(t, nil, map[string]string{"PORTICO_LOG_LEVEL": "warn",
		"PORTICO_REMIND_AFTER": "7d,14d", "PORTICO_PENDING_EXPIRY": "30d", "PORTICO_PENDING_EXPIRY_ACTION": "disable",
		"PORTICO_WARN_BEFORE": "7d"}, "-demo", "-graph-mode", "application")
	in.await(t)
	tenant, db := in.App.Tenant, in.App.Store
	emp := in.browser()
	emp.signIn("employee@contoso.example")
	p := emp.post("/invitations", inviteForm("taylor@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther, "invite: %d %s", p.Status, p.Body)
	invs, err := db.ListInvitations(context.Background(), store.InvitationFilter{Email: "taylor@fabrikam.example"})
	must(t, err == nil && len(invs) == 1 && invs[0].GraphUserID != "", "record: %+v %v", invs, err)
	rec := invs[0]

	// An employee is refused the admin page, its actions and the export (403), with no change.
	for _, path := range []string{"/admin/guests", "/admin/guests.csv", "/admin/guests/dry-run", "/admin/guests/" + rec.ID} {
		must(t, emp.get(path).Status == http.StatusForbidden, "employee GET %s not refused", path)
	}
	for _, path := range []string{"/admin/guests/run", "/admin/guests/" + rec.ID + "/restore", "/admin/guests/" + rec.ID + "/act"} {
		must(t, emp.post(path, nil).Status == http.StatusForbidden, "employee POST %s not refused", path)
	}

	admin := in.browser()
	admin.signIn("admin@contoso.example")
	run := func() {
		t.Helper()
		admin.get("/admin/guests")
		p := admin.post("/admin/guests/run", nil)
		must(t, p.Status == http.StatusSeeOther, "run now: %d %s", p.Status, p.Body)
	}
	// A POST without the CSRF token is refused.
	bad := admin.rawPost("/admin/guests/run", nil)
	must(t, bad.Status == http.StatusForbidden || bad.Status == http.StatusBadRequest, "run without CSRF: %d", bad.Status)

	tenant.AdvanceClock(8 * lifeDay)
	dry := admin.get("/admin/guests/dry-run")
	must(t, dry.Status == http.StatusOK && strings.Contains(text(dry, `[data-testid="dry-run"]`), "Reminder 1"), "dry run: %s", text(dry, "main"))
	must(t, len(tenant.Invitations()) == 1, "the dry run sent something")
	run()
	waitAudit(t, db, invite.ActionLifecycleRemind, 1)
	must(t, len(tenant.Invitations()) == 2, "devtenant invitations after reminder 1: %d", len(tenant.Invitations()))
	out := tenant.Outbox()
	must(t, len(out) == 2 && strings.Contains(out[1].Body, "Welcome to the Fabrikam project."), "reminder email: %+v", out)
	run() // a second run the same day sends nothing
	time.Sleep(1500 * time.Millisecond)
	must(t, len(tenant.Invitations()) == 2, "a second run reminded again")

	tenant.AdvanceClock(7 * lifeDay) // day 15
	run()
	waitAudit(t, db, invite.ActionLifecycleRemind, 2)
	must(t, len(tenant.Invitations()) == 3, "devtenant invitations after reminder 2: %d", len(tenant.Invitations()))

	tenant.AdvanceClock(16 * lifeDay) // day 31
	run()
	evs := waitAudit(t, db, invite.ActionLifecycleDisable, 1)
	must(t, strings.Contains(evs[0].Detail, "PORTICO_PENDING_EXPIRY=30d PORTICO_PENDING_EXPIRY_ACTION=disable"), "disable audit: %+v", evs[0])
	u, _ := tenant.UserByID(rec.GraphUserID)
	must(t, !u.AccountEnabled, "the guest is still enabled in devtenant")
	must(t, len(graphRequests(tenant, http.MethodPatch, "/v1.0/users/"+rec.GraphUserID)) == 1, "PATCH requests: %d",
		len(graphRequests(tenant, http.MethodPatch, "/v1.0/users/"+rec.GraphUserID)))

	page := admin.get("/admin/guests?state=disabled")
	must(t, page.Status == http.StatusOK && page.Doc.Find(`[data-testid="guest-row"][data-state="disabled"]`).Length() == 1,
		"disabled row: %s", text(page, "main"))
	must(t, strings.TrimSpace(text(page, `[data-testid="count-disabled"] dd`)) == "1", "disabled count: %q", text(page, `[data-testid="count-disabled"]`))
	csv := admin.get("/admin/guests.csv")
	must(t, csv.Status == http.StatusOK && strings.Contains(string(csv.Body), "taylor@fabrikam.example,") && strings.Contains(string(csv.Body), ",disabled,2,"),
		"csv: %s", csv.Body)

	admin.get("/admin/guests/" + rec.ID)
	p = admin.post("/admin/guests/"+rec.ID+"/restore", nil)
	must(t, p.Status == http.StatusSeeOther, "restore: %d %s", p.Status, p.Body)
	u, _ = tenant.UserByID(rec.GraphUserID)
	must(t, u.AccountEnabled, "the guest was not enabled again")
	waitAudit(t, db, invite.ActionLifecycleRestore, 1)
	g := admin.get("/admin/guests/" + rec.ID)
	must(t, strings.Contains(text(g, `[data-testid="guest-state"]`), "Exempt"), "state after restore: %s", text(g, "main"))
}
