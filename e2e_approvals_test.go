package main

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"portico/devtenant"
	"portico/store"
)

// approvalEnv: partners outside fabrikam.example need approval; administrators and Guest
// Inviters (inviter@contoso.example) approve.
func approvalEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"PORTICO_ALLOWED_DOMAINS": "fabrikam.example",
		"PORTICO_APPROVAL":        "domain",
		"PORTICO_APPROVERS":       devtenant.RoleGuestInviter,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// startApprovals runs Portico with approvals on a devtenant of its own.
func startApprovals(t *testing.T, extra map[string]string) *instance {
	t.Helper()
	in := launch(t, newTenant(t), approvalEnv(extra))
	in.await(t)
	return in
}

// askForApproval submits the form for a partner outside the allow-list, sees the offer, confirms
// it and returns the request's page path.
func askForApproval(t *testing.T, h *instance, b *browser, email string) string {
	t.Helper()
	form := inviteForm(email, func(v url.Values) { v.Del("ccRecipient") })
	p := b.post("/invitations", form)
	must(t, p.Status == http.StatusOK && p.Doc.Find(`[data-testid="approval-offer"]`).Length() == 1,
		"the form says the request needs approval: %d %s", p.Status, p.Body)
	must(t, strings.Contains(p.Doc.Find(`[data-testid="approval-reasons"]`).Text(), "northwind.example is not on your organization's list of allowed domains"),
		"the form says why: %s", p.Doc.Find(`[data-testid="approval-offer"]`).Text())
	form.Set("ask_approval", "1")
	p = b.post("/invitations", form)
	loc := p.Header.Get("Location")
	must(t, p.Status == http.StatusSeeOther && strings.HasPrefix(loc, "/approvals/"), "asked: %d %s", p.Status, p.Body)
	return loc
}

func TestApprovalJourney(t *testing.T) {
	h := startApprovals(t, nil)
	employee := h.browser()
	employee.signIn("employee@contoso.example")
	form := employee.get("/")
	must(t, form.Doc.Find(`[data-testid="approvals-link"]`).Length() == 0, "an employee has no Approvals link")

	h.tenant.ResetRequests()
	req := askForApproval(t, h, employee, "partner@northwind.example")
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 0, "asking for approval calls no Graph write")
	_, exists := h.tenant.UserByMail("partner@northwind.example")
	must(t, !exists, "no guest before approval")

	mine := employee.get("/invitations")
	row := mine.Doc.Find(`[data-testid="my-approvals"] [data-testid="approval-row"]`)
	must(t, row.Length() == 1 && strings.Contains(row.Text(), "partner@northwind.example") && strings.Contains(row.Text(), "Waiting for approval") &&
		strings.Contains(row.Text(), "administrator or an approver"), "My invitations shows the request and who approves: %q", row.Text())

	// The requester, as an attacker: approving their own request by a crafted POST.
	self := employee.post(req+"/approve", url.Values{})
	must(t, self.Status == http.StatusForbidden, "self-approval: %d", self.Status)
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 0, "a refused approval reached Graph")

	admin := h.browser()
	home := admin.signIn("admin@contoso.example")
	must(t, strings.TrimSpace(home.Doc.Find(`[data-testid="approvals-count"]`).Text()) == "1 waiting", "header count: %q", home.Doc.Find(`[data-testid="approvals-count"]`).Text())
	inbox := admin.get("/approvals")
	must(t, inbox.Status == http.StatusOK && inbox.Doc.Find(`[data-testid="approval-row"]`).Length() == 1, "inbox: %d %s", inbox.Status, inbox.Body)
	detail := admin.get(req)
	must(t, detail.Doc.Find(`[data-testid="approve"]`).Length() == 1 && detail.Doc.Find(`[data-testid="check"]`).HasClass("ok"),
		"detail: approve offered, the address re-checked now: %s", detail.Doc.Find("main").Text())
	must(t, strings.Contains(detail.Doc.Find(`[data-testid="requester"]`).Text(), "Erin Employee"), "names the requester")

	// A forged approval: the admin's session, no token or another origin.
	forged := admin.rawPost(req+"/approve", url.Values{"_csrf": {"forged"}}, "Origin", h.URL)
	crossSite := admin.rawPost(req+"/approve", url.Values{"_csrf": {admin.csrf()}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	must(t, forged.Status == http.StatusForbidden && crossSite.Status == http.StatusForbidden && countPosts(h.tenant, "/v1.0/invitations") == 0,
		"forged approvals: %d %d", forged.Status, crossSite.Status)
	ok := admin.post(req+"/approve", url.Values{})
	must(t, ok.Status == http.StatusSeeOther, "approve: %d %s", ok.Status, ok.Body)
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 1, "one invitation sent")
	u, exists := h.tenant.UserByMail("partner@northwind.example")
	must(t, exists && u.ExternalUserState == "PendingAcceptance", "devtenant has the guest: %+v", u)
	must(t, len(u.Sponsors) == 2 && u.Sponsors[0] == oidOf(t, h.tenant, "employee@contoso.example") && u.Sponsors[1] == oidOf(t, h.tenant, "admin@contoso.example"),
		"the guest's sponsors are the requester and the approver: %v", u.Sponsors)

	after := employee.get("/invitations")
	must(t, strings.Contains(after.Doc.Find(`[data-testid="invitation-row"]`).Text(), "partner@northwind.example"), "the requester sees the invitation as theirs")
	must(t, strings.Contains(after.Doc.Find(`[data-testid="my-approvals"]`).Text(), "Approved"), "and the request approved")
	done := employee.get(req)
	link, _ := done.Doc.Find(`[data-testid="invitation-link"]`).Attr("href")
	must(t, strings.HasPrefix(link, "/invitations/"), "the request links to the invitation")
	inv := employee.get(link)
	must(t, inv.Status == http.StatusOK, "the requester opens the invitation: %d", inv.Status)

	again := admin.post(req+"/approve", url.Values{})
	must(t, again.Status == http.StatusConflict && countPosts(h.tenant, "/v1.0/invitations") == 1, "approving twice: %d", again.Status)

	db := h.App.Store
	approves := auditEvents(t, db, store.AuditFilter{Action: "approval.approve", Outcome: "success"})
	must(t, len(approves) == 1 && approves[0].ActorUPN == "admin@contoso.example", "approval audited with the approver: %+v", approves)
	creates := auditEvents(t, db, store.AuditFilter{Action: "invitation.create", Outcome: "created"})
	must(t, len(creates) == 1 && creates[0].ActorUPN == "admin@contoso.example" && strings.Contains(creates[0].Detail, `"onBehalfOf":"employee@contoso.example"`),
		"invitation audited with both people: %+v", creates)
	selfs := auditEvents(t, db, store.AuditFilter{Action: "approval.approve", Outcome: "denied"})
	must(t, len(selfs) == 1 && selfs[0].ActorUPN == "employee@contoso.example", "self-approval audited: %+v", selfs)
}

