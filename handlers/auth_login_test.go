package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"portico/auth"
	"portico/store"
)

// startFlow makes the fake relying party hand out one flow (state "st") and runs GET /login.
func (en *env) startFlow(b *browser, ret string) {
	en.t.Helper()
	en.rp.StartLoginFn = func(_ context.Context, returnPath, hint string) (string, auth.Flow, error) {
		return "https://idp.example/authorize?state=st", auth.Flow{State: "st", Nonce: "n", Verifier: "v", Return: auth.SafeReturnPath(returnPath), Expires: time.Now().Add(time.Hour)}, nil
	}
	rec := b.get("/login?return=" + url.QueryEscape(ret))
	want(en.t, rec, http.StatusFound)
	if loc := rec.Header().Get("Location"); loc != "https://idp.example/authorize?state=st" {
		en.t.Fatalf("login went to %q", loc)
	}
}

func TestSignInFlow(t *testing.T) {
	en := newEnv(t)
	b := en.anon()
	en.startFlow(b, "/invitations")
	before := b.cookies["portico_session"].Value
	en.rp.FinishLoginFn = func(_ context.Context, f auth.Flow, code string) (*auth.Identity, *auth.Token, error) {
		if f.State != "st" || code != "the-code" {
			t.Errorf("FinishLogin(%+v, %q)", f, code)
		}
		return ann, &auth.Token{AccessToken: "at", IDToken: "idt-ann"}, nil
	}
	rec := b.get("/auth/callback?state=st&code=the-code&iss=" + url.QueryEscape(en.cfg.Issuer()))
	want(t, rec, http.StatusFound)
	if loc := rec.Header().Get("Location"); loc != "/invitations" {
		t.Errorf("callback went to %q", loc)
	}
	if b.cookies["portico_session"].Value == before {
		t.Error("the session id was not rotated at sign-in")
	}
	if w := en.inv.Warmed(); len(w) != 1 || w[0] != ann.TenantID {
		t.Errorf("sign-in warmed %q, want the employee's tenant", w)
	}
	evs := en.audit.Events()
	if len(evs) != 1 || evs[0].Action != auth.ActionSignIn || evs[0].ActorOID != ann.ObjectID || evs[0].RequestID == "" {
		t.Fatalf("sign-in audit %+v", evs)
	}

	// The flow is single use: the same callback again is refused.
	want(t, b.get("/auth/callback?state=st&code=the-code"), http.StatusForbidden, "Sign-in link expired")

	// Signed in: the form, then sign-out (audited by auth) and the provider's sign-out page.
	want(t, b.get("/"), http.StatusOK, "Invite a partner")
	if w := en.inv.Warmed(); len(w) != 2 || w[1] != ann.TenantID {
		t.Errorf("the form warmed %q, want the employee's tenant again", w)
	}
	b.csrf = sessionCSRF(t, en, b)
	var hint string
	en.rp.LogoutURLFn = func(h string) string { hint = h; return "https://idp.example/logout" }
	rec = b.post("/logout", nil)
	want(t, rec, http.StatusSeeOther)
	if rec.Header().Get("Location") != "https://idp.example/logout" || hint != "idt-ann" {
		t.Errorf("logout to %q with hint %q", rec.Header().Get("Location"), hint)
	}
	if evs := en.audit.Events(); len(evs) != 2 || evs[1].Action != auth.ActionSignOut {
		t.Errorf("sign-out audit %+v", evs)
	}
	want(t, b.get("/signed-out"), http.StatusOK, "Signed out")
}

// sessionCSRF reads the CSRF token of b's session from the store.
func sessionCSRF(t *testing.T, en *env, b *browser) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	sess, err := en.sessions.Load(req)
	if err != nil {
		t.Fatal(err)
	}
	return sess.Data.CSRF
}

