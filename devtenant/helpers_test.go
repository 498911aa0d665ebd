package devtenant

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const testSecret = "test-secret-\u00e9&=+value"

// fakeClock is a settable clock shared by the tenant and the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func startTenant(t *testing.T, mutate ...func(*Options)) *Tenant {
	t.Helper()
	opts := Options{ClientSecret: testSecret}
	for _, m := range mutate {
		m(&opts)
	}
	tn, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tn.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return tn
}

func withClock(c *fakeClock) func(*Options) { return func(o *Options) { o.Clock = c.Now } }

var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

const testRedirect = "http://127.0.0.1:9/auth/callback"

var portiocScopes = []string{"openid", "profile", "email", "offline_access",
	"https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/User.Invite.All", "https://graph.microsoft.com/User.Read.All"}

// rp is a relying party built the way Portico builds it: discovery, x/oauth2, PKCE S256, nonce.
type rp struct {
	t        *testing.T
	tn       *Tenant
	provider *oidc.Provider
	conf     *oauth2.Config
	verifier string
	state    string
	nonce    string
}

func newRP(t *testing.T, tn *Tenant) *rp {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), tn.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &rp{
		t: t, tn: tn, provider: p,
		conf: &oauth2.Config{
			ClientID: tn.ClientID(), ClientSecret: testSecret, Endpoint: p.Endpoint(),
			RedirectURL: testRedirect, Scopes: portiocScopes,
		},
		verifier: oauth2.GenerateVerifier(),
		state:    randomToken(16),
		nonce:    randomToken(16),
	}
}

func (r *rp) authURL(opts ...oauth2.AuthCodeOption) string {
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(r.verifier), oidc.Nonce(r.nonce)}, opts...)
	return r.conf.AuthCodeURL(r.state, opts...)
}

// code signs in upn by login_hint and returns the authorization code from the redirect.
func (r *rp) code(upn string) string {
	r.t.Helper()
	loc := r.authorize(r.authURL(oauth2.SetAuthURLParam("login_hint", upn)))
	q := loc.Query()
	if q.Get("error") != "" || q.Get("state") != r.state || q.Get("code") == "" {
		r.t.Fatalf("authorize redirect %s", loc)
	}
	return q.Get("code")
}

// authorize GETs u and expects a 302, returning the Location.
func (r *rp) authorize(u string) *url.URL {
	r.t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		r.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		r.t.Fatalf("authorize: status %d: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		r.t.Fatal(err)
	}
	return loc
}

func (r *rp) exchange(code string) (*oauth2.Token, error) {
	return r.conf.Exchange(context.Background(), code, oauth2.VerifierOption(r.verifier))
}

// tokenForm posts a raw form to the token endpoint.
func tokenForm(t *testing.T, tn *Tenant, form url.Values, basic ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, tn.URL()+"/"+tn.TenantID()+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, out
}

type graphResp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (g graphResp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(g.Body, &m); err != nil {
		t.Fatalf("graph body %q: %v", g.Body, err)
	}
	return m
}

func (g graphResp) err(t *testing.T) graphError {
	t.Helper()
	var e graphErrorBody
	if err := json.Unmarshal(g.Body, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not an error envelope: %s", g.Body)
	}
	return e.Error
}

// graphCallT sends one Graph request; hdr is pairs of header names and values.
func graphCallT(t *testing.T, tn *Tenant, method, path, token string, body any, hdr ...string) graphResp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, tn.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return graphResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func accessToken(t *testing.T, tn *Tenant, upn string, scopes ...string) string {
	t.Helper()
	tok, err := tn.AccessTokenFor(upn, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func invite(addr string, extra map[string]any) map[string]any {
	m := map[string]any{"invitedUserEmailAddress": addr, "inviteRedirectUrl": "https://portico.example/welcome"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// usersPath builds GET /v1.0/users with query options encoded as Graph clients must.
func usersPath(opts map[string]string) string {
	q := url.Values{}
	for k, v := range opts {
		q.Set(k, v)
	}
	return "/v1.0/users?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

func fourClause(addr string) string {
	v := strings.ReplaceAll(addr, "'", "''")
	return "userPrincipalName eq '" + v + "' or mail eq '" + v + "' or proxyAddresses/any(x:x eq 'SMTP:" + v + "') or otherMails/any(x:x eq '" + v + "')"
}

func base64URLDecode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func oauth2ClientCredentials(tn *Tenant) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID: tn.ClientID(), ClientSecret: testSecret,
		TokenURL: tn.URL() + "/" + tn.TenantID() + "/oauth2/v2.0/token",
		Scopes:   []string{"https://graph.microsoft.com/.default"},
	}
}
