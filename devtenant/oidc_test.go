package devtenant

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func TestDiscoveryAndKeys(t *testing.T) {
	tn := startTenant(t)
	resp, err := http.Get(tn.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	oauth := tn.URL() + "/" + tn.TenantID() + "/oauth2/v2.0"
	want := map[string]any{
		"issuer":                 tn.URL() + "/" + DefaultTenantID + "/v2.0",
		"authorization_endpoint": oauth + "/authorize",
		"token_endpoint":         oauth + "/token",
		"end_session_endpoint":   oauth + "/logout",
		"jwks_uri":               tn.URL() + "/" + tn.TenantID() + "/discovery/v2.0/keys",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	for k, v := range map[string]string{"response_types_supported": "code", "id_token_signing_alg_values_supported": "RS256", "code_challenge_methods_supported": "S256"} {
		if l, _ := doc[k].([]any); len(l) != 1 || l[0] != v {
			t.Errorf("%s = %v, want [%s]", k, doc[k], v)
		}
	}
	for _, k := range []string{"scopes_supported", "claims_supported"} {
		if l, _ := doc[k].([]any); len(l) == 0 {
			t.Errorf("%s missing", k)
		}
	}

	resp, err = http.Get(doc["jwks_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if len(jwks.Keys) != 1 {
		t.Fatalf("keys: %v", jwks.Keys)
	}
	k := jwks.Keys[0]
	if k["kty"] != "RSA" || k["use"] != "sig" || k["kid"] == "" || k["kid"] != k["x5t"] || len(k["n"].(string)) != 342 {
		t.Errorf("key %v", k)
	}

	r := httptestGet(t, tn.URL()+"/common/v2.0/.well-known/openid-configuration")
	if r != http.StatusBadRequest {
		t.Errorf("another tenant's discovery: %d", r)
	}
}

func httptestGet(t *testing.T, u string) int {
	t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCodeFlowWithPKCE(t *testing.T) {
	tn := startTenant(t)
	r := newRP(t, tn)
	tok, err := r.exchange(r.code("admin@contoso.example"))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.AccessToken == "" {
		t.Fatalf("token %+v", tok)
	}
	if got := tok.Extra("expires_in"); got != float64(3599) {
		t.Errorf("expires_in = %v", got)
	}
	wantScope := "email openid profile https://graph.microsoft.com/User.Invite.All https://graph.microsoft.com/User.Read https://graph.microsoft.com/User.Read.All"
	if got := tok.Extra("scope"); got != wantScope {
		t.Errorf("scope = %q", got)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := r.provider.Verifier(&oidc.Config{ClientID: tn.ClientID()}).Verify(context.Background(), rawID)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	var c struct {
		Nonce, Tid, Oid, Name, PreferredUsername, Email, Ver string
		Wids                                                 []string
	}
	var raw map[string]any
	_ = idt.Claims(&raw)
	_ = idt.Claims(&struct {
		Nonce             *string   `json:"nonce"`
		Tid               *string   `json:"tid"`
		Oid               *string   `json:"oid"`
		Name              *string   `json:"name"`
		PreferredUsername *string   `json:"preferred_username"`
		Email             *string   `json:"email"`
		Ver               *string   `json:"ver"`
		Wids              *[]string `json:"wids"`
	}{&c.Nonce, &c.Tid, &c.Oid, &c.Name, &c.PreferredUsername, &c.Email, &c.Ver, &c.Wids})
	if c.Nonce != r.nonce || c.Tid != tn.TenantID() || c.Oid != StableID("admin@contoso.example") || c.Name != "Avery Admin" ||
		c.PreferredUsername != "admin@contoso.example" || c.Email != "admin@contoso.example" || c.Ver != "2.0" ||
		!slices.Equal(c.Wids, []string{RoleUserAdministrator}) {
		t.Errorf("claims %+v", c)
	}
	for _, k := range []string{"iss", "aud", "exp", "iat", "nbf", "sub"} {
		if raw[k] == nil {
			t.Errorf("ID token lacks %s", k)
		}
	}
	if idt.Subject == c.Oid {
		t.Error("sub must be pairwise, not the oid")
	}

	// The access token is for Graph, with the delegated scopes as short names.
	claims, err := verifyJWT(tn.keys, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claimString(claims, "aud") != GraphAudience || claimString(claims, "scp") != "User.Invite.All User.Read User.Read.All email openid profile" ||
		claimString(claims, "upn") != "admin@contoso.example" || claimString(claims, "tid") != tn.TenantID() {
		t.Errorf("access token claims %v", claims)
	}
	if exp, _ := claimInt(claims, "exp"); time.Until(time.Unix(exp, 0)) < 59*time.Minute {
		t.Errorf("access token lifetime too short: %v", time.Until(time.Unix(exp, 0)))
	}
	// And Graph accepts it.
	if g := graphCallT(t, tn, "GET", "/v1.0/me", tok.AccessToken, nil); g.Status != http.StatusOK {
		t.Errorf("/me with the fresh token: %d %s", g.Status, g.Body)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	tn := startTenant(t, func(o *Options) { o.RedirectURIs = []string{"https://portico.example/auth/callback"} })
	r := newRP(t, tn)
	authz := tn.URL() + "/" + tn.TenantID() + "/oauth2/v2.0/authorize"
	base := func() url.Values {
		return url.Values{
			"client_id": {tn.ClientID()}, "redirect_uri": {testRedirect}, "response_type": {"code"},
			"scope": {"openid profile offline_access"}, "state": {"st"}, "nonce": {"n"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(r.verifier)}, "code_challenge_method": {"S256"},
			"login_hint": {"employee@contoso.example"},
		}
	}
	tests := []struct {
		name      string
		edit      func(url.Values)
		wantError string // error= on the redirect; "" with page > 0 means an error page
		page      int
	}{
		{"missing PKCE", func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, "invalid_request", 0},
		{"plain PKCE", func(v url.Values) { v.Set("code_challenge", r.verifier[:43]); v.Set("code_challenge_method", "plain") }, "invalid_request", 0},
		{"challenge without method", func(v url.Values) { v.Del("code_challenge_method") }, "invalid_request", 0},
		{"short challenge", func(v url.Values) { v.Set("code_challenge", "abc") }, "invalid_request", 0},
		{"no openid", func(v url.Values) { v.Set("scope", "profile") }, "invalid_scope", 0},
		{"unknown scope", func(v url.Values) { v.Set("scope", "openid https://graph.microsoft.com/Calendars.ReadWrite") }, "invalid_scope", 0},
		{"implicit flow", func(v url.Values) { v.Set("response_type", "id_token") }, "unsupported_response_type", 0},
		{"fragment mode", func(v url.Values) { v.Set("response_mode", "fragment") }, "invalid_request", 0},
		{"silent without session", func(v url.Values) { v.Del("login_hint"); v.Set("prompt", "none") }, "login_required", 0},
		{"unregistered redirect", func(v url.Values) { v.Set("redirect_uri", "https://evil.example/auth/callback") }, "", http.StatusBadRequest},
		{"loopback wrong path", func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:9/evil") }, "", http.StatusBadRequest},
		{"https loopback", func(v url.Values) { v.Set("redirect_uri", "https://127.0.0.1:9/auth/callback") }, "", http.StatusBadRequest},
		{"unknown client", func(v url.Values) { v.Set("client_id", "someone-else") }, "", http.StatusBadRequest},
		{"missing redirect with one registered", func(v url.Values) { v.Del("redirect_uri") }, "ok:https://portico.example/auth/callback", 0},
		{"registered exact redirect", func(v url.Values) { v.Set("redirect_uri", "https://portico.example/auth/callback") }, "ok:https://portico.example/auth/callback", 0},
		{"localhost loopback", func(v url.Values) { v.Set("redirect_uri", "http://localhost:41234/auth/callback") }, "ok:http://localhost:41234/auth/callback", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base()
			tt.edit(v)
			resp, err := noRedirect.Get(authz + "?" + v.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tt.page != 0 {
				if resp.StatusCode != tt.page || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "AADSTS") {
					t.Fatalf("want an error page %d without redirect, got %d %q", tt.page, resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			q := loc.Query()
			if dest, ok := strings.CutPrefix(tt.wantError, "ok:"); ok {
				if q.Get("code") == "" || !strings.HasPrefix(loc.String(), dest+"?") {
					t.Fatalf("want a code at %s, got %s", dest, loc)
				}
				return
			}
			if q.Get("error") != tt.wantError || !strings.HasPrefix(q.Get("error_description"), "AADSTS") || q.Get("state") != "st" || q.Get("code") != "" {
				t.Fatalf("redirect %s", loc)
			}
		})
	}
}

func TestAccountPicker(t *testing.T) {
	tn := startTenant(t)
	r := newRP(t, tn)
	for _, u := range []string{r.authURL(), r.authURL(oauth2.SetAuthURLParam("login_hint", "admin@contoso.example"), oauth2.SetAuthURLParam("prompt", "select_account"))} {
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("picker: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		page := string(body)
		if n := strings.Count(page, `data-testid="account"`); n != 3 {
			t.Errorf("picker shows %d accounts, want 3", n)
		}
		for _, want := range []string{`method="post"`, `name="code_challenge"`, "Erin Employee", "Avery Admin", "Ines Inviter", "<main>", "<h1"} {
			if !strings.Contains(page, want) {
				t.Errorf("picker lacks %q", want)
			}
		}
		if strings.Contains(page, "<script") || strings.Contains(page, "src=") || strings.Contains(page, "<link") {
			t.Error("the picker must be self-contained")
		}
	}
	// Submitting the picker's form signs the chosen account in.
	au, _ := url.Parse(r.authURL())
	form := au.Query()
	form.Set("account", "inviter@contoso.example")
	resp, err := noRedirect.PostForm(au.Scheme+"://"+au.Host+au.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("picker post: %d %s", resp.StatusCode, loc)
	}
	tok, err := r.exchange(loc.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := r.provider.Verifier(&oidc.Config{ClientID: tn.ClientID()}).Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		UPN  string   `json:"preferred_username"`
		Wids []string `json:"wids"`
	}
	_ = idt.Claims(&c)
	if c.UPN != "inviter@contoso.example" || !slices.Equal(c.Wids, []string{RoleGuestInviter}) {
		t.Errorf("signed in as %+v", c)
	}
	// A guest cannot sign in here: the hint shows the picker instead.
	resp, err = noRedirect.Get(r.authURL(oauth2.SetAuthURLParam("login_hint", "pending.guest@fabrikam.example")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("guest hint: %d", resp.StatusCode)
	}
}

func TestTokenRefusals(t *testing.T) {
	clock := newClock()
	tn := startTenant(t, withClock(clock))
	tests := []struct {
		name       string
		run        func(r *rp) (int, map[string]any)
		wantStatus int
		wantError  string
		wantCode   float64
	}{
		{"code reuse", func(r *rp) (int, map[string]any) {
			code := r.code("employee@contoso.example")
			if _, err := r.exchange(code); err != nil {
				t.Fatal(err)
			}
			return tokenForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect},
				"code_verifier": {r.verifier}, "client_id": {tn.ClientID()}, "client_secret": {testSecret}})
		}, 400, "invalid_grant", 54005},
		{"wrong verifier", func(r *rp) (int, map[string]any) {
			return tokenForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {r.code("employee@contoso.example")}, "redirect_uri": {testRedirect},
				"code_verifier": {oauth2.GenerateVerifier()}, "client_id": {tn.ClientID()}, "client_secret": {testSecret}})
		}, 400, "invalid_grant", 501481},
		{"missing verifier", func(r *rp) (int, map[string]any) {
			return tokenForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {r.code("employee@contoso.example")}, "redirect_uri": {testRedirect},
				"client_id": {tn.ClientID()}, "client_secret": {testSecret}})
		}, 400, "invalid_grant", 501481},
		{"other redirect uri", func(r *rp) (int, map[string]any) {
			return tokenForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {r.code("employee@contoso.example")}, "redirect_uri": {"http://127.0.0.1:10/auth/callback"},
				"code_verifier": {r.verifier}, "client_id": {tn.ClientID()}, "client_secret": {testSecret}})
		}, 400, "invalid_grant", 500112},
		{"expired code", func(r *rp) (int, map[string]any) {
			code := r.code("employee@contoso.example")
			clock.Add(6 * time.Minute)
			return tokenForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect},
				"code_verifier": {r.verifier}, "client_id": {tn.ClientID()}, "client_secret": {testSecret}})
		}, 400, "invalid_grant", 70008},
		{"unknown code", func(r *rp) (int, map[string]any) {
			return tokenForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {testRedirect},
				"code_verifier": {r.verifier}, "client_id": {tn.ClientID()}, "client_secret": {testSecret}})
		}, 400, "invalid_grant", 9002313},
		{"wrong secret in body", func(r *rp) (int, map[string]any) {
			return tokenForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {r.code("employee@contoso.example")}, "redirect_uri": {testRedirect},
				"code_verifier": {r.verifier}, "client_id": {tn.ClientID()}, "client_secret": {"wrong"}})
		}, 401, "invalid_client", 7000215},
		{"wrong secret in basic auth", func(r *rp) (int, map[string]any) {
			return tokenForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {r.code("employee@contoso.example")}, "redirect_uri": {testRedirect},
				"code_verifier": {r.verifier}}, tn.ClientID(), "wrong")
		}, 401, "invalid_client", 7000215},
		{"no secret", func(r *rp) (int, map[string]any) {
			return tokenForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {tn.ClientID()}})
		}, 401, "invalid_client", 7000218},
		{"unsupported grant", func(r *rp) (int, map[string]any) {
			return tokenForm(t, tn, url.Values{"grant_type": {"password"}, "client_id": {tn.ClientID()}, "client_secret": {testSecret}})
		}, 400, "unsupported_grant_type", 70003},
		{"client credentials without .default", func(r *rp) (int, map[string]any) {
			return tokenForm(t, tn, url.Values{"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/User.Read.All"}, "client_id": {tn.ClientID()}, "client_secret": {testSecret}})
		}, 400, "invalid_scope", 1002012},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.run(newRP(t, tn))
			codes, _ := body["error_codes"].([]any)
			desc, _ := body["error_description"].(string)
			if status != tt.wantStatus || body["error"] != tt.wantError || len(codes) != 1 || codes[0] != tt.wantCode ||
				!strings.HasPrefix(desc, "AADSTS") || body["trace_id"] == nil || body["correlation_id"] == nil || body["timestamp"] == nil {
				t.Fatalf("got %d %v", status, body)
			}
		})
	}
	// A code survives a failed attempt by nobody: wrong client secret is refused before the code is looked at.
	r := newRP(t, tn)
	code := r.code("employee@contoso.example")
	tokenForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {tn.ClientID()}, "client_secret": {"wrong"}})
	if _, err := r.exchange(code); err != nil {
		t.Errorf("the code should still work after a bad-secret attempt: %v", err)
	}
}

