package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"portico/devtenant"
)

func bearerTenant(t *testing.T) (*devtenant.Tenant, *RelyingParty) {
	t.Helper()
	tn, err := devtenant.New(devtenant.Options{ClientSecret: "bearer-test-secret-value"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tn.Close(context.Background()) })
	rp := NewRelyingParty(RPConfig{Issuer: tn.URL() + "/" + tn.TenantID() + "/v2.0", TenantID: tn.TenantID(), ClientID: tn.ClientID(),
		ClientSecret: "bearer-test-secret-value", RedirectURL: "http://127.0.0.1/auth/callback", GraphResource: "https://graph.microsoft.com"})
	if err := rp.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tn, rp
}

func TestVerifyAccessToken(t *testing.T) {
	tn, rp := bearerTenant(t)
	user := func(change func(map[string]any)) string {
		c, err := tn.APIAccessClaims("employee@contoso.example")
		if err != nil {
			t.Fatal(err)
		}
		if change != nil {
			change(c)
		}
		tok, err := tn.SignAccessToken(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	app := func(roles ...string) string {
		c := tn.APIAppClaims()
		if len(roles) > 0 {
			c["roles"] = roles
		}
		tok, _ := tn.SignAccessToken(c)
		return tok
	}
	now := time.Now()
	graphTok, _ := tn.AccessTokenFor("employee@contoso.example")
	h, _ := base64.RawURLEncoding.DecodeString("eyJhbGciOiJub25lIn0")
	none := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"portico-demo"}`)) + "."
	cases := []struct {
		name      string
		token     string
		want      error // nil: accepted
		app       bool
		forbidden bool
	}{
		{"delegated", user(nil), nil, false, false},
		{"audience api://client-id", user(func(c map[string]any) { c["aud"] = "api://" + tn.ClientID() }), nil, false, false},
		{"expired 20 s ago (skew)", user(func(c map[string]any) { c["exp"] = now.Add(-20 * time.Second).Unix() }), nil, false, false},
		{"valid from 20 s on (skew)", user(func(c map[string]any) { c["nbf"] = now.Add(20 * time.Second).Unix() }), nil, false, false},
		{"app with the role", app(APIAppRole), nil, true, false},
		{"app without the role", app(), ErrBearerForbidden, true, true},
		{"no scope", user(func(c map[string]any) { c["scp"] = "User.Read" }), ErrBearerForbidden, false, true},
		{"expired", user(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }), ErrBearerInvalid, false, false},
		{"not yet valid", user(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() }), ErrBearerInvalid, false, false},
		{"another audience", user(func(c map[string]any) { c["aud"] = "api://other" }), ErrBearerInvalid, false, false},
		{"another tenant", user(func(c map[string]any) { c["tid"] = "00000000-0000-0000-0000-000000000001" }), ErrBearerInvalid, false, false},
		{"another issuer", user(func(c map[string]any) { c["iss"] = "https://login.microsoftonline.com/other/v2.0" }), ErrBearerInvalid, false, false},
		{"an ID token", user(func(c map[string]any) { delete(c, "azp"); c["nonce"] = "n" }), ErrBearerInvalid, false, false},
		{"a Graph token", graphTok, ErrBearerInvalid, false, false},
		{"alg none", none, ErrBearerInvalid, false, false},
		{"empty", "", ErrBearerInvalid, false, false},
	}
	for _, tc := range cases {
		c, err := rp.VerifyAccessToken(context.Background(), tc.token)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		case tc.want == nil && (c.App != tc.app || c.TenantID != tn.TenantID() || c.ObjectID == ""):
			t.Errorf("%s: caller %+v", tc.name, c)
		case tc.want == nil && !tc.app && (c.UPN != "employee@contoso.example" || c.Raw() == ""):
			t.Errorf("%s: user caller %+v", tc.name, c)
		}
	}
}

func TestOnBehalfOfGetsTheUsersGraphToken(t *testing.T) {
	tn, rp := bearerTenant(t)
	c, _ := tn.APIAccessClaims("employee@contoso.example")
	raw, _ := tn.SignAccessToken(c)
	caller, err := rp.VerifyAccessToken(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rp.OnBehalfOf(context.Background(), caller).Token()
	if err != nil || tok.AccessToken == "" || tok.AccessToken == raw {
		t.Fatalf("on-behalf-of: %v", err)
	}
	again, err := rp.OnBehalfOf(context.Background(), caller).Token()
	if err != nil || again.AccessToken != tok.AccessToken {
		t.Errorf("the exchanged token is not reused: %v", err)
	}
	if !tok.Expiry.After(time.Now()) || tok.Expiry.After(caller.Expiry) {
		t.Errorf("expiry %v beyond the caller's %v", tok.Expiry, caller.Expiry)
	}
	// A disabled user: the identity provider refuses, Portico answers 401.
	tn.SetAccountEnabled("employee@contoso.example", false)
	c2, _ := tn.APIAccessClaims("employee@contoso.example")
	c2["uti"] = "other"
	raw2, _ := tn.SignAccessToken(c2)
	caller2, err := rp.VerifyAccessToken(context.Background(), raw2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.OnBehalfOf(context.Background(), caller2).Token(); !errors.Is(err, ErrBearerInvalid) {
		t.Errorf("disabled user: %v", err)
	}
}
