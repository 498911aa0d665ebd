package main

// Security checklist, section A. Sign-in flow.
// One test per item (TestSecNN_…), each asserting the response and that nothing reached Graph,
// the token endpoint or the store when it must not. Items already proven elsewhere point to that
// test by name; items that do not apply say why in one line.
// SECURITY.md ("Checklist coverage") maps every item to its tests.

import (
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"portico/devtenant"
	"portico/store"
)

func TestSec01_PKCE(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	h := start(t, p.tenant, p.env(nil))
	b := h.browser()

	var challenges []string
	for range 2 {
		login := b.get("/login?login_hint=employee%40contoso.example")
		must(t, login.Status == http.StatusFound, "login %d", login.Status)
		q := mustURL(login.Header.Get("Location")).Query()
		must(t, q.Get("code_challenge_method") == "S256", "method %q (never plain)", q.Get("code_challenge_method"))
		must(t, len(q.Get("code_challenge")) == 43, "challenge %q is not a base64url SHA-256", q.Get("code_challenge"))
		challenges = append(challenges, q.Get("code_challenge"))
	}
	must(t, challenges[0] != challenges[1], "two logins share a challenge")

	// The verifier Portico sends at the token endpoint hashes to the challenge of its own flow.
	login := b.get("/login?login_hint=employee%40contoso.example")
	challenge := mustURL(login.Header.Get("Location")).Query().Get("code_challenge")
	authz := b.get(login.Header.Get("Location"))
	must(t, authz.Status == http.StatusFound, "authorize %d", authz.Status)
	done := b.get(authz.Header.Get("Location"))
	must(t, done.Status == http.StatusFound && b.signedIn(), "callback %d %s", done.Status, done.Body)
	p.mu.Lock()
	verifiers := slices.Clone(p.verifiers)
	p.mu.Unlock()
	must(t, len(verifiers) == 1, "one code redemption, got %d", len(verifiers))
	v := verifiers[0]
	must(t, len(v) >= 43 && len(v) <= 128, "verifier length %d", len(v))
	sum := sha256.Sum256([]byte(v))
	must(t, base64.RawURLEncoding.EncodeToString(sum[:]) == challenge, "verifier does not hash to the flow's challenge")
	must(t, !slices.Contains(challenges, challenge), "a third login reused an earlier challenge")
	// Missing, tampered and replayed login state: TestSignInRefusals ("no session cookie", "wrong
	// state") and TestCallbackReplayAndCodeReuse; each answers 403 and leaves no session.
}