func TestRefreshRotationAndRevocation(t *testing.T) {
	tn := startTenant(t)
	r := newRP(t, tn)
	first, err := r.exchange(r.code("employee@contoso.example"))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string) (*oauth2.Token, error) {
		return r.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
	}
	second, err := refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh must rotate the refresh token and issue a new access token")
	}
	if second.Extra("id_token") == nil || second.Extra("scope") != first.Extra("scope") {
		t.Errorf("refresh response: id_token %v scope %v", second.Extra("id_token") != nil, second.Extra("scope"))
	}
	wantGrant := func(err error, code float64) {
		t.Helper()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
			t.Fatalf("want invalid_grant, got %v", err)
		}
		var body map[string]any
		_ = json.Unmarshal(re.Body, &body)
		if c, _ := body["error_codes"].([]any); len(c) != 1 || c[0] != code {
			t.Fatalf("error_codes %v", body["error_codes"])
		}
	}
	_, err = refresh(first.RefreshToken)
	wantGrant(err, 70000)

	tn.RevokeRefreshTokens("employee@contoso.example")
	_, err = refresh(second.RefreshToken)
	wantGrant(err, 50173)

	// A new sign-in after revocation works again.
	r2 := newRP(t, tn)
	third, err := r2.exchange(r2.code("employee@contoso.example"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(third.RefreshToken); err != nil {
		t.Errorf("refresh after a fresh sign-in: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	tn := startTenant(t)
	old := tn.KeyIDs()
	before := accessToken(t, tn, "employee@contoso.example")
	tn.RotateSigningKey()
	kids := tn.KeyIDs()
	if len(kids) != 2 || kids[1] != old[0] || kids[0] == old[0] {
		t.Fatalf("kids %v, old %v", kids, old)
	}
	resp, err := http.Get(tn.URL() + "/" + tn.TenantID() + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if len(jwks.Keys) != 2 || jwks.Keys[0].Kid != kids[0] || jwks.Keys[1].Kid != kids[1] {
		t.Fatalf("JWKS %+v", jwks)
	}
	r := newRP(t, tn)
	tok, err := r.exchange(r.code("employee@contoso.example"))
	if err != nil {
		t.Fatal(err)
	}
	idt := tok.Extra("id_token").(string)
	var hdr struct {
		Kid string `json:"kid"`
	}
	hb, _ := base64URLDecode(strings.Split(idt, ".")[0])
	_ = json.Unmarshal(hb, &hdr)
	if hdr.Kid != kids[0] {
		t.Errorf("new tokens must be signed by the new key: %s", hdr.Kid)
	}
	if _, err := r.provider.Verifier(&oidc.Config{ClientID: tn.ClientID()}).Verify(context.Background(), idt); err != nil {
		t.Errorf("verify after rotation: %v", err)
	}
	if g := graphCallT(t, tn, "GET", "/v1.0/organization", before, nil); g.Status != http.StatusOK {
		t.Errorf("a token signed by the old key must still work: %d", g.Status)
	}
}

func TestTamperedAndUnknownKeyIDTokens(t *testing.T) {
	tn := startTenant(t)
	r := newRP(t, tn)
	v := r.provider.Verifier(&oidc.Config{ClientID: tn.ClientID()})

	tn.TamperNextIDToken(func(c map[string]any) { c["nonce"] = "forged"; c["tid"] = "other" })
	tok, err := r.exchange(r.code("employee@contoso.example"))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := v.Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	if idt.Nonce != "forged" {
		t.Errorf("tamper not applied: nonce %q", idt.Nonce)
	}

	tn.SignNextIDTokenWithUnknownKey()
	r2 := newRP(t, tn)
	tok, err = r2.exchange(r2.code("employee@contoso.example"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok.Extra("id_token").(string)); err == nil {
		t.Error("a token signed by an unknown key must not verify")
	}
	// Only the next one: the following sign-in is normal again.
	r3 := newRP(t, tn)
	tok, err = r3.exchange(r3.code("employee@contoso.example"))
	if err != nil {
		t.Fatal(err)
	}
	if idt, err := v.Verify(context.Background(), tok.Extra("id_token").(string)); err != nil || idt.Nonce != r3.nonce {
		t.Errorf("following sign-in: %v", err)
	}
}

func TestClientCredentials(t *testing.T) {
	tn := startTenant(t)
	conf := oauth2ClientCredentials(tn)
	tok, err := conf.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verifyJWT(tn.keys, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claimString(claims, "idtyp") != "app" || !slices.Contains(claimStrings(claims, "roles"), "User.Invite.All") || claims["scp"] != nil {
		t.Errorf("app token %v", claims)
	}
	if g := graphCallT(t, tn, "GET", "/v1.0/users?$select=id", tok.AccessToken, nil); g.Status != http.StatusOK {
		t.Errorf("app reads users: %d", g.Status)
	}
	if g := graphCallT(t, tn, "GET", "/v1.0/me", tok.AccessToken, nil); g.Status != http.StatusBadRequest {
		t.Errorf("/me with an app token: %d", g.Status)
	}
	g := graphCallT(t, tn, "POST", "/v1.0/invitations", tok.AccessToken, invite("app.guest@fabrikam.example", nil))
	if g.Status != http.StatusCreated {
		t.Errorf("app invites: %d %s", g.Status, g.Body)
	}
}

func TestLogout(t *testing.T) {
	tn := startTenant(t, func(o *Options) { o.PostLogoutRedirectURIs = []string{"https://portico.example/signed-out"} })
	r := newRP(t, tn)
	tok, err := r.exchange(r.code("employee@contoso.example"))
	if err != nil {
		t.Fatal(err)
	}
	end := tn.URL() + "/" + tn.TenantID() + "/oauth2/v2.0/logout?"
	tests := []struct {
		name    string
		q       url.Values
		status  int
		wantLoc string
	}{
		{"registered", url.Values{"post_logout_redirect_uri": {"https://portico.example/signed-out"}, "state": {"s1"}, "id_token_hint": {tok.Extra("id_token").(string)}}, 302, "https://portico.example/signed-out?state=s1"},
		{"loopback any port", url.Values{"post_logout_redirect_uri": {"http://127.0.0.1:8080/signed-out"}}, 302, "http://127.0.0.1:8080/signed-out"},
		{"unregistered", url.Values{"post_logout_redirect_uri": {"https://evil.example/"}}, 400, ""},
		{"forged hint", url.Values{"post_logout_redirect_uri": {"https://portico.example/signed-out"}, "id_token_hint": {"a.b.c"}}, 400, ""},
		{"no redirect", url.Values{}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := noRedirect.Get(end + tt.q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.wantLoc {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if tt.status == 200 && !strings.Contains(string(body), "You signed out") {
				t.Errorf("signed-out page: %s", body)
			}
		})
	}
}

func TestWriteSettingsAndAccounts(t *testing.T) {
	tn := startTenant(t)
	var b strings.Builder
	tn.WriteSettings(&b)
	want := "PORTICO_AUTHORITY=" + tn.URL() + "\nPORTICO_TENANT_ID=" + DefaultTenantID + "\nPORTICO_CLIENT_ID=portico-demo\n" +
		"PORTICO_CLIENT_SECRET='" + testSecret + "'\nPORTICO_GRAPH_URL=" + tn.URL() + "\n"
	if b.String() != want {
		t.Errorf("settings:\n%s\nwant:\n%s", b.String(), want)
	}
	acc := tn.Accounts()
	if len(acc) != 3 || acc[0].UPN != "employee@contoso.example" || acc[0].Description != "Employee, no directory role" ||
		acc[1].UPN != "admin@contoso.example" || !slices.Equal(acc[1].RoleNames, []string{"User Administrator"}) ||
		acc[2].UPN != "inviter@contoso.example" || !slices.Equal(acc[2].RoleNames, []string{"Guest Inviter"}) {
		t.Errorf("accounts %+v", acc)
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a client secret must fail")
	}
}
