package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Flow is one sign-in attempt, kept server-side between /login and the callback.
type Flow struct {
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	Return   string    `json:"return"`
	Expires  time.Time `json:"expires"`
}

// RPConfig configures the relying party.
type RPConfig struct {
	Issuer                string // https://login.microsoftonline.com/{tenant}/v2.0
	TenantID              string
	ClientID              string
	ClientSecret          string
	RedirectURL           string
	PostLogoutRedirectURL string
	GraphResource         string // https://graph.microsoft.com
	// SignInOnly asks only for openid profile email offline_access (application mode: Graph calls
	// use Portico's own token, so the employee's token needs no Graph permission).
	SignInOnly bool
	// GraphScopes are further delegated Graph permissions to ask for (short names, e.g.
	// GroupMember.ReadWrite.All when guests are added to groups with the inviter's token).
	GraphScopes []string
	// ClientAssertion signs a client assertion for the code exchange and refreshes when there is
	// no ClientSecret (a certificate-only app registration).
	ClientAssertion func() (string, error)
	HTTPClient      *http.Client
	Clock           func() time.Time
	Logger          *slog.Logger
}

// Errors a sign-in can end with; handlers map them to pages.
var (
	ErrNotReady       = errors.New("auth: sign-in provider metadata not loaded yet")
	ErrBadState       = errors.New("auth: sign-in state missing, expired or already used")
	ErrTokenInvalid   = errors.New("auth: ID token rejected")
	ErrWrongTenant    = errors.New("auth: account belongs to another tenant")
	ErrReauthRequired = errors.New("auth: sign-in expired; sign in again")
)

// RelyingParty is Portico's OpenID Connect client for Entra ID.
type RelyingParty struct {
	cfg RPConfig

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	// apiVerifiers check access tokens sent to Portico's API (issuer, signature, audience,
	// lifetime); VerifyAccessToken checks the rest.
	apiVerifiers []*oidc.IDTokenVerifier
	oauth        *oauth2.Config
	obo          *oboCache
	endSession   string
}

// NewRelyingParty returns a relying party; call Discover before use (Ready reports success).
func NewRelyingParty(cfg RPConfig) *RelyingParty {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ClientSecret == "" && cfg.ClientAssertion != nil {
		hc := *cfg.HTTPClient
		hc.Transport = &assertionTransport{base: hc.Transport, assertion: cfg.ClientAssertion}
		cfg.HTTPClient = &hc
	}
	return &RelyingParty{cfg: cfg}
}

// Scopes are the delegated scopes Portico asks for: sign-in, refresh, and the least Graph needs.
func (rp *RelyingParty) Scopes() []string {
	if rp.cfg.SignInOnly {
		return []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}
	}
	g := strings.TrimRight(rp.cfg.GraphResource, "/")
	out := []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess,
		g + "/User.Read", g + "/User.Invite.All", g + "/User.Read.All"}
	for _, s := range rp.cfg.GraphScopes {
		out = append(out, g+"/"+s)
	}
	return out
}

func (rp *RelyingParty) ctx(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, rp.cfg.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, rp.cfg.HTTPClient)
}

// Discover loads the provider metadata once; it is safe to call again after a failure.
func (rp *RelyingParty) Discover(ctx context.Context) error {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.provider != nil {
		return nil
	}
	p, err := oidc.NewProvider(rp.ctx(ctx), rp.cfg.Issuer)
	if err != nil {
		return fmt.Errorf("auth: discover %s: %w", rp.cfg.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil {
		return fmt.Errorf("auth: read discovery document: %w", err)
	}
	rp.provider = p
	rp.endSession = meta.EndSession
	// RS256 only (go-oidc's default allow-list); issuer, audience and expiry always checked.
	rp.verifier = p.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID, SupportedSigningAlgs: []string{oidc.RS256}, Now: rp.cfg.Clock})
	// Access tokens for Portico's API: audience the client id (v2.0 tokens) or api://<client-id>,
	// exp and nbf checked by go-oidc on a clock set back by bearerSkew: together with go-oidc's
	// own minute of leeway on nbf, the issuer's clock may be bearerSkew off either way.
	skewed := func() time.Time { return rp.cfg.Clock().Add(-bearerSkew) }
	rp.apiVerifiers = []*oidc.IDTokenVerifier{
		p.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID, SupportedSigningAlgs: []string{oidc.RS256}, Now: skewed}),
		p.Verifier(&oidc.Config{ClientID: "api://" + rp.cfg.ClientID, SupportedSigningAlgs: []string{oidc.RS256}, Now: skewed}),
	}
	rp.oauth = &oauth2.Config{
		ClientID:     rp.cfg.ClientID,
		ClientSecret: rp.cfg.ClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  rp.cfg.RedirectURL,
		Scopes:       rp.Scopes(),
	}
	rp.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	return nil
}

