package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// inviteByLink sends an invitation without email and returns its page path and join URL.
func inviteByLink(t *testing.T, b *browser, email string, mods ...func(url.Values)) (string, string) {
	t.Helper()
	form := inviteForm(email, append([]func(url.Values){func(v url.Values) { v.Del("sendInvitationMessage") }}, mods...)...)
	p := b.post("/invitations", form)
	must(t, p.Status == http.StatusSeeOther, "invite %s: %d %s", email, p.Status, p.Body)
	res := b.get(p.Header.Get("Location"))
	join, _ := res.Doc.Find("#join-url").Attr("value")
	must(t, strings.Contains(join, "/join/"), "join link shown: %q", join)
	return p.Header.Get("Location"), join
}

func TestPartnerJourney(t *testing.T) {
	h := start(t, nil, nil)
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	invPath, join := inviteByLink(t, emp, "casey@fabrikam.example")

	partner := h.browser() // no cookies
	p := partner.get(join)
	must(t, p.Status == http.StatusOK, "join page %d", p.Status)
	must(t, strings.Contains(text(p, `[data-testid="join-inviter"]`), "Erin Employee"), "names the inviter: %q", text(p, `[data-testid="join-inviter"]`))
	must(t, strings.Contains(text(p, `[data-testid="join-message"]`), "Fabrikam project"), "shows the message")
	must(t, p.Doc.Find("html").AttrOr("lang", "") == "fr", "page in the invitation's language (fr-FR): %q", p.Doc.Find("html").AttrOr("lang", ""))
	for k, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"} {
		must(t, p.Header.Get(k) == want, "%s = %q", k, p.Header.Get(k))
	}
	must(t, len(partner.c.Jar.Cookies(mustURL(h.URL))) == 0, "the partner gets no cookie")

	acc := partner.post(strings.TrimPrefix(join, h.URL)+"/accept", url.Values{"_csrf": {""}})
	must(t, acc.Status == http.StatusFound && strings.HasPrefix(acc.Header.Get("Location"), h.tenant.URL()+"/redeem?"), "accept → Microsoft: %d %q", acc.Status, acc.Header.Get("Location"))
	consent := partner.get(acc.Header.Get("Location"))
	must(t, consent.Status == http.StatusOK, "redemption page %d", consent.Status)
	u, _ := h.tenant.UserByMail("casey@fabrikam.example")
	must(t, u.ExternalUserState == "PendingAcceptance", "viewing the consent page redeems nothing")
	redeemed := partner.post(acc.Header.Get("Location"), url.Values{"_csrf": {""}})
	must(t, redeemed.Status == http.StatusFound, "redeem %d %s", redeemed.Status, redeemed.Body)
	must(t, strings.HasPrefix(redeemed.Header.Get("Location"), h.URL+"/welcome?i="), "lands on the default redirect, with the invitation reference: %q", redeemed.Header.Get("Location"))
	welcome := partner.get(redeemed.Header.Get("Location"))
	must(t, welcome.Status == http.StatusOK && strings.Contains(welcome.Body, "all set"), "welcome page")

	detail := emp.get(invPath)
	must(t, text(detail, `[data-testid="state"]`) == "Accepted", "inviter sees Accepted: %q", text(detail, `[data-testid="state"]`))
	must(t, strings.Contains(text(detail, `[data-testid="join-activity"]`), "Opened 1 time"), "one open counted: %q", text(detail, `[data-testid="join-activity"]`))
	list := emp.get("/invitations?state=accepted")
	must(t, list.Doc.Find(`[data-testid="invitation-row"]`).Length() == 1, "listed under Accepted")
	must(t, strings.Contains(text(list, `[data-testid="opened"]`), "Opened 1"), "list shows opened: %q", text(list, `[data-testid="opened"]`))

	token := join[strings.LastIndex(join, "/")+1:]
	logs := h.Logs.String()
	must(t, !strings.Contains(logs, token), "the join token is in the logs")
	must(t, !strings.Contains(logs, "ticket="), "the redemption URL is in the logs")
}

func TestLinkScannersRedeemNothing(t *testing.T) {
	h := start(t, nil, nil)
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	invPath, join := inviteByLink(t, emp, "scan@fabrikam.example")
	scanner := h.browser()
	req, _ := http.NewRequest(http.MethodHead, join, nil)
	p := scanner.do(req)
	must(t, p.Status == http.StatusOK, "HEAD %d", p.Status)
	p = scanner.get(join)
	must(t, p.Status == http.StatusOK, "GET %d", p.Status)
	u, _ := h.tenant.UserByMail("scan@fabrikam.example")
	must(t, u.ExternalUserState == "PendingAcceptance", "nothing redeemed by HEAD or GET")
	for _, r := range h.tenant.Requests() {
		must(t, !strings.HasPrefix(r.Path, "/redeem"), "Portico itself never touches the redemption URL")
	}
	detail := emp.get(invPath)
	must(t, strings.Contains(text(detail, `[data-testid="join-activity"]`), "Opened 1 time"), "HEAD is not counted as an open: %q", text(detail, `[data-testid="join-activity"]`))
}

