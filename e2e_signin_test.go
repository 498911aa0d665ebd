package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// callbackURL starts a sign-in and stops at the redirect back to Portico's callback.
func (b *browser) callbackURL(upn string) *url.URL {
	b.t.Helper()
	p := b.get("/login?login_hint=" + url.QueryEscape(upn))
	must(b.t, p.Status == http.StatusFound, "login: %d", p.Status)
	p = b.get(p.Header.Get("Location"))
	must(b.t, p.Status == http.StatusFound, "authorize: %d %s", p.Status, p.Body)
	u, err := url.Parse(p.Header.Get("Location"))
	if err != nil || u.Path != "/auth/callback" {
		b.t.Fatalf("authorize redirected to %q", p.Header.Get("Location"))
	}
	return u
}

func (b *browser) signedIn() bool {
	b.t.Helper()
	p := b.get("/invitations")
	return p.Status == http.StatusOK
}

func TestSignInFlow(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()

	p := b.get("/invitations")
	must(t, p.Status == http.StatusFound && p.Header.Get("Location") == "/login?return=%2Finvitations", "signed-out request: %d %q", p.Status, p.Header.Get("Location"))

	login := b.get("/login?login_hint=employee%40contoso.example&return=%2Finvitations")
	must(t, login.Status == http.StatusFound, "login status %d", login.Status)
	auth, _ := url.Parse(login.Header.Get("Location"))
	q := auth.Query()
	must(t, strings.HasPrefix(auth.String(), h.tenant.URL()+"/"+h.tenant.TenantID()+"/oauth2/v2.0/authorize"), "authorize endpoint %s", auth)
	must(t, q.Get("code_challenge_method") == "S256" && len(q.Get("code_challenge")) == 43, "PKCE: %v", q)
	must(t, q.Get("state") != "" && q.Get("nonce") != "" && q.Get("redirect_uri") == h.URL+"/auth/callback", "params: %v", q)
	for _, s := range []string{"openid", "profile", "email", "offline_access", "https://graph.microsoft.com/User.Invite.All", "https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/User.Read.All"} {
		must(t, strings.Contains(" "+q.Get("scope")+" ", " "+s+" "), "scope %q lacks %s", q.Get("scope"), s)
	}

	cb := b.get(login.Header.Get("Location"))
	must(t, cb.Status == http.StatusFound, "authorize: %d", cb.Status)
	done := b.get(cb.Header.Get("Location"))
	must(t, done.Status == http.StatusFound && done.Header.Get("Location") == "/invitations", "callback: %d %q %s", done.Status, done.Header.Get("Location"), done.Body)
	must(t, done.Header.Get("Cache-Control") == "no-store" && done.Header.Get("Referrer-Policy") == "no-referrer", "callback headers %v", done.Header)

	home := b.get("/")
	must(t, home.Status == http.StatusOK, "home %d", home.Status)
	must(t, strings.Contains(home.Body, "Erin Employee"), "header lacks the user's name")
	must(t, home.Doc.Find(`input[name="invitedUserEmailAddress"]`).Length() == 1, "signed-in home is the invite form")

	for _, c := range done.Header.Values("Set-Cookie") {
		must(t, len(c) < 4096, "cookie too large: %d", len(c))
		must(t, strings.Contains(c, "HttpOnly") && strings.Contains(c, "SameSite=Lax") && strings.Contains(c, "Path=/"), "cookie attributes: %s", c)
		must(t, !strings.Contains(c, "eyJ"), "cookie carries a JWT: %s", c)
	}
}

func TestAdminBadge(t *testing.T) {
	h := start(t, nil, nil)
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	p := admin.get("/")
	must(t, p.Doc.Find(`[data-testid="admin-badge"]`).Length() == 1, "admin sees the Admin badge")
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	p = emp.get("/")
	must(t, p.Doc.Find(`[data-testid="admin-badge"]`).Length() == 0, "employee has no Admin badge")
	inviter := h.browser()
	inviter.signIn("inviter@contoso.example")
	p = inviter.get("/")
	must(t, p.Doc.Find(`[data-testid="admin-badge"]`).Length() == 0, "a Guest Inviter is no admin by default")
}