func (rp *RelyingParty) loaded(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	if err := rp.Discover(ctx); err != nil {
		return nil, nil, errors.Join(ErrNotReady, err)
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.oauth, rp.verifier, nil
}

// StartLogin creates a flow (state, nonce, PKCE verifier) and the authorization URL for it.
func (rp *RelyingParty) StartLogin(ctx context.Context, returnPath, loginHint string) (string, Flow, error) {
	oc, _, err := rp.loaded(ctx)
	if err != nil {
		return "", Flow{}, err
	}
	f := Flow{
		State:    random(32),
		Nonce:    random(32),
		Verifier: oauth2.GenerateVerifier(),
		Return:   SafeReturnPath(returnPath),
		Expires:  rp.cfg.Clock().Add(flowLifetime),
	}
	opts := []oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(f.Verifier),
		oidc.Nonce(f.Nonce),
		oauth2.SetAuthURLParam("response_mode", "query"),
	}
	if loginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", loginHint))
	}
	return oc.AuthCodeURL(f.State, opts...), f, nil
}

// FinishLogin redeems the code of a flow whose state the caller has already matched, and verifies
// the ID token: signature (RS256), issuer, audience, expiry, nonce, authorized party and tenant.
func (rp *RelyingParty) FinishLogin(ctx context.Context, f Flow, code string) (*Identity, *Token, error) {
	oc, verifier, err := rp.loaded(ctx)
	if err != nil {
		return nil, nil, err
	}
	if code == "" {
		return nil, nil, fmt.Errorf("%w: no authorization code", ErrTokenInvalid)
	}
	tok, err := oc.Exchange(rp.ctx(ctx), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: code exchange failed: %w", ErrTokenInvalid, err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, nil, fmt.Errorf("%w: token response has no id_token", ErrTokenInvalid)
	}
	id, err := rp.verify(ctx, verifier, rawID, f.Nonce)
	if err != nil {
		return nil, nil, err
	}
	rp.warnExcessScopes(tok)
	return id, &Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, IDToken: rawID, Expiry: tok.Expiry}, nil
}

