package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// grantJWTBearer is the on-behalf-of grant type (Entra's OAuth 2.0 On-Behalf-Of flow).
const grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer" //nolint:gosec // a grant type name, not a credential

// oboCache keeps the Graph tokens obtained on behalf of API callers, keyed by a hash of the
// caller's token, until shortly before they expire. Memory only.
type oboCache struct {
	mu sync.Mutex
	m  map[[32]byte]*oauth2.Token
}

const oboCacheMax = 2000

func (c *oboCache) get(k [32]byte, now time.Time) *oauth2.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.m[k]; t != nil && now.Add(refreshMargin).Before(t.Expiry) {
		return t
	}
	return nil
}

func (c *oboCache) put(k [32]byte, t *oauth2.Token, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[32]byte]*oauth2.Token{}
	}
	if len(c.m) >= oboCacheMax {
		for key, v := range c.m {
			if !now.Before(v.Expiry) {
				delete(c.m, key)
			}
		}
		if len(c.m) >= oboCacheMax {
			clear(c.m)
		}
	}
	c.m[k] = t
}

// OnBehalfOf is the Graph token source of an API caller in delegated mode: the caller's access
// token for Portico is exchanged at the tenant's token endpoint for a Graph token of the same
// user (On-Behalf-Of), so Graph checks the user's own rights exactly as for a signed-in session.
// A refusal by the identity provider (consent missing, the user disabled) is a *BearerError.
func (rp *RelyingParty) OnBehalfOf(ctx context.Context, c *Caller) oauth2.TokenSource {
	return oauth2.ReuseTokenSource(nil, &oboSource{ctx: ctx, rp: rp, caller: c})
}

type oboSource struct {
	ctx    context.Context
	rp     *RelyingParty
	caller *Caller
}

func (s *oboSource) Token() (*oauth2.Token, error) {
	rp := s.rp
	oc, _, err := rp.loaded(s.ctx)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256([]byte(s.caller.raw))
	now := rp.cfg.Clock()
	rp.mu.Lock()
	if rp.obo == nil {
		rp.obo = &oboCache{}
	}
	cache := rp.obo
	rp.mu.Unlock()
	if t := cache.get(key, now); t != nil {
		return t, nil
	}
	var scopes []string
	for _, sc := range rp.Scopes() {
		if strings.Contains(sc, "/") {
			scopes = append(scopes, sc) // the Graph permissions, not the OpenID scopes
		}
	}
	form := url.Values{
		"grant_type":          {grantJWTBearer},
		"client_id":           {rp.cfg.ClientID},
		"assertion":           {s.caller.raw},
		"requested_token_use": {"on_behalf_of"},
		"scope":               {strings.Join(scopes, " ")},
	}
	if rp.cfg.ClientSecret != "" {
		form.Set("client_secret", rp.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, oc.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("auth: on-behalf-of request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := rp.cfg.HTTPClient.Do(req) // adds the client assertion when there is no secret
	if err != nil {
		return nil, fmt.Errorf("auth: on-behalf-of: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("auth: on-behalf-of: %w", err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("auth: on-behalf-of: status %d, unreadable answer", resp.StatusCode)
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		rp.cfg.Logger.Warn("on-behalf-of exchange refused", "status", resp.StatusCode, "error", tr.Error, "caller_oid", s.caller.ObjectID)
		return nil, &BearerError{Reason: "the identity provider refused to let Portico act for this user (" + oauthCode(tr.Error) + ")"}
	}
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return nil, fmt.Errorf("auth: on-behalf-of: status %d", resp.StatusCode)
	}
	t := &oauth2.Token{AccessToken: tr.AccessToken, TokenType: "Bearer", Expiry: now.Add(time.Duration(tr.ExpiresIn) * time.Second)}
	// Never beyond the caller's own token: Portico acts for them only while their token is valid.
	if !s.caller.Expiry.IsZero() && s.caller.Expiry.Before(t.Expiry) {
		t.Expiry = s.caller.Expiry
	}
	cache.put(key, t, now)
	return t, nil
}

// oauthCode keeps an OAuth error code only when it looks like one (letters and underscores).
func oauthCode(s string) string {
	if s == "" || len(s) > 40 || strings.ContainsFunc(s, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' }) {
		return "refused"
	}
	return s
}