// Unknown and malformed tokens all get the same 404 page, revealing nothing. Links Portico issued
// that no longer work (revoked, expired) say so and name the inviter to contact (issue 14): tokens are
// 256 random bits, so that is no oracle; Accept never redirects on them.
func TestDeadJoinLinksLookAlike(t *testing.T) {
	h := start(t, nil, map[string]string{"PORTICO_JOIN_LINK_TTL": "2s"})
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	revokedPath, revoked := inviteByLink(t, emp, "revoked@fabrikam.example")
	p := emp.post(revokedPath+"/link/revoke", nil)
	must(t, p.Status == http.StatusSeeOther, "revoke %d", p.Status)
	_, expired := inviteByLink(t, emp, "expired@fabrikam.example")
	time.Sleep(2100 * time.Millisecond)

	partner := h.browser()
	for name, link := range map[string]string{"revoked": revoked, "expired": expired} {
		p := partner.get(link)
		must(t, p.Status == http.StatusGone, "%s: status %d", name, p.Status)
		must(t, p.Doc.Find(`[data-testid="join"]`).AttrOr("data-state", "") == name, "%s: page in state %q", name, p.Doc.Find(`[data-testid="join"]`).AttrOr("data-state", ""))
		must(t, strings.Contains(text(p, `[data-testid="join-contact"]`), "Erin Employee"), "%s: names the inviter to contact", name)
		must(t, p.Doc.Find(`[data-testid="join-accept"]`).Length() == 0, "%s: no Accept", name)
		acc := partner.post(strings.TrimPrefix(link, h.URL)+"/accept", url.Values{"_csrf": {""}})
		must(t, acc.Status == http.StatusGone && acc.Header.Get("Location") == "", "%s accept: %d %q", name, acc.Status, acc.Header.Get("Location"))
	}

	var bodies []string
	for name, link := range map[string]string{
		"unknown":   h.URL + "/join/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"malformed": h.URL + "/join/%3Cscript%3E",
		"short":     h.URL + "/join/x",
	} {
		p := partner.get(link)
		must(t, p.Status == http.StatusNotFound, "%s: status %d", name, p.Status)
		must(t, p.Doc.Find(`[data-testid="join-gone"]`).Length() == 1, "%s: the friendly page", name)
		must(t, !strings.Contains(p.Body, "Erin") && !strings.Contains(p.Body, "fabrikam"), "%s: reveals nothing", name)
		bodies = append(bodies, p.Doc.Find("main").Text())
		acc := partner.post(strings.TrimPrefix(link, h.URL)+"/accept", url.Values{"_csrf": {""}})
		must(t, acc.Status == http.StatusNotFound, "%s accept: %d", name, acc.Status)
	}
	for _, b := range bodies[1:] {
		must(t, b == bodies[0], "every unknown link shows the same page")
	}
}

func TestNewJoinLinkReplacesOld(t *testing.T) {
	h := start(t, nil, nil)
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	path, old := inviteByLink(t, emp, "renew@fabrikam.example")
	p := emp.post(path+"/link", nil)
	must(t, p.Status == http.StatusSeeOther, "new link %d", p.Status)
	page := emp.get(path)
	fresh, _ := page.Doc.Find("#join-url").Attr("value")
	must(t, fresh != "" && fresh != old, "a different link: %q", fresh)
	must(t, strings.Contains(text(page, `[data-testid="flash"]`), "new join link"), "confirmation shown")
	partner := h.browser()
	must(t, partner.get(old).Status == http.StatusGone, "old link dead: it says it was replaced")
	must(t, partner.get(fresh).Status == http.StatusOK, "new link works")
}

func TestRevealIsForInviterAndAdmins(t *testing.T) {
	h := start(t, nil, nil)
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	path, _ := inviteByLink(t, emp, "reveal@fabrikam.example")

	p := revealRedeemURL(t, emp, path)
	must(t, p.Status == http.StatusOK && p.Doc.Find("#redeem-url").Length() == 1, "inviter reveals: %d", p.Status)
	must(t, p.Header.Get("Cache-Control") == "no-store" && p.Header.Get("Referrer-Policy") == "no-referrer", "reveal headers %v", p.Header)

	admin := h.browser()
	admin.signIn("admin@contoso.example")
	p = revealRedeemURL(t, admin, path)
	must(t, p.Status == http.StatusOK && p.Doc.Find("#redeem-url").Length() == 1, "admin reveals: %d", p.Status)

	other := h.browser()
	other.signIn("inviter@contoso.example")
	must(t, other.get(path).Status == http.StatusNotFound, "another user cannot see the invitation")
	p = other.post(path+"/reveal", nil)
	must(t, p.Status == http.StatusNotFound, "another user cannot reveal: %d", p.Status)

	audit := admin.get("/admin/audit.jsonl?action=invitation.reveal")
	lines := strings.Split(strings.TrimSpace(audit.Body), "\n")
	must(t, len(lines) == 3, "three reveal events (two allowed, one denied): %d\n%s", len(lines), audit.Body)
	must(t, strings.Count(audit.Body, `"outcome":"denied"`) == 1, "the stranger's attempt is audited as denied")
	must(t, !strings.Contains(audit.Body, "ticket="), "no redemption URL in the audit trail")
}