type idClaims struct {
	Nonce             string   `json:"nonce"`
	TenantID          string   `json:"tid"`
	ObjectID          string   `json:"oid"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Email             string   `json:"email"`
	Roles             []string `json:"roles"`
	Wids              []string `json:"wids"`
	Groups            []string `json:"groups"`
	IDP               string   `json:"idp"`
	Acct              any      `json:"acct"` // optional claim: 0 member, 1 guest (a number; some issuers send a string)
	AuthorizedParty   string   `json:"azp"`
}

// acct is the acct claim as "0", "1" or "".
func (c *idClaims) acct() string {
	switch v := c.Acct.(type) {
	case float64:
		return strconv.Itoa(int(v))
	case string:
		return v
	}
	return ""
}

func (rp *RelyingParty) verify(ctx context.Context, v *oidc.IDTokenVerifier, raw, nonce string) (*Identity, error) {
	id, c, err := rp.verifyToken(ctx, v, raw)
	if err != nil {
		return nil, err
	}
	// go-oidc does not check the nonce; it binds the token to this browser's sign-in attempt.
	if nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("%w: nonce mismatch", ErrTokenInvalid)
	}
	return id, nil
}

// verifyRefreshed checks the ID token of a refresh response (OIDC Core 12.2: same issuer,
// audience, tenant and subject as at sign-in; no nonce required) and returns the identity it
// carries, so that role changes in the directory reach the session at the next refresh.
func (rp *RelyingParty) verifyRefreshed(ctx context.Context, raw string, prev *Identity) (*Identity, error) {
	_, v, err := rp.loaded(ctx)
	if err != nil {
		return nil, err
	}
	id, _, err := rp.verifyToken(ctx, v, raw)
	if err != nil {
		return nil, err
	}
	if prev == nil || !strings.EqualFold(id.TenantID, prev.TenantID) || id.ObjectID != prev.ObjectID {
		return nil, fmt.Errorf("%w: the refreshed ID token names another user", ErrTokenInvalid)
	}
	return id, nil
}

// verifyToken checks signature (RS256), issuer, audience, expiry, authorized party and tenant.
func (rp *RelyingParty) verifyToken(ctx context.Context, v *oidc.IDTokenVerifier, raw string) (*Identity, *idClaims, error) {
	idt, err := v.Verify(rp.ctx(ctx), raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		return nil, nil, fmt.Errorf("%w: claims: %w", ErrTokenInvalid, err)
	}
	if c.AuthorizedParty != "" && c.AuthorizedParty != rp.cfg.ClientID {
		return nil, nil, fmt.Errorf("%w: authorized party %q is not this application", ErrTokenInvalid, c.AuthorizedParty)
	}
	if len(idt.Audience) > 1 && c.AuthorizedParty == "" {
		return nil, nil, fmt.Errorf("%w: several audiences and no authorized party", ErrTokenInvalid)
	}
	if !strings.EqualFold(c.TenantID, rp.cfg.TenantID) {
		return nil, nil, ErrWrongTenant
	}
	if c.ObjectID == "" {
		return nil, nil, fmt.Errorf("%w: no oid claim", ErrTokenInvalid)
	}
	return &Identity{TenantID: c.TenantID, ObjectID: c.ObjectID, Subject: idt.Subject, Name: c.Name,
		UPN: c.PreferredUsername, Email: c.Email, Roles: c.Roles, Wids: c.Wids, Groups: c.Groups, IDP: c.IDP, Acct: c.acct()}, &c, nil
}

// warnExcessScopes logs when the tenant granted more than Portico asks for (least privilege).
func (rp *RelyingParty) warnExcessScopes(tok *oauth2.Token) {
	granted, _ := tok.Extra("scope").(string)
	for _, s := range strings.Fields(granted) {
		short := s[strings.LastIndex(s, "/")+1:]
		if slices.Contains([]string{"Directory.ReadWrite.All", "User.ReadWrite.All", "Directory.AccessAsUser.All"}, short) {
			rp.cfg.Logger.Warn("the token grants a broader Graph permission than Portico needs; remove it from the app registration", "scope", short)
		}
	}
}

// LogoutURL is the issuer's end-session URL with the registered post-logout redirect.
func (rp *RelyingParty) LogoutURL(idTokenHint string) string {
	rp.mu.Lock()
	end := rp.endSession
	rp.mu.Unlock()
	if end == "" {
		return rp.cfg.PostLogoutRedirectURL
	}
	q := url.Values{"post_logout_redirect_uri": {rp.cfg.PostLogoutRedirectURL}}
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	sep := "?"
	if strings.Contains(end, "?") {
		sep = "&"
	}
	return end + sep + q.Encode()
}

// refresh redeems a refresh token for a new token set.
func (rp *RelyingParty) refresh(ctx context.Context, t *Token) (*Token, error) {
	oc, _, err := rp.loaded(ctx)
	if err != nil {
		return nil, err
	}
	nt, err := oc.TokenSource(rp.ctx(ctx), &oauth2.Token{RefreshToken: t.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return nil, fmt.Errorf("%w: %s", ErrReauthRequired, re.ErrorCode)
		}
		return nil, fmt.Errorf("auth: refresh token: %w", err)
	}
	out := &Token{AccessToken: nt.AccessToken, RefreshToken: nt.RefreshToken, IDToken: t.IDToken, Expiry: nt.Expiry}
	if out.RefreshToken == "" {
		out.RefreshToken = t.RefreshToken
	}
	if idt, ok := nt.Extra("id_token").(string); ok && idt != "" {
		out.IDToken = idt
	}
	return out, nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