func TestSec02_StateCheckedBeforeCodeIsRedeemed(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	h := start(t, p.tenant, p.env(nil))
	for name, mutate := range map[string]func(url.Values){
		"missing":        func(q url.Values) { q.Del("state") },
		"empty":          func(q url.Values) { q.Set("state", "") },
		"mismatched":     func(q url.Values) { q.Set("state", q.Get("state")+"x") },
		"another flow's": func(q url.Values) { q.Set("state", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") },
	} {
		t.Run(name, func(t *testing.T) {
			b := h.browser()
			b.t = t
			cb := b.callbackURL("employee@contoso.example")
			q := cb.Query()
			must(t, len(q.Get("state")) >= 22, "state carries at least 128 bits: %q", q.Get("state"))
			mutate(q)
			cb.RawQuery = q.Encode()
			before := p.grantCount("authorization_code")
			res := b.get(cb.String())
			must(t, res.Status == http.StatusForbidden, "status %d", res.Status)
			must(t, p.grantCount("authorization_code") == before, "the code was redeemed despite a bad state")
			must(t, !b.signedIn(), "no session")
		})
	}
	// No login-transaction cookie, replay, IdP error= answers: TestSignInRefusals,
	// TestCallbackReplayAndCodeReuse, TestSec22_OutputEncoding (error text escaped).
}

// Item 3 (nonce sent and checked): TestSignInRefusals rows "wrong nonce" and "no nonce"; a fresh nonce per login:
func TestSec03_NonceFreshPerLogin(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	b := h.browser()
	n1 := mustURL(b.get("/login").Header.Get("Location")).Query().Get("nonce")
	n2 := mustURL(b.get("/login").Header.Get("Location")).Query().Get("nonce")
	must(t, len(n1) >= 22 && n1 != n2, "nonces %q %q", n1, n2)
}

// forgeJWT rebuilds a compact JWT with a new header and (edited) claims, signed by sign.
func forgeJWT(t testing.TB, raw string, header map[string]any, edit func(map[string]any), sign func(input string) string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	must(t, len(parts) == 3, "not a JWT")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err == nil, "payload: %v", err)
	var claims map[string]any
	must(t, json.Unmarshal(payload, &claims) == nil, "claims")
	if edit != nil {
		edit(claims)
	}
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	return input + "." + sign(input)
}

func jwtHeader(t testing.TB, raw string) map[string]any {
	hb, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	must(t, err == nil, "header: %v", err)
	var h map[string]any
	must(t, json.Unmarshal(hb, &h) == nil, "header JSON")
	return h
}

// publicKeyPEM is the tenant's signing key as PEM: the "secret" of the HS256 key-confusion attack.
func publicKeyPEM(t testing.TB, jwksURL string) []byte {
	t.Helper()
	resp, err := http.Get(jwksURL)
	must(t, err == nil, "jwks: %v", err)
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ N, E string } `json:"keys"`
	}
	must(t, json.NewDecoder(resp.Body).Decode(&set) == nil && len(set.Keys) > 0, "jwks body")
	n, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].N)
	e, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].E)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	der, err := x509.MarshalPKIXPublicKey(pub)
	must(t, err == nil, "marshal: %v", err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestSec04_IDTokenValidation(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	h := start(t, p.tenant, p.env(nil))
	keyPEM := publicKeyPEM(t, p.srv.URL+"/"+p.tenant.TenantID()+"/discovery/v2.0/keys")
	tests := []struct {
		name   string
		forge  func(raw string) string
		tamper func()
	}{
		{"alg none", func(raw string) string {
			return forgeJWT(t, raw, map[string]any{"alg": "none", "typ": "JWT"}, nil, func(string) string { return "" })
		}, nil},
		{"HS256 keyed with the public key", func(raw string) string {
			hdr := jwtHeader(t, raw)
			hdr["alg"] = "HS256"
			return forgeJWT(t, raw, hdr, nil, func(in string) string {
				m := hmac.New(sha256.New, keyPEM)
				m.Write([]byte(in))
				return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
			})
		}, nil},
		{"RS256 header, claims edited after signing", func(raw string) string {
			parts := strings.Split(raw, ".")
			return forgeJWT(t, raw, jwtHeader(t, raw), func(c map[string]any) { c["oid"] = "00000000-0000-0000-0000-0000000000ad" },
				func(string) string { return parts[2] })
		}, nil},
		{"unknown kid", func(raw string) string {
			parts := strings.Split(raw, ".")
			hdr := jwtHeader(t, raw)
			hdr["kid"] = "not-in-the-jwks"
			return forgeJWT(t, raw, hdr, nil, func(string) string { return parts[2] })
		}, nil},
		{"signed by a key outside the JWKS", nil, func() { p.tenant.SignNextIDTokenWithUnknownKey() }},
		{"issuer of another tenant", nil, func() {
			p.tenant.TamperNextIDToken(func(c map[string]any) {
				c["iss"] = p.srv.URL + "/00000000-0000-0000-0000-000000000001/v2.0"
			})
		}},
		{"tid not the configured tenant", nil, func() {
			p.tenant.TamperNextIDToken(func(c map[string]any) { c["tid"] = "00000000-0000-0000-0000-000000000001" })
		}},
		{"aud another application", nil, func() { p.tenant.TamperNextIDToken(func(c map[string]any) { c["aud"] = "other-app" }) }},
		{"aud [client, other] with azp other", nil, func() {
			p.tenant.TamperNextIDToken(func(c map[string]any) { c["aud"] = []string{"portico-demo", "other"}; c["azp"] = "other" })
		}},
		{"aud [client, other] without azp", nil, func() {
			p.tenant.TamperNextIDToken(func(c map[string]any) { c["aud"] = []string{"portico-demo", "other"}; delete(c, "azp") })
		}},
		{"expired", nil, func() {
			p.tenant.TamperNextIDToken(func(c map[string]any) {
				c["exp"] = time.Now().Add(-10 * time.Minute).Unix()
				c["iat"] = time.Now().Add(-70 * time.Minute).Unix()
				c["nbf"] = time.Now().Add(-70 * time.Minute).Unix()
			})
		}},
		{"no oid", nil, func() { p.tenant.TamperNextIDToken(func(c map[string]any) { delete(c, "oid") }) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := h.browser()
			b.t = t
			cb := b.callbackURL("employee@contoso.example")
			if tt.forge != nil {
				p.rewriteNextIDToken(tt.forge)
			}
			if tt.tamper != nil {
				tt.tamper()
			}
			res := b.get(cb.String())
			must(t, res.Status == http.StatusForbidden, "status %d: %s", res.Status, text(res, "h1"))
			must(t, !b.signedIn(), "no session from a forged ID token")
		})
	}
	t.Run("well-formed control row", func(t *testing.T) {
		b := h.browser()
		b.t = t
		res := b.get(b.callbackURL("employee@contoso.example").String())
		must(t, res.Status == http.StatusFound && b.signedIn(), "genuine token: %d", res.Status)
	})
}

func TestSec05_IdentityByImmutableClaims(t *testing.T) {
	t.Parallel()
	h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t)})

	// An employee whose display claims say "admin" gets no admin rights: rights come from wids/roles.
	lookalike := h.browser()
	h.tenant.TamperNextIDToken(func(c map[string]any) {
		c["preferred_username"], c["name"], c["email"] = "admin@contoso.example", "Avery Admin", "admin@contoso.example"
	})
	lookalike.signIn("employee@contoso.example")
	must(t, lookalike.get("/").Doc.Find(`[data-testid="admin-badge"]`).Length() == 0, "a look-alike name is no admin")
	must(t, lookalike.get("/admin/audit").Status == http.StatusForbidden, "no audit trail for a look-alike")

	// An admin whose ID token lacks wids is no admin, although the Graph access token still has them.
	stripped := h.browser()
	h.tenant.TamperNextIDToken(func(c map[string]any) { delete(c, "wids") })
	stripped.signIn("admin@contoso.example")
	must(t, stripped.get("/admin/audit").Status == http.StatusForbidden, "roles come from the ID token only")

	// Same preferred_username, different oid: two principals with separate invitations.
	first := h.browser()
	first.signIn("employee@contoso.example")
	must(t, first.post("/invitations", inviteForm("oid.one@fabrikam.example")).Status == http.StatusSeeOther, "invite")
	second := h.browser()
	h.tenant.TamperNextIDToken(func(c map[string]any) { c["oid"] = "00000000-0000-0000-0000-00000000beef" })
	second.signIn("employee@contoso.example")
	list := second.get("/invitations")
	must(t, !strings.Contains(list.Body, "oid.one@fabrikam.example"), "another oid sees the first's invitations")
	db := openStore(t, h.env["PORTICO_DATABASE_URL"])
	actors := map[string]bool{}
	for _, ev := range auditEvents(t, db, store.AuditFilter{Action: "signin"}) {
		if ev.ActorUPN == "employee@contoso.example" {
			actors[ev.ActorOID] = true
		}
	}
	must(t, len(actors) == 2, "two sign-ins with one UPN are two principals in the audit: %v", actors)
}

