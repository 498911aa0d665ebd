package main

// Security checklist, section B. Cookies, CSRF and browser hardening.
// One test per item (TestSecNN_…), each asserting the response and that nothing reached Graph,
// the token endpoint or the store when it must not. Items already proven elsewhere point to that
// test by name; items that do not apply say why in one line.
// SECURITY.md ("Checklist coverage") maps every item to its tests.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"portico/store"
)

func TestSec14_CSRF(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	victim := h.browser()
	victim.signIn("employee@contoso.example")
	token := victim.csrf()
	other := h.browser()
	other.signIn("inviter@contoso.example")
	otherToken := other.csrf()
	// An invitation of the victim's, for the routes that act on one.
	made := victim.post("/invitations", inviteForm("csrf.target@fabrikam.example", func(v url.Values) { v.Del("sendInvitationMessage") }))
	must(t, made.Status == http.StatusSeeOther, "setup invite %d", made.Status)
	inv := made.Header.Get("Location")

	form := func(tok string) url.Values {
		return inviteForm("csrf@fabrikam.example", func(v url.Values) { v.Set("_csrf", tok) })
	}
	tests := []struct {
		name string
		form url.Values
		hdr  []string
		jar  []*http.Cookie
	}{
		{"no token", form(""), []string{"Origin", h.URL}, nil},
		{"wrong token", form("not-the-token"), []string{"Origin", h.URL}, nil},
		{"another session's token", form(otherToken), []string{"Origin", h.URL}, nil},
		{"Sec-Fetch-Site cross-site with a valid token", form(token), []string{"Sec-Fetch-Site", "cross-site"}, nil},
		{"Sec-Fetch-Site same-site with a valid token", form(token), []string{"Sec-Fetch-Site", "same-site"}, nil},
		{"Origin evil with a valid token", form(token), []string{"Origin", "https://evil.example"}, nil},
		{"Origin null with no token", form(""), []string{"Origin", "null"}, nil},
		{"attacker cookie equal to the form value", form("attacker-token"), nil, []*http.Cookie{{Name: "_csrf", Value: "attacker-token", Path: "/"}}},
	}
	h.tenant.ResetRequests()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			victim.t = t
			if tt.jar != nil {
				victim.c.Jar.SetCookies(mustURL(h.URL), tt.jar)
			}
			p := victim.rawPost("/invitations", tt.form, tt.hdr...)
			must(t, p.Status == http.StatusForbidden, "status %d", p.Status)
			must(t, len(h.tenant.Requests()) == 0, "Graph got %d calls", len(h.tenant.Requests()))
		})
	}
	victim.t = t
	t.Run("JSON without the header token", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/invitations", strings.NewReader(`{"invitedUserEmailAddress":"csrf@fabrikam.example"}`))
		req.Header.Set("Content-Type", "application/json")
		p := victim.do(req)
		must(t, p.Status == http.StatusForbidden && len(h.tenant.Requests()) == 0, "status %d, Graph %d", p.Status, len(h.tenant.Requests()))
	})
	// Every other state-changing route refuses a post without the token, and changes nothing.
	for _, path := range []string{inv + "/resend", inv + "/reveal", inv + "/link", inv + "/link/revoke", "/logout"} {
		p := victim.rawPost(path, url.Values{}, "Origin", h.URL)
		must(t, p.Status == http.StatusForbidden, "%s without a token: %d", path, p.Status)
	}
	must(t, len(h.tenant.Requests()) == 0, "Graph got %d calls", len(h.tenant.Requests()))
	must(t, victim.get(inv).Doc.Find("#join-url").Length() == 1, "the join link survived forged revokes")
	must(t, victim.signedIn(), "a forged logout signed the victim out")

	p := victim.rawPost("/invitations", form(token), "Origin", h.URL, "Sec-Fetch-Site", "same-origin")
	must(t, p.Status == http.StatusSeeOther, "valid token: %d %s", p.Status, text(p, `[data-testid="alert"]`))
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 1, "one Graph POST: %d", countPosts(h.tenant, "/v1.0/invitations"))
}

var wantHeaders = map[string]string{
	"Content-Security-Policy":      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' ",
	"X-Content-Type-Options":       "nosniff",
	"X-Frame-Options":              "DENY",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Permissions-Policy":           "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
}

