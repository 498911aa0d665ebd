package views

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

func doc(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	d, err := goquery.NewDocumentFromReader(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return d, b.String()
}

func text(d *goquery.Document, sel string) string {
	return strings.Join(strings.Fields(d.Find(sel).Text()), " ")
}

var formFields = []string{"invitedUserDisplayName", "invitedUserEmailAddress", "customizedMessageBody", "ccRecipient", "inviteRedirectUrl", "sendInvitationMessage", "messageLanguage"}

func TestInviteFormFields(t *testing.T) {
	m := InviteForm{Page: benchPage(), Values: InviteValues{SendEmail: true}, MaxMessage: 1000,
		Languages: []Option{{Value: "fr-FR", Label: "French"}}}
	d, _ := doc(t, InviteFormPage(m))
	form := d.Find(`form[method="post"][action="/invitations"]`)
	if form.Length() != 1 || form.Find(`input[type="hidden"][name="_csrf"]`).AttrOr("value", "") != m.CSRF {
		t.Fatal("one POST form to /invitations with the CSRF token")
	}
	for _, name := range formFields {
		el := form.Find(`[name="` + name + `"]`)
		if el.Length() != 1 || el.AttrOr("id", "") != name {
			t.Errorf("%s: %d elements, id %q", name, el.Length(), el.AttrOr("id", ""))
		}
		if d.Find(`label[for="`+name+`"]`).Length() != 1 {
			t.Errorf("%s has no label", name)
		}
	}
	for _, name := range []string{"invitedUserDisplayName", "invitedUserEmailAddress", "customizedMessageBody", "ccRecipient", "inviteRedirectUrl", "sendInvitationMessage"} {
		hint := name + "-hint"
		if d.Find("#"+hint).Length() != 1 || !strings.Contains(d.Find("#"+name).AttrOr("aria-describedby", ""), hint) {
			t.Errorf("%s is not described by its hint", name)
		}
	}
	email := d.Find("#invitedUserEmailAddress")
	if email.AttrOr("type", "") != "email" || email.AttrOr("autocomplete", "") != "off" || email.AttrOr("data-check", "") != "#email-check" {
		t.Error("email input: type=email, autocomplete=off, wired to the live check")
	}
	if _, ok := email.Attr("required"); !ok {
		t.Error("email address is required")
	}
	if d.Find("#inviteRedirectUrl").AttrOr("type", "") != "url" {
		t.Error("redirect URL input has type url")
	}
	msg := d.Find("textarea#customizedMessageBody")
	// No maxlength: the browser would cut a long paste silently; the counter and the server say so.
	if _, cut := msg.Attr("maxlength"); cut || msg.AttrOr("data-max", "") != "1000" || d.Find(msg.AttrOr("data-count", "-")).Length() != 1 {
		t.Error("message: data-max (no maxlength) and a character count element")
	}
	if live := d.Find("#email-check"); live.AttrOr("aria-live", "") != "polite" || strings.TrimSpace(live.Text()) != "" {
		t.Error("an empty, polite live region for the address check")
	}
	if _, ok := d.Find("#sendInvitationMessage").Attr("checked"); !ok {
		t.Error("sendInvitationMessage checked by default")
	}
	first := d.Find("#messageLanguage option").First()
	if first.AttrOr("value", "x") != "" || first.Text() != "Default (English)" || d.Find(`#messageLanguage option[value="fr-FR"]`).Length() != 1 {
		t.Error("language select: a blank default, then the languages")
	}
	if d.Find(`[name="invitedUserType"]`).Length() != 0 {
		t.Error("user type shown to a non-admin")
	}
	if d.Find(`[data-error-summary]`).Length() != 0 || d.Find(`[aria-invalid]`).Length() != 0 {
		t.Error("a clean form shows no errors")
	}

	m.ShowUserType = true
	d, _ = doc(t, InviteFormPage(m))
	if _, ok := d.Find(`#invitedUserType-guest`).Attr("checked"); !ok || d.Find(`input[type="radio"][name="invitedUserType"]`).Length() != 2 {
		t.Error("admins choose Guest or Member, Guest preselected")
	}
	if !strings.Contains(text(d, "#invitedUserType-hint"), "same default access as employees") {
		t.Error("one line explains Member")
	}

	m.Values = InviteValues{SendEmail: false, Language: "fr-FR", UserType: "Member"}
	d, _ = doc(t, InviteFormPage(m))
	if _, ok := d.Find("#sendInvitationMessage").Attr("checked"); ok {
		t.Error("unticked email stays unticked")
	}
	if _, ok := d.Find(`#messageLanguage option[value="fr-FR"]`).Attr("selected"); !ok {
		t.Error("chosen language kept")
	}
	if _, ok := d.Find(`#invitedUserType-member`).Attr("checked"); !ok {
		t.Error("chosen Member kept")
	}
}

func TestInviteFormErrorsAreWired(t *testing.T) {
	errs := map[string]string{}
	for _, f := range append(formFields, "invitedUserType") {
		errs[f] = "Problem with " + f + "."
	}
	tests := []struct {
		name  string
		alert *Alert
		admin bool
		title string
	}{
		{"with alert", &Alert{Kind: "error", Title: "Check the highlighted fields"}, true, "Check the highlighted fields"},
		{"without alert", nil, false, "There is a problem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := InviteForm{Page: benchPage(), Values: InviteValues{Email: "bad"}, MaxMessage: 1000, Errors: errs, Alert: tt.alert, ShowUserType: tt.admin}
			d, _ := doc(t, InviteFormPage(m))
			for _, f := range formFields {
				in := d.Find("#" + f)
				if in.AttrOr("aria-invalid", "") != "true" || !strings.Contains(in.AttrOr("aria-describedby", ""), f+"-error") {
					t.Errorf("%s not wired to its error: %v", f, in.Nodes[0].Attr)
				}
				if text(d, "#"+f+"-error") != errs[f] {
					t.Errorf("%s: error text %q", f, text(d, "#"+f+"-error"))
				}
			}
			if d.Find("#invitedUserType-error").Length() != 1 {
				t.Error("user type error shown")
			}
			summary := d.Find(`[data-error-summary]`)
			if summary.AttrOr("role", "") != "alert" || summary.AttrOr("tabindex", "") != "-1" || text(d, "[data-error-summary] h2") != tt.title {
				t.Errorf("error summary: role=alert, tabindex=-1, title %q", text(d, "[data-error-summary] h2"))
			}
			summary.Find("a").Each(func(_ int, a *goquery.Selection) {
				if d.Find(a.AttrOr("href", "-")).Length() != 1 {
					t.Errorf("summary link %s points nowhere", a.AttrOr("href", ""))
				}
			})
			if summary.Find("a").Length() != len(errs) {
				t.Errorf("summary lists %d of %d errors", summary.Find("a").Length(), len(errs))
			}
			if d.Find("#invitedUserEmailAddress").AttrOr("value", "") != "bad" {
				t.Error("value kept")
			}
		})
	}
}

