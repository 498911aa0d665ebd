package devtenant

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// authorizeParams are the request parameters the account picker carries through its form.
var authorizeParams = []string{"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state",
	"nonce", "code_challenge", "code_challenge_method", "login_hint", "domain_hint", "prompt"}

func (t *Tenant) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		t.errorPage(w, r, http.StatusMethodNotAllowed, 900561, "The endpoint only accepts GET, POST requests. Received a "+r.Method+" request.")
		return
	}
	if err := r.ParseForm(); err != nil {
		t.errorPage(w, r, http.StatusBadRequest, 90004, "The request isn't properly formatted.")
		return
	}
	p := r.Form
	if !t.tenantOK(r.PathValue("tenant")) {
		t.errorPage(w, r, http.StatusBadRequest, 90002, "Tenant '"+r.PathValue("tenant")+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
		return
	}
	clientID := p.Get("client_id")
	if clientID == "" {
		t.errorPage(w, r, http.StatusBadRequest, 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	if clientID != t.opts.ClientID {
		t.errorPage(w, r, http.StatusBadRequest, 700016, "Application with identifier '"+clientID+"' was not found in the directory '"+orgDisplayName+"'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")
		return
	}
	redirectURI := p.Get("redirect_uri")
	if redirectURI == "" {
		if len(t.opts.RedirectURIs) != 1 {
			t.errorPage(w, r, http.StatusBadRequest, 900971, "No reply address provided.")
			return
		}
		redirectURI = t.opts.RedirectURIs[0]
	}
	// Never redirect anywhere unregistered: an error page instead, as Entra does.
	if !t.redirectAllowed(redirectURI) {
		t.errorPage(w, r, http.StatusBadRequest, 50011, "The redirect URI '"+redirectURI+"' specified in the request does not match the redirect URIs configured for the application '"+clientID+"'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.")
		return
	}
	state := p.Get("state")
	fail := func(code string, aadsts int, msg string) {
		t.redirectError(w, r, redirectURI, state, code, aadsts, msg)
	}
	switch rt := p.Get("response_type"); rt {
	case "code":
	case "":
		fail("invalid_request", 900144, "The request body must contain the following parameter: 'response_type'.")
		return
	default:
		fail("unsupported_response_type", 700054, "response_type '"+rt+"' is not enabled for the application. devtenant supports the authorization code flow only.")
		return
	}
	if rm := p.Get("response_mode"); rm != "" && rm != "query" {
		fail("invalid_request", 70007, "The application returned an unsupported value of 'response_mode' ('"+rm+"'). devtenant answers with response_mode=query only.")
		return
	}
	scopes, bad := parseScopes(p.Get("scope"))
	if bad != "" {
		fail("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope '"+bad+"' does not exist.")
		return
	}
	if !scopes.has("openid") {
		fail("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. devtenant requires the 'openid' scope.")
		return
	}
	challenge, method := p.Get("code_challenge"), p.Get("code_challenge_method")
	if challenge == "" {
		fail("invalid_request", 900144, "The request body must contain the following parameter: 'code_challenge'. devtenant requires PKCE with S256.")
		return
	}
	if method != "S256" {
		if method == "" {
			method = "plain"
		}
		fail("invalid_request", 90100, "code_challenge_method parameter is empty or not valid: '"+method+"'. devtenant accepts S256 only.")
		return
	}
	if len(challenge) != 43 || strings.Trim(challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		fail("invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
		return
	}
	prompt := p.Get("prompt")
	if prompt != "" && !slices.Contains([]string{"none", "login", "select_account", "consent"}, prompt) {
		fail("invalid_request", 90023, "Invalid prompt value '"+prompt+"'.")
		return
	}

	var user *User
	t.mu.Lock()
	if r.Method == http.MethodPost && p.Get("account") != "" {
		// The account picker's own form: the user chose an account.
		user = t.signInUserLocked(p.Get("account"))
	} else if hint := p.Get("login_hint"); hint != "" && prompt != "login" && prompt != "select_account" {
		// Like an existing single sign-on session for that account: no page.
		user = t.signInUserLocked(hint)
	}
	var snap *User
	if user != nil {
		snap = cloneUser(user)
	}
	t.mu.Unlock()

	if snap == nil {
		if prompt == "none" {
			fail("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
			return
		}
		t.renderPicker(w, r, p)
		return
	}

	code := randomToken(48)
	t.mu.Lock()
	t.codes[code] = &authCode{
		clientID: clientID, redirectURI: redirectURI, challenge: challenge, nonce: p.Get("nonce"),
		scopes: scopes, userID: snap.ID, expires: t.now().Add(codeLifetime),
	}
	t.pruneCodesLocked()
	t.mu.Unlock()
	t.log.Debug("devtenant: signed in", "upn", snap.UserPrincipalName)
	dest, _ := url.Parse(redirectURI)
	q := dest.Query()
	q.Set("code", code)
	if state != "" {
		q.Set("state", state)
	}
	q.Set("session_state", StableID("session:"+snap.ID))
	dest.RawQuery = q.Encode()
	noStore(w)
	http.Redirect(w, r, dest.String(), http.StatusFound)
}

func (t *Tenant) pruneCodesLocked() {
	now := t.now()
	for k, c := range t.codes {
		if now.After(c.expires.Add(time.Hour)) {
			delete(t.codes, k)
		}
	}
}

func (t *Tenant) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, code string, aadsts int, msg string) {
	dest, _ := url.Parse(redirectURI)
	q := dest.Query()
	q.Set("error", code)
	q.Set("error_description", t.aadstsText(r, aadsts, msg))
	if state != "" {
		q.Set("state", state)
	}
	dest.RawQuery = q.Encode()
	noStore(w)
	http.Redirect(w, r, dest.String(), http.StatusFound)
}

// redirectAllowed applies the registration: exact registered URIs, plus loopback URIs on any
// port whose path is registered or /auth/callback.
func (t *Tenant) redirectAllowed(raw string) bool {
	return slices.Contains(t.opts.RedirectURIs, raw) || loopbackMatch(raw, t.opts.RedirectURIs, "/auth/callback")
}

func (t *Tenant) postLogoutAllowed(raw string) bool {
	return slices.Contains(t.opts.PostLogoutRedirectURIs, raw) ||
		loopbackMatch(raw, t.opts.PostLogoutRedirectURIs, "/signed-out", "/")
}

// loopbackMatch is Entra's rule for http loopback redirect URIs: the port is ignored, the path must match.
func loopbackMatch(raw string, registered []string, defaultPaths ...string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.RawQuery != "" || !isLoopback(u.Hostname()) {
		return false
	}
	paths := slices.Clone(defaultPaths)
	for _, reg := range registered {
		if ru, err := url.Parse(reg); err == nil && ru.Scheme == "http" && isLoopback(ru.Hostname()) {
			paths = append(paths, ru.Path)
		}
	}
	return slices.Contains(paths, u.Path)
}

func isLoopback(host string) bool {
	return host == "127.0.0.1" || host == "localhost" || host == "::1"
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

type pickerAccount struct {
	UPN, Name, Description, Initials string
	Hinted                           bool
}

func (t *Tenant) renderPicker(w http.ResponseWriter, r *http.Request, p url.Values) {
	var hidden [][2]string
	for _, name := range authorizeParams {
		if v := p.Get(name); v != "" && name != "prompt" {
			hidden = append(hidden, [2]string{name, v})
		}
	}
	var accounts []pickerAccount
	hint := p.Get("login_hint")
	for _, a := range t.Accounts() {
		accounts = append(accounts, pickerAccount{UPN: a.UPN, Name: a.DisplayName, Description: a.Description,
			Initials: initials(a.DisplayName), Hinted: strings.EqualFold(a.UPN, hint)})
	}
	t.renderPage(w, http.StatusOK, "picker", map[string]any{
		"Title":    "Pick an account",
		"Org":      orgDisplayName,
		"Action":   r.URL.Path,
		"Hidden":   hidden,
		"Accounts": accounts,
	})
}

func initials(name string) string {
	var out []rune
	for _, f := range strings.Fields(name) {
		out = append(out, []rune(f)[0])
		if len(out) == 2 {
			break
		}
	}
	return string(out)
}