func TestSec15_SecurityHeaders(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	anon := h.browser()
	csp := wantHeaders["Content-Security-Policy"] + h.tenant.URL()
	rows := []struct {
		name     string
		p        *page
		status   int
		referrer string
	}{
		{"GET /", b.get("/"), 200, "strict-origin-when-cross-origin"},
		{"GET /invitations", b.get("/invitations"), 200, "strict-origin-when-cross-origin"},
		{"POST /invitations (invalid)", b.post("/invitations", inviteForm("not-an-address")), 400, "strict-origin-when-cross-origin"},
		{"POST /invitations", b.post("/invitations", inviteForm("headers@fabrikam.example")), 303, "strict-origin-when-cross-origin"},
		{"callback error", anon.get("/auth/callback?error=access_denied&state=x"), 403, "no-referrer"},
		{"404", b.get("/no/such/page"), 404, "strict-origin-when-cross-origin"},
		{"404 signed out (sent to sign in)", anon.get("/no/such/page"), 302, "strict-origin-when-cross-origin"},
		{"GET /logout (POST only)", b.get("/logout"), 404, "strict-origin-when-cross-origin"},
		{"CSRF 403", b.rawPost("/invitations", inviteForm("x@fabrikam.example"), "Origin", h.URL), 403, "strict-origin-when-cross-origin"},
		{"static asset", anon.get(staticPath(t, b)), 200, "strict-origin-when-cross-origin"},
		{"join 404", anon.get("/join/nope"), 404, "no-referrer"},
	}
	for _, r := range rows {
		must(t, r.p.Status == r.status, "%s: status %d, want %d", r.name, r.p.Status, r.status)
		for k, want := range wantHeaders {
			if k == "Content-Security-Policy" {
				want = csp
			}
			must(t, r.p.Header.Get(k) == want, "%s: %s = %q, want %q", r.name, k, r.p.Header.Get(k), want)
		}
		must(t, r.p.Header.Get("Referrer-Policy") == r.referrer, "%s: Referrer-Policy %q", r.name, r.p.Header.Get("Referrer-Policy"))
		must(t, r.p.Header.Get("Strict-Transport-Security") == "", "%s: HSTS on plain http", r.name)
		must(t, !strings.Contains(r.p.Header.Get("Content-Security-Policy"), "unsafe-inline"), "%s: unsafe-inline", r.name)
	}
	// HSTS over https: TestSec13_CookieAttributes/https_public_URL.
}

func staticPath(t *testing.T, b *browser) string {
	t.Helper()
	href, ok := b.last.Find(`link[rel="stylesheet"]`).First().Attr("href")
	must(t, ok && strings.HasPrefix(href, "/static/"), "stylesheet link %q", href)
	return href
}

func TestSec16_ProxyHeadersTrustedOnlyFromProxies(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, trusted, wantIP string
	}{
		{"no trusted proxy", "", "127.0.0.1"},
		{"loopback proxy trusted", "127.0.0.1", "203.0.113.9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dsn := sqliteFile(t)
			h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": dsn, "PORTICO_TRUSTED_PROXIES": tt.trusted})
			b := h.browser()
			b.signIn("employee@contoso.example")
			form := inviteForm("xff@fabrikam.example", func(v url.Values) { v.Del("sendInvitationMessage"); v.Set("_csrf", b.csrf()) })
			p := b.rawPost("/invitations", form, "Origin", h.URL, "X-Forwarded-For", "203.0.113.9", "X-Real-IP", "198.51.100.7",
				"X-Forwarded-Proto", "javascript", "X-Forwarded-Host", "evil.example")
			must(t, p.Status == http.StatusSeeOther, "invite %d", p.Status)
			evs := auditEvents(t, openStore(t, dsn), store.AuditFilter{Action: "invitation.create"})
			must(t, len(evs) == 1 && evs[0].ClientIP == tt.wantIP, "audit client IP %q, want %q", evs[0].ClientIP, tt.wantIP)

			// Spoofed scheme and host never reach a generated URL.
			res := b.get(p.Header.Get("Location"), "X-Forwarded-Proto", "javascript", "X-Forwarded-Host", "evil.example")
			join := res.Doc.Find("#join-url").AttrOr("value", "")
			must(t, strings.HasPrefix(join, h.URL+"/join/"), "join URL %q", join)
			login := b.get("/login", "X-Forwarded-Proto", "javascript", "X-Forwarded-Host", "evil.example")
			out := b.rawPost("/logout", url.Values{"_csrf": {b.csrf()}}, "Origin", h.URL, "X-Forwarded-Proto", "javascript", "X-Forwarded-Host", "evil.example")
			for _, s := range []string{res.Body, login.Header.Get("Location"), out.Header.Get("Location")} {
				must(t, !strings.Contains(s, "javascript") && !strings.Contains(s, "evil.example"), "spoofed header in %q", s)
			}
		})
	}
	// The per-address limiter counts the real peer: TestSec23_AbuseLimits ("rotating X-Forwarded-For").
}