func TestInviteFormCheckAndResend(t *testing.T) {
	m := InviteForm{Page: benchPage(), Values: InviteValues{Email: "pending.guest@fabrikam.example", SendEmail: true},
		Check:       &Check{Kind: "warn", Text: "Already invited: still pending."},
		ResendOffer: &ResendOffer{InvitationID: "abc123", Text: "They have not accepted yet."}}
	d, _ := doc(t, InviteFormPage(m))
	if c := d.Find(`#email-check [data-testid="check"]`); !c.HasClass("warn") || text(d, "#email-check") != m.Check.Text {
		t.Error("the last check is shown where the live check goes")
	}
	f := d.Find(`[data-testid="resend-offer"] form[method="post"][action="/invitations/abc123/resend"]`)
	if f.Length() != 1 || f.Find(`[name="_csrf"]`).AttrOr("value", "") != m.CSRF {
		t.Error("resend offer posts to /invitations/{id}/resend with the CSRF token")
	}

	d, html := doc(t, CheckFragment(Check{Kind: "ok", Text: "Ready to invite."}))
	if strings.Contains(html, "<html") || !d.Find(`span.check.ok`).Is("span") || text(d, "span") != "Ready to invite." {
		t.Errorf("check fragment without layout: %s", html)
	}
}

func TestResultPage(t *testing.T) {
	base := Invitation{ID: "x", Email: "taylor@fabrikam.example", DisplayName: "Taylor Partner", UserType: "Guest",
		JoinURL: "https://p.example/join/t", JoinQR: QR{Size: 29, Path: "M4 4h1v1h-1z"}}

	sent := base
	sent.SendEmail, sent.CC = true, "me@contoso.example"
	d, _ := doc(t, ResultPage(Result{Page: benchPage(), Inv: sent, JustCreated: true}))
	if got := text(d, `[data-testid="result-sent"] h1`); got != "Invitation sent to Taylor Partner <taylor@fabrikam.example>" {
		t.Errorf("sent heading %q", got)
	}
	if !strings.Contains(text(d, `[data-testid="result-sent"]`), "me@contoso.example") || !strings.Contains(text(d, "main"), "What happens next") {
		t.Error("cc and what happens next")
	}
	if d.Find("#redeem-url").Length() != 0 || d.Find(`[data-testid="member-note"]`).Length() != 0 {
		t.Error("no redemption URL and no member note for an emailed guest")
	}
	if d.Find("#join-url").AttrOr("value", "") != base.JoinURL || d.Find(`button[data-copy="#join-url"]`).Length() != 1 {
		t.Error("join link with a copy button")
	}
	qr := d.Find("svg.qr")
	if qr.AttrOr("viewBox", "") != "0 0 29 29" || qr.Find("path").AttrOr("d", "") != base.JoinQR.Path || qr.AttrOr("aria-label", "") == "" || qr.Find("title").Length() != 1 {
		t.Error("QR code as an labelled inline SVG")
	}

	link := base
	link.RedeemURL, link.UserType = "https://login.example/redeem?ticket=T&tenant=x", "Member"
	d, html := doc(t, ResultPage(Result{Page: benchPage(), Inv: link, JustCreated: true}))
	if d.Find(`[data-testid="result-link"]`).Length() != 1 || d.Find("#redeem-url").AttrOr("value", "") != link.RedeemURL {
		t.Error("no email: the redemption URL in #redeem-url")
	}
	if _, ok := d.Find("#redeem-url").Attr("readonly"); !ok || d.Find(`button[data-copy="#redeem-url"]`).Length() != 1 {
		t.Error("redemption URL read-only with a copy button")
	}
	if !strings.Contains(html, "ticket=T&amp;tenant=x") {
		t.Error("redemption URL attribute-escaped")
	}
	if d.Find(`[data-testid="member-note"]`).Length() != 1 {
		t.Error("member invitations say so")
	}

	none := base
	none.JoinURL, none.JoinQR = "", QR{}
	d, _ = doc(t, ResultPage(Result{Page: benchPage(), Inv: none}))
	if d.Find("#join-url").Length() != 0 || d.Find("svg.qr").Length() != 0 {
		t.Error("no join link, no join block")
	}
}

