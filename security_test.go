package main

// One test per item of ../shared/security-checklist.md (TestSecNN_…), each asserting the response
// and that nothing reached Graph, the token endpoint or the store when it must not. Items already
// proven elsewhere point to that test by name; items that do not apply say why in one line.

import (
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/oauth2"

	"portico/devtenant"
	"portico/graph"
	"portico/store"
)

// ---------------------------------------------------------------- A. Sign-in flow

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

	// GET /login with a live session discards it first.
	b2 := h.browser()
	b2.signIn("employee@contoso.example")
	old := b2.cookie("portico_session")
	b2.get("/login")
	replay := h.browser()
	replay.c.Jar.SetCookies(mustURL(h.URL), []*http.Cookie{{Name: old.Name, Value: old.Value, Path: "/"}})
	must(t, !replay.signedIn(), "the session of before /login still works")
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

// ---------------------------------------------------------------- B. Cookies, CSRF and browser hardening

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

// ---------------------------------------------------------------- C. Access control and input

func TestSec17_MassAssignment(t *testing.T) {
	t.Parallel()
	dsn := sqliteFile(t)
	h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": dsn})
	emp := h.browser()
	emp.signIn("employee@contoso.example")

	h.tenant.ResetRequests()
	p := emp.post("/invitations", inviteForm("member@fabrikam.example", func(v url.Values) { v.Set("invitedUserType", "Member") }))
	must(t, p.Status == http.StatusForbidden && len(graphRequests(h.tenant, http.MethodPost, "/v1.0/invitations")) == 0, "Member by an employee: %d", p.Status)
	denied := auditEvents(t, openStore(t, dsn), store.AuditFilter{Outcome: store.OutcomeDenied})
	must(t, len(denied) == 1 && denied[0].Target == "member@fabrikam.example", "one denied audit event: %+v", denied)

	// Extra Graph fields in the form are ignored; the type is computed on the server.
	p = emp.post("/invitations", inviteForm("extra@fabrikam.example", func(v url.Values) {
		v.Set("resetRedemption", "true")
		v.Set("invitedUser", `{"id":"00000000-0000-0000-0000-000000000001"}`)
		v.Set("invitedUserSponsors", "x")
		v.Set("status", "Completed")
	}))
	must(t, p.Status == http.StatusSeeOther, "invite %d", p.Status)
	bodies := invitationBodies(t, h.tenant)
	must(t, len(bodies) == 1, "one Graph POST: %d", len(bodies))
	must(t, bodies[0]["invitedUserType"] == "Guest", "type %v", bodies[0]["invitedUserType"])
	for _, k := range []string{"resetRedemption", "invitedUser", "invitedUserSponsors", "status"} {
		must(t, bodies[0][k] == nil, "%s reached Graph: %v", k, bodies[0][k])
	}
	// JSON: an unknown key is refused before Graph.
	p = emp.postJSON("/invitations", `{"invitedUserEmailAddress":"json.extra@fabrikam.example","resetRedemption":true}`)
	must(t, p.Status == http.StatusBadRequest && len(invitationBodies(t, h.tenant)) == 1, "JSON with resetRedemption: %d", p.Status)

	admin := h.browser()
	admin.signIn("admin@contoso.example")
	h.tenant.ResetRequests()
	p = admin.post("/invitations", inviteForm("admin.member@fabrikam.example", func(v url.Values) { v.Set("invitedUserType", "Member") }))
	must(t, p.Status == http.StatusSeeOther, "admin Member: %d", p.Status)
	bodies = invitationBodies(t, h.tenant)
	must(t, len(bodies) == 1 && bodies[0]["invitedUserType"] == "Member", "admin's Graph body: %v", bodies)
}

func TestSec17_AdminRoleRevokedMidSession(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	h.tenant.SetAccessTokenLifetime(30 * time.Second) // every Graph call refreshes, as an hour later would
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	must(t, admin.get("/admin/audit").Status == http.StatusOK, "admin at first")
	u, _ := h.tenant.UserByMail("admin@contoso.example")
	u.Wids = nil
	h.tenant.AddUser(u)
	must(t, admin.get("/invitations/check?email=x%40fabrikam.example").Status == http.StatusOK, "a Graph-backed request (token refresh)")
	must(t, admin.get("/admin/audit").Status == http.StatusForbidden, "the revoked role still counts after the token was refreshed")
	h.tenant.ResetRequests()
	p := admin.post("/invitations", inviteForm("late.member@fabrikam.example", func(v url.Values) { v.Set("invitedUserType", "Member") }))
	must(t, p.Status == http.StatusForbidden && countPosts(h.tenant, "/v1.0/invitations") == 0, "Member after revocation: %d", p.Status)
}