func TestSignInRefusals(t *testing.T) {
	h := start(t, nil, nil)
	tests := []struct {
		name   string
		mutate func(b *browser, cb *url.URL) *url.URL
		tamper func()
	}{
		{"missing state", func(b *browser, cb *url.URL) *url.URL {
			q := cb.Query()
			q.Del("state")
			cb.RawQuery = q.Encode()
			return cb
		}, nil},
		{"empty state", func(b *browser, cb *url.URL) *url.URL {
			q := cb.Query()
			q.Set("state", "")
			cb.RawQuery = q.Encode()
			return cb
		}, nil},
		{"wrong state", func(b *browser, cb *url.URL) *url.URL {
			q := cb.Query()
			q.Set("state", "x"+q.Get("state"))
			cb.RawQuery = q.Encode()
			return cb
		}, nil},
		{"no session cookie", func(b *browser, cb *url.URL) *url.URL { b.c.Jar, _ = newJar(); return cb }, nil},
		{"unexpected issuer", func(b *browser, cb *url.URL) *url.URL {
			q := cb.Query()
			q.Set("iss", "https://evil.example")
			cb.RawQuery = q.Encode()
			return cb
		}, nil},
		{"wrong nonce", nil, func() { h.tenant.TamperNextIDToken(func(c map[string]any) { c["nonce"] = "forged" }) }},
		{"no nonce", nil, func() { h.tenant.TamperNextIDToken(func(c map[string]any) { delete(c, "nonce") }) }},
		{"wrong audience", nil, func() { h.tenant.TamperNextIDToken(func(c map[string]any) { c["aud"] = "another-app" }) }},
		{"other app as azp", nil, func() {
			h.tenant.TamperNextIDToken(func(c map[string]any) { c["aud"] = []string{"portico-demo", "other"}; c["azp"] = "other" })
		}},
		{"another tenant", nil, func() {
			h.tenant.TamperNextIDToken(func(c map[string]any) { c["tid"] = "00000000-0000-0000-0000-000000000001" })
		}},
		{"wrong issuer claim", nil, func() { h.tenant.TamperNextIDToken(func(c map[string]any) { c["iss"] = "https://evil.example/v2.0" }) }},
		{"expired", nil, func() {
			h.tenant.TamperNextIDToken(func(c map[string]any) {
				c["exp"] = time.Now().Add(-time.Hour).Unix()
				c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
				c["nbf"] = time.Now().Add(-2 * time.Hour).Unix()
			})
		}},
		{"unknown signing key", nil, func() { h.tenant.SignNextIDTokenWithUnknownKey() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := h.browser()
			b.t = t
			cb := b.callbackURL("employee@contoso.example")
			if tt.mutate != nil {
				cb = tt.mutate(b, cb)
			}
			if tt.tamper != nil {
				tt.tamper()
			}
			p := b.get(cb.String())
			must(t, p.Status == http.StatusForbidden, "status %d, want 403: %s", p.Status, p.Body)
			must(t, p.Doc != nil && p.Doc.Find("h1").Length() > 0, "a clear error page")
			must(t, !b.signedIn(), "no signed-in session may exist")
		})
	}
}

func TestCallbackReplayAndCodeReuse(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	cb := b.callbackURL("employee@contoso.example")
	p := b.get(cb.String())
	must(t, p.Status == http.StatusFound, "first callback %d", p.Status)
	must(t, b.signedIn(), "signed in")

	// The same browser replays the callback: the state was used up.
	p = b.get(cb.String())
	must(t, p.Status == http.StatusForbidden, "replayed callback %d", p.Status)

	// Another browser starts its own flow but is handed the first code: state matches its own flow,
	// the code was already redeemed, so the token endpoint refuses it.
	other := h.browser()
	own := other.callbackURL("employee@contoso.example")
	q := own.Query()
	q.Set("code", cb.Query().Get("code"))
	own.RawQuery = q.Encode()
	p = other.get(own.String())
	must(t, p.Status == http.StatusForbidden, "reused code %d", p.Status)
	must(t, !other.signedIn(), "no session from a reused code")
}

