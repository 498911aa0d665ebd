package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"portico/devtenant"
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

	inv := admin.get("/invitations/" + rec.ID)
	must(t, inv.Doc.Find(`[data-testid="guest-lifecycle-link"]`).Length() == 1, "the invitation page links admins to the guest's lifecycle page")
	admin.get("/admin/guests/" + rec.ID)
	p = admin.post("/admin/guests/"+rec.ID+"/restore", nil)
	must(t, p.Status == http.StatusSeeOther, "restore: %d %s", p.Status, p.Body)
	u, _ = tenant.UserByID(rec.GraphUserID)
	must(t, u.AccountEnabled, "the guest was not enabled again")
	waitAudit(t, db, invite.ActionLifecycleRestore, 1)
	g := admin.get("/admin/guests/" + rec.ID)
	must(t, strings.Contains(text(g, `[data-testid="guest-state"]`), "Exempt"), "state after restore: %s", text(g, "main"))
}

// The guests export neutralises spreadsheet formulas in every cell, and without a write permission
// the page says the expiry only reports, and why.
func TestLifecycleCSVFormulaSafeAndReportOnly(t *testing.T) {
	h := start(t, nil, map[string]string{"PORTICO_GRAPH_MODE": "application", "PORTICO_LOG_LEVEL": "warn",
		"PORTICO_PENDING_EXPIRY": "30d", "PORTICO_PENDING_EXPIRY_ACTION": "delete"})
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	p := emp.post("/invitations", inviteForm("formula@fabrikam.example", func(v url.Values) { v.Set("invitedUserDisplayName", "=HYPERLINK(\"http://x\")") }))
	must(t, p.Status == http.StatusSeeOther, "invite: %d %s", p.Status, p.Body)
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	page := admin.get("/admin/guests")
	must(t, page.Status == http.StatusOK && strings.Contains(text(page, `[data-testid="degraded"]`), "User.ReadWrite.All"),
		"report-only reason: %s", text(page, "main"))
	csv := admin.get("/admin/guests.csv")
	must(t, csv.Status == http.StatusOK && strings.Contains(string(csv.Body), `'=HYPERLINK`) && !strings.Contains(string(csv.Body), `,=HYPERLINK`),
		"csv: %s", csv.Body)
	must(t, admin.get("/admin/guests?state=nonsense").Status == http.StatusBadRequest, "unknown state filter accepted")
}

// Two Portico instances on one PostgreSQL database, running the lifecycle at the same moment,
// disable each expired guest once (devtenant sees one PATCH per guest) and audit it once.
func TestLifecycleTwoInstancesPostgres(t *testing.T) {
	dsn := freshPostgres(t)
	tenant := tenantWith(t, func(o *devtenant.Options) {
		o.AppRoles = append(devtenant.DefaultAppRoles(), "User.ReadWrite.All")
	})
	env := map[string]string{"PORTICO_DATABASE_URL": dsn, "PORTICO_GRAPH_MODE": "application", "PORTICO_LOG_LEVEL": "warn",
		"PORTICO_PENDING_EXPIRY": "30d", "PORTICO_PENDING_EXPIRY_ACTION": "disable"}
	a := launch(t, tenant, env)
	a.await(t)
	b := launch(t, tenant, env)
	b.await(t)
	emp := a.browser()
	emp.signIn("employee@contoso.example")
	addrs := []string{"one@fabrikam.example", "two@fabrikam.example", "three@fabrikam.example"}
	for _, addr := range addrs {
		p := emp.post("/invitations", inviteForm(addr))
		must(t, p.Status == http.StatusSeeOther, "invite %s: %d", addr, p.Status)
	}
	// The invitations were sent 31 days ago, as far as Portico's records go.
	if _, err := a.App.Store.SQL().Exec(`UPDATE invitations SET created_at = created_at - interval '31 days'`); err != nil {
		t.Fatal(err)
	}
	tenant.ResetRequests()
	var wg sync.WaitGroup
	for _, in := range []*instance{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := in.App.Lifecycle.Run(context.Background(), invite.JobMeta("t"), false); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	patches := 0
	for _, r := range tenant.Requests() {
		if r.Method == http.MethodPatch {
			patches++
		}
	}
	must(t, patches == len(addrs), "%d PATCH requests for %d guests across two instances, want one each", patches, len(addrs))
	evs := waitAudit(t, a.App.Store, invite.ActionLifecycleDisable, len(addrs))
	seen := map[string]bool{}
	for _, ev := range evs {
		must(t, !seen[ev.Target], "%s disabled twice in the audit trail", ev.Target)
		seen[ev.Target] = true
	}
}