func TestSec18_EveryRouteFailsClosed(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	b := h.browser()
	// Known routes (handlers/routes.go) without a session. Public ones are listed with what they may answer.
	tests := []struct {
		method, path string
		want         []int
	}{
		{"GET", "/invitations", []int{302}},
		{"HEAD", "/invitations", []int{302, 404, 405}},
		{"GET", "/invitations?scope=everyone", []int{302}},
		{"GET", "/invitations/check?email=a%40b.example", []int{302}},
		{"GET", "/invitations/abc", []int{302}},
		{"POST", "/invitations", []int{302}},
		{"POST", "/invitations/abc/resend", []int{302}},
		{"POST", "/invitations/abc/reveal", []int{302}},
		{"POST", "/invitations/abc/link", []int{302}},
		{"POST", "/invitations/abc/link/revoke", []int{302}},
		{"GET", "/admin/audit", []int{302}},
		{"GET", "/admin/audit.csv", []int{302}},
		{"GET", "/admin/audit.jsonl", []int{302}},
		{"POST", "/logout", []int{403}},
		{"GET", "/auth/callback", []int{403}},
		{"POST", "/join/x/accept", []int{404}},
		{"GET", "/join/x", []int{404}},
		// Encoded-path and case tricks.
		{"GET", "/static/..%2finvite", []int{404}},
		{"GET", "/static/..%2finvitations", []int{404}},
		{"GET", "/static/..%5cinvitations", []int{404}},
		{"GET", "/static/..%2f..%2finvitations", []int{404}},
		{"GET", "/static/%2e%2e/invitations", []int{404}},
		// Unknown paths fall into the signed-in group's catch-all: sign in first, then 404.
		{"GET", "/INVITE", []int{302, 404}},
		{"GET", "/INVITATIONS", []int{302, 404}},
		{"GET", "/Invitations", []int{302, 404}},
		{"GET", "/invitations%2F", []int{302, 404}},
		{"GET", "/invitations/", []int{302, 404}},
		{"GET", "//invitations", []int{302, 404}},
		{"GET", "/admin%2faudit", []int{302, 404}},
		{"GET", "/admin/audit%2ecsv", []int{302, 404}},
		{"GET", "/invitations/..%2fadmin%2faudit", []int{302, 404}},
		{"POST", "/INVITATIONS", []int{302, 404, 405}},
		{"POST", "/invitations%2F", []int{302, 404, 405}},
		// Public pages: they answer, but never with the invite form.
		{"GET", "/", []int{200}},
		{"GET", "/welcome", []int{200}},
		{"GET", "/signed-out", []int{200}},
		{"GET", "/healthz", []int{200}},
		{"GET", "/login", []int{302}},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, h.URL+tt.path, strings.NewReader(url.Values{"invitedUserEmailAddress": {"a@fabrikam.example"}}.Encode()))
		must(t, err == nil, "%s: %v", tt.path, err)
		req.URL.RawPath = "" // send the path exactly as written
		req.URL.Opaque = tt.path
		if i := strings.IndexByte(tt.path, '?'); i >= 0 {
			req.URL.Opaque, req.URL.RawQuery = tt.path[:i], tt.path[i+1:]
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		p := b.do(req)
		must(t, slices.Contains(tt.want, p.Status), "%s %s: %d, want one of %v", tt.method, tt.path, p.Status, tt.want)
		if p.Status == http.StatusFound && tt.path != "/login" {
			must(t, strings.HasPrefix(p.Header.Get("Location"), "/login"), "%s %s redirects to %q", tt.method, tt.path, p.Header.Get("Location"))
		}
		must(t, p.Doc == nil || p.Doc.Find(`input[name="invitedUserEmailAddress"]`).Length() == 0, "%s %s shows the invite form", tt.method, tt.path)
		must(t, !strings.Contains(p.Body, "invitation.create"), "%s %s shows audit data", tt.method, tt.path)
	}
	// JSON clients get 401 rather than a redirect.
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/invitations", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	must(t, b.do(req).Status == http.StatusUnauthorized, "JSON without a session")
	// Signed in but no admin: the admin routes answer 403.
	b.signIn("employee@contoso.example")
	for _, path := range []string{"/admin/audit", "/admin/audit.csv", "/admin/audit.jsonl", "/invitations?scope=everyone"} {
		p := b.get(path)
		must(t, p.Status == http.StatusForbidden, "employee on %s: %d", path, p.Status)
	}
	must(t, len(graphRequests(h.tenant, http.MethodPost, "/v1.0/invitations")) == 0, "no Graph POST")
}

func TestSec19_InviteRedirectURL(t *testing.T) {
	t.Parallel()
	h := start(t, nil, map[string]string{"PORTICO_ALLOWED_REDIRECT_HOSTS": "allowed.example,apps.allowed.example:8443", "PORTICO_INVITE_QUOTA": "off"})
	b := h.browser()
	b.signIn("employee@contoso.example")
	for _, bad := range []string{
		"javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "http://allowed.example/",
		"https://allowed.example.evil.com/", "https://evil.com#@allowed.example", "https://allowed.example@evil.com/",
		"https://user:pass@allowed.example/", "//evil.com", "https://evil.com/?u=allowed.example", "https://allowed.example:8443/",
		"https://apps.allowed.example/", "partner-portal", "/welcome", "https://allowed.example\\@evil.com", "https://allowed.example%2f@evil.com",
		"https://xn--allwed-bva.example/", "https://203.0.113.9/", "https://allowed.example/\r\nLocation: https://evil.com",
	} {
		h.tenant.ResetRequests()
		p := b.post("/invitations", inviteForm("redirect@fabrikam.example", func(v url.Values) { v.Set("inviteRedirectUrl", bad) }))
		must(t, p.Status == http.StatusBadRequest, "%q: status %d", bad, p.Status)
		must(t, p.Doc.Find("#inviteRedirectUrl-error").Length() == 1, "%q: no message by the field", bad)
		must(t, len(h.tenant.Requests()) == 0, "%q: Graph got %d calls", bad, len(h.tenant.Requests()))
	}
	for i, ok := range []struct{ in, want string }{
		{"https://allowed.example/path?x=1", "https://allowed.example/path?x=1"},
		{"HTTPS://Allowed.Example:443/path", "https://allowed.example/path"},
		{"https://apps.allowed.example:8443/start", "https://apps.allowed.example:8443/start"},
		{"", h.URL + "/welcome"},
	} {
		h.tenant.ResetRequests()
		p := b.post("/invitations", inviteForm(fmt.Sprintf("redirect%d@fabrikam.example", i), func(v url.Values) { v.Set("inviteRedirectUrl", ok.in) }))
		must(t, p.Status == http.StatusSeeOther, "%q: status %d %s", ok.in, p.Status, text(p, `[data-testid="alert"]`))
		bodies := invitationBodies(t, h.tenant)
		must(t, len(bodies) == 1 && bodies[0]["inviteRedirectUrl"] == ok.want, "%q reached Graph as %v", ok.in, bodies)
	}
}

