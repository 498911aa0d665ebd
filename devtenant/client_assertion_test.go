package devtenant

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type testCert struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

func newTestCert(t *testing.T, notAfter time.Time) testCert {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "portico"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCert{c, key}
}

// assertion signs a client assertion with c; mutate changes the header or claims first.
func (c testCert) assertion(t *testing.T, tn *Tenant, mutate func(h, cl map[string]any)) string {
	t.Helper()
	sum := sha256.Sum256(c.cert.Raw)
	now := time.Now()
	h := map[string]any{"alg": "RS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}
	cl := map[string]any{"aud": tn.URL() + "/" + tn.TenantID() + "/oauth2/v2.0/token", "iss": tn.ClientID(), "sub": tn.ClientID(),
		"jti": randomToken(8), "nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	if mutate != nil {
		mutate(h, cl)
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(cl)
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func assertionForm(tn *Tenant, a string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "scope": {GraphAudience + "/.default"}, "client_id": {tn.ClientID()},
		"client_assertion_type": {clientAssertionType}, "client_assertion": {a}}
}

func TestClientAssertions(t *testing.T) {
	good := newTestCert(t, time.Now().Add(24*time.Hour))
	other := newTestCert(t, time.Now().Add(24*time.Hour))
	expired := newTestCert(t, time.Now().Add(-time.Hour))
	tn := startTenant(t, func(o *Options) { o.ClientCertificates = []*x509.Certificate{good.cert, expired.cert} })

	status, body := tokenForm(t, tn, assertionForm(tn, good.assertion(t, tn, nil)))
	if status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("a good assertion: %d %v", status, body)
	}
	claims, err := verifyJWT(tn.keys, body["access_token"].(string))
	if err != nil || strings.Join(claimStrings(claims, "roles"), ",") != "User.Invite.All,User.Read.All,Organization.Read.All,GroupMember.ReadWrite.All" || claims["scp"] != nil {
		t.Errorf("app token claims: %v %v", claims, err)
	}

	tests := []struct {
		name string
		a    string
		code float64
		msg  string
	}{
		{"unregistered certificate", other.assertion(t, tn, nil), 700027, "is not registered on application"},
		{"signature by another key", good.assertion(t, tn, func(h, _ map[string]any) {
			sum := sha256.Sum256(good.cert.Raw)
			h["x5t#S256"] = base64.RawURLEncoding.EncodeToString(sum[:])
			h["alg"] = "PS256" // signed PKCS#1 v1.5 but claims PSS
		}), 700027, "failed signature validation"},
		{"expired certificate", expired.assertion(t, tn, nil), 700027, "The key used is expired"},
		{"wrong issuer", good.assertion(t, tn, func(_, c map[string]any) { c["iss"] = "someone-else" }), 700021, "doesn't match 'client_id'"},
		{"wrong audience", good.assertion(t, tn, func(_, c map[string]any) { c["aud"] = "https://login.microsoftonline.com/common/oauth2/v2.0/token" }), 700023, "audience claim"},
		{"expired assertion", good.assertion(t, tn, func(_, c map[string]any) {
			c["nbf"], c["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-50*time.Minute).Unix()
		}), 700024, "not within its valid time range"},
		{"lifetime over ten minutes", good.assertion(t, tn, func(_, c map[string]any) { c["exp"] = time.Now().Add(time.Hour).Unix() }), 700024, "not within its valid time range"},
		{"no jti", good.assertion(t, tn, func(_, c map[string]any) { delete(c, "jti") }), 50027, "invalid or malformed"},
		{"garbage", "not.a.jwt", 50027, "invalid or malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tokenForm(t, tn, assertionForm(tn, tt.a))
			codes, _ := body["error_codes"].([]any)
			desc, _ := body["error_description"].(string)
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" || len(codes) != 1 || codes[0] != tt.code || !strings.Contains(desc, tt.msg) {
				t.Fatalf("got %d %v", status, body)
			}
		})
	}

	// A certificate registered later (a rotation) is accepted from then on.
	tn.RegisterCertificate(other.cert)
	if status, body := tokenForm(t, tn, assertionForm(tn, other.assertion(t, tn, nil))); status != http.StatusOK {
		t.Errorf("after RegisterCertificate: %d %v", status, body)
	}
}

