package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"portico/devtenant"
)

// apiCall is one request to Portico's API with a bearer token (no cookie jar: scripts have none).
type apiAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

func apiCall(t *testing.T, base, method, path, token string, body any, hdr map[string]string) apiAnswer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiAnswer{resp.StatusCode, resp.Header, b}
}

func (a apiAnswer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.Body, &m); err != nil {
		t.Fatalf("not JSON (%d): %s", a.Status, a.Body)
	}
	return m
}

// envelopeCode is the code of Graph's error envelope, or "" when the body is not one.
func envelopeCode(a apiAnswer) string {
	var e struct {
		Error struct {
			Code       string            `json:"code"`
			Message    string            `json:"message"`
			InnerError map[string]string `json:"innerError"`
		} `json:"error"`
	}
	if json.Unmarshal(a.Body, &e) != nil || e.Error.Message == "" || e.Error.InnerError["request-id"] == "" {
		return ""
	}
	return e.Error.Code
}

func signed(t *testing.T, tenant *devtenant.Tenant, claims map[string]any) string {
	t.Helper()
	tok, err := tenant.SignAccessToken(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func userAPIToken(t *testing.T, tenant *devtenant.Tenant, upn string, change func(map[string]any)) string {
	t.Helper()
	c, err := tenant.APIAccessClaims(upn)
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(c)
	}
	return signed(t, tenant, c)
}

// TestAPIScriptWithDevtenantTokens is issue 20's "Done when" for the API: a devtenant-issued token
// creates an invitation; the retry with the same Idempotency-Key creates nothing new; tokens for
// another audience or tenant, an expired one and one without the scope get 401/403 in Graph's
// envelope; no bearer call gets a cookie. Checklist 41.
func TestAPIScriptWithDevtenantTokens(t *testing.T) {
	tenant := tenantWith(t, func(o *devtenant.Options) { o.GrantAPIAppRole = true })
	h := start(t, tenant, map[string]string{"PORTICO_BACKGROUND": "on"})
	posts := func() int { return len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations")) }
	noCookie := func(a apiAnswer, what string) {
		t.Helper()
		if len(a.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("%s: a bearer call got a cookie: %v", what, a.Header.Values("Set-Cookie"))
		}
	}

	ann := userAPIToken(t, tenant, "employee@contoso.example", nil)
	body := map[string]any{"invitedUserEmailAddress": "script.partner@fabrikam.example", "invitedUserDisplayName": "Script Partner", "sendInvitationMessage": false}
	first := apiCall(t, h.URL, "POST", "/api/invitations", ann, body, map[string]string{"Idempotency-Key": "ticket-4711"})
	noCookie(first, "create")
	if first.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", first.Status, first.Body)
	}
	rec := first.json(t)
	if rec["invitedUserEmailAddress"] != "script.partner@fabrikam.example" || rec["inviteRedeemUrl"] == nil || first.Header.Get("Location") != "/api/invitations/"+rec["id"].(string) {
		t.Errorf("created: %v %v", rec, first.Header)
	}
	if n := posts(); n != 1 {
		t.Fatalf("Graph POSTs after the create: %d", n)
	}
	// The script retries (its connection dropped): the same answer, nothing new in the tenant.
	again := apiCall(t, h.URL, "POST", "/api/invitations", ann, body, map[string]string{"Idempotency-Key": "ticket-4711"})
	noCookie(again, "retry")
	if again.Status != http.StatusCreated || again.json(t)["id"] != rec["id"] {
		t.Errorf("retry: %d %s", again.Status, again.Body)
	}
	if n := posts(); n != 1 {
		t.Errorf("Graph POSTs after the retry: %d, want 1", n)
	}
	// The same key from another caller is not the first caller's answer (checklist 41).
	other := userAPIToken(t, tenant, "inviter@contoso.example", nil)
	stranger := apiCall(t, h.URL, "POST", "/api/invitations", other, body, map[string]string{"Idempotency-Key": "ticket-4711"})
	// Theirs is a new request: the preflight finds the pending guest and offers a resend (409).
	if stranger.Status != http.StatusConflict || strings.Contains(string(stranger.Body), rec["id"].(string)) {
		t.Errorf("another caller's key: %d %s", stranger.Status, stranger.Body)
	}
	if bytes.Contains(stranger.Body, []byte("inviteRedeemUrl\":\"http")) {
		t.Errorf("another caller saw a redemption URL: %s", stranger.Body)
	}
	if n := posts(); n != 1 {
		t.Errorf("Graph POSTs after another caller's request: %d", n)
	}

	// Wrong tokens: 401 (or 403 for a valid token without the scope), Graph's envelope, WWW-Authenticate.
	now := time.Now()
	graphTok, _ := tenant.AccessTokenFor("employee@contoso.example")
	wrong := []struct {
		name   string
		token  string
		status int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"garbage", "not.a.token", http.StatusUnauthorized},
		{"another audience", userAPIToken(t, tenant, "employee@contoso.example", func(c map[string]any) { c["aud"] = "api://some-other-app" }), http.StatusUnauthorized},
		{"a Graph token", graphTok, http.StatusUnauthorized},
		{"another tenant", userAPIToken(t, tenant, "employee@contoso.example", func(c map[string]any) {
			c["tid"] = "99999999-8888-7777-6666-555555555555"
			c["iss"] = tenant.URL() + "/99999999-8888-7777-6666-555555555555/v2.0"
		}), http.StatusUnauthorized},
		{"another tenant, our issuer", userAPIToken(t, tenant, "employee@contoso.example", func(c map[string]any) { c["tid"] = "99999999-8888-7777-6666-555555555555" }), http.StatusUnauthorized},
		{"expired", userAPIToken(t, tenant, "employee@contoso.example", func(c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-2*time.Hour).Unix(), now.Add(-10*time.Minute).Unix()
		}), http.StatusUnauthorized},
		{"an ID token (no azp, a nonce)", userAPIToken(t, tenant, "employee@contoso.example", func(c map[string]any) {
			delete(c, "azp")
			c["nonce"] = "n"
		}), http.StatusUnauthorized},
		{"without the scope", userAPIToken(t, tenant, "employee@contoso.example", func(c map[string]any) { c["scp"] = "User.Read" }), http.StatusForbidden},
	}
	for _, w := range wrong {
		a := apiCall(t, h.URL, "POST", "/api/invitations", w.token, map[string]any{"invitedUserEmailAddress": "never@fabrikam.example"}, nil)
		noCookie(a, w.name)
		code := map[int]string{401: "InvalidAuthenticationToken", 403: "Authorization_RequestDenied"}[w.status]
		if a.Status != w.status || envelopeCode(a) != code {
			t.Errorf("%s: %d %s", w.name, a.Status, a.Body)
		}
		if !strings.HasPrefix(a.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", w.name, a.Header.Get("WWW-Authenticate"))
		}
	}
	if n := posts(); n != 1 {
		t.Errorf("refused tokens reached Graph: %d POSTs", n)
	}

	// A daemon: client credentials for api://<client-id>/.default carry the granted app role.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"portico-demo"}, "client_secret": {testClientSecret},
		"scope": {"api://portico-demo/.default"}}
	resp, err := http.PostForm(tenant.URL()+"/"+tenant.TenantID()+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	daemon := apiCall(t, h.URL, "POST", "/api/invitations", tr.AccessToken,
		map[string]any{"invitedUserEmailAddress": "daemon.partner@fabrikam.example", "invitedUserType": "Member"}, nil)
	if daemon.Status != http.StatusForbidden {
		t.Errorf("a daemon asking for Member: %d %s", daemon.Status, daemon.Body)
	}
	daemon = apiCall(t, h.URL, "POST", "/api/invitations", tr.AccessToken, map[string]any{"invitedUserEmailAddress": "daemon.partner@fabrikam.example"}, nil)
	if daemon.Status != http.StatusCreated {
		t.Errorf("daemon create: %d %s", daemon.Status, daemon.Body)
	}
	tenant.SetAPIAppRole(false)
	resp, _ = http.PostForm(tenant.URL()+"/"+tenant.TenantID()+"/oauth2/v2.0/token", form)
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if a := apiCall(t, h.URL, "GET", "/api/invitations", tr.AccessToken, nil, nil); a.Status != http.StatusForbidden || envelopeCode(a) != "Authorization_RequestDenied" {
		t.Errorf("an app token without the role: %d %s", a.Status, a.Body)
	}

	// Read back: the seed's UserState filter, one record, a join link made and revoked.
	list := apiCall(t, h.URL, "GET", "/api/invitations?state=PendingAcceptance", ann, nil, nil)
	if list.Status != http.StatusOK || !strings.Contains(string(list.Body), "script.partner@fabrikam.example") {
		t.Errorf("list: %d %s", list.Status, list.Body)
	}
	if a := apiCall(t, h.URL, "GET", "/api/invitations?state=Accepted", ann, nil, nil); strings.Contains(string(a.Body), "script.partner@") {
		t.Errorf("accepted filter lists a pending invitation: %s", a.Body)
	}
	id := rec["id"].(string)
	if a := apiCall(t, h.URL, "GET", "/api/invitations/"+id, ann, nil, nil); a.Status != http.StatusOK || a.json(t)["state"] != "pending" {
		t.Errorf("get: %d %s", a.Status, a.Body)
	}
	if a := apiCall(t, h.URL, "GET", "/api/invitations/"+id, other, nil, nil); a.Status != http.StatusNotFound || envelopeCode(a) != "Request_ResourceNotFound" {
		t.Errorf("someone else's record: %d %s", a.Status, a.Body)
	}
	link := apiCall(t, h.URL, "POST", "/api/invitations/"+id+"/link", ann, nil, nil)
	joinURL, _ := link.json(t)["joinUrl"].(string)
	if link.Status != http.StatusCreated || !strings.Contains(joinURL, "/join/") {
		t.Fatalf("new join link: %d %s", link.Status, link.Body)
	}
	if a := apiCall(t, h.URL, "DELETE", "/api/invitations/"+id+"/link", ann, nil, nil); a.Status != http.StatusNoContent {
		t.Errorf("revoke: %d %s", a.Status, a.Body)
	}
	if r, err := http.Get(joinURL); err != nil || r.StatusCode == http.StatusOK {
		t.Errorf("revoked link still opens: %v", err)
	} else {
		r.Body.Close()
	}
	// Bulk by bearer: an administrator's dry run; an employee outside PORTICO_BULK_INVITERS is refused.
	adminTok := userAPIToken(t, tenant, "admin@contoso.example", nil)
	rows := []map[string]any{{"invitedUserEmailAddress": "bulk.one@fabrikam.example"}, {"invitedUserEmailAddress": "bulk.two@fabrikam.example"}}
	bj := apiCall(t, h.URL, "POST", "/api/bulk?dryRun=true", adminTok, rows, nil)
	noCookie(bj, "bulk")
	if bj.Status != http.StatusAccepted || bj.json(t)["total"] != float64(2) {
		t.Errorf("bulk dry run by bearer: %d %s", bj.Status, bj.Body)
	} else if a := apiCall(t, h.URL, "GET", "/api/bulk/"+bj.json(t)["id"].(string), adminTok, nil, nil); a.Status != http.StatusOK {
		t.Errorf("bulk job by bearer: %d %s", a.Status, a.Body)
	}
	if a := apiCall(t, h.URL, "POST", "/api/bulk?dryRun=true", ann, rows, nil); a.Status != http.StatusForbidden || envelopeCode(a) != "Authorization_RequestDenied" {
		t.Errorf("bulk by an employee: %d %s", a.Status, a.Body)
	}
	if n := posts(); n != 2 {
		t.Errorf("Graph POSTs after the dry runs: %d, want 2", n)
	}
	check := apiCall(t, h.URL, "GET", "/api/invitations/check?email="+url.QueryEscape("someone@contoso.example"), ann, nil, nil)
	if check.Status != http.StatusOK || check.json(t)["ok"] != false {
		t.Errorf("check of an own-domain address: %d %s", check.Status, check.Body)
	}
}