func TestSec20_AddressAndCCValidation(t *testing.T) {
	t.Parallel()
	h := start(t, nil, map[string]string{"PORTICO_INVITE_QUOTA": "off"})
	b := h.browser()
	b.signIn("employee@contoso.example")
	for _, tt := range []struct{ field, value string }{
		{"invitedUserEmailAddress", "taylor@fabrikam.example\r\nBcc: victims@x.example"},
		{"invitedUserEmailAddress", "taylor@fabrikam.example\nBcc: victims@x.example"},
		{"invitedUserEmailAddress", "taylor@fabrikam.example, b@x.example"},
		{"invitedUserEmailAddress", "taylor@fabrikam.example;b@x.example"},
		{"invitedUserEmailAddress", "<taylor@fabrikam.example>"},
		{"invitedUserEmailAddress", `"a"<b@c.example>, d@e.example`},
		{"invitedUserEmailAddress", "taylor%0d%0a@fabrikam.example"},
		{"invitedUserEmailAddress", "taylor@fabrikam.example\u2028"},
		{"invitedUserEmailAddress", "taylor\u2029@fabrikam.example"},
		{"invitedUserEmailAddress", "taylor@fabrikam.example\x00"},
		{"invitedUserEmailAddress", strings.Repeat("a", 1000) + "@fabrikam.example"},
		{"invitedUserEmailAddress", "taylor@" + strings.Repeat("a", 1000) + ".example"},
		{"ccRecipient", "a@contoso.example, b@contoso.example"},
		{"ccRecipient", "a@contoso.example;b@contoso.example"},
		{"ccRecipient", "a@contoso.example\r\nBcc: b@x.example"},
		{"ccRecipient", "Megan <megan@contoso.example>"},
		{"invitedUserDisplayName", "Taylor\r\nBcc: victims@x.example"},
		{"invitedUserDisplayName", strings.Repeat("n", 10<<10)},
		{"customizedMessageBody", strings.Repeat("m", 10<<10)},
	} {
		h.tenant.ResetRequests()
		p := b.post("/invitations", inviteForm("taylor@fabrikam.example", func(v url.Values) { v.Set(tt.field, tt.value) }))
		must(t, p.Status == http.StatusBadRequest, "%s=%q: status %d", tt.field, tt.value, p.Status)
		must(t, p.Doc.Find("#"+tt.field+"-error").Length() == 1, "%s=%q: no message by the field", tt.field, tt.value)
		must(t, len(h.tenant.Requests()) == 0, "%s=%q: Graph got %d calls", tt.field, tt.value, len(h.tenant.Requests()))
	}
	h.tenant.ResetRequests()
	p := b.postJSON("/invitations", `{"invitedUserEmailAddress":"two.cc@fabrikam.example","invitedUserMessageInfo":{"ccRecipients":[{"emailAddress":{"address":"a@contoso.example"}},{"emailAddress":{"address":"b@contoso.example"}}]}}`)
	must(t, p.Status == http.StatusBadRequest && len(h.tenant.Requests()) == 0, "two cc over JSON: %d", p.Status)

	p = b.post("/invitations", inviteForm("  Taylor.Partner@Fabrikam.Example\t", func(v url.Values) { v.Set("ccRecipient", " megan@contoso.example ") }))
	must(t, p.Status == http.StatusSeeOther, "valid: %d %s", p.Status, text(p, `[data-testid="alert"]`))
	bodies := invitationBodies(t, h.tenant)
	must(t, len(bodies) == 1 && bodies[0]["invitedUserEmailAddress"] == "Taylor.Partner@Fabrikam.Example", "address sent: %v", bodies)
	mi, _ := bodies[0]["invitedUserMessageInfo"].(map[string]any)
	cc, _ := mi["ccRecipients"].([]any)
	must(t, len(cc) == 1, "ccRecipients: %v", mi["ccRecipients"])
	// Fuzz targets: invite.FuzzValidateEmail (address and cc), handlers.FuzzBindInvitationJSON (≤1 cc).
}

