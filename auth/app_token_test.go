package auth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func newAppCert(t *testing.T) AppCertificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "portico"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return AppCertificate{Cert: c, Key: key}
}

// tokenEndpoint is a fake Entra token endpoint: it checks secrets or assertions against the
// registered certificates and records what it saw.
type tokenEndpoint struct {
	srv        *httptest.Server
	secret     string
	registered []AppCertificate
	expiresIn  int

	mu    sync.Mutex
	forms []map[string]string
	jtis  []string
	errs  []string
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	te := &tokenEndpoint{expiresIn: 3600}
	te.srv = httptest.NewServer(http.HandlerFunc(te.serve))
	t.Cleanup(te.srv.Close)
	return te
}

func (te *tokenEndpoint) url() string { return te.srv.URL + "/tenant/oauth2/v2.0/token" }

func (te *tokenEndpoint) refuse(w http.ResponseWriter, code, desc string) {
	te.errs = append(te.errs, desc)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": code, "error_description": desc + "\r\nTrace ID: abc\r\nCorrelation ID: def"})
}

func (te *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	te.mu.Lock()
	defer te.mu.Unlock()
	_ = r.ParseForm()
	f := map[string]string{}
	for k := range r.PostForm {
		f[k] = r.PostForm.Get(k)
	}
	te.forms = append(te.forms, f)
	if f["grant_type"] != "client_credentials" || f["scope"] != "https://graph.microsoft.com/.default" || f["client_id"] != "app-id" {
		te.refuse(w, "invalid_request", "AADSTS900144: bad request")
		return
	}
	if a := f["client_assertion"]; a != "" {
		hdr, cl, signed, sig, ok := splitAssertion(a)
		if !ok || f["client_assertion_type"] != assertionType || hdr["alg"] != "RS256" || hdr["typ"] != "JWT" {
			te.refuse(w, "invalid_client", "AADSTS50027: JWT token is invalid or malformed.")
			return
		}
		var cert *AppCertificate
		for i, c := range te.registered {
			sum := sha256.Sum256(c.Cert.Raw)
			if base64.RawURLEncoding.EncodeToString(sum[:]) == hdr["x5t#S256"] {
				cert = &te.registered[i]
			}
		}
		if cert == nil {
			te.refuse(w, "invalid_client", "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.")
			return
		}
		d := sha256.Sum256([]byte(signed))
		if rsa.VerifyPKCS1v15(cert.Cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sig) != nil {
			te.refuse(w, "invalid_client", "AADSTS700027: Client assertion failed signature validation.")
			return
		}
		nbf, exp := time.Unix(int64(cl["nbf"].(float64)), 0), time.Unix(int64(cl["exp"].(float64)), 0)
		if cl["iss"] != "app-id" || cl["sub"] != "app-id" || cl["aud"] != te.url() || cl["jti"] == nil || cl["jti"] == "" ||
			exp.Sub(nbf) > 10*time.Minute || time.Now().After(exp) {
			te.refuse(w, "invalid_client", "AADSTS700023: bad claims")
			return
		}
		jti, _ := cl["jti"].(string)
		te.jtis = append(te.jtis, jti)
	} else if f["client_secret"] != te.secret || te.secret == "" {
		te.refuse(w, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": te.expiresIn, "access_token": "tok-" + time.Now().String()})
}

func (te *tokenEndpoint) calls() int {
	te.mu.Lock()
	defer te.mu.Unlock()
	return len(te.forms)
}

func TestAppTokensSecretCachedAndShared(t *testing.T) {
	te := newTokenEndpoint(t)
	te.secret = "s3cret"
	a, err := NewAppTokens(AppConfig{TokenURL: te.url(), ClientID: "app-id", ClientSecret: "s3cret", Scope: "https://graph.microsoft.com/.default"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	toks := make([]string, 10)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := a.Token()
			if err != nil {
				t.Error(err)
				return
			}
			toks[i] = tok.AccessToken
		}()
	}
	wg.Wait()
	if te.calls() != 1 {
		t.Errorf("10 concurrent callers made %d token requests, want 1 (cached and shared)", te.calls())
	}
	for _, tok := range toks {
		if tok != toks[0] {
			t.Fatalf("callers got different tokens: %v", toks)
		}
	}
	if a.Credential() != "secret" {
		t.Errorf("Credential = %q", a.Credential())
	}
}

func TestAppTokensRefreshBeforeExpiry(t *testing.T) {
	te := newTokenEndpoint(t)
	te.secret = "s3cret"
	te.expiresIn = int((appRefreshMargin + time.Second).Seconds()) // inside the margin within a second
	a, _ := NewAppTokens(AppConfig{TokenURL: te.url(), ClientID: "app-id", ClientSecret: "s3cret", Scope: "https://graph.microsoft.com/.default"})
	if _, err := a.Token(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := a.Token(); err != nil {
		t.Fatal(err)
	}
	if te.calls() != 2 {
		t.Errorf("token requests = %d, want 2 (renewed before it expired)", te.calls())
	}
}

func TestAppTokensCertificate(t *testing.T) {
	te := newTokenEndpoint(t)
	cur, next := newAppCert(t), newAppCert(t)
	te.registered = []AppCertificate{cur}
	a, _ := NewAppTokens(AppConfig{TokenURL: te.url(), ClientID: "app-id", Certificates: []AppCertificate{cur}, Scope: "https://graph.microsoft.com/.default"})
	if _, err := a.Token(); err != nil {
		t.Fatal(err)
	}
	if f := te.forms[0]; f["client_secret"] != "" || f["client_assertion_type"] != assertionType {
		t.Errorf("form = %v", f)
	}
	// Each assertion is fresh: a second source signs a new jti.
	b, _ := NewAppTokens(AppConfig{TokenURL: te.url(), ClientID: "app-id", Certificates: []AppCertificate{cur}, Scope: "https://graph.microsoft.com/.default"})
	if _, err := b.Token(); err != nil {
		t.Fatal(err)
	}
	if len(te.jtis) != 2 || te.jtis[0] == te.jtis[1] {
		t.Errorf("jtis = %v, want two different", te.jtis)
	}

	// Rotation: the new certificate is listed first but not uploaded yet; the old one still works.
	rot, _ := NewAppTokens(AppConfig{TokenURL: te.url(), ClientID: "app-id", Certificates: []AppCertificate{next, cur}, Scope: "https://graph.microsoft.com/.default"})
	if _, err := rot.Token(); err != nil {
		t.Fatalf("rotation: %v", err)
	}

	// Only unregistered certificates: an error naming Entra's reason, without trace ids.
	wrong, _ := NewAppTokens(AppConfig{TokenURL: te.url(), ClientID: "app-id", Certificates: []AppCertificate{next}, Scope: "https://graph.microsoft.com/.default"})
	_, err := wrong.Token()
	if !errors.Is(err, ErrAppCredentials) || !strings.Contains(err.Error(), "AADSTS700027") || strings.Contains(err.Error(), "Trace ID") ||
		!strings.Contains(err.Error(), "certificate "+thumbprint(next.Cert)) {
		t.Errorf("err = %v", err)
	}
}

func TestAppTokensWrongSecretNamesCause(t *testing.T) {
	te := newTokenEndpoint(t)
	te.secret = "right"
	a, _ := NewAppTokens(AppConfig{TokenURL: te.url(), ClientID: "app-id", ClientSecret: "wrong", Scope: "https://graph.microsoft.com/.default"})
	_, err := a.Token()
	if !errors.Is(err, ErrAppCredentials) || !strings.Contains(err.Error(), "invalid_client: AADSTS7000215: Invalid client secret provided.") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("err = %v", err)
	}
	if _, err := NewAppTokens(AppConfig{TokenURL: te.url(), ClientID: "app-id"}); err == nil {
		t.Error("no credentials accepted")
	}
}

func TestTokenRoles(t *testing.T) {
	p := base64.RawURLEncoding.EncodeToString([]byte(`{"roles":["User.Invite.All","User.Read.All"]}`))
	if got := TokenRoles("h." + p + ".s"); strings.Join(got, ",") != "User.Invite.All,User.Read.All" {
		t.Errorf("roles = %v", got)
	}
	if TokenRoles("garbage") != nil {
		t.Error("garbage has roles")
	}
}

func TestAssertionTransportAuthenticatesTokenRequests(t *testing.T) {
	var got []map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got = append(got, map[string]string{"path": r.URL.Path, "secret": r.PostForm.Get("client_secret"),
			"assertion": r.PostForm.Get("client_assertion"), "type": r.PostForm.Get("client_assertion_type"), "code": r.PostForm.Get("code")})
	}))
	defer srv.Close()
	tr := &assertionTransport{assertion: func() (string, error) { return "signed.jwt.here", nil }}
	hc := &http.Client{Transport: tr}
	for _, tc := range []struct{ path, body string }{
		{"/t/oauth2/v2.0/token", "grant_type=authorization_code&code=abc&client_id=x"},
		{"/t/oauth2/v2.0/token", "grant_type=refresh_token&client_id=x&client_secret=kept"},
		{"/elsewhere", "a=b"},
	} {
		resp, err := hc.Post(srv.URL+tc.path, "application/x-www-form-urlencoded", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got[0]["assertion"] != "signed.jwt.here" || got[0]["type"] != assertionType || got[0]["code"] != "abc" {
		t.Errorf("code exchange: %v", got[0])
	}
	if got[1]["assertion"] != "" || got[1]["secret"] != "kept" {
		t.Errorf("a request with a secret must stay as it is: %v", got[1])
	}
	if got[2]["assertion"] != "" {
		t.Errorf("other paths untouched: %v", got[2])
	}
}

// splitAssertion decodes a compact JWS into header, claims, signed input and signature.
func splitAssertion(a string) (hdr map[string]any, claims map[string]any, signed string, sig []byte, ok bool) {
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		return nil, nil, "", nil, false
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil {
		return nil, nil, "", nil, false
	}
	return hdr, claims, parts[0] + "." + parts[1], sig, true
}
