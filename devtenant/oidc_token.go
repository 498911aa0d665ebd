package devtenant

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// aadstsText formats an error description the way Entra does: code, text, trace and correlation ids, time.
func (t *Tenant) aadstsText(r *http.Request, code int, msg string) string {
	trace, corr := newUUID(), correlationID(r)
	return fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
		code, msg, trace, corr, t.now().UTC().Format("2006-01-02 15:04:05Z"))
}

func correlationID(r *http.Request) string {
	if v := r.Header.Get("client-request-id"); v != "" {
		return v
	}
	return newUUID()
}

// oauthError answers a token-endpoint style JSON error, as Entra shapes it.
func (t *Tenant) oauthError(w http.ResponseWriter, r *http.Request, status int, code string, aadsts int, msg string) {
	trace, corr := newUUID(), correlationID(r)
	ts := t.now().UTC().Format("2006-01-02 15:04:05Z")
	noStore(w)
	writeJSON(w, status, "application/json; charset=utf-8", map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, msg, trace, corr, ts),
		"error_codes":       []int{aadsts},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
	})
}

func (t *Tenant) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests. Received a "+r.Method+" request.")
		return
	}
	if !t.tenantOK(r.PathValue("tenant")) {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 90002, "Tenant '"+r.PathValue("tenant")+"' not found.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 90004, "The request isn't properly formatted.")
		return
	}
	p := r.PostForm
	clientID, secret := p.Get("client_id"), p.Get("client_secret")
	if id, sec, ok := r.BasicAuth(); ok {
		// client_secret_basic: RFC 6749 §2.3.1 form-encodes both parts before base64.
		clientID, secret = formUnescape(id), formUnescape(sec)
	}
	if clientID == "" {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	if clientID != t.opts.ClientID {
		t.oauthError(w, r, http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+clientID+"' was not found in the directory '"+orgDisplayName+"'.")
		return
	}
	// Public client flows (allowed on the registration): the device code grant, and refreshing
	// what it issued, need no client secret or assertion.
	gt := p.Get("grant_type")
	public := secret == "" && p.Get("client_assertion") == "" &&
		(gt == grantDeviceCode || gt == "refresh_token" && t.publicRefresh(p.Get("refresh_token")))
	assertion := p.Get("client_assertion")
	switch {
	case public: // no client authentication
	case assertion != "" && secret == "":
		if bad := t.verifyClientAssertion(r, clientID, p.Get("client_assertion_type"), assertion); bad != nil {
			t.oauthError(w, r, http.StatusUnauthorized, "invalid_client", bad.code, bad.msg)
			return
		}
	case secret == "":
		t.oauthError(w, r, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	case subtle.ConstantTimeCompare([]byte(secret), []byte(t.opts.ClientSecret)) != 1:
		t.oauthError(w, r, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+clientID+"'.")
		return
	}
	switch gt {
	case grantDeviceCode:
		t.grantDeviceCode(w, r, p)
	case grantJWTBearer:
		t.grantOnBehalfOf(w, r, p)
	case "authorization_code":
		t.grantCode(w, r, p)
	case "refresh_token":
		t.grantRefresh(w, r, p)
	case "client_credentials":
		t.grantClientCredentials(w, r, p)
	case "":
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	default:
		t.oauthError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+gt+"'.")
	}
}

func formUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func (t *Tenant) grantCode(w http.ResponseWriter, r *http.Request, p url.Values) {
	code := p.Get("code")
	if code == "" {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'code'.")
		return
	}
	t.mu.Lock()
	c := t.codes[code]
	var (
		status = http.StatusBadRequest
		errNo  int
		msg    string
	)
	switch {
	case c == nil:
		errNo, msg = 9002313, "Invalid request. Request is malformed or invalid."
	case c.used:
		errNo, msg = 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."
	case t.now().After(c.expires):
		errNo, msg = 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."
	case p.Get("redirect_uri") != c.redirectURI:
		errNo, msg = 500112, "The reply address '"+p.Get("redirect_uri")+"' does not match the reply address '"+c.redirectURI+"' provided when requesting Authorization code."
	case !pkceMatches(p.Get("code_verifier"), c.challenge):
		errNo, msg = 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."
	}
	// Single use: any redemption attempt that got this far spends the code.
	if c != nil {
		c.used = true
	}
	var user *User
	if errNo == 0 {
		if u := t.users[c.userID]; u != nil {
			user = cloneUser(u)
		} else {
			errNo, msg = 50034, "The user account does not exist in the directory."
		}
	}
	t.mu.Unlock()
	if errNo != 0 {
		t.oauthError(w, r, status, "invalid_grant", errNo, msg)
		return
	}
	resp, err := t.userTokens(t.baseOf(r), user, c.scopes, c.nonce, true, false)
	if err != nil {
		t.oauthError(w, r, http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.")
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", resp)
}

func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

func (t *Tenant) grantRefresh(w http.ResponseWriter, r *http.Request, p url.Values) {
	rt := p.Get("refresh_token")
	if rt == "" {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.")
		return
	}
	now := t.now()
	t.mu.Lock()
	g := t.refresh[rt]
	var (
		errCode = "invalid_grant"
		errNo   int
		msg     string
		user    *User
	)
	switch {
	case g == nil:
		errNo, msg = 9002313, "Invalid request. Request is malformed or invalid."
	case g.used:
		// devtenant rotates strictly: a refresh token that was already exchanged is refused.
		errNo, msg = 70000, "The provided value for the 'refresh_token' is not valid. It was already redeemed for a newer refresh token."
	case now.After(g.issued.Add(refreshInactivity)):
		errNo, msg = 700082, fmt.Sprintf("The refresh token has expired due to inactivity. The token was issued on %s and was inactive for 90.00:00:00.", g.issued.UTC().Format("2006-01-02T15:04:05Z"))
	default:
		u := t.users[g.userID]
		switch {
		case u == nil || !u.AccountEnabled:
			errNo, msg = 50057, "The user account is disabled."
		case g.gen < u.tokenGen:
			errNo, msg = 50173, fmt.Sprintf("The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '%s' and the TokensValidFrom date (before which tokens are not valid) for this user is '%s'.",
				g.issued.UTC().Format("2006-01-02T15:04:05Z"), u.tokensValidFrom.UTC().Format("2006-01-02T15:04:05Z"))
		default:
			user = cloneUser(u)
		}
	}
	scopes := scopeSet{}
	if errNo == 0 {
		scopes = g.scopes
		if raw := strings.TrimSpace(p.Get("scope")); raw != "" {
			req, bad := parseScopes(raw)
			switch {
			case bad != "":
				errCode, errNo, msg = "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope '"+bad+"' does not exist."
			case !req.subsetOf(g.scopes):
				errCode, errNo, msg = "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '"+t.opts.ClientID+"' for the requested scopes. Send an interactive authorization request for this user and resource."
			default:
				if !req.has("offline_access") {
					req.oidc = append(req.oidc, "offline_access")
				}
				scopes = req
			}
		}
	}
	if errNo == 0 {
		g.used = true
	}
	t.mu.Unlock()
	if errNo != 0 {
		t.oauthError(w, r, http.StatusBadRequest, errCode, errNo, msg)
		return
	}
	resp, err := t.userTokens(t.baseOf(r), user, scopes, "", false, g.public)
	if err != nil {
		t.oauthError(w, r, http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.")
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", resp)
}

func (t *Tenant) grantClientCredentials(w http.ResponseWriter, r *http.Request, p url.Values) {
	scope := strings.TrimSpace(p.Get("scope"))
	if scope == "" {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	if res, ok := strings.CutSuffix(scope, "/.default"); ok && strings.HasPrefix(strings.ToLower(res), "api://") || ok && res == t.opts.ClientID {
		t.grantAPIAppToken(w, r, res)
		return
	}
	if !strings.EqualFold(scope, GraphAudience+"/.default") && !strings.EqualFold(scope, graphAppID+"/.default") {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope "+scope+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	t.issueAppToken(w, r, t.appClaims)
}

// issueAppToken answers a client credentials grant with an app-only access token whose claims
// claimsAt builds (called with t.mu held).
func (t *Tenant) issueAppToken(w http.ResponseWriter, r *http.Request, claimsAt func(now time.Time, lifetime time.Duration) map[string]any) {
	t.mu.Lock()
	key, lifetime := t.keys[0], t.accessLifetime
	claims := claimsAt(t.now(), lifetime)
	t.mu.Unlock()
	tok, err := signJWT(key, claims)
	if err != nil {
		t.oauthError(w, r, http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.")
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{
		"token_type":     "Bearer",
		"expires_in":     expiresIn(lifetime),
		"ext_expires_in": expiresIn(lifetime),
		"access_token":   tok,
	})
}
