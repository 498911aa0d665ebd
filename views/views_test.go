package views

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

func TestInviteFormFields(t *testing.T) {
	m := InviteForm{Page: benchPage(), Values: InviteValues{SendEmail: true}, MaxMessage: 1000}
	d, _ := doc(t, InviteFormPage(m))
	for _, name := range []string{"_csrf", "invitedUserDisplayName", "invitedUserEmailAddress", "customizedMessageBody", "ccRecipient", "inviteRedirectUrl", "sendInvitationMessage", "messageLanguage"} {
		if d.Find(`form[action="/invitations"] [name="`+name+`"]`).Length() != 1 {
			t.Errorf("field %s missing", name)
		}
	}
	if _, ok := d.Find("#sendInvitationMessage").Attr("checked"); !ok {
		t.Error("sendInvitationMessage checked by default")
	}
	if d.Find(`[name="invitedUserType"]`).Length() != 0 {
		t.Error("user type shown to a non-admin")
	}
	m.ShowUserType = true
	d, _ = doc(t, InviteFormPage(m))
	if _, ok := d.Find(`#invitedUserType-guest`).Attr("checked"); !ok || d.Find(`[name="invitedUserType"]`).Length() != 2 {
		t.Error("admins choose Guest or Member, Guest preselected")
	}
}

func TestInviteFormErrorsAreWired(t *testing.T) {
	m := InviteForm{Page: benchPage(), Values: InviteValues{Email: "bad"}, MaxMessage: 1000,
		Errors: map[string]string{"invitedUserEmailAddress": "Enter one email address."}, Alert: &Alert{Kind: "error", Title: "Check the highlighted fields"}}
	d, _ := doc(t, InviteFormPage(m))
	in := d.Find("#invitedUserEmailAddress")
	if in.AttrOr("aria-invalid", "") != "true" || !strings.Contains(in.AttrOr("aria-describedby", ""), "invitedUserEmailAddress-error") {
		t.Errorf("input not wired to its error: %v", in.Nodes[0].Attr)
	}
	if strings.TrimSpace(d.Find("#invitedUserEmailAddress-error").Text()) != "Enter one email address." {
		t.Error("error text next to the field")
	}
	if d.Find(`[data-error-summary][role="alert"] a[href="#invitedUserEmailAddress"]`).Length() != 1 {
		t.Error("error summary links to the field")
	}
	if in.AttrOr("value", "") != "bad" {
		t.Error("value kept")
	}
}

func TestUserDataIsEscaped(t *testing.T) {
	evil := `<script>alert(1)</script>`
	inv := Invitation{ID: "x", Email: "a@b.example", DisplayName: evil, Message: evil, InviterName: evil, State: "pending", StateLabel: "Pending", SendEmail: true}
	_, html := doc(t, ResultPage(Result{Page: benchPage(), Inv: inv, JustCreated: true}))
	if strings.Contains(html, evil) || !strings.Contains(html, "&lt;script&gt;") {
		t.Error("display name not escaped on the result page")
	}
	_, html = doc(t, JoinPage(Join{Page: benchPage(), InviterName: evil, Message: evil, AcceptAction: "/join/t/accept"}))
	if strings.Contains(html, evil) {
		t.Error("join page not escaped")
	}
	_, html = doc(t, ErrorPage(Error{Page: benchPage(), Status: 400, Title: evil, Text: evil}))
	if strings.Contains(html, evil) {
		t.Error("error page not escaped")
	}
}

func TestResultShowsRedeemURLOnlyWhenGiven(t *testing.T) {
	inv := Invitation{ID: "x", Email: "a@b.example", JoinURL: "https://p.example/join/t", JoinQR: QR{Size: 29, Path: "M4 4h1v1h-1z"}}
	d, _ := doc(t, ResultPage(Result{Page: benchPage(), Inv: inv, JustCreated: true}))
	if d.Find("#redeem-url").Length() != 0 || d.Find("#join-url").Length() != 1 || d.Find("svg.qr path").Length() != 1 {
		t.Error("join link and QR without the redemption URL")
	}
	inv.RedeemURL = "https://login.example/redeem?ticket=T"
	inv.UserType = "Member"
	d, _ = doc(t, ResultPage(Result{Page: benchPage(), Inv: inv, JustCreated: true}))
	if d.Find("#redeem-url").AttrOr("value", "") != inv.RedeemURL || d.Find(`[data-testid="member-note"]`).Length() != 1 {
		t.Error("redemption URL and member note shown")
	}
}

func TestDemoRibbonAndAdminBadge(t *testing.T) {
	p := benchPage()
	d, _ := doc(t, LandingPage(Landing{Page: p}))
	if d.Find(`[data-testid="demo-ribbon"]`).Length() != 0 {
		t.Error("ribbon outside demo mode")
	}
	p.Demo, p.User.Admin = true, true
	d, _ = doc(t, InviteFormPage(InviteForm{Page: p}))
	if d.Find(`[data-testid="demo-ribbon"]`).Length() != 1 || d.Find(`[data-testid="admin-badge"]`).Length() != 1 {
		t.Error("ribbon and admin badge")
	}
	if d.Find(`form[action="/logout"] input[name="_csrf"]`).Length() != 1 {
		t.Error("sign-out is a CSRF-protected POST")
	}
}

func TestJoinPageLanguages(t *testing.T) {
	p := benchPage()
	p.Lang = "de"
	d, _ := doc(t, JoinPage(Join{Page: p, AcceptAction: "/join/t/accept"}))
	if d.Find("html").AttrOr("lang", "") != "de" || !strings.Contains(d.Find(`[data-testid="join-accept"]`).Text(), "annehmen") {
		t.Error("German join page")
	}
	p.Lang = "xx"
	d, _ = doc(t, JoinPage(Join{Page: p, AcceptAction: "/join/t/accept"}))
	if !strings.Contains(d.Find(`[data-testid="join-accept"]`).Text(), "Accept invitation") {
		t.Error("English fallback")
	}
}

func TestNoTemplRaw(t *testing.T) {
	files, _ := filepath.Glob("*.templ")
	if len(files) == 0 {
		t.Fatal("no templ files found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("templ.Raw")) {
			t.Errorf("%s uses templ.Raw", f)
		}
	}
}
