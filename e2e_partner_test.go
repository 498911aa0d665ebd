package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// joinPath is the path of a join URL on Portico.
func joinPath(h *harness, join string) string { return strings.TrimPrefix(join, h.URL) }

// assertPartnerBranding checks a partner's page names the organization and never Portico.
func assertPartnerBranding(t *testing.T, p *page, what string) {
	t.Helper()
	must(t, p.Doc != nil, "%s: not a page (%d)", what, p.Status)
	must(t, !strings.Contains(strings.ToLower(p.Body), "portico"), "%s says Portico:\n%s", what, p.Body)
	title := p.Doc.Find("title").Text()
	must(t, strings.HasSuffix(title, " — Contoso"), "%s: title %q, want it branded with the organization", what, title)
	must(t, strings.TrimSpace(p.Doc.Find("header .brand").Text()) == "Contoso", "%s: header brand %q", what, p.Doc.Find("header .brand").Text())
	must(t, strings.TrimSpace(p.Doc.Find("footer").Text()) == "Contoso", "%s: footer %q", what, p.Doc.Find("footer").Text())
}

// Issue 14, item 9 and the partner journeys: one record per partner after "Send again", the old
// join link dies (and says whom to contact) instead of leading to the old ticket, the page names
// the invited address, and after acceptance the link says "you're already in" with no Accept.
func TestPartnerLinksAfterResendAndAcceptance(t *testing.T) {
	h := start(t, nil, map[string]string{"PORTICO_STATE_REFRESH": "1s"})
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	invPath, join1 := inviteByLink(t, emp, "taylor@fabrikam.example", func(v url.Values) { v.Set("messageLanguage", "") })

	partner := h.browser()
	p := partner.get(join1)
	must(t, p.Status == http.StatusOK && p.Doc.Find(`[data-testid="join-accept"]`).Length() == 1, "pending join page: %d", p.Status)
	must(t, strings.Contains(text(p, `[data-testid="join-for"]`), "This invitation is for taylor@fabrikam.example — sign in with that address"),
		"names the invited address: %q", text(p, `[data-testid="join-for"]`))
	assertPartnerBranding(t, p, "join page")

	// Send again: the same record, a new link; the old one is superseded.
	emp.get(invPath)
	res := emp.post(invPath+"/resend", nil)
	must(t, res.Status == http.StatusSeeOther && res.Header.Get("Location") == invPath, "resend → the same record: %d %q", res.Status, res.Header.Get("Location"))
	result := emp.get(invPath)
	join2, _ := result.Doc.Find("#join-url").Attr("value")
	must(t, strings.Contains(join2, "/join/") && join2 != join1, "a new join link: %q", join2)
	list := emp.get("/invitations")
	must(t, list.Doc.Find(`[data-testid="invitation-row"]`).Length() == 1, "My invitations lists the partner once: %d rows", list.Doc.Find(`[data-testid="invitation-row"]`).Length())

	old := partner.get(join1)
	must(t, old.Status == http.StatusGone, "old link after Send again: %d", old.Status)
	must(t, strings.Contains(text(old, "h1"), "replaced by a newer one"), "says it was replaced: %q", text(old, "h1"))
	must(t, strings.Contains(text(old, `[data-testid="join-contact"]`), "Erin Employee"), "names the inviter to contact: %q", text(old, `[data-testid="join-contact"]`))
	must(t, old.Doc.Find(`[data-testid="join-accept"]`).Length() == 0, "no Accept on a superseded link")
	assertPartnerBranding(t, old, "superseded page")
	acc := partner.post(joinPath(h, join1)+"/accept", url.Values{"_csrf": {""}})
	must(t, acc.Status == http.StatusGone && acc.Header.Get("Location") == "", "accepting the old link: %d → %q, want no redirect", acc.Status, acc.Header.Get("Location"))

	// The new link works and leads to the new ticket; after redemption the link says so.
	acc = partner.post(joinPath(h, join2)+"/accept", url.Values{"_csrf": {""}})
	must(t, acc.Status == http.StatusFound && strings.HasPrefix(acc.Header.Get("Location"), h.tenant.URL()+"/redeem?"), "accept → Microsoft: %d %q", acc.Status, acc.Header.Get("Location"))
	redeemed := partner.post(acc.Header.Get("Location"), url.Values{"_csrf": {""}})
	must(t, redeemed.Status == http.StatusFound, "redeem %d %s", redeemed.Status, redeemed.Body)
	welcome := partner.get(redeemed.Header.Get("Location"))
	must(t, welcome.Status == http.StatusOK, "welcome %d", welcome.Status)
	assertPartnerBranding(t, welcome, "welcome page")

	detail := emp.get(invPath) // re-reads the state from Graph
	must(t, text(detail, `[data-testid="state"]`) == "Accepted", "inviter sees Accepted: %q", text(detail, `[data-testid="state"]`))
	history := strings.Join(strings.Fields(detail.Doc.Find(`[data-testid="history"]`).Text()), " ")
	for _, want := range []string{"Sent by Erin Employee", "Sent again by Erin Employee", "opened the join link", "pressed Accept", "accepted the invitation"} {
		must(t, strings.Contains(history, want), "history lacks %q: %s", want, history)
	}

	again := partner.get(join2)
	must(t, again.Status == http.StatusOK, "accepted link: %d", again.Status)
	must(t, strings.Contains(text(again, "h1"), "You're already in"), "already in: %q", text(again, "h1"))
	landing, _ := again.Doc.Find(`a[data-testid="join-landing"]`).Attr("href")
	must(t, landing == h.URL+"/welcome", "links to the landing page: %q", landing)
	must(t, again.Doc.Find(`[data-testid="join-accept"]`).Length() == 0, "no Accept once accepted")
	assertPartnerBranding(t, again, "accepted page")
	acc = partner.post(joinPath(h, join2)+"/accept", url.Values{"_csrf": {""}})
	must(t, acc.Header.Get("Location") == "" && acc.Status == http.StatusOK, "accepting again: %d → %q", acc.Status, acc.Header.Get("Location"))

	// Unknown and malformed tokens keep the one 404 page: no oracle.
	var bodies []string
	tok1 := join1[strings.LastIndex(join1, "/")+1:]
	tampered := tok1[:len(tok1)-1] + "Q"
	if strings.HasSuffix(tok1, "Q") {
		tampered = tok1[:len(tok1)-1] + "R"
	}
	for _, tok := range []string{strings.Repeat("A", 43), "nope", tampered} {
		g := partner.get("/join/" + tok)
		must(t, g.Status == http.StatusNotFound && g.Doc.Find(`[data-testid="join-gone"]`).Length() == 1, "token %q: %d", tok, g.Status)
		bodies = append(bodies, strings.TrimSpace(g.Doc.Find("main").Text()))
		assertPartnerBranding(t, g, "gone page")
	}
	must(t, bodies[0] == bodies[1] && bodies[1] == bodies[2], "the 404 pages differ: %q", bodies)
}

