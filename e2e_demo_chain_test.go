package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"portico/devtenant"
	"portico/store"
)

// TestDemoApprovalChain is issue 18's demo, end to end through the real program in demo mode, in
// both Graph modes: an employee asks to invite a partner at a domain outside the allow-list,
// naming a second sponsor and ticking a guest group → the demo administrator is emailed (demo mode
// tells the administrator without PORTICO_APPROVAL_NOTIFY) → approves in /approvals, whose page
// shows the sponsors and the group → devtenant records one invitation with the sponsors
// requester, named sponsor, approver (Graph allows 5; that order) and the guest in the group →
// the employee is told → the partner accepts through Microsoft's redemption → the state is
// learned (delegated: the inviter's list; application: the state sync) → the inviter and both
// other sponsors are told, exactly once each.
func TestDemoApprovalChain(t *testing.T) {
	for _, mode := range []string{"delegated", "application"} {
		t.Run(mode, func(t *testing.T) { demoApprovalChain(t, mode) })
	}
}

func demoApprovalChain(t *testing.T, mode string) {
	in := launch(t, nil, map[string]string{"PORTICO_ALLOWED_DOMAINS": "fabrikam.example", "PORTICO_APPROVAL": "domain"},
		"-demo", "-graph-mode", mode)
	in.await(t)
	tenant := in.App.Tenant
	const partnerAddr = "partner@northwind.example"
	employeeOID, meganOID, adminOID := oidOf(t, tenant, "employee@contoso.example"), oidOf(t, tenant, "megan@contoso.example"),
		oidOf(t, tenant, "admin@contoso.example")
	waitNotices := func(to string, n int) []devtenant.Notice {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for len(noticesTo(tenant, to)) < n {
			must(t, time.Now().Before(deadline), "%d notices to %s after 20 s, want %d\n%s", len(noticesTo(tenant, to)), to, n, in.Logs)
			time.Sleep(100 * time.Millisecond)
		}
		return noticesTo(tenant, to)
	}
	subjects := func(ns []devtenant.Notice) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Subject)
		}
		return out
	}

	// The employee fills in the form: a second sponsor, a group, a partner outside the allow-list.
	employee := in.browser()
	employee.signIn("employee@contoso.example")
	form := employee.get("/")
	must(t, form.Doc.Find(`input[name="sponsors"]`).Length() == 4 && form.Doc.Find(`input[name="groups"][value="`+devtenant.GroupProjectFalcon+`"]`).Length() == 1,
		"the form offers sponsors and the demo groups")
	values := inviteForm(partnerAddr, func(v url.Values) {
		v.Del("ccRecipient")
		v["sponsors"] = []string{"megan@contoso.example", "", "", ""}
		v.Set("groups", devtenant.GroupProjectFalcon)
	})
	offer := employee.post("/invitations", values)
	must(t, offer.Status == http.StatusOK && offer.Doc.Find(`[data-testid="approval-offer"]`).Length() == 1, "approval offered: %d %s", offer.Status, offer.Body)
	// "Ask for approval" posts the offer's own form: it carries the sponsors and groups.
	ask := url.Values{}
	offer.Doc.Find(`[data-testid="approval-offer"] form input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
		ask.Add(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	must(t, ask.Get("ask_approval") == "1" && slices.Equal(ask["sponsors"], []string{"megan@contoso.example"}) &&
		slices.Equal(ask["groups"], []string{devtenant.GroupProjectFalcon}), "the offer keeps the sponsors and groups: %v", ask)
	asked := employee.post("/invitations", ask)
	req := asked.Header.Get("Location")
	must(t, asked.Status == http.StatusSeeOther && strings.HasPrefix(req, "/approvals/"), "asked: %d %s", asked.Status, asked.Body)
	must(t, countPosts(tenant, "/v1.0/invitations") == 0, "asking sends nothing")
	stored, err := in.App.Store.GetApprovalRequest(t.Context(), strings.TrimPrefix(req, "/approvals/"))
	must(t, err == nil && strings.Contains(stored.RequestJSON, `"sponsors":["megan@contoso.example"]`) &&
		strings.Contains(stored.RequestJSON, `"groups":["`+devtenant.GroupProjectFalcon+`"]`), "the frozen request keeps them: %+v %v", stored, err)

	// The administrator is told (demo mode's default PORTICO_APPROVAL_NOTIFY) and approves.
	waiting := waitNotices("admin@contoso.example", 1)
	must(t, strings.Contains(waiting[0].Subject, "Approval needed") && strings.Contains(waiting[0].Content, in.App.PublicURL()+req),
		"waiting notice: %+v", waiting[0])
	admin := in.browser()
	admin.signIn("admin@contoso.example")
	page := admin.get(req)
	must(t, page.Status == http.StatusOK && page.Doc.Find(`[data-testid="approve"]`).Length() == 1, "request page: %d", page.Status)
	sp := text(page, `[data-testid="approval-sponsors"]`)
	must(t, strings.Contains(sp, "Erin Employee") && strings.Contains(sp, "megan@contoso.example"), "the page shows the sponsors: %q", sp)
	must(t, strings.Contains(text(page, `[data-testid="approval-groups"]`), "Project Falcon partners"), "the page shows the group: %q",
		text(page, `[data-testid="approval-groups"]`))
	ok := admin.post(req+"/approve", url.Values{})
	must(t, ok.Status == http.StatusSeeOther, "approve: %d %s", ok.Status, ok.Body)

	// devtenant: one invitation, three sponsors in order, the guest in the group.
	must(t, countPosts(tenant, "/v1.0/invitations") == 1, "%d invitations posted, want 1", countPosts(tenant, "/v1.0/invitations"))
	body := invitationBodies(t, tenant)[0]
	var ids []string
	for _, x := range body["invitedUserSponsors"].([]any) {
		ids = append(ids, x.(map[string]any)["id"].(string))
	}
	must(t, slices.Equal(ids, []string{employeeOID, meganOID, adminOID}), "invitedUserSponsors: %v, want requester, named sponsor, approver", ids)
	guest, exists := tenant.UserByMail(partnerAddr)
	must(t, exists && slices.Equal(guest.Sponsors, []string{employeeOID, meganOID, adminOID}), "devtenant's guest and sponsors: %+v", guest)
	deadline := time.Now().Add(20 * time.Second)
	for {
		g, _ := tenant.GroupByID(devtenant.GroupProjectFalcon)
		if slices.Contains(g.Members, guest.ID) {
			break
		}
		must(t, time.Now().Before(deadline), "the guest is not in the group after 20 s\n%s", in.Logs)
		time.Sleep(100 * time.Millisecond)
	}
	r, err := in.App.Store.GetApprovalRequest(t.Context(), strings.TrimPrefix(req, "/approvals/"))
	must(t, err == nil && r.State == store.ApprovalApproved && r.InvitationID != "", "request approved: %+v %v", r, err)
	deadline = time.Now().Add(10 * time.Second)
	for {
		gs, err := in.App.Store.InvitationGroups(t.Context(), r.InvitationID)
		must(t, err == nil, "groups: %v", err)
		if len(gs) == 1 && gs[0].Status == store.GroupAdded {
			must(t, gs[0].Attempts == 1, "added in one attempt: %+v", gs[0])
			break
		}
		must(t, time.Now().Before(deadline), "group assignment not recorded added: %+v", gs)
		time.Sleep(100 * time.Millisecond)
	}
	adds := 0
	for _, rq := range tenant.Requests() {
		if rq.Method == http.MethodPost && strings.HasPrefix(rq.Path, "/v1.0/groups/"+devtenant.GroupProjectFalcon+"/members") {
			adds++
		}
	}
	must(t, adds == 1, "%d group adds posted, want 1", adds)
	inv := employee.get("/invitations/" + r.InvitationID)
	must(t, inv.Status == http.StatusOK && strings.Contains(text(inv, `[data-testid="sponsors"]`), "Megan Bowen") &&
		strings.Contains(text(inv, `[data-testid="sponsors"]`), "Avery Admin"), "the requester's invitation page lists the sponsors: %q", text(inv, `[data-testid="sponsors"]`))

	// The employee is told it was approved.
	approved := waitNotices("employee@contoso.example", 1)
	must(t, strings.HasPrefix(approved[0].Subject, "Approved"), "approved notice: %v", subjects(approved))

	// The partner accepts through Microsoft's redemption (the invitation email's link).
	var redeem string
	for _, m := range tenant.Outbox() {
		if strings.EqualFold(m.To, partnerAddr) {
			redeem = m.RedeemURL
		}
	}
	must(t, redeem != "", "devtenant's outbox has the invitation email")
	partner := in.browser()
	must(t, partner.get(redeem).Status == http.StatusOK, "redemption page")
	redeemed := partner.post(redeem, url.Values{"_csrf": {""}})
	landing := redeemed.Header.Get("Location")
	must(t, redeemed.Status == http.StatusFound && strings.Contains(landing, "/welcome?i="+r.InvitationID), "lands on Portico: %d %q", redeemed.Status, landing)
	must(t, partner.get(landing).Status == http.StatusOK, "welcome page")

	// The state is learned; the inviter and the sponsors are told, once each.
	accepted := func(to string) int {
		n := 0
		for _, x := range noticesTo(tenant, to) {
			if strings.Contains(x.Subject, "accepted the invitation") {
				n++
			}
		}
		return n
	}
	deadline = time.Now().Add(20 * time.Second)
	for accepted("employee@contoso.example") == 0 || accepted("megan@contoso.example") == 0 || accepted("admin@contoso.example") == 0 {
		must(t, time.Now().Before(deadline), "accepted notices after 20 s: employee %d, megan %d, admin %d\n%s",
			accepted("employee@contoso.example"), accepted("megan@contoso.example"), accepted("admin@contoso.example"), in.Logs)
		if mode == "application" {
			_, _ = in.App.Jobs.SyncNow(context.Background())
		} else {
			employee.get("/invitations") // no background identity: the inviter's list reads the state
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Seen again: nothing more.
	if mode == "application" {
		_, _ = in.App.Jobs.SyncNow(context.Background())
	}
	employee.get("/invitations")
	time.Sleep(time.Second)
	for to, want := range map[string][]string{
		"employee@contoso.example": {"Approved", "accepted"},
		"megan@contoso.example":    {"accepted"},
		"admin@contoso.example":    {"Approval needed", "accepted"},
	} {
		got := noticesTo(tenant, to)
		must(t, len(got) == len(want), "%s got %d notices, want %d: %v", to, len(got), len(want), subjects(got))
		for i, w := range want {
			must(t, strings.Contains(got[i].Subject, w), "%s's notice %d: %q, want %q", to, i, got[i].Subject, w)
		}
	}
	for _, n := range tenant.Notices() {
		must(t, !strings.Contains(n.Content, "/join/") && !strings.Contains(n.Content, "redeem"), "no token in a notice: %s", n.Content)
	}
}