func TestSec06_RedirectURIFromConfig(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	b := h.browser()
	for _, hdr := range [][]string{
		{"Host", "evil.example"},
		{"X-Forwarded-Host", "evil.example"},
		{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example:443"},
		{"Forwarded", "host=evil.example;proto=https"},
	} {
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/login", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1]
			} else {
				req.Header.Set(hdr[i], hdr[i+1])
			}
		}
		p := b.do(req)
		loc := mustURL(p.Header.Get("Location"))
		must(t, p.Status == http.StatusFound && loc.Query().Get("redirect_uri") == h.URL+"/auth/callback",
			"%v: redirect_uri %q", hdr, loc.Query().Get("redirect_uri"))
		must(t, !strings.Contains(p.Header.Get("Location"), "evil"), "%v leaked into %s", hdr, loc)
	}
	// An iss response parameter from another issuer: TestSignInRefusals "unexpected issuer" (403).
}

func TestSec07_CallbackAnswer(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	b := h.browser()
	res := b.get(b.callbackURL("employee@contoso.example").String())
	must(t, res.Status == http.StatusFound, "status %d", res.Status)
	loc := res.Header.Get("Location")
	must(t, strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//"), "relative Location %q", loc)
	must(t, res.Header.Get("Referrer-Policy") == "no-referrer" && res.Header.Get("Cache-Control") == "no-store", "headers %v", res.Header)
	must(t, strings.TrimSpace(res.Body) == "", "no HTML on the callback: %q", res.Body)
}

// readCorpus loads the open-redirect payloads shared with auth's unit test.
func readCorpus(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile("auth/testdata/openredirects.txt")
	must(t, err == nil, "corpus: %v", err)
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// signInReturning runs a whole sign-in from one client address (behind a trusted proxy) and
// returns where the callback sends the browser and the authorization URL.
func signInReturning(h *harness, ret, ip string) (string, string, error) {
	jar, _ := newJar()
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	resp, err := get(h.URL + "/login?login_hint=employee%40contoso.example&return=" + url.QueryEscape(ret))
	if err != nil || resp.StatusCode != http.StatusFound {
		return "", "", fmt.Errorf("login: %v %v", err, resp)
	}
	authURL := resp.Header.Get("Location")
	if resp, err = get(authURL); err != nil || resp.StatusCode != http.StatusFound {
		return "", "", fmt.Errorf("authorize: %v", err)
	}
	if resp, err = get(resp.Header.Get("Location")); err != nil || resp.StatusCode != http.StatusFound {
		return "", "", fmt.Errorf("callback: %v %v", err, resp)
	}
	return resp.Header.Get("Location"), authURL, nil
}

func authParamsOnly(q url.Values) bool {
	for k := range q {
		switch k {
		case "client_id", "code_challenge", "code_challenge_method", "login_hint", "nonce", "redirect_uri",
			"response_mode", "response_type", "scope", "state":
		default:
			return false
		}
	}
	return true
}

func TestSec08_ReturnPathCorpusEndToEnd(t *testing.T) {
	t.Parallel()
	// Every payload comes from its own client address through a trusted proxy, so the per-address
	// sign-in limit does not interfere.
	h := start(t, nil, map[string]string{"PORTICO_TRUSTED_PROXIES": "127.0.0.1", "PORTICO_LOG_LEVEL": "warn"})
	corpus := readCorpus(t)
	must(t, len(corpus) > 1000, "corpus has %d payloads", len(corpus))
	type result struct{ payload, loc, auth string }
	work := make(chan int)
	results := make(chan result, len(corpus))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ip := fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)
				loc, auth, err := signInReturning(h, corpus[i], ip)
				if err != nil {
					loc = "error: " + err.Error()
				}
				results <- result{corpus[i], loc, auth}
			}
		}()
	}
	for i := range corpus {
		work <- i
	}
	close(work)
	wg.Wait()
	close(results)
	for r := range results {
		if r.loc != "/" {
			t.Errorf("return=%q landed on %q", r.payload, r.loc)
		}
		// The return path stays in the server-side flow: the authorization request carries only its own parameters.
		if u, err := url.Parse(r.auth); err != nil || u.Query().Get("redirect_uri") != h.URL+"/auth/callback" || !authParamsOnly(u.Query()) {
			t.Errorf("return=%q changed the authorization URL %s", r.payload, r.auth)
		}
	}
	for _, ok := range []string{"/invitations?state=pending", "/invitations/abc123", "/admin/audit?actor=a%40b.example"} {
		loc, _, err := signInReturning(h, ok, "198.19.0.1")
		must(t, err == nil && loc == ok, "return=%q: %q %v", ok, loc, err)
	}
}