func TestInvitationDetailPage(t *testing.T) {
	created := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	checked, first, last := created.Add(time.Hour), created.Add(2*time.Hour), created.Add(3*time.Hour)
	inv := Invitation{ID: "abc", Email: "taylor@fabrikam.example", InviterName: "Erin", InviterUPN: "employee@contoso.example", UserType: "Guest",
		Created: created, State: "pending", StateLabel: "Pending acceptance", StateChecked: &checked, StateStale: true,
		JoinURL: "https://p.example/join/t", JoinStatus: "active", JoinExpires: &last, JoinFirstOpened: &first, JoinLastOpened: &last, JoinOpens: 3,
		CanReveal: true, CanResend: true, CanManageLink: true,
		History: []HistoryItem{{When: created, Text: "Invited by Erin", RequestID: "req-1"}, {When: checked, Text: "Sent again by Erin"}}}
	d, _ := doc(t, InvitationDetailPage(InvitationPage{Page: benchPage(), Inv: inv}))
	if text(d, `[data-testid="state"]`) != "Pending acceptance" || d.Find(`[data-testid="stale"] time[datetime="2026-11-20T10:30:00Z"]`).Length() != 1 {
		t.Error("state with a stale notice and its time")
	}
	if got := text(d, `[data-testid="join-activity"]`); !strings.Contains(got, "Opened 3 times") || !strings.Contains(got, "20 Nov 2026, 11:30 UTC") || !strings.Contains(got, "20 Nov 2026, 12:30 UTC") {
		t.Errorf("join activity %q", got)
	}
	for action, testid := range map[string]string{"/invitations/abc/reveal": "reveal", "/invitations/abc/link": "new-link", "/invitations/abc/link/revoke": "revoke-link", "/invitations/abc/resend": "resend"} {
		f := d.Find(`form[method="post"][action="` + action + `"]`)
		if f.Length() != 1 || f.Find(`[name="_csrf"]`).AttrOr("value", "") == "" || f.Find(`[data-testid="`+testid+`"]`).Length() != 1 {
			t.Errorf("%s: a POST form with the CSRF token", action)
		}
	}
	if d.Find(`[data-testid="history"] li`).Length() != 2 || !strings.Contains(text(d, `[data-testid="history"]`), "req-1") {
		t.Error("history with request ids")
	}

	inv.CanReveal, inv.CanResend, inv.CanManageLink, inv.StateStale = false, false, false, false
	inv.JoinStatus, inv.State, inv.StateLabel, inv.StateChanged = "revoked", "accepted", "Accepted", &checked
	d, _ = doc(t, InvitationDetailPage(InvitationPage{Page: benchPage(), Inv: inv}))
	if d.Find(`main form`).Length() != 0 {
		t.Error("no action buttons without the rights")
	}
	if !strings.Contains(text(d, `[data-testid="join-activity"]`), "revoked") || d.Find(`[data-testid="stale"]`).Length() != 0 {
		t.Error("revoked link, fresh state")
	}
	if !strings.Contains(text(d, "main p"), "Accepted since") {
		t.Errorf("accepted with its time: %q", text(d, "main p"))
	}
}

