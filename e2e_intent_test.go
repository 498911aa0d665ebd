package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/devtenant"
)

// A submit whose Graph POST is slower than PORTICO_SEND_WAIT answers at once: the browser is sent
// (303) to the record's page, which says "Still sending…" and reloads itself, and My invitations
// lists it; when Graph answers, the page shows the invitation. JSON clients get 202 with
// "status":"sending". One POST per invitation.
func TestSlowGraphShowsStillSending(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	tenant := newTenant(t)
	h := start(t, tenant, map[string]string{"PORTICO_SEND_WAIT": "1s"})
	b := h.browser()
	b.signIn("employee@contoso.example")
	tenant.InjectFault(devtenant.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/invitations", Delay: 4 * time.Second, Times: 2})

	began := time.Now()
	p := b.post("/invitations", inviteForm("slow@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther && time.Since(began) < 3*time.Second, "the submit answers after the bounded wait: %d after %s", p.Status, time.Since(began))
	loc := p.Header.Get("Location")
	must(t, strings.HasPrefix(loc, "/invitations/"), "to the record's page: %q", loc)
	page := b.get(loc)
	must(t, page.Status == http.StatusOK && page.Doc.Find(`[data-testid="sending"]`).Length() == 1, "the page says still sending: %d\n%s", page.Status, page.Body)
	must(t, strings.Contains(page.Body, `http-equiv="refresh"`), "the page reloads itself without JavaScript")
	list := b.get("/invitations")
	must(t, strings.Contains(list.Body, "slow@fabrikam.example") && strings.Contains(list.Body, "Sending…"), "My invitations lists it as sending:\n%s", list.Body)

	j := b.postJSON("/invitations", `{"invitedUserEmailAddress":"slow-json@fabrikam.example","inviteRedirectUrl":""}`)
	var m map[string]any
	_ = json.Unmarshal([]byte(j.Body), &m)
	must(t, j.Status == http.StatusAccepted && m["status"] == "sending" && m["redemption"] == "sending" && m["id"] != nil, "JSON: 202 sending: %d %s", j.Status, j.Body)
	_, hasURL := m["inviteRedeemUrl"]
	must(t, hasURL && m["inviteRedeemUrl"] == nil, "JSON says no redemption URL is known yet: %s", j.Body)

	deadline := time.Now().Add(15 * time.Second)
	for {
		page = b.get(loc)
		if page.Doc.Find(`[data-testid="sending"]`).Length() == 0 {
			break
		}
		must(t, time.Now().Before(deadline), "the record is still sending 15 s later\n%s", h.Logs)
		time.Sleep(200 * time.Millisecond)
	}
	must(t, strings.Contains(page.Body, "Pending acceptance") && !strings.Contains(page.Body, `http-equiv="refresh"`), "the settled page shows the invitation:\n%s", page.Body)
	// The JSON one settles too; one POST each.
	jsonPage := "/invitations/" + m["id"].(string)
	for b.get(jsonPage).Doc.Find(`[data-testid="sending"]`).Length() != 0 {
		must(t, time.Now().Before(deadline), "the JSON record is still sending 15 s later")
		time.Sleep(200 * time.Millisecond)
	}
	must(t, countPosts(tenant, "/v1.0/invitations") == 2, "%d POSTs for two invitations", countPosts(tenant, "/v1.0/invitations"))
}

// Graph acts but the answer is lost (the connection drops): Portico never posts again; it finds
// the guest by lookup and gives the partner a way in through a join link to the tenant-specific
// sign-in; the JSON answer says that no redemption URL is known.
func TestLostAnswerConfirmedWithDirectLink(t *testing.T) {
	tenant := newTenant(t)
	h := start(t, tenant, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	tenant.InjectFault(devtenant.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/invitations", DropConnection: true, Times: 1})
	j := b.postJSON("/invitations", `{"invitedUserEmailAddress":"dropped@fabrikam.example","inviteRedirectUrl":"","sendInvitationMessage":false}`)
	var m map[string]any
	_ = json.Unmarshal([]byte(j.Body), &m)
	must(t, j.Status == http.StatusCreated && m["inviteRedeemUrl"] == nil && m["redemption"] == "direct_link" && strings.Contains(m["joinUrl"].(string), "/join/"),
		"confirmed by lookup: no redemption URL, a join link to the tenant's sign-in: %d %s", j.Status, j.Body)
	_, hasURL := m["inviteRedeemUrl"]
	must(t, hasURL, "the answer says inviteRedeemUrl: null: %s", j.Body)
	// The join link leads the partner to the tenant-specific sign-in, Microsoft's My Apps with the
	// tenant id (just-in-time redemption; the demo points at devtenant's front page instead).
	partner := h.browser()
	join := strings.TrimPrefix(m["joinUrl"].(string), h.URL)
	must(t, partner.get(join).Status == http.StatusOK, "the join page opens")
	acc := partner.post(join+"/accept", nil)
	must(t, acc.Status == http.StatusFound && acc.Header.Get("Location") == "https://myapps.microsoft.com/?tenantid="+tenant.TenantID(),
		"accept goes to the tenant-specific sign-in: %d %q", acc.Status, acc.Header.Get("Location"))
	must(t, countPosts(tenant, "/v1.0/invitations") == 1, "%d POSTs: an unknown outcome is never re-sent", countPosts(tenant, "/v1.0/invitations"))
}