func TestSec09_TokensStayServerSide(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	dsn := sqliteFile(t)
	h := start(t, p.tenant, p.env(map[string]string{"PORTICO_DATABASE_URL": dsn}))
	b := h.browser()
	cb := b.callbackURL("employee@contoso.example")
	res := b.get(cb.String())
	must(t, res.Status == http.StatusFound, "callback %d", res.Status)
	secrets := p.issued()
	must(t, len(secrets) >= 3, "tokens were issued: %d", len(secrets))
	for _, sc := range res.Header.Values("Set-Cookie") {
		must(t, len(sc) < 4096, "Set-Cookie of %d bytes", len(sc))
		c, err := http.ParseSetCookie(sc)
		must(t, err == nil, "Set-Cookie %q: %v", sc, err)
		decoded, _ := base64.URLEncoding.DecodeString(c.Value)
		for _, v := range []string{c.Value, string(decoded)} {
			must(t, !strings.Contains(v, "eyJ"), "cookie %s carries a JWT", c.Name)
			for _, s := range secrets {
				must(t, !strings.Contains(v, s), "cookie %s carries a token", c.Name)
			}
		}
	}
	// The cookie names a server-side record (encrypted at rest) that holds the tokens.
	id := b.sessionID()
	must(t, len(id) >= 26, "the cookie decodes to a random session id: %q", id)
	db := openStore(t, dsn)
	data, sealed, ok := sessionData(t, h, db, id)
	must(t, ok, "no session record for the cookie's id")
	tok, _ := data["token"].(map[string]any)
	must(t, tok != nil && tok["at"] != "" && tok["rt"] != "", "the record holds the token set: %v", data)
	must(t, slices.Contains(secrets, tok["at"].(string)), "the stored access token is the one issued")
	must(t, !strings.Contains(string(sealed), "eyJ") && !strings.Contains(string(sealed), tok["rt"].(string)), "session records are encrypted at rest")
}