func TestInvitationListPage(t *testing.T) {
	items := sampleInvitations(3)
	items[0].InviterName = "Someone Else"
	m := InvitationList{Page: benchPage(), Items: items, State: "pending", Total: 53,
		NewestURL: "/invitations?state=pending", NewerURL: "/invitations?state=pending&after=2.b", OlderURL: "/invitations?state=pending&before=1.a"}
	d, _ := doc(t, InvitationListPage(m))
	if d.Find(`[data-testid="invitation-row"]`).Length() != 3 || d.Find(`th:contains("Invited by")`).Length() != 0 {
		t.Error("three rows, no inviter column for my own")
	}
	if d.Find(`.tabs a[aria-current="page"]`).Text() != "Pending" {
		t.Error("current filter tab marked")
	}
	if d.Find(`a[rel="first"][href="/invitations?state=pending"]`).Length() != 1 || d.Find(`a[rel="prev"][href="/invitations?state=pending&after=2.b"]`).Length() != 1 ||
		d.Find(`a[rel="next"][href="/invitations?state=pending&before=1.a"]`).Length() != 1 {
		t.Error("paging links as the handler made them")
	}
	if d.Find(`[data-testid="scope-everyone"]`).Length() != 0 {
		t.Error("scope switch only for admins")
	}
	if !strings.Contains(text(d, `[data-testid="opened"]`), "Opened 1 time") {
		t.Errorf("opened column: %q", text(d, `[data-testid="opened"]`))
	}

	m.Everyone, m.CanSeeEveryone = true, true
	d, _ = doc(t, InvitationListPage(m))
	if d.Find(`th:contains("Invited by")`).Length() != 1 || !strings.Contains(text(d, `[data-label="Invited by"]`), "Someone Else") {
		t.Error("inviter column for everyone's invitations")
	}
	if d.Find(`[data-testid="scope-mine"][href="/invitations?state=pending"]`).Length() != 1 {
		t.Error("admins switch back to their own")
	}

	d, _ = doc(t, InvitationListPage(InvitationList{Page: benchPage(), State: "all"}))
	if d.Find(`[data-testid="empty"] a[href="/"]`).Length() != 1 || d.Find("table").Length() != 0 {
		t.Error("empty state links to the form")
	}
}