func TestSec21_ODataLookup(t *testing.T) {
	t.Parallel()
	// o'neil end to end with the quote doubled, and a crafted address that cannot add a clause:
	// TestDirectoryLookupNeverNamesSignInNames and TestCraftedAddressCannotChangeTheQuery. Here the
	// exact filter, and fail-closed on a failed lookup.
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	h.tenant.ResetRequests()
	p := b.post("/invitations", inviteForm("x'or'1'eq'1@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther, "crafted but valid address: %d", p.Status)
	lookups := graphRequests(h.tenant, http.MethodGet, "/v1.0/users")
	must(t, len(lookups) >= 1, "a lookup was made")
	f := lookups[0].Query.Get("$filter")
	must(t, f == graph.AddressFilter("x'or'1'eq'1@fabrikam.example"), "filter %q", f)
	must(t, strings.Count(f, " or ") == 3 && !strings.Contains(f, "'1'eq'1'"), "the address added a clause: %q", f)

	for _, status := range []int{http.StatusBadRequest, http.StatusForbidden, http.StatusInternalServerError} {
		h.tenant.ResetRequests()
		h.tenant.InjectFault(devtenant.Fault{Method: http.MethodGet, PathPrefix: "/v1.0/users", Status: status, Message: "Invalid filter clause"})
		p := b.post("/invitations", inviteForm(fmt.Sprintf("lookup%d@fabrikam.example", status)))
		h.tenant.ClearFaults()
		must(t, p.Status >= 400, "lookup %d: status %d", status, p.Status)
		must(t, strings.Contains(text(p, `[data-testid="alert"]`), "sent nothing"), "lookup %d: alert %q", status, text(p, `[data-testid="alert"]`))
		must(t, countPosts(h.tenant, "/v1.0/invitations") == 0, "lookup %d: invitation sent anyway", status)
	}
	// Fuzz target for the escaper: graph.FuzzODataString.
}

func TestSec22_OutputEncoding(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	const name = "<script>alert(1)</script>"
	raw := func(p *page) bool {
		return strings.Contains(p.Body, "<script>alert(") || strings.Contains(p.Body, "<img src=x")
	}

	p := b.post("/invitations", inviteForm("xss@fabrikam.example", func(v url.Values) {
		v.Set("invitedUserDisplayName", name)
		v.Set("customizedMessageBody", `<img src=x onerror=alert(4)> "quoted"`)
		v.Del("sendInvitationMessage")
	}))
	must(t, p.Status == http.StatusSeeOther, "invite %d", p.Status)
	res := b.get(p.Header.Get("Location"))
	must(t, !raw(res), "result page")
	join := res.Doc.Find("#join-url").AttrOr("value", "")
	detail := b.get(p.Header.Get("Location"))
	must(t, strings.Contains(detail.Body, "&lt;script&gt;alert(1)&lt;/script&gt;") && !raw(detail), "the invitation's page escapes the name")
	list := b.get("/invitations")
	must(t, strings.Contains(list.Body, "&lt;script&gt;") && !raw(list), "My invitations escapes the name")
	jp := h.browser().get(join)
	must(t, jp.Status == http.StatusOK && !raw(jp) && strings.Contains(jp.Body, "&lt;img src=x"), "join page escapes: %d", jp.Status)

	p = b.post("/invitations", inviteForm("bad address", func(v url.Values) { v.Set("invitedUserDisplayName", `"><script>alert(1)</script>`) }))
	must(t, p.Status == http.StatusBadRequest && !raw(p), "re-rendered form escapes the kept values")

	h.tenant.InjectFault(devtenant.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/invitations", Status: http.StatusBadRequest,
		Code: "BadRequest", Message: "<script>alert(2)</script> is not valid", Times: 1})
	p = b.post("/invitations", inviteForm("graph.error@fabrikam.example"))
	must(t, p.Status == http.StatusBadRequest, "graph error %d", p.Status)
	must(t, strings.Contains(p.Body, "&lt;script&gt;alert(2)&lt;/script&gt;") && !strings.Contains(p.Body, "<script>alert(2)"), "Graph's message escaped: %s", text(p, `[data-testid="alert"]`))

	cb := h.browser().get("/auth/callback?state=x&error=" + url.QueryEscape(`<script>alert(3)</script>`) + "&error_description=" + url.QueryEscape("<b>x</b>"))
	must(t, cb.Status == http.StatusForbidden && !strings.Contains(cb.Body, "<script>alert(3)") && !strings.Contains(cb.Body, "<b>x</b>"), "callback error escaped")

	admin := h.browser()
	admin.signIn("admin@contoso.example")
	audit := admin.get("/admin/audit")
	must(t, audit.Status == http.StatusOK && !raw(audit), "audit page escapes")
	// templ.Raw is banned in views by .ci/run; TestSec34_NoTokenParsing also greps for it.
}

func TestSec23_AbuseLimits(t *testing.T) {
	t.Parallel()
	t.Run("per-user invitation quota", func(t *testing.T) {
		t.Parallel()
		dsn := sqliteFile(t)
		h := start(t, nil, map[string]string{"PORTICO_INVITE_QUOTA": "2/h", "PORTICO_DATABASE_URL": dsn})
		b := h.browser()
		b.signIn("employee@contoso.example")
		for i := range 2 {
			p := b.post("/invitations", inviteForm(fmt.Sprintf("quota%d@fabrikam.example", i)))
			must(t, p.Status == http.StatusSeeOther, "invite %d: %d", i, p.Status)
		}
		p := b.post("/invitations", inviteForm("quota2@fabrikam.example"))
		must(t, p.Status == http.StatusTooManyRequests, "third: %d", p.Status)
		ra, err := time.ParseDuration(p.Header.Get("Retry-After") + "s")
		must(t, err == nil && ra > 0 && ra <= time.Hour, "Retry-After %q", p.Header.Get("Retry-After"))
		must(t, countPosts(h.tenant, "/v1.0/invitations") == 2, "Graph POSTs: %d", countPosts(h.tenant, "/v1.0/invitations"))
		evs := auditEvents(t, openStore(t, dsn), store.AuditFilter{Outcome: store.OutcomeThrottled})
		must(t, len(evs) == 1 && strings.Contains(evs[0].Detail, "quota"), "quota audit event: %+v", evs)
		// The same user from another address is still over quota; another user has a bucket of their own.
		p = b.rawPost("/invitations", inviteForm("quota3@fabrikam.example", func(v url.Values) { v.Set("_csrf", b.csrf()) }), "Origin", h.URL, "X-Forwarded-For", "198.51.100.1")
		must(t, p.Status == http.StatusTooManyRequests, "quota keyed on the user, not the address: %d", p.Status)
		o := h.browser()
		o.signIn("inviter@contoso.example")
		p = o.post("/invitations", inviteForm("quota.other@fabrikam.example"))
		must(t, p.Status == http.StatusSeeOther, "second user: %d", p.Status)
	})
	t.Run("rotating X-Forwarded-For does not reset the per-address limit", func(t *testing.T) {
		t.Parallel()
		h := start(t, nil, nil)
		b := h.browser()
		limited := 0
		for i := range 45 {
			p := b.get("/join/nope", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1), "X-Real-IP", fmt.Sprintf("198.51.100.%d", i+1))
			if p.Status == http.StatusTooManyRequests {
				limited++
				must(t, p.Header.Get("Retry-After") != "", "429 without Retry-After")
			}
		}
		must(t, limited >= 10, "join pages limited per real address: %d of 45 refused", limited)
	})
	t.Run("bodies are bounded", func(t *testing.T) {
		t.Parallel()
		h := start(t, nil, nil)
		b := h.browser()
		b.signIn("employee@contoso.example")
		h.tenant.ResetRequests()
		big := inviteForm("big@fabrikam.example", func(v url.Values) {
			v.Set("_csrf", b.csrf())
			v.Set("customizedMessageBody", strings.Repeat("m", 1<<20))
		})
		p := b.rawPost("/invitations", big, "Origin", h.URL)
		must(t, p.Status == http.StatusRequestEntityTooLarge, "1 MB form: %d", p.Status)
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/invitations", io.MultiReader(strings.NewReader(big.Encode())))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", h.URL)
		req.ContentLength = -1 // chunked: no length to check up front
		p = b.do(req)
		must(t, p.Status == http.StatusRequestEntityTooLarge, "1 MB chunked form: %d", p.Status)
		p = b.postJSON("/invitations", `{"invitedUserEmailAddress":"big@fabrikam.example","invitedUserDisplayName":"`+strings.Repeat("n", 1<<20)+`"}`)
		must(t, p.Status == http.StatusRequestEntityTooLarge, "1 MB JSON: %d", p.Status)
		p = h.browser().rawPost("/join/nope/accept", url.Values{"x": {strings.Repeat("x", 1<<20)}})
		must(t, p.Status == http.StatusRequestEntityTooLarge, "1 MB to a join link: %d", p.Status)
		must(t, len(h.tenant.Requests()) == 0, "Graph got %d calls", len(h.tenant.Requests()))
	})
}