// staleTokenSession signs in with an access token that goes stale (inside auth's refresh margin)
// a moment later, then restores devtenant's normal lifetime for the refreshed token.
func staleTokenSession(t *testing.T, p *idp, h *harness) *browser {
	t.Helper()
	p.tenant.SetAccessTokenLifetime(2*time.Minute + 3*time.Second)
	b := h.browser()
	b.signIn("employee@contoso.example")
	p.tenant.SetAccessTokenLifetime(time.Hour)
	time.Sleep(2200 * time.Millisecond)
	return b
}

func bearer(r devtenant.RecordedRequest) string { return r.Header.Get("Authorization") }

func TestSec10_RefreshOnceFailClosedAbsoluteLifetime(t *testing.T) {
	t.Parallel()
	t.Run("ten parallel requests refresh once", func(t *testing.T) {
		t.Parallel()
		p := newIDP(t)
		h := start(t, p.tenant, p.env(nil))
		b := staleTokenSession(t, p, h)
		p.tenant.ResetRequests()
		var wg sync.WaitGroup
		statuses := make([]int, 10)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodGet, h.URL+"/invitations/check?email="+url.QueryEscape(fmt.Sprintf("p%d@fabrikam.example", i)), nil)
				resp, err := b.c.Do(req)
				if err == nil {
					statuses[i] = resp.StatusCode
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		for i, s := range statuses {
			must(t, s == http.StatusOK, "request %d: %d", i, s)
		}
		must(t, p.grantCount("refresh_token") == 1, "refreshes: %d, want exactly 1", p.grantCount("refresh_token"))
		tokens := map[string]bool{}
		for _, r := range p.tenant.Requests() {
			tokens[bearer(r)] = true
		}
		must(t, len(tokens) == 1, "every Graph call used the one refreshed token: %d distinct", len(tokens))
		must(t, b.signedIn(), "still signed in")
	})
	t.Run("revoked refresh token ends the session", func(t *testing.T) {
		t.Parallel()
		p := newIDP(t)
		dsn := sqliteFile(t)
		h := start(t, p.tenant, p.env(map[string]string{"PORTICO_DATABASE_URL": dsn}))
		b := staleTokenSession(t, p, h)
		id := b.sessionID()
		db := openStore(t, dsn)
		_, _, ok := sessionData(t, h, db, id)
		must(t, ok, "session exists before")
		p.tenant.RevokeRefreshTokens("employee@contoso.example")
		p.tenant.ResetRequests()
		res := b.post("/invitations", inviteForm("revoked@fabrikam.example"))
		must(t, res.Status == http.StatusFound && strings.HasPrefix(res.Header.Get("Location"), "/login"), "302 to sign in: %d %q", res.Status, res.Header.Get("Location"))
		must(t, len(p.tenant.Requests()) == 0, "Graph got %d calls", len(p.tenant.Requests()))
		must(t, p.grantCount("refresh_token") == 1, "one refused refresh: %d", p.grantCount("refresh_token"))
		_, err := db.GetSession(context.Background(), id)
		must(t, err != nil, "the server-side session is deleted")
		must(t, !b.signedIn(), "signed out")
	})
	t.Run("absolute lifetime despite activity", func(t *testing.T) {
		t.Parallel()
		h := start(t, nil, map[string]string{"PORTICO_SESSION_IDLE_TIMEOUT": "2s", "PORTICO_SESSION_MAX_LIFETIME": "3s"})
		b := h.browser()
		b.signIn("employee@contoso.example")
		begin := time.Now()
		for time.Since(begin) < 2500*time.Millisecond {
			must(t, b.signedIn(), "signed in while active, %s after sign-in", time.Since(begin))
			time.Sleep(400 * time.Millisecond)
		}
		time.Sleep(time.Until(begin.Add(3200 * time.Millisecond)))
		res := b.get("/invitations")
		must(t, res.Status == http.StatusFound && strings.HasPrefix(res.Header.Get("Location"), "/login"), "after the maximum lifetime: %d", res.Status)
	})
}

