package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

func TestPreflightRefusals(t *testing.T) {
	h := start(t, nil, map[string]string{"PORTICO_BLOCKED_DOMAINS": "rival.example,*.blocked.example"})
	b := h.browser()
	b.signIn("employee@contoso.example")
	tests := []struct {
		name, email string
		status      int
		says        string
	}{
		{"own domain", "someone@contoso.example", http.StatusUnprocessableEntity, "own organization"},
		{"own initial domain", "x@contoso.onmicrosoft.com", http.StatusUnprocessableEntity, "own organization"},
		{"blocked exact", "a@rival.example", http.StatusUnprocessableEntity, "rival.example"},
		{"blocked suffix", "a@eu.blocked.example", http.StatusUnprocessableEntity, "blocked.example"},
		{"accepted guest", "accepted.guest@fabrikam.example", http.StatusConflict, "accepted"},
		{"pending guest", "pending.guest@fabrikam.example", http.StatusConflict, "not accepted yet"},
		{"guest found by otherMails", "other.mail@fabrikam.example", http.StatusConflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.t = t
			h.tenant.ResetRequests()
			p := b.post("/invitations", inviteForm(tt.email))
			must(t, p.Status == tt.status, "status %d, want %d: %s", p.Status, tt.status, text(p, `[data-testid="alert"]`))
			must(t, strings.Contains(strings.ToLower(text(p, `[data-testid="alert"]`)), tt.says), "alert %q should mention %q", text(p, `[data-testid="alert"]`), tt.says)
			must(t, countPosts(h.tenant, "/v1.0/invitations") == 0, "no invitation sent")
		})
	}
}

