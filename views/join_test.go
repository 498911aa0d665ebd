package views

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every language of the partner's pages has every sentence.
func TestJoinTextsComplete(t *testing.T) {
	for _, lang := range []string{"en", "fr", "de", "es", "nl"} {
		v := reflect.ValueOf(joinTexts[lang])
		if !v.IsValid() {
			t.Fatalf("no %s texts", lang)
		}
		for i := range v.NumField() {
			if v.Field(i).String() == "" {
				t.Errorf("%s: %s is empty", lang, v.Type().Field(i).Name)
			}
		}
	}
}

// The join page in each state and language: the invited address, the organization's brand only
// (never "Portico", title, header or footer included), Accept only while pending, the landing page
// for a partner who accepted already, the inviter to contact when the link no longer works.
func TestJoinPageStates(t *testing.T) {
	for _, lang := range []string{"en", "fr", "de", "es", "nl"} {
		for _, state := range []string{"pending", "accepted", "superseded", "expired", "revoked"} {
			p := Page{Title: JoinTitle(lang, state), Partner: true, OrgName: "Contoso", Lang: lang,
				Assets: Assets{CSS: "/static/app.0123456789.css", JS: "/static/app.0123456789.js"}}
			m := Join{Page: p, State: state, InviterName: "Erin Employee", InviterEmail: "employee@contoso.example",
				InviteeEmail: "taylor@fabrikam.example", LandingURL: "https://apps.contoso.example/start", Message: "Hello!",
				AcceptAction: "/join/tok/accept", Expires: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC), OrgLogo: "/static/logo.svg"}
			d, html := doc(t, JoinPage(m))
			name := lang + "/" + state
			if strings.Contains(strings.ToLower(html), "portico") {
				t.Errorf("%s: the partner's page says Portico", name)
			}
			if got, want := d.Find("title").Text(), JoinTitle(lang, state)+" — Contoso"; got != want {
				t.Errorf("%s: title %q, want %q", name, got, want)
			}
			if text(d, "header .brand") != "Contoso" || text(d, "footer") != "Contoso" || d.Find(`header a[href="/"]`).Length() != 0 {
				t.Errorf("%s: header %q, footer %q; want the organization only", name, text(d, "header"), text(d, "footer"))
			}
			if d.Find("html").AttrOr("lang", "") != lang || text(d, "h1") != JoinTitle(lang, state) {
				t.Errorf("%s: lang %q, heading %q", name, d.Find("html").AttrOr("lang", ""), text(d, "h1"))
			}
			accept := d.Find(`[data-testid="join-accept"]`).Length()
			forText := text(d, `[data-testid="join-for"]`)
			contact := text(d, `[data-testid="join-contact"]`)
			switch state {
			case "pending":
				if accept != 1 || !strings.Contains(forText, "taylor@fabrikam.example") || !strings.Contains(forText, tr(lang).ForSuffix) {
					t.Errorf("%s: accept %d, for %q", name, accept, forText)
				}
			case "accepted":
				if accept != 0 || d.Find(`a[data-testid="join-landing"][href="https://apps.contoso.example/start"]`).Length() != 1 ||
					!strings.Contains(forText, "taylor@fabrikam.example") || strings.Contains(html, "Hello!") {
					t.Errorf("%s: accept %d, landing link %d, for %q", name, accept, d.Find(`[data-testid="join-landing"]`).Length(), forText)
				}
			default:
				want := tr(lang).ContactText
				if state == "superseded" {
					want = tr(lang).SupersededText
				}
				if accept != 0 || !strings.HasPrefix(contact, want) || !strings.Contains(contact, "Erin Employee (employee@contoso.example).") ||
					d.Find(`a[href="mailto:employee@contoso.example"]`).Length() != 1 || strings.Contains(html, "Hello!") {
					t.Errorf("%s: accept %d, contact %q", name, accept, contact)
				}
			}
		}
	}
}

// The gone page (unknown tokens) is a partner page too.
func TestJoinGonePartnerBrand(t *testing.T) {
	p := Page{Title: "This link no longer works", Partner: true, OrgName: "Contoso", Lang: "en"}
	d, html := doc(t, JoinGonePage(JoinGone{Page: p}))
	if strings.Contains(strings.ToLower(html), "portico") || d.Find("title").Text() != "This link no longer works — Contoso" {
		t.Errorf("gone page: title %q, says Portico: %t", d.Find("title").Text(), strings.Contains(strings.ToLower(html), "portico"))
	}
}