func TestUserDataIsEscaped(t *testing.T) {
	evil := `<script>alert(1)</script>`
	p := benchPage()
	p.OrgName, p.Title, p.Flash, p.User.Name = evil, evil, evil, evil
	now := time.Now()
	inv := Invitation{ID: "x", Email: "a@b.example", DisplayName: evil, Message: evil, InviterName: evil, InviterUPN: evil, CC: evil, RedirectURL: evil,
		State: "pending", StateLabel: evil, SendEmail: true, ErrorText: evil, GraphRequestID: evil, JoinOpens: 1, JoinLastOpened: &now,
		History: []HistoryItem{{When: now, Text: evil, RequestID: evil}}}
	pages := map[string]templ.Component{
		"result":    ResultPage(Result{Page: p, Inv: inv, JustCreated: true}),
		"detail":    InvitationDetailPage(InvitationPage{Page: p, Inv: inv}),
		"list":      InvitationListPage(InvitationList{Page: p, Items: []Invitation{inv}, State: "all", Everyone: true}),
		"form":      InviteFormPage(InviteForm{Page: p, Values: InviteValues{DisplayName: evil, Email: evil, Message: evil}, Errors: map[string]string{"invitedUserEmailAddress": evil}, Alert: &Alert{Title: evil, Text: evil, RequestID: evil}}),
		"alert":     InviteFormPage(InviteForm{Page: p, Alert: &Alert{Kind: "error", Title: evil, Text: evil, RequestID: evil}, ResendOffer: &ResendOffer{Text: evil}, Check: &Check{Text: evil}}),
		"check":     CheckFragment(Check{Kind: "ok", Text: evil}),
		"join":      JoinPage(Join{Page: p, InviterName: evil, InviterEmail: evil, InviteeName: evil, Message: evil, AcceptAction: "/join/t/accept"}),
		"error":     ErrorPage(Error{Page: p, Status: 400, Title: evil, Text: evil}),
		"audit":     AuditPage(Audit{Page: p, Events: []AuditRow{{Time: now, Actor: evil, Action: evil, Target: evil, Outcome: evil, Detail: `{"k":"` + evil + `"}`, GraphRequestID: evil, ClientIP: evil}}, Filter: AuditFilter{Actor: evil}}),
		"landing":   LandingPage(Landing{Page: p, DemoAccounts: []DemoAccount{{Label: evil, UPN: evil, Description: evil}}}),
		"welcome":   WelcomePage(Welcome{Page: p, Links: []Link{{Label: evil, URL: "https://apps.example/"}}}),
		"signedout": SignedOutPage(SignedOut{Page: p}),
	}
	for name, c := range pages {
		_, html := doc(t, c)
		if strings.Contains(html, evil) || !strings.Contains(html, "&lt;script&gt;") {
			t.Errorf("%s: user data not escaped", name)
		}
	}
}

func TestLayout(t *testing.T) {
	p := benchPage()
	p.User = nil
	d, _ := doc(t, LandingPage(Landing{Page: p}))
	if d.Find("html").AttrOr("lang", "") != "en" || d.Find("title").Text() != "Invite a partner — Portico" {
		t.Error("lang attribute and page title")
	}
	if d.Find(`a.skip[href="#main"]`).Length() != 1 || d.Find("main#main").Length() != 1 || d.Find("header").Length() != 1 || d.Find("footer").Length() != 1 {
		t.Error("skip link and landmarks")
	}
	if d.Find(`link[rel="stylesheet"][href="`+p.Assets.CSS+`"]`).Length() != 1 || d.Find(`script[src="`+p.Assets.JS+`"][defer]`).Length() != 1 {
		t.Error("fingerprinted assets")
	}
	if d.Find(`[data-testid="demo-ribbon"]`).Length() != 0 || d.Find(`nav.main`).Length() != 0 || d.Find(`form[action="/logout"]`).Length() != 0 {
		t.Error("signed out, not demo: no ribbon, nav or sign-out")
	}
	if d.Find("script:not([src])").Length() != 0 || d.Find("[style]").Length() != 0 || d.Find("[onclick],[onload],[onsubmit]").Length() != 0 {
		t.Error("no inline script, style or handlers (CSP)")
	}

	p = benchPage()
	d, _ = doc(t, InviteFormPage(InviteForm{Page: p}))
	if d.Find(`nav.main a[href="/admin/audit"]`).Length() != 0 || d.Find(`[data-testid="admin-badge"]`).Length() != 0 {
		t.Error("audit link and admin badge only for admins")
	}
	if d.Find(`nav.main a[aria-current="page"]`).Text() != "Invite" || text(d, `[data-testid="user-name"]`) != "Erin Employee" || text(d, `[data-testid="org-name"]`) != "Contoso" {
		t.Error("current nav item, user name and organization in the header")
	}

	p.Demo, p.User.Admin = true, true
	d, _ = doc(t, InviteFormPage(InviteForm{Page: p}))
	if d.Find(`[data-testid="demo-ribbon"]`).Length() != 1 || d.Find(`[data-testid="admin-badge"]`).Length() != 1 || d.Find(`nav.main a[href="/admin/audit"]`).Length() != 1 {
		t.Error("ribbon, admin badge and audit link")
	}
	if d.Find(`form[method="post"][action="/logout"] input[name="_csrf"]`).AttrOr("value", "") != p.CSRF {
		t.Error("sign-out is a CSRF-protected POST")
	}
}

