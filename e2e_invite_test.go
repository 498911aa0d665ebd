package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"portico/devtenant"
)

func inviteForm(email string, mods ...func(url.Values)) url.Values {
	v := url.Values{
		"invitedUserDisplayName":  {"Taylor Partner"},
		"invitedUserEmailAddress": {email},
		"customizedMessageBody":   {"Welcome to the Fabrikam project.\nSee you Monday."},
		"ccRecipient":             {"megan@contoso.example"},
		"inviteRedirectUrl":       {""},
		"messageLanguage":         {"fr-FR"},
		"sendInvitationMessage":   {"on"},
	}
	for _, m := range mods {
		m(v)
	}
	return v
}

func countPosts(tenant *devtenant.Tenant, path string) int {
	n := 0
	for _, r := range tenant.Requests() {
		if r.Method == http.MethodPost && r.Path == path {
			n++
		}
	}
	return n
}

func TestInviteWithEmail(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	p := b.post("/invitations", inviteForm("taylor@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther && strings.HasPrefix(p.Header.Get("Location"), "/invitations/"), "create: %d %s", p.Status, p.Body)

	res := b.get(p.Header.Get("Location"))
	must(t, res.Status == http.StatusOK, "result %d", res.Status)
	must(t, strings.Contains(res.Body, "Taylor Partner") && strings.Contains(res.Body, "taylor@fabrikam.example"), "result names the partner")
	must(t, res.Doc.Find("#redeem-url").Length() == 0, "no redemption URL when Microsoft sends the email")
	must(t, res.Doc.Find("#join-url").Length() == 1, "join link shown")
	must(t, res.Header.Get("Cache-Control") == "no-store", "result page not cached")

	out := h.tenant.Outbox()
	must(t, len(out) == 1, "outbox has %d messages", len(out))
	m := out[0]
	must(t, m.To == "taylor@fabrikam.example" && len(m.CC) == 1 && m.CC[0] == "megan@contoso.example", "message to/cc: %+v", m)
	must(t, strings.Contains(m.Body, "Fabrikam project") && m.Language == "", "custom text, so Microsoft ignores messageLanguage: %+v", m)
	u, ok := h.tenant.UserByMail("taylor@fabrikam.example")
	must(t, ok && u.UserType == "Guest" && u.ExternalUserState == "PendingAcceptance" && u.CreationType == "Invitation", "guest user: %+v", u)

	list := b.get("/invitations")
	must(t, list.Status == http.StatusOK && strings.Contains(list.Body, "taylor@fabrikam.example"), "listed in My invitations")
}

func TestInviteWithoutEmailShowsRedeemURL(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	p := b.post("/invitations", inviteForm("sam@fabrikam.example", func(v url.Values) { v.Del("sendInvitationMessage") }))
	must(t, p.Status == http.StatusSeeOther, "create: %d %s", p.Status, p.Body)
	res := b.get(p.Header.Get("Location"))
	redeem, _ := res.Doc.Find("#redeem-url").Attr("value")
	if redeem == "" {
		redeem = strings.TrimSpace(res.Doc.Find("#redeem-url").Text())
	}
	must(t, strings.HasPrefix(redeem, h.tenant.URL()+"/redeem?"), "redeem URL shown: %q", redeem)
	must(t, res.Header.Get("Referrer-Policy") == "no-referrer", "no referrer from a page with a bearer link")
	must(t, len(h.tenant.Outbox()) == 0, "no email when sendInvitationMessage is off")

	// Reloading no longer shows it: it must be revealed, which is audited.
	again := b.get(p.Header.Get("Location"))
	must(t, again.Doc.Find("#redeem-url").Length() == 0, "redeem URL shown once")
	rev := revealRedeemURL(t, b, p.Header.Get("Location"))
	must(t, rev.Status == http.StatusOK && rev.Doc.Find("#redeem-url").Length() == 1, "reveal: %d", rev.Status)
	must(t, !strings.Contains(h.Logs.String(), "ticket="), "no redemption URL in logs")
}

func TestAdminInvitesMember(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("admin@contoso.example")
	form := b.get("/")
	must(t, form.Doc.Find(`input[name="invitedUserType"]`).Length() >= 2, "admins see the user type choice")
	p := b.post("/invitations", inviteForm("morgan@fabrikam.example", func(v url.Values) { v.Set("invitedUserType", "Member") }))
	must(t, p.Status == http.StatusSeeOther, "create: %d %s", p.Status, p.Body)
	res := b.get(p.Header.Get("Location"))
	must(t, res.Doc.Find(`[data-testid="member-note"]`).Length() == 1, "result says Member")
	u, ok := h.tenant.UserByMail("morgan@fabrikam.example")
	must(t, ok && u.UserType == "Member", "user created as Member: %+v", u)
}

func TestEmployeeCannotInviteMember(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	form := b.get("/")
	must(t, form.Doc.Find(`input[name="invitedUserType"]`).Length() == 0, "employees do not see the user type choice")
	h.tenant.ResetRequests()
	p := b.post("/invitations", inviteForm("member@fabrikam.example", func(v url.Values) { v.Set("invitedUserType", "Member") }))
	must(t, p.Status == http.StatusForbidden, "status %d", p.Status)
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 0, "no Graph call")
	_, exists := h.tenant.UserByMail("member@fabrikam.example")
	must(t, !exists, "no user created")
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	audit := admin.get("/admin/audit?outcome=denied")
	must(t, strings.Contains(audit.Body, "member@fabrikam.example"), "denied attempt audited")
}

func TestInviteRequiresCSRF(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	h.tenant.ResetRequests()
	for name, form := range map[string]url.Values{
		"missing": inviteForm("x@fabrikam.example", func(v url.Values) { v.Set("_csrf", "") }),
		"wrong":   inviteForm("x@fabrikam.example", func(v url.Values) { v.Set("_csrf", "not-the-token") }),
	} {
		p := b.post("/invitations", form)
		must(t, p.Status == http.StatusForbidden, "%s token: %d", name, p.Status)
	}
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 0, "no Graph call without a valid token")
}