func TestSec24_NoEnumerationOracle(t *testing.T) {
	t.Parallel()
	// Issue 10 asks the form to name why an address was refused (own domain, member, accepted or
	// pending guest), which the checklist's "same wording" would forbid; Portico follows issue 10
	// for the inviter's own Graph permissions and makes sure nothing says more than those permissions
	// allow: a lookup Graph refuses answers exactly like an unknown address. Dead join links look
	// alike: TestDeadJoinLinksLookAlike. Lookups are limited per user (limitPerUser on /invitations/check).
	h := start(t, nil, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")
	check := func(email string) string {
		p := b.get("/invitations/check?email=" + url.QueryEscape(email))
		must(t, p.Status == http.StatusOK, "check %d", p.Status)
		return p.Body
	}
	unknown := check("nobody@fabrikam.example")
	for _, status := range []int{http.StatusForbidden, http.StatusBadRequest, http.StatusInternalServerError} {
		h.tenant.InjectFault(devtenant.Fault{Method: http.MethodGet, PathPrefix: "/v1.0/users", Status: status})
		got := check("pending.guest@fabrikam.example")
		h.tenant.ClearFaults()
		must(t, got == unknown, "lookup %d answered differently from an unknown address:\n%s\n%s", status, got, unknown)
	}
	must(t, check("pending.guest@fabrikam.example") != unknown, "control: a known guest is reported to a permitted inviter")
}

// ---------------------------------------------------------------- D. Secrets, logging and audit

// fullRun drives every path that handles a secret (sign-in with token refreshes, invitations with
// and without email, reveal, join, accept, redemption, a replayed callback, sign-out) and returns
// every secret it saw plus the pages it got.
func fullRun(t *testing.T, p *idp, h *harness) (secrets map[string]string, pages []*page) {
	t.Helper()
	secrets = map[string]string{"client secret": testClientSecret}
	p.tenant.SetAccessTokenLifetime(30 * time.Second) // every Graph call refreshes
	b := h.browser()
	keep := func(pg *page) *page {
		pages = append(pages, pg)
		for _, sc := range pg.Header.Values("Set-Cookie") {
			if c, err := http.ParseSetCookie(sc); err == nil && len(c.Value) > 8 {
				secrets["cookie "+c.Name+" "+c.Value[:8]] = c.Value
			}
		}
		return pg
	}
	login := keep(b.get("/login?login_hint=employee%40contoso.example"))
	q := mustURL(login.Header.Get("Location")).Query()
	secrets["state"], secrets["nonce"] = q.Get("state"), q.Get("nonce")
	authz := b.get(login.Header.Get("Location"))
	cb := mustURL(authz.Header.Get("Location"))
	keep(b.get(cb.String()))
	keep(b.get(cb.String())) // replayed callback: refused, logged
	secrets["csrf"] = b.csrf()

	withEmail := keep(b.post("/invitations", inviteForm("leak.mail@fabrikam.example")))
	keep(b.get(withEmail.Header.Get("Location")))
	noEmail := keep(b.post("/invitations", inviteForm("leak.link@fabrikam.example", func(v url.Values) { v.Del("sendInvitationMessage") })))
	res := b.get(noEmail.Header.Get("Location"))
	redeem := res.Doc.Find("#redeem-url").AttrOr("value", "")
	join := res.Doc.Find("#join-url").AttrOr("value", "")
	must(t, strings.Contains(redeem, "ticket=") && strings.Contains(join, "/join/"), "links shown: %q %q", redeem, join)
	secrets["redeem URL"], secrets["ticket"] = redeem, mustURL(redeem).Query().Get("ticket")
	secrets["join token"] = join[strings.LastIndex(join, "/")+1:]
	keep(b.post(noEmail.Header.Get("Location")+"/reveal", nil))

	partner := h.browser()
	keep(partner.get(join))
	acc := keep(partner.post(strings.TrimPrefix(join, h.URL)+"/accept", url.Values{}))
	must(t, acc.Header.Get("Location") == redeem, "accept goes to the redemption URL")
	consent := partner.get(redeem)
	must(t, consent.Status == http.StatusOK, "redemption page %d", consent.Status)
	redeemed := partner.post(redeem, url.Values{"_csrf": {""}})
	must(t, redeemed.Status == http.StatusFound, "redeemed %d", redeemed.Status)
	keep(partner.get(redeemed.Header.Get("Location")))
	keep(b.get("/invitations"))
	keep(b.post("/logout", nil))

	for i, s := range p.issued() {
		secrets[fmt.Sprintf("token endpoint value %d", i)] = s
	}
	p.mu.Lock()
	for i, v := range p.verifiers {
		secrets[fmt.Sprintf("code verifier %d", i)] = v
	}
	p.mu.Unlock()
	return secrets, pages
}

func TestSec25_RedeemURLIsABearerSecret(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	dsn := sqliteFile(t)
	h := start(t, p.tenant, p.env(map[string]string{"PORTICO_DATABASE_URL": dsn}))
	secrets, _ := fullRun(t, p, h)
	logs := h.Logs.String()
	must(t, !strings.Contains(logs, "ticket="), "a redemption URL in the logs")
	for _, k := range []string{"ticket", "join token", "redeem URL"} {
		must(t, !strings.Contains(logs, secrets[k]), "the %s is in the logs", k)
	}
	db := openStore(t, dsn)
	evs := auditEvents(t, db, store.AuditFilter{})
	must(t, len(evs) >= 5, "audit events: %d", len(evs))
	for _, ev := range evs {
		line := fmt.Sprintf("%+v", ev)
		must(t, !strings.Contains(line, "ticket") && !strings.Contains(line, secrets["join token"]), "audit event carries a secret: %s", line)
	}
	invs, err := db.ListInvitations(context.Background(), store.InvitationFilter{Limit: 10})
	must(t, err == nil && len(invs) == 2, "invitations: %d %v", len(invs), err)
	for _, inv := range invs {
		must(t, !strings.Contains(fmt.Sprintf("%+v", inv), "ticket") && !strings.Contains(string(inv.RedeemURLSealed), "ticket"), "invitation record holds the redemption URL in clear")
	}
	// The pages that show it are POST responses or the one-time result page, with no-store and
	// no-referrer: TestInviteWithoutEmailShowsRedeemURL, TestRevealIsForInviterAndAdmins.
}

func TestSec26_NoSecretsInLogsOrPages(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	h := start(t, p.tenant, p.env(nil))
	secrets, pages := fullRun(t, p, h)
	must(t, len(secrets) > 12, "secrets collected: %d", len(secrets))
	logs := h.Logs.String()
	must(t, !strings.Contains(logs, "eyJ"), "a JWT in the logs")
	for name, s := range secrets {
		if len(s) < 8 {
			continue
		}
		must(t, !strings.Contains(logs, s), "the %s is in the logs", name)
		for _, pg := range pages {
			if name == "redeem URL" || name == "ticket" || name == "join token" || name == "csrf" {
				continue // shown on purpose to the inviter and the partner
			}
			must(t, !strings.Contains(pg.Body, s), "the %s is on the page %s", name, pg.URL.Path)
		}
	}
}

func TestSec26_RunRefusesWeakKeys(t *testing.T) {
	t.Parallel()
	tenant := newTenant(t)
	for _, tt := range []struct{ key, value, want string }{
		{"PORTICO_SESSION_KEYS", "0123456789", "at least 32"},
		{"PORTICO_DATA_KEY", base64.StdEncoding.EncodeToString([]byte("0123456789")), "32 bytes"},
		{"PORTICO_DATA_KEY", "not base64 !!", "not base64"},
		// Issue 14 item 6: low-entropy and documented keys used to start the server.
		{"PORTICO_DATA_KEY", base64.StdEncoding.EncodeToString(make([]byte, 32)), "same value"},
		{"PORTICO_SESSION_KEYS", strings.Repeat("x", 40), "repeats one character"},
		{"PORTICO_DATA_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "example key"},
		{"PORTICO_SESSION_KEYS", "shared-session-key-0123456789abcdef0123", "example key"},
	} {
		env := baseEnv(tenant, "127.0.0.1:1")
		env[tt.key] = tt.value
		var out syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, &out, &out)
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
			t.Fatalf("%s=%q: the server started:\n%s", tt.key, tt.value, out.String())
		}
		cancel()
		must(t, err != nil, "%s=%q: run started", tt.key, tt.value)
		must(t, !strings.Contains(out.String(), "Portico is running"), "%s=%q: the server started", tt.key, tt.value)
		must(t, strings.Contains(err.Error(), tt.key) && strings.Contains(err.Error(), tt.want) && strings.Contains(err.Error(), "openssl rand -base64 32"),
			"%s: unclear message: %v", tt.key, err)
		must(t, !strings.Contains(err.Error(), tt.value) && !strings.Contains(err.Error(), testClientSecret), "the message repeats a secret: %v", err)
	}
	// A panic becomes a generic 500 page: handlers.TestRecoverPanicsGenericPage.
}

