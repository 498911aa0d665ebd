package devtenant

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// postForm posts a form to the tenant and decodes the JSON answer.
func postForm(t *testing.T, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer is not JSON: %s", b)
	}
	return resp.StatusCode, m
}

func tokenURL(tn *Tenant) string { return tn.URL() + "/" + tn.TenantID() + "/oauth2/v2.0/token" }

func TestAPIAppTokenCarriesTheRoleOnlyWhenGranted(t *testing.T) {
	tn := startTenant(t)
	get := func() map[string]any {
		t.Helper()
		st, m := postForm(t, tokenURL(tn), url.Values{"grant_type": {"client_credentials"}, "client_id": {tn.ClientID()},
			"client_secret": {testSecret}, "scope": {"api://" + tn.ClientID() + "/.default"}})
		if st != http.StatusOK {
			t.Fatalf("client credentials for the API: %d %v", st, m)
		}
		claims, err := verifyJWT(tn.keys, m["access_token"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return claims
	}
	c := get()
	if c["aud"] != tn.ClientID() || c["iss"] != tn.URL()+"/"+tn.TenantID()+"/v2.0" || c["ver"] != "2.0" || c["idtyp"] != "app" || c["scp"] != nil {
		t.Errorf("app token for the API: %v", c)
	}
	if c["roles"] != nil {
		t.Errorf("roles without a grant: %v", c["roles"])
	}
	tn.SetAPIAppRole(true)
	if c := get(); !slices.Contains(claimStrings(c, "roles"), APIAppRole) {
		t.Errorf("granted role missing: %v", c["roles"])
	}
	// Another application's API is not in the tenant.
	st, m := postForm(t, tokenURL(tn), url.Values{"grant_type": {"client_credentials"}, "client_id": {tn.ClientID()},
		"client_secret": {testSecret}, "scope": {"api://someone-else/.default"}})
	if st != http.StatusBadRequest || m["error"] != "invalid_resource" {
		t.Errorf("another API: %d %v", st, m)
	}
	// A Graph endpoint refuses a token for Portico's API (wrong audience).
	tok, _ := tn.SignAccessToken(tn.APIAppClaims())
	if g := graphCallT(t, tn, "GET", "/v1.0/users?$select=id", tok, nil); g.Status != http.StatusUnauthorized {
		t.Errorf("Graph with an API token: %d", g.Status)
	}
}

// deviceFlow starts a device authorization and returns the answer.
func deviceFlow(t *testing.T, tn *Tenant, scope string) map[string]any {
	t.Helper()
	st, m := postForm(t, tn.URL()+"/"+tn.TenantID()+"/oauth2/v2.0/devicecode", url.Values{"client_id": {tn.ClientID()}, "scope": {scope}})
	if st != http.StatusOK {
		t.Fatalf("devicecode: %d %v", st, m)
	}
	return m
}

func poll(t *testing.T, tn *Tenant, deviceCode string) (int, map[string]any) {
	t.Helper()
	return postForm(t, tokenURL(tn), url.Values{"grant_type": {grantDeviceCode}, "client_id": {tn.ClientID()}, "device_code": {deviceCode}})
}

func approve(t *testing.T, verifyURI, userCode, upn, action string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(verifyURI, url.Values{"otc": {userCode}, "account": {upn}, "action": {action}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDeviceCodeFlow(t *testing.T) {
	clock := newClock()
	tn := startTenant(t, withClock(clock))
	tn.SetDeviceCodeInterval(5 * time.Second)
	scope := "api://" + tn.ClientID() + "/" + APIScope + " offline_access"
	d := deviceFlow(t, tn, scope)
	dc, uc, verify := d["device_code"].(string), d["user_code"].(string), d["verification_uri"].(string)
	if verify != tn.URL()+"/devicelogin" || len(uc) != 8 || d["interval"].(float64) != 5 || d["expires_in"].(float64) != 900 || !strings.Contains(d["message"].(string), uc) {
		t.Fatalf("devicecode answer: %v", d)
	}
	if st, m := poll(t, tn, dc); st != http.StatusBadRequest || m["error"] != "authorization_pending" {
		t.Errorf("first poll: %d %v", st, m)
	}
	if st, m := poll(t, tn, dc); st != http.StatusBadRequest || m["error"] != "slow_down" {
		t.Errorf("poll within the interval: %d %v", st, m)
	}
	clock.Add(6 * time.Second)
	if st, m := poll(t, tn, dc); m["error"] != "authorization_pending" {
		t.Errorf("poll after the interval: %d %v", st, m)
	}
	// The page: GET shows a form; a wrong code is refused; the right one approves.
	resp, err := http.Get(verify)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `name="otc"`) || !strings.Contains(string(b), "employee@contoso.example") {
		t.Fatalf("device login page: %d %s", resp.StatusCode, b)
	}
	if st, body := approve(t, verify, "WRONGCOD", "employee@contoso.example", "allow"); st != http.StatusBadRequest || !strings.Contains(body, "didn") {
		t.Errorf("wrong code: %d", st)
	}
	if st, body := approve(t, verify, strings.ToLower(uc[:4])+"-"+uc[4:], "employee@contoso.example", "allow"); st != http.StatusOK || !strings.Contains(body, `data-testid="device-done"`) {
		t.Fatalf("approve: %d %s", st, body)
	}
	clock.Add(6 * time.Second)
	st, m := poll(t, tn, dc)
	if st != http.StatusOK || m["refresh_token"] == nil || m["scope"] != "api://"+tn.ClientID()+"/"+APIScope {
		t.Fatalf("token after approval: %d %v", st, m)
	}
	claims, err := verifyJWT(tn.keys, m["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if claims["aud"] != tn.ClientID() || claims["scp"] != APIScope || claims["azpacr"] != "0" || claims["preferred_username"] != "employee@contoso.example" || claims["tid"] != tn.TenantID() {
		t.Errorf("delegated API token: %v", claims)
	}
	// The device code is spent.
	if st, m := poll(t, tn, dc); st != http.StatusBadRequest || m["error"] != "bad_verification_code" {
		t.Errorf("second redemption: %d %v", st, m)
	}
	// The public client refreshes without a secret.
	st, m = postForm(t, tokenURL(tn), url.Values{"grant_type": {"refresh_token"}, "client_id": {tn.ClientID()}, "refresh_token": {m["refresh_token"].(string)}})
	if st != http.StatusOK || m["access_token"] == nil {
		t.Errorf("public refresh: %d %v", st, m)
	}
}

func TestDeviceCodeDeclinedExpiredAndBadScope(t *testing.T) {
	clock := newClock()
	tn := startTenant(t, withClock(clock))
	scope := "api://" + tn.ClientID() + "/" + APIScope
	d := deviceFlow(t, tn, scope)
	if st, _ := approve(t, d["verification_uri"].(string), d["user_code"].(string), "employee@contoso.example", "decline"); st != http.StatusOK {
		t.Fatalf("decline: %d", st)
	}
	if st, m := poll(t, tn, d["device_code"].(string)); st != http.StatusBadRequest || m["error"] != "authorization_declined" {
		t.Errorf("declined: %d %v", st, m)
	}
	d = deviceFlow(t, tn, scope)
	clock.Add(16 * time.Minute)
	if st, m := poll(t, tn, d["device_code"].(string)); st != http.StatusBadRequest || m["error"] != "expired_token" {
		t.Errorf("expired: %d %v", st, m)
	}
	if st, _ := approve(t, d["verification_uri"].(string), d["user_code"].(string), "employee@contoso.example", "allow"); st != http.StatusBadRequest {
		t.Errorf("approving an expired code: %d", st)
	}
	if st, m := poll(t, tn, "nonsense"); m["error"] != "bad_verification_code" {
		t.Errorf("unknown device code: %d %v", st, m)
	}
	for _, bad := range []string{"api://other-app/" + APIScope, "api://" + tn.ClientID() + "/Everything.All"} {
		st, m := postForm(t, tn.URL()+"/"+tn.TenantID()+"/oauth2/v2.0/devicecode", url.Values{"client_id": {tn.ClientID()}, "scope": {bad}})
		if st != http.StatusBadRequest || m["error"] != "invalid_scope" {
			t.Errorf("scope %q: %d %v", bad, st, m)
		}
	}
	// A confidential grant still needs the secret: the device code grant is the only public one.
	st, m := postForm(t, tokenURL(tn), url.Values{"grant_type": {"client_credentials"}, "client_id": {tn.ClientID()}, "scope": {"api://" + tn.ClientID() + "/.default"}})
	if st != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("client credentials without a secret: %d %v", st, m)
	}
}

func TestOnBehalfOf(t *testing.T) {
	tn := startTenant(t)
	claims, err := tn.APIAccessClaims("employee@contoso.example")
	if err != nil {
		t.Fatal(err)
	}
	userTok, _ := tn.SignAccessToken(claims)
	obo := func(assertion string, secret string) (int, map[string]any) {
		return postForm(t, tokenURL(tn), url.Values{"grant_type": {grantJWTBearer}, "client_id": {tn.ClientID()}, "client_secret": {secret},
			"assertion": {assertion}, "requested_token_use": {"on_behalf_of"}, "scope": {"https://graph.microsoft.com/User.Read https://graph.microsoft.com/User.Invite.All https://graph.microsoft.com/User.Read.All"}})
	}
	st, m := obo(userTok, testSecret)
	if st != http.StatusOK {
		t.Fatalf("on-behalf-of: %d %v", st, m)
	}
	g, err := verifyJWT(tn.keys, m["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if g["aud"] != GraphAudience || g["upn"] != "employee@contoso.example" || !strings.Contains(g["scp"].(string), "User.Invite.All") {
		t.Errorf("Graph token: %v", g)
	}
	if r := graphCallT(t, tn, "GET", "/v1.0/me", m["access_token"].(string), nil); r.Status != http.StatusOK {
		t.Errorf("Graph with the OBO token: %d", r.Status)
	}
	if st, m := obo(userTok, "wrong"); st != http.StatusUnauthorized {
		t.Errorf("OBO with a wrong secret: %d %v", st, m)
	}
	expired := cloneClaims(claims)
	expired["exp"] = time.Now().Add(-time.Minute).Unix()
	tok, _ := tn.SignAccessToken(expired)
	if st, m := obo(tok, testSecret); st != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("expired assertion: %d %v", st, m)
	}
	graphTok, _ := tn.AccessTokenFor("employee@contoso.example")
	if st, m := obo(graphTok, testSecret); st != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("a Graph token as the assertion: %d %v", st, m)
	}
	app, _ := tn.SignAccessToken(tn.APIAppClaims())
	if st, m := obo(app, testSecret); st != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("an app token as the assertion: %d %v", st, m)
	}
}

func cloneClaims(c map[string]any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}