func TestSessionRotatesAtSignIn(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.get("/login?login_hint=employee%40contoso.example")
	var before string
	for _, c := range b.c.Jar.Cookies(mustURL(h.URL)) {
		before = c.Value
	}
	must(t, before != "", "a pre-login session cookie exists")
	b.signIn("employee@contoso.example")
	var after string
	for _, c := range b.c.Jar.Cookies(mustURL(h.URL)) {
		after = c.Value
	}
	must(t, after != "" && after != before, "session id must change at sign-in")

	// The planted pre-login cookie is not signed in.
	planted := h.browser()
	planted.c.Jar.SetCookies(mustURL(h.URL), []*http.Cookie{{Name: "portico_session", Value: before, Path: "/"}})
	must(t, !planted.signedIn(), "pre-login cookie must not be authenticated")
}

func TestSignOutDestroysSession(t *testing.T) {
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	old := b.cookie("portico_session")
	must(t, old != nil, "session cookie")

	// GET /logout changes nothing.
	p := b.get("/logout")
	must(t, p.Status == http.StatusMethodNotAllowed || p.Status == http.StatusNotFound, "GET /logout: %d", p.Status)
	must(t, b.signedIn(), "still signed in after GET /logout")

	// A cross-site POST without the token changes nothing.
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/logout", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	p = b.do(req)
	must(t, p.Status == http.StatusForbidden, "cross-site logout: %d", p.Status)
	must(t, b.signedIn(), "still signed in after a forged logout")

	p = b.post("/logout", nil)
	must(t, p.Status == http.StatusSeeOther, "logout %d", p.Status)
	loc := p.Header.Get("Location")
	must(t, strings.HasPrefix(loc, h.tenant.URL()+"/"+h.tenant.TenantID()+"/oauth2/v2.0/logout?"), "end-session redirect %q", loc)
	must(t, strings.Contains(loc, "post_logout_redirect_uri="+url.QueryEscape(h.URL+"/signed-out")), "post-logout redirect in %q", loc)
	must(t, strings.Contains(p.Header.Get("Set-Cookie"), "Max-Age=0"), "cookie expired: %q", p.Header.Get("Set-Cookie"))

	replay := h.browser()
	replay.c.Jar.SetCookies(mustURL(h.URL), []*http.Cookie{{Name: old.Name, Value: old.Value, Path: "/"}})
	must(t, !replay.signedIn(), "the old cookie must no longer work")
}

func TestFailedRefreshSignsOut(t *testing.T) {
	tenant := newTenant(t)
	tenant.SetAccessTokenLifetime(30 * time.Second) // inside the refresh margin: every Graph call refreshes
	h := start(t, tenant, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")

	// A working refresh: the invitation goes through with a renewed token.
	p := b.post("/invitations", inviteForm("refresh.ok@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther, "invite with a refreshed token: %d %s", p.Status, text(p, `[data-testid="alert"]`))

	tenant.RevokeRefreshTokens("employee@contoso.example")
	tenant.ResetRequests()
	p = b.post("/invitations", inviteForm("refresh.fails@fabrikam.example"))
	must(t, p.Status == http.StatusFound && strings.HasPrefix(p.Header.Get("Location"), "/login"), "sent to sign in again: %d %q", p.Status, p.Header.Get("Location"))
	must(t, countPosts(tenant, "/v1.0/invitations") == 0, "no Graph call without a token")
	must(t, !b.signedIn(), "the session is gone")
	home := b.get("/")
	must(t, strings.Contains(text(home, `[data-testid="flash"]`), "sign-in expired"), "a clear message: %q", text(home, `[data-testid="flash"]`))
}