func TestSec27_AuditTrail(t *testing.T) {
	t.Parallel()
	dsn := sqliteFile(t)
	h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": dsn})
	b := h.browser()
	b.signIn("employee@contoso.example")
	before := time.Now().UTC().Add(-time.Second)
	p := b.post("/invitations", inviteForm("Audit.Me@Fabrikam.Example", func(v url.Values) { v.Set("invitedUserDisplayName", `Ann "Audit"`) }))
	must(t, p.Status == http.StatusSeeOther, "invite %d", p.Status)
	db := openStore(t, dsn)
	evs := auditEvents(t, db, store.AuditFilter{Action: "invitation.create"})
	must(t, len(evs) == 1, "one record per attempt: %d", len(evs))
	ev := evs[0]
	u, _ := h.tenant.UserByMail("audit.me@fabrikam.example")
	posts := graphRequests(h.tenant, http.MethodPost, "/v1.0/invitations")
	must(t, len(posts) == 1, "one POST")
	must(t, ev.Time.Location() == time.UTC && !ev.Time.Before(before) && ev.Time.Before(time.Now().Add(time.Second)), "UTC time %v", ev.Time)
	must(t, ev.ActorTID == h.tenant.TenantID() && ev.ActorOID != "" && ev.ActorUPN == "employee@contoso.example", "actor %+v", ev)
	must(t, ev.Target == "audit.me@fabrikam.example" && ev.Outcome == store.OutcomeCreated, "target/outcome %+v", ev)
	must(t, ev.GraphRequestID == posts[0].RequestID, "Graph request-id %q, want %q", ev.GraphRequestID, posts[0].RequestID)
	must(t, ev.ClientIP == "127.0.0.1" && ev.RequestID != "", "client %q request %q", ev.ClientIP, ev.RequestID)
	var d map[string]any
	must(t, json.Unmarshal([]byte(ev.Detail), &d) == nil, "detail is JSON: %s", ev.Detail)
	must(t, d["graphUserId"] == u.ID && d["effectiveType"] == "Guest" && d["hasCC"] == true && d["displayName"] == `Ann "Audit"` && d["redirectHost"] != nil,
		"detail %v (user %s)", d, u.ID)

	// Log injection: a line break is refused; quotes stay inside their JSON string.
	p = b.post("/invitations", inviteForm("forged@fabrikam.example", func(v url.Values) { v.Set("invitedUserDisplayName", "x\n{\"forged\":true}") }))
	must(t, p.Status == http.StatusBadRequest, "line break in the name: %d", p.Status)
	must(t, len(auditEvents(t, db, store.AuditFilter{Target: "forged@fabrikam.example"})) == 0, "no record for refused input")
	const sly = `x","forged":true,"y":"`
	p = b.post("/invitations", inviteForm("sly@fabrikam.example", func(v url.Values) { v.Set("invitedUserDisplayName", sly) }))
	must(t, p.Status == http.StatusSeeOther, "quotes in the name: %d", p.Status)
	sev := auditEvents(t, db, store.AuditFilter{Target: "sly@fabrikam.example"})
	must(t, len(sev) == 1, "one record: %d", len(sev))
	d = nil
	must(t, json.Unmarshal([]byte(sev[0].Detail), &d) == nil && d["displayName"] == sly && d["forged"] == nil, "detail %s", sev[0].Detail)
	b.get("/%0a%7B%22forged%22:true%7D")
	for _, line := range strings.Split(h.Logs.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		must(t, json.Unmarshal([]byte(line), &m) == nil, "a log line is not one JSON object: %q", line)
		must(t, m["forged"] == nil, "forged log field: %q", line)
	}
	// A denied Member attempt leaves a "denied" record: TestSec17_MassAssignment.
}