// TestCLIInviteWithDeviceCodeAgainstDemo runs `portico invite` against `portico -demo` end to
// end: the device code is printed, the test approves it on devtenant's page over HTTP, the
// invitation is made; the cached token (0600) serves `portico invitations` and `resend` without
// signing in again; exit statuses tell refusals and bad input apart. Checklist 43.
func TestCLIInviteWithDeviceCodeAgainstDemo(t *testing.T) {
	in := launch(t, nil, nil, "-demo")
	in.await(t)
	in.App.Tenant.SetDeviceCodeInterval(time.Second)
	cfgDir := filepath.Join(t.TempDir(), "portico")
	env := map[string]string{"PORTICO_CONFIG_DIR": cfgDir, "PORTICO_URL": in.App.URL()}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"invite", "--email", "cli.partner@fabrikam.example", "--name", "CLI Partner", "--link", "--json"}, getenv, &stdout, stderr)
	}()
	re := regexp.MustCompile(`open (\S+) and enter the code (\S+)`)
	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m = re.FindStringSubmatch(stderr.String())
	}
	if m == nil {
		t.Fatalf("no device code printed: %s", stderr.String())
	}
	resp, err := http.PostForm(m[1], url.Values{"otc": {m[2]}, "account": {"employee@contoso.example"}, "action": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `data-testid="device-done"`) {
		t.Fatalf("approval page: %d %s", resp.StatusCode, page)
	}
	if err := <-done; err != nil {
		t.Fatalf("portico invite: %v\n%s", err, stderr.String())
	}
	var created map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &created); err != nil || created["invitedUserEmailAddress"] != "cli.partner@fabrikam.example" || created["joinUrl"] == nil {
		t.Fatalf("invite output: %v %s", err, stdout.String())
	}
	if n := len(graphRequests(in.App.Tenant, http.MethodPost, "/v1.0/invitations")); n != 1 {
		t.Errorf("Graph POSTs: %d", n)
	}
	// The token cache: one file, 0600, in a 0700 directory.
	files, _ := filepath.Glob(filepath.Join(cfgDir, "token-*.json"))
	if len(files) != 1 {
		t.Fatalf("token cache files: %v", files)
	}
	fi, _ := os.Stat(files[0])
	di, _ := os.Stat(cfgDir)
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("cache modes: file %v, dir %v", fi.Mode().Perm(), di.Mode().Perm())
	}

	// Signed in: the cached token is used, no code is printed again.
	stdout.Reset()
	stderr2 := &syncBuffer{}
	if err := run(ctx, []string{"invitations", "--state", "pending"}, getenv, &stdout, stderr2); err != nil {
		t.Fatalf("portico invitations: %v %s", err, stderr2.String())
	}
	if !strings.Contains(stdout.String(), "cli.partner@fabrikam.example") || strings.Contains(stderr2.String(), "enter the code") {
		t.Errorf("invitations: %s / %s", stdout.String(), stderr2.String())
	}
	// An access token about to expire is renewed with the cached refresh token, without a new code.
	var ct map[string]any
	raw, _ := os.ReadFile(files[0])
	_ = json.Unmarshal(raw, &ct)
	oldAccess := ct["access_token"]
	ct["expiry"] = time.Now().Add(time.Minute).Format(time.RFC3339)
	raw, _ = json.Marshal(ct)
	if err := os.WriteFile(files[0], raw, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if err := run(ctx, []string{"resend", created["id"].(string)}, getenv, &stdout, stderr2); err != nil || !strings.Contains(stdout.String(), "again") {
		t.Errorf("portico resend: %v %s", err, stdout.String())
	}

	raw, _ = os.ReadFile(files[0])
	_ = json.Unmarshal(raw, &ct)
	if ct["access_token"] == oldAccess || strings.Contains(stderr2.String(), "enter the code") {
		t.Errorf("the token was not refreshed silently: %s", stderr2.String())
	}

	// Exit statuses: refused by policy (already invited), bad input, bad command line.
	status := func(args ...string) int {
		err := run(ctx, args, getenv, io.Discard, io.Discard)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		if err != nil {
			return -1
		}
		return 0
	}
	if s := status("invite", "--email", "cli.partner@fabrikam.example"); s != exitRefused {
		t.Errorf("inviting a pending guest again: exit %d, want %d", s, exitRefused)
	}
	if s := status("invite", "--email", "not an address"); s != exitBadInput {
		t.Errorf("a bad address: exit %d, want %d", s, exitBadInput)
	}
	if s := status("invite", "--email", "x@fabrikam.example", "--member"); s != exitRefused {
		t.Errorf("Member by an employee: exit %d, want %d", s, exitRefused)
	}
	if s := status("invite", "--url", "http://portico.example.com", "--email", "x@fabrikam.example"); s != exitUsage {
		t.Errorf("a plain-http remote URL: exit %d, want %d", s, exitUsage)
	}
}

// TestAPIRequestNeedingApprovalIsSubmittedNotSent: the API applies the approval policy exactly as
// the form does: a partner outside the allowed domains becomes an approval request (202), with
// no invitation sent to Graph (checklist 39 through the API).
func TestAPIRequestNeedingApprovalIsSubmittedNotSent(t *testing.T) {
	in := startApprovals(t, nil)
	tok := userAPIToken(t, in.tenant, "employee@contoso.example", nil)
	a := apiCall(t, in.URL, "POST", "/api/invitations", tok, map[string]any{"invitedUserEmailAddress": "kim@northwind.example"}, nil)
	if a.Status != http.StatusAccepted || !strings.Contains(string(a.Body), "kim@northwind.example") {
		t.Fatalf("API request needing approval: %d %s", a.Status, a.Body)
	}
	if n := len(graphRequests(in.tenant, http.MethodPost, "/v1.0/invitations")); n != 0 {
		t.Errorf("an invitation needing approval reached Graph: %d POSTs", n)
	}
	if len(a.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("a bearer call got a cookie")
	}
}
