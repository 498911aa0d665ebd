package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/auth"
	"portico/invite"
)

// TestOpenAPIMatchesRoutes walks the real echo routes under /api/ and the embedded description:
// a route missing from the description, or described but not routed, fails.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	en := newEnv(t)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	described := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" || m == "summary" || m == "description" {
				continue
			}
			described[strings.ToUpper(m)+" "+p] = true
		}
	}
	routed := map[string]bool{}
	for _, r := range en.e.Routes() {
		if !strings.HasPrefix(r.Path, "/api/") || r.Method == "echo_route_not_found" {
			continue
		}
		segs := strings.Split(r.Path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") {
				segs[i] = "{" + s[1:] + "}"
			}
		}
		routed[r.Method+" "+strings.Join(segs, "/")] = true
	}
	var missing, extra []string
	for k := range routed {
		if !described[k] {
			missing = append(missing, k)
		}
	}
	for k := range described {
		if !routed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("described in openapi.json but not routed: %v", extra)
	}
	if len(routed) < 7 {
		t.Errorf("only %d API routes found: %v", len(routed), routed)
	}
	// Served as is, without a token.
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil))
	if rec.Code != http.StatusOK || !json.Valid(rec.Body.Bytes()) {
		t.Errorf("GET /api/openapi.json: %d", rec.Code)
	}
}

// fakeAPI is APIAuth with function fields.
type fakeAPI struct {
	VerifyFn func(ctx context.Context, raw string) (*auth.Caller, error)
}

func (f *fakeAPI) Verify(ctx context.Context, raw string) (*auth.Caller, error) {
	return f.VerifyFn(ctx, raw)
}
func (f *fakeAPI) GraphTokens(context.Context, *auth.Caller) (oauth2.TokenSource, error) {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "graph", Expiry: time.Now().Add(time.Hour)}), nil
}

var _ APIAuth = (*fakeAPI)(nil)

func apiEnv(t *testing.T) (*env, *fakeAPI) {
	en := newEnv(t)
	api := &fakeAPI{VerifyFn: func(_ context.Context, raw string) (*auth.Caller, error) {
		switch raw {
		case "good":
			return &auth.Caller{Identity: auth.Identity{TenantID: testIssuerTenant, ObjectID: "oid-ann", UPN: "ann@contoso.example"}, Scopes: []string{auth.APIScope}}, nil
		case "other":
			return &auth.Caller{Identity: auth.Identity{TenantID: testIssuerTenant, ObjectID: "oid-bob", UPN: "bob@contoso.example"}, Scopes: []string{auth.APIScope}}, nil
		case "daemon":
			return &auth.Caller{Identity: auth.Identity{TenantID: testIssuerTenant, ObjectID: "sp-1", Name: "application app-1", UPN: "app:app-1", Roles: []string{auth.APIAppRole}}, App: true, AppID: "app-1"}, nil
		case "noscope":
			return nil, &auth.BearerError{Forbidden: true, Reason: "the access token lacks the Invitations.ReadWrite scope"}
		}
		return nil, &auth.BearerError{Reason: "the access token is for another audience"}
	}}
	en.e = New(Deps{Config: en.cfg, Logger: slog.New(slog.NewTextHandler(en.logs, nil)), Sessions: en.sessions, RP: en.rp,
		Tokens: en.tokens, Invites: en.inv, Audit: en.audit, DB: en.db, Clock: func() time.Time { return en.now }, API: api})
	return en, api
}

func apiDo(en *env, method, path, token string, body string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, req)
	return rec
}

func TestAPIBearerRefusalsInGraphsEnvelope(t *testing.T) {
	en, _ := apiEnv(t)
	cases := []struct {
		token  string
		status int
		code   string
		auth   string
	}{
		{"", http.StatusUnauthorized, "InvalidAuthenticationToken", `Bearer realm="portico"`},
		{"wrong-audience", http.StatusUnauthorized, "InvalidAuthenticationToken", `error="invalid_token"`},
		{"noscope", http.StatusForbidden, "Authorization_RequestDenied", `error="insufficient_scope"`},
	}
	for _, tc := range cases {
		rec := apiDo(en, http.MethodGet, "/api/invitations", tc.token, "", nil)
		var body apiError
		if rec.Code != tc.status || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Code != tc.code || body.Error.InnerError["request-id"] == "" {
			t.Errorf("token %q: %d %s", tc.token, rec.Code, rec.Body)
		}
		if !strings.Contains(rec.Header().Get("WWW-Authenticate"), tc.auth) {
			t.Errorf("token %q: WWW-Authenticate %q", tc.token, rec.Header().Get("WWW-Authenticate"))
		}
		if rec.Header().Get("Set-Cookie") != "" {
			t.Errorf("token %q: a cookie was set", tc.token)
		}
	}
	if calls := en.inv.Calls(); len(calls) != 0 {
		t.Errorf("refused tokens reached the domain: %v", calls)
	}
}