func TestSec11_LogoutEndsSession(t *testing.T) {
	t.Parallel()
	// POST-only, CSRF, expired cookie, end-session redirect, replayed cookie: TestSignOutDestroysSession.
	p := newIDP(t)
	h := start(t, p.tenant, p.env(nil))
	b := h.browser()
	b.signIn("employee@contoso.example")
	res := b.post("/logout", nil)
	loc := mustURL(res.Header.Get("Location"))
	must(t, loc.Query().Get("id_token_hint") == p.lastIDToken(), "id_token_hint is the session's ID token")
	must(t, loc.Query().Get("post_logout_redirect_uri") == h.URL+"/signed-out", "fixed post-logout URI: %s", loc)
	q := url.Values{"post_logout_redirect_uri": {"https://evil.example/"}}
	res = b.rawPost("/logout?"+q.Encode(), url.Values{"_csrf": {b.csrf()}}, "Origin", h.URL)
	must(t, !strings.Contains(res.Header.Get("Location"), "evil"), "post_logout_redirect_uri is not taken from the request: %q", res.Header.Get("Location"))

	// GET /login with a live session changes nothing (issue 14 item 4: a cross-site link to /login
	// must not end the session): it goes to the return path, and the session lives on.
	b2 := h.browser()
	b2.signIn("employee@contoso.example")
	old := b2.cookie("portico_session")
	res = b2.get("/login?return=%2Finvitations")
	must(t, res.Status == http.StatusFound && res.Header.Get("Location") == "/invitations", "signed-in /login: %d %q", res.Status, res.Header.Get("Location"))
	must(t, b2.cookie("portico_session").Value == old.Value && b2.signedIn(), "a signed-in /login renewed or ended the session")
}

func TestSec12_NoSessionFixation(t *testing.T) {
	t.Parallel()
	// A planted pre-login id: TestSessionRotatesAtSignIn. Here: an attacker-chosen value, and two sign-ins.
	h := start(t, nil, nil)
	b := h.browser()
	b.c.Jar.SetCookies(mustURL(h.URL), []*http.Cookie{{Name: "portico_session", Value: "attacker-chosen", Path: "/"}})
	b.signIn("employee@contoso.example")
	first := b.cookie("portico_session").Value
	must(t, first != "attacker-chosen", "the planted value was kept")
	// A signed-in /login changes nothing (issue 14 item 4), so the second sign-in follows a sign-out.
	b.post("/logout", nil)
	b.signIn("employee@contoso.example")
	second := b.cookie("portico_session").Value
	must(t, second != first, "a new sign-in must get a new session")
	stale := h.browser()
	stale.c.Jar.SetCookies(mustURL(h.URL), []*http.Cookie{{Name: "portico_session", Value: first, Path: "/"}})
	must(t, !stale.signedIn(), "the first session ended at the second sign-in")
}

// cookieCarrier keeps cookies by name and sends them on every request, Secure or not: it stands
// in for a browser behind an https terminator when Portico itself listens on http.
type cookieCarrier struct {
	t       *testing.T
	c       *http.Client
	cookies map[string]string
	set     []*http.Cookie
}