func TestApprovalDenyAndCancel(t *testing.T) {
	h := startApprovals(t, nil)
	employee := h.browser()
	employee.signIn("employee@contoso.example")
	req := askForApproval(t, h, employee, "sam@northwind.example")

	approver := h.browser()
	approver.signIn("inviter@contoso.example") // a Guest Inviter: an approver by PORTICO_APPROVERS
	approver.get(req)
	empty := approver.post(req+"/deny", url.Values{"reason": {"  "}})
	must(t, empty.Status == http.StatusBadRequest && empty.Doc.Find("#reason-error").Length() == 1, "deny without a reason: %d", empty.Status)
	denied := approver.post(req+"/deny", url.Values{"reason": {"Northwind is not a supplier of ours."}})
	must(t, denied.Status == http.StatusSeeOther, "deny: %d %s", denied.Status, denied.Body)
	page := employee.get(req)
	must(t, strings.Contains(page.Doc.Find(`[data-testid="deny-reason"]`).Text(), "Northwind is not a supplier of ours."), "the requester reads the reason")
	late := approver.post(req+"/approve", url.Values{})
	must(t, late.Status == http.StatusConflict, "approve after deny: %d", late.Status)
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 0, "nothing sent")

	req2 := askForApproval(t, h, employee, "kim@northwind.example")
	c := employee.post(req2+"/cancel", url.Values{})
	must(t, c.Status == http.StatusSeeOther, "cancel: %d", c.Status)
	approver.get(req2)
	must(t, approver.post(req2+"/approve", url.Values{}).Status == http.StatusConflict, "approve a cancelled request")
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 0, "nothing sent")
}