func TestSec28_KeyRotationAndSharedStore(t *testing.T) {
	t.Parallel()
	tenant := newTenant(t)
	dsn := sqliteFile(t)
	const k1, k2 = "session-key-one-0123456789abcdef0123", "session-key-two-0123456789abcdef0123"
	a := start(t, tenant, map[string]string{"PORTICO_DATABASE_URL": dsn, "PORTICO_SESSION_KEYS": k1})
	b := a.browser()
	b.signIn("employee@contoso.example")
	// The browser's jar sends the cookie to every instance on 127.0.0.1 (cookies ignore ports).
	for _, tt := range []struct {
		name, keys string
		ok         bool
	}{
		{"second instance, same key", k1, true},
		{"rotated: new key first, old still verifies", k2 + "," + k1, true},
		{"old key retired", k2, false},
	} {
		other := start(t, tenant, map[string]string{"PORTICO_DATABASE_URL": dsn, "PORTICO_SESSION_KEYS": tt.keys})
		b.h = other
		must(t, b.signedIn() == tt.ok, "%s: signed in = %v", tt.name, !tt.ok)
	}
	// Expiry after the maximum lifetime: TestSec10_RefreshOnceFailClosedAbsoluteLifetime.
}

func TestSec29_Throttling(t *testing.T) {
	t.Parallel()
	dsn := sqliteFile(t)
	h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": dsn})
	b := h.browser()
	b.signIn("employee@contoso.example")
	db := openStore(t, dsn)
	try := func(email string, f devtenant.Fault) (*page, int, time.Duration) {
		h.tenant.ResetRequests()
		f.Method, f.PathPrefix = http.MethodPost, "/v1.0/invitations"
		h.tenant.InjectFault(f)
		defer h.tenant.ClearFaults()
		begin := time.Now()
		p := b.post("/invitations", inviteForm(email))
		return p, countPosts(h.tenant, "/v1.0/invitations"), time.Since(begin)
	}
	outcome := func(email string) string {
		evs := auditEvents(t, db, store.AuditFilter{Target: email, Action: "invitation.create"})
		must(t, len(evs) == 1, "%s: %d audit events", email, len(evs))
		return evs[0].Outcome
	}

	p, posts, took := try("throttled.once@fabrikam.example", devtenant.Fault{Status: 429, RetryAfter: "1", Times: 1})
	must(t, p.Status == http.StatusSeeOther && posts == 2 && took >= time.Second, "429 then 201: %d, %d POSTs, %s", p.Status, posts, took)

	p, posts, took = try("throttled.long@fabrikam.example", devtenant.Fault{Status: 429, RetryAfter: "3600"})
	must(t, p.Status == http.StatusTooManyRequests && p.Header.Get("Retry-After") == "3600", "long Retry-After: %d %q", p.Status, p.Header.Get("Retry-After"))
	must(t, posts == 1 && took < 5*time.Second, "no hour-long wait: %d POSTs in %s", posts, took)
	must(t, strings.Contains(strings.ToLower(text(p, `[data-testid="alert"]`)), "busy"), "tells the user Graph is busy: %q", text(p, `[data-testid="alert"]`))
	must(t, outcome("throttled.long@fabrikam.example") == store.OutcomeThrottled, "audited as throttled")

	p, posts, _ = try("bad.request@fabrikam.example", devtenant.Fault{Status: 400, Times: 1})
	must(t, p.Status == http.StatusBadRequest && posts == 1, "400 is not retried: %d, %d POSTs", p.Status, posts)

	p, posts, _ = try("unavailable@fabrikam.example", devtenant.Fault{Status: 503, RetryAfter: "1"})
	must(t, p.Status >= 500 && posts == 5, "503 until the retries are spent: %d, %d POSTs (1 + 4 retries)", p.Status, posts)
	must(t, outcome("unavailable@fabrikam.example") == store.OutcomeFailed, "audited as failed")
	// Backoff without Retry-After, the cumulative cap and context cancellation: graph package tests.
}