func (cc *cookieCarrier) do(req *http.Request) *page {
	cc.t.Helper()
	for k, v := range cc.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := cc.c.Do(req)
	must(cc.t, err == nil, "%s: %v", req.URL, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		cc.set = append(cc.set, c)
		if c.MaxAge < 0 || c.Value == "" {
			delete(cc.cookies, c.Name)
		} else {
			cc.cookies[c.Name] = c.Value
		}
	}
	p := &page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), URL: req.URL}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		p.Doc, _ = goquery.NewDocumentFromReader(strings.NewReader(p.Body))
	}
	return p
}

func checkCookie(t *testing.T, sc string, secure bool) {
	t.Helper()
	c, err := http.ParseSetCookie(sc)
	must(t, err == nil, "Set-Cookie %q: %v", sc, err)
	must(t, len(sc) < 4096, "Set-Cookie of %d bytes", len(sc))
	must(t, c.HttpOnly && c.SameSite == http.SameSiteLaxMode && c.Path == "/" && c.Domain == "", "attributes of %q", sc)
	must(t, c.Secure == secure, "Secure=%v in %q", c.Secure, sc)
	if secure {
		must(t, strings.HasPrefix(c.Name, "__Host-"), "cookie %q lacks the __Host- prefix", c.Name)
	}
}

func TestSec13_CookieAttributes(t *testing.T) {
	t.Parallel()
	t.Run("http (loopback development)", func(t *testing.T) {
		t.Parallel()
		h := start(t, nil, nil)
		b := h.browser()
		var all []string
		login := b.get("/login?login_hint=employee%40contoso.example")
		all = append(all, login.Header.Values("Set-Cookie")...)
		authz := b.get(login.Header.Get("Location"))
		cb := b.get(authz.Header.Get("Location"))
		all = append(all, cb.Header.Values("Set-Cookie")...)
		form := b.get("/")
		all = append(all, form.Header.Values("Set-Cookie")...)
		post := b.post("/invitations", inviteForm("cookie@fabrikam.example"))
		all = append(all, post.Header.Values("Set-Cookie")...)
		out := b.post("/logout", nil)
		all = append(all, out.Header.Values("Set-Cookie")...)
		must(t, len(all) >= 4, "cookies set: %d", len(all))
		for _, sc := range all {
			checkCookie(t, sc, false)
		}
	})
	t.Run("https public URL", func(t *testing.T) {
		t.Parallel()
		const public = "https://portal.contoso.example"
		tenant, err := devtenant.New(devtenant.Options{ClientSecret: testClientSecret, RedirectURIs: []string{public + "/auth/callback"}})
		must(t, err == nil, "devtenant: %v", err)
		must(t, tenant.Start("127.0.0.1:0") == nil, "start")
		t.Cleanup(func() { _ = tenant.Close(context.Background()) })
		h := start(t, tenant, map[string]string{"PORTICO_PUBLIC_URL": public})
		cc := &cookieCarrier{t: t, cookies: map[string]string{}, c: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
		get := func(u string) *page {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			return cc.do(req)
		}
		login := get(h.URL + "/login?login_hint=employee%40contoso.example")
		must(t, login.Status == http.StatusFound, "login %d", login.Status)
		must(t, login.Header.Get("Strict-Transport-Security") == "max-age=31536000; includeSubDomains", "HSTS: %q", login.Header.Get("Strict-Transport-Security"))
		authz := get(login.Header.Get("Location"))
		back := mustURL(authz.Header.Get("Location"))
		must(t, back.Scheme+"://"+back.Host == public, "devtenant returns to the public URL: %s", back)
		cb := get(h.URL + back.RequestURI()) // as the TLS terminator would forward it
		must(t, cb.Status == http.StatusFound, "callback %d %s", cb.Status, cb.Body)
		home := get(h.URL + "/")
		tok := home.Doc.Find(`input[name="_csrf"]`).First().AttrOr("value", "")
		must(t, tok != "", "signed in over the https public URL")
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/logout", strings.NewReader(url.Values{"_csrf": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", public)
		out := cc.do(req)
		must(t, out.Status == http.StatusSeeOther, "logout %d", out.Status)
		must(t, len(cc.set) >= 3, "cookies set: %d", len(cc.set))
		for _, c := range cc.set {
			checkCookie(t, c.Raw, true)
		}
	})
}