func TestApprovalExpiry(t *testing.T) {
	h := startApprovals(t, map[string]string{"PORTICO_APPROVAL_TTL": "2s"})
	employee := h.browser()
	employee.signIn("employee@contoso.example")
	req := askForApproval(t, h, employee, "lee@northwind.example")
	id := strings.TrimPrefix(req, "/approvals/")
	deadline := time.Now().Add(15 * time.Second)
	var state string
	for time.Now().Before(deadline) {
		r, err := h.App.Store.GetApprovalRequest(t.Context(), id)
		must(t, err == nil, "read: %v", err)
		if state = r.State; state == store.ApprovalExpired {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	must(t, state == store.ApprovalExpired, "the sweep job expired the request: %s", state)
	ev := auditEvents(t, h.App.Store, store.AuditFilter{Action: "approval.expire"})
	must(t, len(ev) == 1 && ev[0].Target == "lee@northwind.example", "expiry audited: %+v", ev)
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	admin.get(req)
	must(t, admin.post(req+"/approve", url.Values{}).Status == http.StatusConflict, "an expired request cannot be approved")
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 0, "nothing sent")
}

// TestApprovalConcurrentApprovers: approvers press Approve at once in several sessions, on a
// SQLite file and on PostgreSQL; exactly one invitation is sent.
func TestApprovalConcurrentApprovers(t *testing.T) {
	for name, newDSN := range engines() {
		t.Run(name, func(t *testing.T) { concurrentApprovers(t, newDSN(t)) })
	}
}

func concurrentApprovers(t *testing.T, dsn string) {
	h := startApprovals(t, map[string]string{"PORTICO_DATABASE_URL": dsn})
	employee := h.browser()
	employee.signIn("employee@contoso.example")
	req := askForApproval(t, h, employee, "pat@northwind.example")

	type session struct {
		c    *http.Client
		csrf string
	}
	var sessions []session
	for _, upn := range []string{"admin@contoso.example", "inviter@contoso.example"} {
		for range 4 {
			b := h.browser()
			b.signIn(upn)
			b.get(req)
			sessions = append(sessions, session{c: b.c, csrf: b.csrf()})
		}
	}
	h.tenant.ResetRequests()
	statuses := make([]int, len(sessions))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, s := range sessions {
		wg.Go(func() {
			<-start
			form := url.Values{"_csrf": {s.csrf}}
			r, _ := http.NewRequest(http.MethodPost, h.URL+req+"/approve", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Origin", h.URL)
			resp, err := s.c.Do(r)
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, st := range statuses {
		switch st {
		case http.StatusSeeOther:
			won++
		case http.StatusConflict:
		default:
			t.Errorf("unexpected status %d", st)
		}
	}
	must(t, won == 1, "%d approvals went through: %v", won, statuses)
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 1, "%d invitations sent, want 1", countPosts(h.tenant, "/v1.0/invitations"))
	r, err := h.App.Store.GetApprovalRequest(t.Context(), strings.TrimPrefix(req, "/approvals/"))
	must(t, err == nil && r.State == store.ApprovalApproved && r.InvitationID != "", "approved once: %+v %v", r, err)
	must(t, len(auditEvents(t, h.App.Store, store.AuditFilter{Action: "approval.approve", Outcome: "success"})) == 1, "one approval audited as success")
}

// TestApprovalMemberInApplicationMode: an employee asks for a Member; a Guest Inviter approver may
// not approve it (403, nothing sent), an administrator may. Portico's application token sends it,
// with the requester as sponsor and both people in the audit trail.
func TestApprovalMemberInApplicationMode(t *testing.T) {
	h := startApprovals(t, map[string]string{"PORTICO_APPROVAL": "member", "PORTICO_ALLOWED_DOMAINS": "", "PORTICO_GRAPH_MODE": "application"})
	employee := h.browser()
	employee.signIn("employee@contoso.example")
	home := employee.get("/")
	must(t, home.Doc.Find(`#invitedUserType-member`).Length() == 1, "an employee may ask for a Member when Member requests go to approval")
	form := inviteForm("morgan@fabrikam.example", func(v url.Values) { v.Del("ccRecipient"); v.Set("invitedUserType", "Member") })
	p := employee.post("/invitations", form)
	must(t, p.Status == http.StatusOK && strings.Contains(p.Doc.Find(`[data-testid="approval-offer"]`).Text(), "only administrators invite members"), "offer: %d", p.Status)
	form.Set("ask_approval", "1")
	p = employee.post("/invitations", form)
	req := p.Header.Get("Location")
	must(t, p.Status == http.StatusSeeOther && strings.HasPrefix(req, "/approvals/"), "asked: %d", p.Status)
	must(t, strings.Contains(employee.get(req).Doc.Find(`[data-testid="approvers"]`).Text(), "an administrator"), "only administrators decide a Member request")

	approver := h.browser()
	approver.signIn("inviter@contoso.example")
	page := approver.get(req)
	must(t, page.Doc.Find(`[data-testid="approve"]`).Length() == 0 && page.Doc.Find(`[data-testid="deny"]`).Length() == 1, "a non-admin approver may deny but not approve a Member")
	refused := approver.post(req+"/approve", url.Values{})
	must(t, refused.Status == http.StatusForbidden && countPosts(h.tenant, "/v1.0/invitations") == 0, "non-admin approves a Member: %d", refused.Status)

	admin := h.browser()
	admin.signIn("admin@contoso.example")
	admin.get(req)
	ok := admin.post(req+"/approve", url.Values{})
	must(t, ok.Status == http.StatusSeeOther, "admin approves: %d %s", ok.Status, ok.Body)
	posts := graphRequests(h.tenant, http.MethodPost, "/v1.0/invitations")
	must(t, len(posts) == 1 && bearerClaims(t, posts[0])["idtyp"] == "app", "sent once with the application token")
	body := invitationBodies(t, h.tenant)[0]
	sp, _ := body["invitedUserSponsors"].([]any)
	must(t, body["invitedUserType"] == "Member" && len(sp) == 2 && sp[0].(map[string]any)["id"] == oidOf(t, h.tenant, "employee@contoso.example") &&
		sp[1].(map[string]any)["id"] == oidOf(t, h.tenant, "admin@contoso.example"), "a Member, sponsored by the requester and the approver: %v", body)
	evs := auditEvents(t, h.App.Store, store.AuditFilter{Action: "invitation.create", Outcome: "created"})
	must(t, len(evs) == 1 && evs[0].ActorUPN == "admin@contoso.example" && strings.Contains(evs[0].Detail, `"onBehalfOf":"employee@contoso.example"`) &&
		strings.Contains(evs[0].Detail, `"graphIdentity":"application"`), "audit: %+v", evs)
}

// TestDemoApprovalNotices: the demo with notices over devtenant's sendMail. The approvers'
// mailbox is told a request waits; the requester is told it was approved, and another denied with
// the reason; every notice links to the request's page (sign-in), never to a token.
func TestDemoApprovalNotices(t *testing.T) {
	in := launch(t, nil, map[string]string{"PORTICO_ALLOWED_DOMAINS": "fabrikam.example", "PORTICO_APPROVAL": "domain",
		"PORTICO_APPROVAL_NOTIFY": "admin@contoso.example"}, "-demo")
	in.await(t)
	tenant := in.App.Tenant
	employee := in.browser()
	employee.signIn("employee@contoso.example")
	req := askForApproval(t, in, employee, "partner@northwind.example")
	deny := askForApproval(t, in, employee, "other@northwind.example")

	waitNotices := func(to string, n int) []devtenant.Notice {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for len(noticesTo(tenant, to)) < n {
			must(t, time.Now().Before(deadline), "%d notices to %s after 15 s, want %d\n%s", len(noticesTo(tenant, to)), to, n, in.Logs)
			time.Sleep(100 * time.Millisecond)
		}
		return noticesTo(tenant, to)
	}
	waiting := waitNotices("admin@contoso.example", 2)
	must(t, strings.Contains(waiting[0].Subject, "Approval needed") && strings.Contains(waiting[0].Content, in.App.PublicURL()+"/approvals/"),
		"waiting notice: %+v", waiting[0])

	admin := in.browser()
	admin.signIn("admin@contoso.example")
	admin.get(req)
	must(t, admin.post(req+"/approve", url.Values{}).Status == http.StatusSeeOther, "approve")
	admin.get(deny)
	must(t, admin.post(deny+"/deny", url.Values{"reason": {"Northwind is not a supplier."}}).Status == http.StatusSeeOther, "deny")
	told := waitNotices("employee@contoso.example", 2)
	var approved, denied bool
	for _, n := range told {
		approved = approved || strings.HasPrefix(n.Subject, "Approved")
		denied = denied || (strings.HasPrefix(n.Subject, "Denied") && strings.Contains(n.Content, "Northwind is not a supplier."))
		must(t, !strings.Contains(n.Content, "/join/") && !strings.Contains(n.Content, "redeem"), "no token in a notice")
	}
	must(t, approved && denied, "the requester is told both decisions: %+v", told)
	time.Sleep(300 * time.Millisecond)
	must(t, len(noticesTo(tenant, "employee@contoso.example")) == 2 && len(noticesTo(tenant, "admin@contoso.example")) == 2, "one notice per event")
}