func TestDirectoryLookupNeverNamesSignInNames(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	h.tenant.ResetRequests()
	p := b.post("/invitations", inviteForm("o'neil@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther, "o'neil invited: %d %s", p.Status, text(p, `[data-testid="alert"]`))
	var filters []string
	for _, r := range h.tenant.Requests() {
		if r.Method == http.MethodGet && r.Path == "/v1.0/users" {
			f := r.Query.Get("$filter")
			filters = append(filters, f)
			must(t, !strings.Contains(f, "signInNames"), "filter names signInNames: %s", f)
		}
	}
	must(t, len(filters) >= 1, "a directory lookup was made")
	must(t, strings.Contains(filters[0], "mail eq 'o''neil@fabrikam.example'"), "quote doubled: %s", filters[0])
	u, ok := h.tenant.UserByMail("o'neil@fabrikam.example")
	must(t, ok && u.UserType == "Guest", "guest created for o'neil")
}

func TestCraftedAddressCannotChangeTheQuery(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	h.tenant.ResetRequests()
	// Valid as an address but full of quotes: it must stay inside the literals.
	p := b.post("/invitations", inviteForm("x'or'1'eq'1@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther || p.Status == http.StatusBadRequest, "status %d", p.Status)
	for _, r := range h.tenant.Requests() {
		if r.Path == "/v1.0/users" {
			must(t, r.Status == http.StatusOK, "devtenant parsed the filter: %d %s", r.Status, r.Query.Get("$filter"))
		}
	}
}

func TestPendingGuestOffersResendAndHistory(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	first := b.post("/invitations", inviteForm("jordan@fabrikam.example"))
	must(t, first.Status == http.StatusSeeOther, "first invite %d", first.Status)
	firstUser, _ := h.tenant.UserByMail("jordan@fabrikam.example")

	again := b.post("/invitations", inviteForm("jordan@fabrikam.example"))
	must(t, again.Status == http.StatusConflict, "second invite refused: %d", again.Status)
	offer := again.Doc.Find(`[data-testid="resend-offer"] form`)
	action, _ := offer.Attr("action")
	must(t, strings.HasSuffix(action, "/resend"), "resend offered: %q", action)

	h.tenant.ResetRequests()
	res := b.post(action, nil)
	must(t, res.Status == http.StatusSeeOther, "resend %d %s", res.Status, res.Body)
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 1, "one new Graph invitation")
	invs := h.tenant.Invitations()
	must(t, len(invs) == 2, "devtenant holds two invitations: %d", len(invs))
	secondUser, _ := h.tenant.UserByMail("jordan@fabrikam.example")
	must(t, firstUser.ID == secondUser.ID, "same user id")

	b.get(res.Header.Get("Location")) // the result page, shown once
	page := b.get(res.Header.Get("Location"))
	must(t, page.Doc.Find(`[data-testid="history"] li`).Length() == 2, "both sends in the history: %s", text(page, `[data-testid="history"]`))
	list := b.get("/invitations")
	must(t, list.Doc.Find(`[data-testid="invitation-row"]`).Length() == 1, "one record per partner: listed once")
}

func TestPendingGuestInvitedElsewhereCanBeResent(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	p := b.post("/invitations", inviteForm("pending.guest@fabrikam.example"))
	must(t, p.Status == http.StatusConflict, "refused first: %d", p.Status)
	form := p.Doc.Find(`[data-testid="resend-offer"] form`)
	must(t, form.Length() == 1, "resend offered for a guest Portico did not invite")
	v := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) { v.Set(s.AttrOr("name", ""), s.AttrOr("value", "")) })
	must(t, v.Get("resend") == "1" && v.Get("invitedUserEmailAddress") == "pending.guest@fabrikam.example", "resend form carries the values: %v", v)
	before, _ := h.tenant.UserByMail("pending.guest@fabrikam.example")
	res := b.post(form.AttrOr("action", ""), v)
	must(t, res.Status == http.StatusSeeOther, "resent: %d %s", res.Status, text(res, `[data-testid="alert"]`))
	after, _ := h.tenant.UserByMail("pending.guest@fabrikam.example")
	must(t, before.ID == after.ID, "same directory user")
}

func TestAcceptedStateWithTimeAfterRefresh(t *testing.T) {
	h := start(t, nil, map[string]string{"PORTICO_STATE_REFRESH": "1s"})
	b := h.browser()
	b.signIn("employee@contoso.example")
	p := b.post("/invitations", inviteForm("riley@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther, "invite %d", p.Status)
	list := b.get("/invitations?state=pending")
	must(t, list.Doc.Find(`[data-testid="invitation-row"]`).Length() == 1, "pending before acceptance")

	// The partner accepts from Microsoft's email, outside Portico.
	u, _ := h.tenant.UserByMail("riley@fabrikam.example")
	h.tenant.Accept(u.ID)
	time.Sleep(1100 * time.Millisecond)
	list = b.get("/invitations")
	row := list.Doc.Find(`[data-testid="invitation-row"]`)
	must(t, strings.TrimSpace(row.Find(`[data-testid="state"]`).Text()) == "Accepted", "accepted after refresh: %q", row.Text())
	accepted, _ := h.tenant.UserByMail("riley@fabrikam.example")
	when := accepted.ExternalUserStateChangeDateTime.UTC().Format(time.RFC3339)
	got := row.Find(`td[data-label="State"] time`).AttrOr("datetime", "")
	must(t, got == when, "shows when they accepted: %q, want %q", got, when)
	must(t, b.get("/invitations?state=accepted").Doc.Find(`[data-testid="invitation-row"]`).Length() == 1, "Accepted filter")
	must(t, b.get("/invitations?state=pending").Doc.Find(`[data-testid="invitation-row"]`).Length() == 0, "no longer pending")
	must(t, b.get("/invitations?state=bogus").Status == http.StatusBadRequest, "unknown filter refused")
}

func TestLiveAddressCheck(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	check := func(email string) *page {
		return b.get("/invitations/check?email=" + url.QueryEscape(email))
	}
	ok := check("new.person@fabrikam.example")
	must(t, ok.Status == http.StatusOK && ok.Doc.Find(`[data-testid="check"].ok`).Length() == 1, "new address ok: %s", ok.Body)
	own := check("megan@contoso.example")
	must(t, own.Doc.Find(`[data-testid="check"].error`).Length() == 1, "own domain flagged: %s", own.Body)
	pend := check("pending.guest@fabrikam.example")
	must(t, pend.Doc.Find(`[data-testid="check"].warn`).Length() == 1, "pending guest: resend: %s", pend.Body)
	// A lookup Portico may not make answers like an unknown address.
	h.tenant.InjectFault(devtenantFault403())
	denied := check("someone.else@fabrikam.example")
	unknown := check("another.one@fabrikam.example")
	h.tenant.ClearFaults()
	must(t, denied.Doc.Find(`[data-testid="check"]`).Text() == ok.Doc.Find(`[data-testid="check"]`).Text(), "not-allowed answers like unknown")
	must(t, unknown.Doc.Find(`[data-testid="check"]`).Text() == ok.Doc.Find(`[data-testid="check"]`).Text(), "same text")
	p := b.get("/invitations/check?email=" + url.QueryEscape("no-at-sign"))
	must(t, p.Doc.Find(`[data-testid="check"].error`).Length() == 1, "invalid address flagged")
}