func TestLandingDemoAccounts(t *testing.T) {
	p := benchPage()
	p.User, p.Demo = nil, true
	m := Landing{Page: p, DemoAccounts: []DemoAccount{{Label: "Erin (employee)", UPN: "employee@contoso.example"}, {Label: "Ada (admin)", UPN: "admin@contoso.example"}}}
	d, _ := doc(t, LandingPage(m))
	if d.Find(`[data-testid="sign-in"][href="/login"]`).Length() != 1 {
		t.Error("sign-in button")
	}
	forms := d.Find(`form[method="get"][action="/login"]`)
	if forms.Length() != 2 || forms.Eq(1).Find(`input[name="login_hint"]`).AttrOr("value", "") != "admin@contoso.example" {
		t.Error("one GET /login?login_hint= form per demo account")
	}
}

func TestJoinPages(t *testing.T) {
	p := benchPage()
	p.User = nil
	m := Join{Page: p, InviterName: "Erin Employee", InviterEmail: "employee@contoso.example", Message: "Hello!\nSee you soon.",
		AcceptAction: "/join/tok/accept", Expires: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC), OrgLogo: "/static/logo.12345678.svg"}
	d, _ := doc(t, JoinPage(m))
	if d.Find(`form[method="post"][action="/join/tok/accept"] [data-testid="join-accept"]`).Text() != "Accept invitation" {
		t.Error("accept is a POST form")
	}
	if got := d.Find(`[data-testid="join-message"]`); !got.HasClass("message") || got.Text() != m.Message {
		t.Error("message as plain text with its line breaks (white-space: pre-line)")
	}
	if got := text(d, `[data-testid="join-inviter"]`); !strings.Contains(got, "Erin Employee") || !strings.Contains(got, "Contoso") {
		t.Errorf("who invited them: %q", got)
	}
	if d.Find(`img[src="/static/logo.12345678.svg"]`).Length() != 1 || !strings.Contains(text(d, "main"), "one-time code") {
		t.Error("logo and what happens next")
	}

	p.Lang = "de"
	m.Page = p
	d, _ = doc(t, JoinPage(m))
	if d.Find("html").AttrOr("lang", "") != "de" || !strings.Contains(d.Find(`[data-testid="join-accept"]`).Text(), "annehmen") {
		t.Error("German join page")
	}
	if d.Find(`footer[lang="en"]`).Length() != 1 || d.Find(`a.skip[lang="en"]`).Length() != 1 {
		t.Error("the English parts around a German page say so")
	}
	p.Lang = "xx"
	m.Page = p
	d, _ = doc(t, JoinPage(m))
	if !strings.Contains(d.Find(`[data-testid="join-accept"]`).Text(), "Accept invitation") {
		t.Error("English fallback")
	}

	p.Lang = "en"
	d, _ = doc(t, JoinGonePage(JoinGone{Page: p}))
	if got := text(d, `[data-testid="join-gone"]`); !strings.Contains(got, "no longer works") || !strings.Contains(got, "ask the person who invited you") && !strings.Contains(got, "Ask the person who invited you") {
		t.Errorf("gone page: %q", got)
	}
	if d.Find("main form").Length() != 0 {
		t.Error("gone page offers nothing to click")
	}
}