func TestAPICreateScopesIdempotencyKeyAndNeverTouchesSessions(t *testing.T) {
	en, _ := apiEnv(t)
	var keys []string
	var actors []invite.Inviter
	en.inv.SendFn = func(_ context.Context, _ oauth2.TokenSource, inv invite.Inviter, req invite.Request, _ invite.Meta) (*invite.Result, error) {
		keys, actors = append(keys, req.IdempotencyKey), append(actors, inv)
		return &invite.Result{Invitation: &invite.Invitation{ID: "abcdefghijklmnopqrstuvwxyz", Email: req.Email, UserType: "Guest"}}, nil
	}
	body := `{"invitedUserEmailAddress":"taylor@fabrikam.example","inviteRedirectUrl":"https://portico.test/welcome"}`
	// A browser session cookie rides along: it is ignored, no CSRF token is asked for, no cookie is set.
	b := en.signIn(ann)
	var cookie string
	for _, c := range b.cookies {
		cookie = c.Name + "=" + c.Value
	}
	before := en.sessDB.Len()
	for _, tok := range []string{"good", "good", "other", "daemon"} {
		rec := apiDo(en, http.MethodPost, "/api/invitations", tok, body, map[string]string{"Idempotency-Key": "ticket-42", "Cookie": cookie})
		if rec.Code != http.StatusCreated || rec.Header().Get("Location") != "/api/invitations/abcdefghijklmnopqrstuvwxyz" {
			t.Fatalf("%s: %d %s", tok, rec.Code, rec.Body)
		}
		if rec.Header().Get("Set-Cookie") != "" {
			t.Errorf("%s: Set-Cookie %q", tok, rec.Header().Get("Set-Cookie"))
		}
	}
	if en.sessDB.Len() != before {
		t.Errorf("sessions %d → %d", before, en.sessDB.Len())
	}
	if keys[0] != keys[1] || keys[0] == keys[2] || keys[0] == keys[3] || !strings.HasPrefix(keys[0], "api:oid-ann:") || strings.Contains(keys[0], "ticket-42") {
		t.Errorf("idempotency keys not scoped to the caller: %q", keys)
	}
	if actors[0].ObjectID != "oid-ann" || actors[0].Application || !actors[3].Application || actors[3].CanInviteMember() {
		t.Errorf("actors: %+v", actors)
	}
	// An overlong key is bad input, before the domain is asked.
	n := len(en.inv.Calls())
	rec := apiDo(en, http.MethodPost, "/api/invitations", "good", body, map[string]string{"Idempotency-Key": strings.Repeat("k", 201)})
	if rec.Code != http.StatusBadRequest || len(en.inv.Calls()) != n {
		t.Errorf("overlong key: %d %s", rec.Code, rec.Body)
	}
	// Unknown fields are refused as on the JSON form endpoint.
	rec = apiDo(en, http.MethodPost, "/api/invitations", "good", `{"invitedUserEmailAddress":"x@y.example","sponsor":"me"}`, nil)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "sponsor") {
		t.Errorf("unknown field: %d %s", rec.Code, rec.Body)
	}
}

func TestAPIListFiltersAndPages(t *testing.T) {
	en, _ := apiEnv(t)
	var got []invite.ListFilter
	en.inv.ListFn = func(_ context.Context, _ invite.Inviter, f invite.ListFilter) (*invite.ListPage, error) {
		got = append(got, f)
		return &invite.ListPage{Invitations: []invite.Invitation{{ID: "abcdefghijklmnopqrstuvwxyz", Email: "a@b.example", Outcome: invite.OutcomeCreated, ExternalUserState: "PendingAcceptance"}},
			Total: 30, OlderCursor: "cur1"}, nil
	}
	rec := apiDo(en, http.MethodGet, "/api/invitations?state=PendingAcceptance", "good", "", nil)
	var page struct {
		Value    []apiInvitation `json:"value"`
		NextLink string          `json:"@odata.nextLink"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &page) != nil {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	if len(got) != 1 || got[0].State != invite.StatePending || len(page.Value) != 1 || page.Value[0].ExternalUserState != "PendingAcceptance" {
		t.Errorf("filter %+v, page %+v", got, page)
	}
	if !strings.Contains(page.NextLink, "%24skiptoken=cur1") || !strings.Contains(page.NextLink, "state=PendingAcceptance") {
		t.Errorf("next link %q", page.NextLink)
	}
	apiDo(en, http.MethodGet, "/api/invitations?state=accepted&$skiptoken=cur1", "good", "", nil)
	if len(got) != 2 || got[1].State != invite.StateAccepted || got[1].Before != "cur1" {
		t.Errorf("second page filter %+v", got)
	}
	if rec := apiDo(en, http.MethodGet, "/api/invitations?state=Sideways", "good", "", nil); rec.Code != http.StatusBadRequest || !slices.Contains([]int{1}, len(got)-1) {
		t.Errorf("bad state: %d", rec.Code)
	}
}