// Issue 14, item 8 (attacker): employee B resends A's partner through "Already invited → send
// again" and sees, on their own record, only that someone in the organization invited them
// earlier: not A's name, message, cc or dates.
func TestResendByAnotherEmployeeHidesTheFirstInviter(t *testing.T) {
	h := start(t, nil, nil)
	a := h.browser()
	a.signIn("employee@contoso.example")
	secret := "Confidential: Bluebird acquisition, budget 4.2M"
	aPath, _ := inviteByLink(t, a, "jamie@fabrikam.example", func(v url.Values) { v.Set("customizedMessageBody", secret) })

	b := h.browser()
	b.signIn("inviter@contoso.example")
	refused := b.post("/invitations", inviteForm("jamie@fabrikam.example"))
	must(t, refused.Status == http.StatusConflict, "already invited: %d", refused.Status)
	res := b.post("/invitations", inviteForm("jamie@fabrikam.example", func(v url.Values) {
		v.Set("resend", "1")
		v.Set("customizedMessageBody", "Hello from Ines")
		v.Del("ccRecipient") // A's invitation had megan in cc: B's page must not show it
		v.Del("sendInvitationMessage")
	}))
	must(t, res.Status == http.StatusSeeOther, "B's resend: %d %s", res.Status, text(res, `[data-testid="alert"]`))
	bPath := res.Header.Get("Location")
	must(t, bPath != aPath, "B's resend wrote A's record %s", aPath)
	b.get(bPath) // the result page, shown once
	page := b.get(bPath)
	must(t, page.Status == http.StatusOK, "B's record: %d", page.Status)
	history := strings.Join(strings.Fields(page.Doc.Find(`[data-testid="history"]`).Text()), " ")
	must(t, strings.Contains(history, "Invited earlier by someone in your organization."), "history: %s", history)
	for _, leak := range []string{"Erin", "employee@contoso.example", secret, "megan@contoso.example"} {
		must(t, !strings.Contains(page.Body, leak), "B's page shows %q:\n%s", leak, history)
	}
	must(t, page.Doc.Find(`[data-testid="history"] li[data-kind="others"] time`).Length() == 0, "the line about A's invitation has a date")
	must(t, b.get(aPath).Status == http.StatusNotFound, "B opens A's record")

	// A still has their record, with a note that a newer invitation replaced its link.
	aPage := a.get(aPath)
	aHistory := strings.Join(strings.Fields(aPage.Doc.Find(`[data-testid="history"]`).Text()), " ")
	must(t, strings.Contains(aHistory, "replaced by a newer invitation from someone in your organization"), "A's history: %s", aHistory)
	must(t, !strings.Contains(aPage.Body, "Ines") && !strings.Contains(aPage.Body, "Hello from Ines"), "A's page shows B's invitation")
}