func TestSec30_Timeouts(t *testing.T) {
	t.Parallel()
	// Portico has no setting for the Graph timeout (30 s, graph.WithTimeout's default), so a slow
	// Graph is tested at the client with the option main.go would use.
	tenant := newTenant(t)
	tok, err := tenant.AccessTokenFor("employee@contoso.example")
	must(t, err == nil, "token: %v", err)
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"})
	gc := graph.NewClient(tenant.URL(), &http.Client{}, graph.WithTimeout(300*time.Millisecond))
	tenant.InjectFault(devtenant.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/invitations", Delay: 5 * time.Second})
	begin := time.Now()
	_, err = gc.CreateInvitation(context.Background(), ts, &graph.Invitation{InvitedUserEmailAddress: "slow@fabrikam.example", InviteRedirectURL: "https://myapps.microsoft.com"})
	took := time.Since(begin)
	must(t, errors.Is(err, graph.ErrUncertain), "a timed-out POST is uncertain, not retried: %v", err)
	must(t, took < 2*time.Second, "returned after %s", took)
	must(t, len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations")) <= 1, "the POST was sent again")

	// Inbound: run's http.Server sets every timeout (slowloris needs ReadHeaderTimeout; a raw-TCP
	// test would take its 10 s). Checked on the source rather than by waiting.
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", nil, 0)
	must(t, err == nil, "parse main.go: %v", err)
	fields := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		cl, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		if sel, ok := cl.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Server" {
			for _, e := range cl.Elts {
				if kv, ok := e.(*ast.KeyValueExpr); ok {
					fields[kv.Key.(*ast.Ident).Name] = true
				}
			}
		}
		return true
	})
	for _, k := range []string{"ReadHeaderTimeout", "ReadTimeout", "WriteTimeout", "IdleTimeout", "MaxHeaderBytes"} {
		must(t, fields[k], "main.go's http.Server lacks %s", k)
	}
	// Request bodies: TestSec23_AbuseLimits/bodies_are_bounded (413, no Graph call).
}

// ---------------------------------------------------------------- E. Reliability of Graph calls

func TestSec31_Idempotency(t *testing.T) {
	t.Parallel()
	dsn := sqliteFile(t)
	h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": dsn})
	b := h.browser()
	b.signIn("employee@contoso.example")

	h.tenant.ResetRequests()
	h.tenant.InjectFault(devtenant.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/invitations", DropConnection: true, Times: 1})
	p := b.post("/invitations", inviteForm("dropped@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther, "lost answer, confirmed by lookup: %d %s", p.Status, text(p, `[data-testid="alert"]`))
	reqs := h.tenant.Requests()
	posts, lookupsAfter := 0, 0
	for _, r := range reqs {
		switch {
		case r.Method == http.MethodPost && r.Path == "/v1.0/invitations":
			posts++
		case posts > 0 && r.Method == http.MethodGet && r.Path == "/v1.0/users":
			lookupsAfter++
		}
	}
	must(t, posts == 1 && lookupsAfter == 1, "%d POSTs and %d lookups after it, want 1 and 1", posts, lookupsAfter)
	evs := auditEvents(t, openStore(t, dsn), store.AuditFilter{Target: "dropped@fabrikam.example"})
	must(t, len(evs) == 1 && evs[0].Outcome == store.OutcomeCreated && strings.Contains(evs[0].Detail, "confirmed by lookup"), "recorded as created by lookup: %+v", evs)

	// The same invitee typed differently, and a double submit, send nothing the second time.
	h.tenant.ResetRequests()
	first := b.post("/invitations", inviteForm("Alice@Fabrikam.Example "))
	must(t, first.Status == http.StatusSeeOther, "first %d", first.Status)
	for _, again := range []string{"alice@fabrikam.example", "Alice@Fabrikam.Example "} {
		p := b.post("/invitations", inviteForm(again))
		must(t, p.Status == http.StatusConflict, "%q again: %d", again, p.Status)
		must(t, p.Doc.Find(`[data-testid="resend-offer"]`).Length() == 1, "a deliberate resend is offered instead")
	}
	must(t, countPosts(h.tenant, "/v1.0/invitations") == 1, "Graph POSTs: %d", countPosts(h.tenant, "/v1.0/invitations"))
}

// Item 32: not applicable because bulk invitation jobs are not built yet (design.md: "(later) bulk_jobs");
// graceful shutdown of run is exercised by every test's cleanup (run returns nil after Shutdown).

// Item 33: partly applicable because the scopes are Portico's to choose but the grant is the tenant's; no strict mode.
func TestSec33_LeastPrivilegeScopes(t *testing.T) {
	t.Parallel()
	// Partly applicable: Portico asks for exactly its scopes and warns when more is granted; it has
	// no strict mode that refuses to start, since the grant is the tenant admin's decision.
	p := newIDP(t)
	h := start(t, p.tenant, p.env(nil))
	b := h.browser()
	scope := mustURL(b.get("/login").Header.Get("Location")).Query().Get("scope")
	want := "openid profile email offline_access https://graph.microsoft.com/User.Read https://graph.microsoft.com/User.Invite.All https://graph.microsoft.com/User.Read.All"
	must(t, scope == want, "scope %q, want %q", scope, want)
	p.mu.Lock()
	p.scopeRewrite = func(s string) string { return s + " https://graph.microsoft.com/Directory.ReadWrite.All" }
	p.mu.Unlock()
	b.signIn("employee@contoso.example")
	must(t, strings.Contains(h.Logs.String(), "broader Graph permission") && strings.Contains(h.Logs.String(), "Directory.ReadWrite.All"), "no warning about an excess grant")
}

func TestSec34_NoTokenParsing(t *testing.T) {
	t.Parallel()
	// Graph access tokens are opaque to Portico: no JWT library outside devtenant, no skipped checks.
	banned := []string{
		"Skip" + "SignatureCheck", "Insecure" + "Skip" + "Signature", "Skip" + "IssuerCheck", "Skip" + "ClientIDCheck",
		"Skip" + "ExpiryCheck", "Parse" + "Insecure", "Unsafe" + "ClaimsWithoutVerification", "golang-" + "jwt", "go-jose/" + "go-jose",
		"jwt." + "Parse", "ParseSigned" + "(", "templ." + "Raw(",
	}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "devtenant" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".templ")) {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range banned {
			if strings.Contains(string(src), s) {
				t.Errorf("%s uses %s", path, s)
			}
		}
		if strings.Contains(string(src), "AccessToken, \".\")") {
			t.Errorf("%s splits an access token", path)
		}
		return nil
	})
	must(t, err == nil, "walk: %v", err)
	// Role decisions come only from the verified ID token: TestSec05_IdentityByImmutableClaims
	// (an admin whose ID token lacks wids is no admin, though the access token has them).
}