func TestJoinTranslationsComplete(t *testing.T) {
	for _, lang := range []string{"en", "fr", "de", "es", "nl"} {
		tx, ok := joinTexts[lang]
		if !ok {
			t.Errorf("no %s texts", lang)
			continue
		}
		v := reflect.ValueOf(tx)
		for i := range v.NumField() {
			if v.Field(i).String() == "" {
				t.Errorf("%s: %s empty", lang, v.Type().Field(i).Name)
			}
		}
		if lang != "en" && tx.Accept == joinTexts["en"].Accept {
			t.Errorf("%s: accept button not translated", lang)
		}
	}
}

func TestAuditPage(t *testing.T) {
	now := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	m := Audit{Page: benchPage(), Events: []AuditRow{{Time: now, Actor: "employee@contoso.example", Action: "Invitation created", ActionKey: "invitation.create",
		Target: "t@fabrikam.example", Outcome: "Created", Detail: `{"type":"Guest","email":true}`, GraphRequestID: "req-9"}},
		Filter:   AuditFilter{Actor: "employee", Outcome: "denied"},
		Actions:  []Option{{"invitation.create", "Invitation created"}, {"signin", "Signed in"}},
		Outcomes: []Option{{"created", "Created"}, {"denied", "Denied by policy"}},
		Filtered: true, ExportCSV: "/admin/audit.csv?actor=employee", ExportJSON: "/admin/audit.jsonl?actor=employee",
		NewestURL: "/admin/audit?actor=employee", NewerURL: "/admin/audit?actor=employee&after=1.2", OlderURL: "/admin/audit?actor=employee&before=1.1"}
	d, _ := doc(t, AuditPage(m))
	form := d.Find(`form[method="get"][action="/admin/audit"]`)
	if form.Find(`input[name="actor"]`).AttrOr("value", "") != "employee" {
		t.Error("filter form keeps its values")
	}
	for _, sel := range []struct{ name, first, chosen string }{{"action", "Any action", ""}, {"outcome", "Any outcome", "denied"}} {
		s := form.Find(`select[name="` + sel.name + `"]`)
		if s.Length() != 1 || form.Find(`label[for="`+s.AttrOr("id", "?")+`"]`).Length() != 1 {
			t.Errorf("%s: a labelled select list", sel.name)
		}
		if s.Find("option").First().Text() != sel.first || s.Find("option").First().AttrOr("value", "x") != "" {
			t.Errorf("%s: first choice is %q with an empty value", sel.name, sel.first)
		}
		if got := s.Find("option[selected]").AttrOr("value", ""); got != sel.chosen {
			t.Errorf("%s: selected %q, want %q", sel.name, got, sel.chosen)
		}
	}
	if form.Find(`select[name="outcome"] option[value="denied"]`).Text() != "Denied by policy" {
		t.Error("choices show labels")
	}
	if d.Find(`a[data-testid="clear-filters"][href="/admin/audit"]`).Length() != 1 {
		t.Error("a Clear filters link while filtered")
	}
	row := d.Find(`[data-testid="audit-row"]`)
	if row.Length() != 1 || !strings.Contains(text(d, `[data-testid="audit-row"]`), "type: Guest · email: true") {
		t.Errorf("row with readable details: %q", text(d, `[data-testid="audit-row"]`))
	}
	if a := row.Find(`td[data-label="Action"]`); a.Text() != "Invitation created" || a.AttrOr("data-action", "") != "invitation.create" {
		t.Errorf("action shown as %q", a.Text())
	}
	if tm := row.Find("time"); tm.AttrOr("datetime", "") != "2026-11-20T09:30:00Z" || tm.Text() != human(now) {
		t.Errorf("time as the rest of the site shows it: %q", tm.Text())
	}
	if d.Find(`[data-testid="export-csv"][href="/admin/audit.csv?actor=employee"]`).Length() != 1 || d.Find(`[data-testid="export-jsonl"]`).Length() != 1 {
		t.Error("export links")
	}
	if d.Find(`a[rel="prev"][href="/admin/audit?actor=employee&after=1.2"]`).Length() != 1 || d.Find(`a[rel="next"][href="/admin/audit?actor=employee&before=1.1"]`).Length() != 1 ||
		d.Find(`a[rel="first"][href="/admin/audit?actor=employee"]`).Length() != 1 {
		t.Error("Newest, Newer and Older links")
	}

	d, _ = doc(t, AuditPage(Audit{Page: benchPage(), Actions: m.Actions, Outcomes: m.Outcomes}))
	if d.Find(`[data-testid="clear-filters"]`).Length() != 0 || d.Find(`nav.pager`).Length() != 0 {
		t.Error("no Clear filters without a filter, no pager for a single page")
	}
}