func TestInviteBadInput(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	h.tenant.ResetRequests()
	tests := []struct {
		name, field, value string
	}{
		{"missing address", "invitedUserEmailAddress", ""},
		{"two addresses", "invitedUserEmailAddress", "a@fabrikam.example, b@fabrikam.example"},
		{"display name part", "invitedUserEmailAddress", "Taylor <taylor@fabrikam.example>"},
		{"header injection", "invitedUserEmailAddress", "taylor@fabrikam.example\r\nBcc: all@x.example"},
		{"not an address", "invitedUserEmailAddress", "taylor"},
		{"too long", "invitedUserEmailAddress", strings.Repeat("a", 250) + "@fabrikam.example"},
		{"two cc", "ccRecipient", "a@contoso.example;b@contoso.example"},
		{"bad cc", "ccRecipient", "not an address"},
		{"javascript redirect", "inviteRedirectUrl", "javascript:alert(1)"},
		{"data redirect", "inviteRedirectUrl", "data:text/html,hi"},
		{"http redirect", "inviteRedirectUrl", "http://fabrikam.example/"},
		{"userinfo redirect", "inviteRedirectUrl", "https://contoso.example@evil.example/"},
		{"long name", "invitedUserDisplayName", strings.Repeat("n", 300)},
		{"long message", "customizedMessageBody", strings.Repeat("m", 5000)},
		{"unknown language", "messageLanguage", "xx-XX"},
		{"unknown type", "invitedUserType", "Owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.t = t
			form := inviteForm("taylor@fabrikam.example", func(v url.Values) { v.Set(tt.field, tt.value) })
			p := b.post("/invitations", form)
			must(t, p.Status >= 400 && p.Status < 500, "status %d", p.Status)
			must(t, p.Doc != nil && p.Doc.Find(`input[name="invitedUserEmailAddress"]`).Length() == 1, "the form is shown again")
			must(t, p.Doc.Find("#"+tt.field+"-error").Length() == 1, "a message next to %s: %s", tt.field, p.Body)
			if tt.field != "invitedUserEmailAddress" {
				v, _ := p.Doc.Find(`input[name="invitedUserEmailAddress"]`).Attr("value")
				must(t, v == "taylor@fabrikam.example", "values kept: %q", v)
			}
		})
	}
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 0, "no Graph call for bad input")
}

func TestInviteJSONAPI(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	tok := b.csrf()
	post := func(body string) (*page, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/invitations", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", tok)
		p := b.do(req)
		var m map[string]any
		_ = json.Unmarshal([]byte(p.Body), &m)
		return p, m
	}
	p, m := post(`{"invitedUserEmailAddress":"json@fabrikam.example","inviteRedirectUrl":"","sendInvitationMessage":false,
		"invitedUserMessageInfo":{"customizedMessageBody":"hi","ccRecipients":[{"emailAddress":{"address":"megan@contoso.example"}}]}}`)
	must(t, p.Status == http.StatusCreated, "json create: %d %s", p.Status, p.Body)
	must(t, m["invitedUserEmailAddress"] == "json@fabrikam.example" && m["id"] != "", "json body: %v", m)

	p, m = post(`{"invitedUserEmailAddress":"bad","inviteRedirectUrl":"javascript:x"}`)
	must(t, p.Status == http.StatusBadRequest, "bad json input: %d", p.Status)
	errObj, _ := m["error"].(map[string]any)
	must(t, errObj != nil && errObj["code"] != "" && errObj["message"] != "", "Graph-like envelope: %s", p.Body)

	p, _ = post(`{"invitedUserEmailAddress":"x@fabrikam.example","resetRedemption":true}`)
	must(t, p.Status == http.StatusBadRequest, "unknown Graph field refused: %d", p.Status)
	p, _ = post(`{"invitedUserEmailAddress":"x@fabrikam.example","invitedUserType":"Member"}`)
	must(t, p.Status == http.StatusForbidden, "Member by employee over JSON: %d", p.Status)
}