func TestAppTokenPermissions(t *testing.T) {
	tn := startTenant(t)
	guest := invite("partner@fabrikam.example", map[string]any{"invitedUserSponsors": []any{}})
	tests := []struct {
		name       string
		roles      []string
		method     string
		path       string
		body       any
		wantStatus int
	}{
		{"invite without User.Invite.All", []string{"User.Read.All"}, http.MethodPost, "/v1.0/invitations", guest, http.StatusForbidden},
		{"list users without User.Read.All", []string{"User.Invite.All"}, http.MethodGet, usersPath(map[string]string{"$filter": "mail eq 'a@b.example'"}), nil, http.StatusForbidden},
		{"organization without Organization.Read.All", []string{"User.Invite.All", "User.Read.All"}, http.MethodGet, "/v1.0/organization", nil, http.StatusForbidden},
		{"organization with it", []string{"Organization.Read.All"}, http.MethodGet, "/v1.0/organization", nil, http.StatusOK},
		{"batch inner request denied on its own", []string{"User.Invite.All"}, http.MethodPost, "/v1.0/$batch",
			map[string]any{"requests": []any{map[string]any{"id": "1", "method": "GET", "url": "/organization"}}}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tn.AppAccessToken(tt.roles...)
			if err != nil {
				t.Fatal(err)
			}
			r := graphCallT(t, tn, tt.method, tt.path, tok, tt.body)
			if r.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.wantStatus, r.Body)
			}
			if r.Status == http.StatusForbidden && r.err(t).Code != "Authorization_RequestDenied" {
				t.Errorf("code = %q", r.err(t).Code)
			}
			if strings.HasSuffix(tt.path, "$batch") && !strings.Contains(string(r.Body), `"status":403`) || strings.HasSuffix(tt.path, "$batch") && !strings.Contains(string(r.Body), "Authorization_RequestDenied") {
				t.Errorf("inner answer: %s", r.Body)
			}
		})
	}
}

func TestAppInvitationSponsors(t *testing.T) {
	tn := startTenant(t)
	tok, err := tn.AppAccessToken()
	if err != nil {
		t.Fatal(err)
	}
	empUser, ok := tn.UserByMail("employee@contoso.example")
	if !ok {
		t.Fatal("no employee in the demo directory")
	}
	emp := empUser.ID
	six := []any{}
	for range 6 {
		six = append(six, map[string]any{"id": emp})
	}
	r := graphCallT(t, tn, http.MethodPost, "/v1.0/invitations", tok, invite("six@fabrikam.example", map[string]any{"invitedUserSponsors": six}))
	if r.Status != http.StatusBadRequest || !strings.Contains(r.err(t).Message, "at most 5 sponsors") {
		t.Errorf("six sponsors: %d %s", r.Status, r.Body)
	}
	r = graphCallT(t, tn, http.MethodPost, "/v1.0/invitations", tok, invite("ghost@fabrikam.example", map[string]any{"invitedUserSponsors": []any{map[string]any{"id": "00000000-0000-0000-0000-000000000000"}}}))
	if r.Status != http.StatusBadRequest {
		t.Errorf("unknown sponsor: %d %s", r.Status, r.Body)
	}
	r = graphCallT(t, tn, http.MethodPost, "/v1.0/invitations", tok, invite("ok@fabrikam.example", map[string]any{"invitedUserSponsors": []any{map[string]any{"id": emp}}}))
	if r.Status != http.StatusCreated {
		t.Fatalf("sponsored invitation: %d %s", r.Status, r.Body)
	}
	uid := r.json(t)["invitedUser"].(map[string]any)["id"].(string)
	if u, ok := tn.UserByID(uid); !ok || len(u.Sponsors) != 1 || u.Sponsors[0] != emp {
		t.Errorf("guest sponsors = %+v", u)
	}
	r = graphCallT(t, tn, http.MethodGet, "/v1.0/users/"+uid+"/sponsors", tok, nil)
	vals, _ := r.json(t)["value"].([]any)
	if r.Status != http.StatusOK || len(vals) != 1 || vals[0].(map[string]any)["id"] != emp || vals[0].(map[string]any)["@odata.type"] != "#microsoft.graph.user" {
		t.Errorf("GET sponsors: %d %s", r.Status, r.Body)
	}
	inviteOnly, _ := tn.AppAccessToken("User.Invite.All")
	if r = graphCallT(t, tn, http.MethodGet, "/v1.0/users/"+uid+"/sponsors", inviteOnly, nil); r.Status != http.StatusForbidden {
		t.Errorf("GET sponsors without User.Read.All: %d", r.Status)
	}
	// Delegated, User.Read is enough (Microsoft's user-list-sponsors permissions table).
	userRead := accessToken(t, tn, "employee@contoso.example", "https://graph.microsoft.com/User.Read")
	if r = graphCallT(t, tn, http.MethodGet, "/v1.0/users/"+uid+"/sponsors", userRead, nil); r.Status != http.StatusOK {
		t.Errorf("GET sponsors with delegated User.Read: %d %s", r.Status, r.Body)
	}
	inviteScope := accessToken(t, tn, "employee@contoso.example", "https://graph.microsoft.com/User.Invite.All")
	if r = graphCallT(t, tn, http.MethodGet, "/v1.0/users/"+uid+"/sponsors", inviteScope, nil); r.Status != http.StatusForbidden {
		t.Errorf("GET sponsors with delegated User.Invite.All only: %d", r.Status)
	}
}