func TestErrorAndSimplePages(t *testing.T) {
	p := benchPage()
	p.RequestID = "rid-42"
	d, _ := doc(t, ErrorPage(Error{Page: p, Status: 401, Title: "Sign in again", Text: "Your session ended.", SignIn: true}))
	if !strings.Contains(text(d, "main"), "401") || !strings.Contains(text(d, `[data-testid="error"]`), "rid-42") || d.Find(`[data-testid="error"] a[href="/login"]`).Length() != 1 {
		t.Error("status, request id and a sign-in link")
	}
	d, _ = doc(t, ErrorPage(Error{Page: p, Status: 404, Title: "Not found"}))
	if d.Find(`a[href="/login"]`).Length() != 0 {
		t.Error("no sign-in link unless asked")
	}
	d, _ = doc(t, WelcomePage(Welcome{Page: p, Links: []Link{{Label: "Teams", URL: "https://teams.example/"}}}))
	if text(d, "h1") != "You're all set" || d.Find(`main a[href="https://teams.example/"]`).Text() != "Teams" {
		t.Error("welcome page with its links")
	}
	d, _ = doc(t, SignedOutPage(SignedOut{Page: p}))
	if d.Find(`main a[href="/login"]`).Length() != 1 {
		t.Error("signed-out page offers sign-in")
	}
}

func TestHeadingsInOrder(t *testing.T) {
	now := time.Now()
	inv := Invitation{ID: "x", Email: "a@b.example", JoinURL: "https://p/join/t", JoinStatus: "active", JoinExpires: &now, RedeemURL: "https://r/", Message: "m",
		History: []HistoryItem{{When: now, Text: "Invited"}}}
	pages := map[string]templ.Component{
		"form":    InviteFormPage(InviteForm{Page: benchPage(), Errors: map[string]string{"ccRecipient": "x"}}),
		"result":  ResultPage(Result{Page: benchPage(), Inv: inv}),
		"detail":  InvitationDetailPage(InvitationPage{Page: benchPage(), Inv: inv}),
		"list":    InvitationListPage(InvitationList{Page: benchPage()}),
		"join":    JoinPage(Join{Page: benchPage(), Message: "m"}),
		"audit":   AuditPage(Audit{Page: benchPage()}),
		"landing": LandingPage(Landing{Page: benchPage(), DemoAccounts: []DemoAccount{{Label: "a"}}}),
	}
	for name, c := range pages {
		d, _ := doc(t, c)
		prev := 0
		d.Find("h1, h2, h3, h4").Each(func(i int, s *goquery.Selection) {
			level := int(goquery.NodeName(s)[1] - '0')
			if (i == 0 && level != 1) || level > prev+1 {
				t.Errorf("%s: %s %q after h%d", name, goquery.NodeName(s), s.Text(), prev)
			}
			prev = level
		})
		if d.Find("h1").Length() != 1 {
			t.Errorf("%s: %d h1", name, d.Find("h1").Length())
		}
	}
}

// TestNoTemplRaw keeps templ's auto-escaping the only way text reaches a page (checklist item 22).
func TestNoTemplRaw(t *testing.T) {
	var files []string
	for _, pat := range []string{"*.templ", "*.go"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("only %d view sources found", len(files))
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("templ.Raw")) {
			t.Errorf("%s uses templ.Raw", f)
		}
	}
}
