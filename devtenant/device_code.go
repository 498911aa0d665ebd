package devtenant

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The device authorization grant as Microsoft's identity platform documents it: POST
// {tenant}/oauth2/v2.0/devicecode, the user enters the code at verification_uri (devtenant's
// /devicelogin page, where a demo account is picked and the request allowed or declined), and the
// client polls the token endpoint with grant_type urn:ietf:params:oauth:grant-type:device_code.
// Poll answers: authorization_pending, authorization_declined, bad_verification_code,
// expired_token (Microsoft's page), and slow_down (RFC 8628 §3.5) for a client polling faster
// than interval.

const (
	deviceCodeLifetime = 15 * time.Minute
	userCodeAlphabet   = "BCDFGHJKLMNPQRSTVWXZ23456789" // no vowels, no look-alikes
)

type deviceGrant struct {
	userCode   string
	scopes     scopeSet
	expires    time.Time
	interval   time.Duration
	lastPoll   time.Time
	userID     string // set when approved
	declined   bool
	redeemed   bool
	approvedAt time.Time
}

// SetDeviceCodeInterval sets the polling interval the devicecode endpoint announces (default 5 s);
// tests shorten it.
func (t *Tenant) SetDeviceCodeInterval(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deviceInterval = d
}

func newUserCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	out := make([]byte, len(b))
	for i, v := range b {
		out[i] = userCodeAlphabet[int(v)%len(userCodeAlphabet)]
	}
	return string(out)
}

func (t *Tenant) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return
	}
	if !t.tenantOK(r.PathValue("tenant")) {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 90002, "Tenant '"+r.PathValue("tenant")+"' not found.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 90004, "The request isn't properly formatted.")
		return
	}
	p := r.PostForm
	switch clientID := p.Get("client_id"); {
	case clientID == "":
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	case clientID != t.opts.ClientID:
		t.oauthError(w, r, http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+clientID+"' was not found in the directory '"+orgDisplayName+"'.")
		return
	}
	raw := strings.TrimSpace(p.Get("scope"))
	if raw == "" {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	scopes, bad := parseScopes(raw)
	if bad == "" {
		bad = t.apiScopesOK(scopes)
	}
	if bad != "" {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope '"+bad+"' does not exist.")
		return
	}
	if len(scopes.api) > 0 && len(scopes.graph) > 0 {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. One or more scopes are not compatible with each other.")
		return
	}
	now := t.now()
	deviceCode := randomToken(48)
	g := &deviceGrant{userCode: newUserCode(), scopes: scopes, expires: now.Add(deviceCodeLifetime)}
	t.mu.Lock()
	g.interval = t.deviceInterval
	for code, d := range t.devices {
		if now.After(d.expires.Add(time.Hour)) {
			delete(t.devices, code)
		}
	}
	t.devices[deviceCode] = g
	t.mu.Unlock()
	verify := t.baseOf(r) + "/devicelogin"
	noStore(w)
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{
		"user_code":        g.userCode,
		"device_code":      deviceCode,
		"verification_uri": verify,
		"expires_in":       int(deviceCodeLifetime / time.Second),
		"interval":         max(1, int(g.interval/time.Second)),
		"message":          "To sign in, use a web browser to open the page " + verify + " and enter the code " + g.userCode + " to authenticate.",
	})
}

// grantDeviceCode answers one poll of the token endpoint.
func (t *Tenant) grantDeviceCode(w http.ResponseWriter, r *http.Request, p url.Values) {
	code := p.Get("device_code")
	if code == "" {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'device_code'.")
		return
	}
	now := t.now()
	t.mu.Lock()
	g := t.devices[code]
	var (
		errCode string
		errNo   int
		msg     string
		user    *User
		scopes  scopeSet
	)
	switch {
	case g == nil || g.redeemed:
		errCode, errNo, msg = "bad_verification_code", 70000, "The provided value for the input parameter 'device_code' is not valid."
	case now.After(g.expires):
		errCode, errNo, msg = "expired_token", 70019, "Verification code expired."
	case g.declined:
		errCode, errNo, msg = "authorization_declined", 70000, "The user declined the authorization request."
	case g.userID == "":
		if !g.lastPoll.IsZero() && now.Sub(g.lastPoll) < g.interval {
			errCode, errNo, msg = "slow_down", 70016, "The client is polling faster than the interval allows."
		} else {
			errCode, errNo, msg = "authorization_pending", 70016, "The provided request has not yet been authorized by the user. The user must input their code."
		}
		g.lastPoll = now
	default:
		if u := t.users[g.userID]; u != nil && u.AccountEnabled {
			user, scopes = cloneUser(u), g.scopes
			g.redeemed = true
		} else {
			errCode, errNo, msg = "invalid_grant", 50057, "The user account is disabled."
		}
	}
	t.mu.Unlock()
	if errNo != 0 {
		t.oauthError(w, r, http.StatusBadRequest, errCode, errNo, msg)
		return
	}
	resp, err := t.userTokens(t.baseOf(r), user, scopes, "", false, true)
	if err != nil {
		t.oauthError(w, r, http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.")
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", resp)
}

// handleDeviceLogin is the verification page: GET shows the form (code, account, Allow/Decline);
// POST records the decision for the code.
func (t *Tenant) handleDeviceLogin(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "Enter code", "Accounts": t.Accounts()}
	if r.Method != http.MethodPost {
		t.renderPage(w, http.StatusOK, "devicelogin", data)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		data["Error"] = "The form could not be read."
		t.renderPage(w, http.StatusBadRequest, "devicelogin", data)
		return
	}
	userCode := strings.ToUpper(strings.Join(strings.Fields(strings.ReplaceAll(r.PostForm.Get("otc"), "-", "")), ""))
	upn, action := r.PostForm.Get("account"), r.PostForm.Get("action")
	now := t.now()
	t.mu.Lock()
	var g *deviceGrant
	for _, d := range t.devices {
		if d.userCode == userCode && userCode != "" {
			g = d
		}
	}
	u := t.findByUPNLocked(upn)
	status, problem := http.StatusOK, ""
	switch {
	case g == nil || g.redeemed || g.userID != "" || g.declined:
		status, problem = http.StatusBadRequest, "That code didn't work. Check the code and try again."
	case now.After(g.expires):
		status, problem = http.StatusBadRequest, "That code has expired. Start again on your device to get a new code."
	case u == nil || !u.AccountEnabled:
		status, problem = http.StatusBadRequest, "Pick an account to sign in with."
	case action == "decline":
		g.declined = true
	case action == "allow":
		g.userID, g.approvedAt = u.ID, now
	default:
		status, problem = http.StatusBadRequest, "Choose Allow or Decline."
	}
	t.mu.Unlock()
	if problem != "" {
		data["Error"], data["Code"] = problem, userCode
		t.renderPage(w, status, "devicelogin", data)
		return
	}
	data["Title"], data["Done"], data["Declined"] = "Done", true, action == "decline"
	t.renderPage(w, http.StatusOK, "devicelogin", data)
}
