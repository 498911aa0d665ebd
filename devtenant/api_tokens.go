package devtenant

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Portico's app registration exposes an API (application id URI api://<client-id>): the delegated
// scope APIScope and the app role APIAppRole (allowed member type Applications). Tokens for it are
// v2.0 access tokens (requestedAccessTokenVersion 2): issuer the tenant's v2.0 issuer, audience
// the client id.
const (
	APIScope   = "Invitations.ReadWrite"
	APIAppRole = "Invitations.ReadWrite.All"
)

const (
	grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
	grantJWTBearer  = "urn:ietf:params:oauth:grant-type:jwt-bearer" //nolint:gosec // a grant type name, not a credential
)

// SetAPIAppRole grants (or withdraws) the app role Invitations.ReadWrite.All to the registered
// client for its app-only tokens for Portico's API (an admin's consent to the application permission).
func (t *Tenant) SetAPIAppRole(granted bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.apiRoleGranted = granted
}

// apiResourceOK reports whether res names the registered application's API.
func (t *Tenant) apiResourceOK(res string) bool {
	res = strings.TrimSuffix(res, "/")
	return strings.EqualFold(res, "api://"+t.opts.ClientID) || res == t.opts.ClientID
}

// apiScopesOK returns the first API scope of s that is not the registered application's, or "".
func (t *Tenant) apiScopesOK(s scopeSet) string {
	for _, a := range s.api {
		if !t.apiResourceOK(a[:strings.LastIndex(a, "/")]) {
			return a
		}
	}
	return ""
}

// apiUserClaims are a delegated v2.0 access token's claims for the registered application's API.
func (t *Tenant) apiUserClaims(base string, u *User, scopes scopeSet, now time.Time, lifetime time.Duration, public bool) map[string]any {
	azpacr := "1"
	if public {
		azpacr = "0"
	}
	c := map[string]any{
		"aud":                t.opts.ClientID,
		"iss":                t.issuerFor(base),
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(lifetime).Unix(),
		"azp":                t.opts.ClientID,
		"azpacr":             azpacr,
		"name":               u.DisplayName,
		"oid":                u.ID,
		"preferred_username": u.UserPrincipalName,
		"scp":                scopes.scp(),
		"sub":                pairwiseSub(t.opts.TenantID, t.opts.ClientID, u.ID),
		"tid":                t.opts.TenantID,
		"uti":                randomToken(16),
		"ver":                "2.0",
	}
	if len(u.Wids) > 0 {
		c["wids"] = slices.Clone(u.Wids)
	}
	if len(u.AppRoles) > 0 {
		c["roles"] = slices.Clone(u.AppRoles)
	}
	if u.UserType == "Guest" {
		c["idp"] = "mail"
	}
	return c
}

// apiAppClaims are an app-only v2.0 access token's claims for the registered application's API;
// callers hold t.mu. Without the grant the token carries no roles (Entra issues it all the same).
func (t *Tenant) apiAppClaims(base string, now time.Time, lifetime time.Duration) map[string]any {
	sp := StableID("serviceprincipal:" + t.opts.ClientID)
	c := map[string]any{
		"aud":    t.opts.ClientID,
		"iss":    t.issuerFor(base),
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(lifetime).Unix(),
		"azp":    t.opts.ClientID,
		"azpacr": "1",
		"idtyp":  "app",
		"oid":    sp,
		"sub":    sp,
		"tid":    t.opts.TenantID,
		"uti":    randomToken(16),
		"ver":    "2.0",
	}
	if t.apiRoleGranted {
		c["roles"] = []string{APIAppRole}
	}
	return c
}

// grantAPIAppToken answers client credentials for scope <resource>/.default of an application's API.
func (t *Tenant) grantAPIAppToken(w http.ResponseWriter, r *http.Request, resource string) {
	if !t.apiResourceOK(resource) {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_resource", 500011, "The resource principal named "+resource+" was not found in the tenant named "+orgDisplayName+". This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")
		return
	}
	base := t.baseOf(r)
	t.issueAppToken(w, r, func(now time.Time, lifetime time.Duration) map[string]any {
		return t.apiAppClaims(base, now, lifetime)
	})
}