func TestCallbackRefusals(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		finish error
		status int
		text   string
	}{
		{"unknown state", "state=other&code=c", nil, http.StatusForbidden, "Sign-in link expired"},
		{"provider error", "state=st&error=access_denied", nil, http.StatusForbidden, "(access_denied)"},
		{"provider error with words", "state=st&error=" + url.QueryEscape("<b>Call 555</b>"), nil, http.StatusForbidden, "(unknown_error)"},
		{"other issuer", "state=st&code=c&iss=" + url.QueryEscape("https://evil.example/v2.0"), nil, http.StatusForbidden, "Sign-in refused"},
		{"other tenant", "state=st&code=c", auth.ErrWrongTenant, http.StatusForbidden, "another organization"},
		{"bad token", "state=st&code=c", auth.ErrTokenInvalid, http.StatusForbidden, "could not verify the sign-in"},
		{"provider down", "state=st&code=c", auth.ErrNotReady, http.StatusServiceUnavailable, "cannot reach the identity provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			en := newEnv(t)
			b := en.anon()
			en.startFlow(b, "/")
			en.rp.FinishLoginFn = func(context.Context, auth.Flow, string) (*auth.Identity, *auth.Token, error) {
				if tt.finish == nil {
					t.Error("the code was redeemed")
					return ann, &auth.Token{}, nil
				}
				return nil, nil, tt.finish
			}
			rec := b.get("/auth/callback?" + tt.query)
			want(t, rec, tt.status, tt.text)
			if strings.Contains(rec.Body.String(), "<b>") {
				t.Error("the provider's error text reached the page")
			}
			if len(en.audit.Events()) != 0 {
				t.Errorf("a refused sign-in was audited as success: %+v", en.audit.Events())
			}
		})
	}
}

func TestLoginUnavailable(t *testing.T) {
	en := newEnv(t)
	en.rp.StartLoginFn = func(context.Context, string, string) (string, auth.Flow, error) {
		return "", auth.Flow{}, auth.ErrNotReady
	}
	want(t, en.anon().get("/login"), http.StatusServiceUnavailable, "cannot reach the identity provider")
}

// TestSignedInLoginChangesNothing is issue 14 item 4: a cross-site link to /login (a top-level GET
// carries the Lax cookie) must neither end nor renew a signed-in session.
func TestSignedInLoginChangesNothing(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	cookie := b.cookies["portico_session"].Value
	en.rp.StartLoginFn = func(context.Context, string, string) (string, auth.Flow, error) {
		t.Error("a signed-in /login started a new sign-in")
		return "https://idp.example/authorize", auth.Flow{}, nil
	}
	for ret, to := range map[string]string{"/invitations": "/invitations", "https://evil.example/": "/", "": "/"} {
		rec := b.get("/login?return="+url.QueryEscape(ret), "Sec-Fetch-Site", "cross-site")
		want(t, rec, http.StatusFound)
		if loc := rec.Header().Get("Location"); loc != to {
			t.Errorf("return %q: went to %q, want %q", ret, loc, to)
		}
		if len(rec.Result().Cookies()) != 0 {
			t.Errorf("return %q: the session cookie changed: %v", ret, rec.Result().Cookies())
		}
	}
	if b.cookies["portico_session"].Value != cookie || en.sessDB.Len() != 1 {
		t.Fatal("the session was renewed or ended")
	}
	want(t, b.get("/"), http.StatusOK, "Invite a partner") // still signed in
	want(t, b.get("/signed-out"), http.StatusFound)
}

// TestDefaultTokensAreTheSessionsDelegatedTokens: without Deps.Tokens, handlers use the employee's
// delegated tokens from auth (so wiring that predates the provider keeps working).
func TestDefaultTokensAreTheSessionsDelegatedTokens(t *testing.T) {
	st, err := auth.NewStore(&memSessions{m: map[string]store.Session{}}, plainSealer{}, []string{"a-session-key-of-at-least-32-characters"}, auth.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rp := auth.NewRelyingParty(auth.RPConfig{})
	if got, ok := delegatedTokens(st, rp).(auth.Delegated); !ok || got.Sessions != st || got.RP != rp {
		t.Errorf("default token provider %#v", got)
	}
	if delegatedTokens(st, &fakeRP{}) != nil {
		t.Error("a default was made over a relying party that is not auth's")
	}
	defer func() {
		if recover() == nil {
			t.Error("New accepted fakes without a token provider")
		}
	}()
	New(Deps{Config: newEnv(t).cfg, Sessions: st, RP: &fakeRP{}, Invites: &fakeInvites{}})
}