// publicRefresh reports whether rt was issued to a public client (the device code flow).
func (t *Tenant) publicRefresh(rt string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.refresh[rt]
	return g != nil && g.public
}

// grantOnBehalfOf is the On-Behalf-Of flow: a confidential client (already authenticated) trades
// a user's access token for its own API (the assertion) for a Graph token of the same user, with
// the Graph permissions consented on the registration.
func (t *Tenant) grantOnBehalfOf(w http.ResponseWriter, r *http.Request, p url.Values) {
	if p.Get("requested_token_use") != "on_behalf_of" {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'requested_token_use'.")
		return
	}
	raw := p.Get("assertion")
	if raw == "" {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'assertion'.")
		return
	}
	scopes, bad := parseScopes(p.Get("scope"))
	if bad != "" || len(scopes.graph) == 0 || len(scopes.api) > 0 {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope '"+orElse(bad, p.Get("scope"))+"' does not exist.")
		return
	}
	t.mu.Lock()
	keys := slices.Clone(t.keys)
	t.mu.Unlock()
	claims, err := verifyJWT(keys, raw)
	if err != nil {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 50013, "Assertion failed signature validation.")
		return
	}
	now := t.now()
	exp, _ := claimInt(claims, "exp")
	switch {
	case claimString(claims, "iss") != t.issuerFor(t.baseOf(r)) || claimString(claims, "tid") != t.opts.TenantID:
		t.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 50013, "Assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: unknown]")
		return
	case !t.apiResourceOK(claimString(claims, "aud")):
		t.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 50013, "Assertion audience does not match the Client app presenting the assertion.")
		return
	case now.Unix() >= exp:
		t.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 500133, "Assertion is not within its valid time range.")
		return
	case claimString(claims, "scp") == "":
		t.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 50013, "Assertion is not a delegated token: the on-behalf-of flow needs a user.")
		return
	}
	// Consent: devtenant's authorize endpoint grants every delegated Graph permission it knows, as
	// a tenant with admin consent for the registration's configured permissions does; so does OBO.
	t.mu.Lock()
	u := t.users[claimString(claims, "oid")]
	var user *User
	if u != nil && u.AccountEnabled {
		user = cloneUser(u)
	}
	t.mu.Unlock()
	if user == nil {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 50057, "The user account is disabled.")
		return
	}
	resp, err := t.userTokens(t.baseOf(r), user, scopeSet{graph: scopes.graph, oidc: scopes.oidc}, "", false, false)
	if err != nil {
		t.oauthError(w, r, http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.")
		return
	}
	delete(resp, "id_token")
	noStore(w)
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", resp)
}

// APIAccessClaims are the claims of a delegated access token for Portico's API for a directory
// user (scp Invitations.ReadWrite), for tests that change one claim and sign with SignAccessToken.
func (t *Tenant) APIAccessClaims(upn string) (map[string]any, error) {
	set, _ := parseScopes("api://" + t.opts.ClientID + "/" + APIScope)
	t.mu.Lock()
	u := t.findByUPNLocked(upn)
	var snap *User
	if u != nil {
		snap = cloneUser(u)
	}
	base, lifetime := t.base, t.accessLifetime
	t.mu.Unlock()
	if snap == nil {
		return nil, fmt.Errorf("devtenant: no user %q", upn)
	}
	return t.apiUserClaims(base, snap, set, t.now(), lifetime, true), nil
}

// APIAppClaims are the claims of an app-only access token for Portico's API as client credentials
// would issue it now (roles only when SetAPIAppRole granted it).
func (t *Tenant) APIAppClaims() map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.apiAppClaims(t.base, t.now(), t.accessLifetime)
}

// SignAccessToken signs claims with the tenant's current key, as Entra signs its tokens.
func (t *Tenant) SignAccessToken(claims map[string]any) (string, error) {
	t.mu.Lock()
	key := t.keys[0]
	t.mu.Unlock()
	return signJWT(key, claims)
}

// SetAccountEnabled enables or disables a directory user (accountEnabled), as an admin would:
// disabled users get no new tokens (refresh, device code, on-behalf-of).
func (t *Tenant) SetAccountEnabled(upn string, enabled bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.findByUPNLocked(upn); u != nil {
		u.AccountEnabled = enabled
	}
}
