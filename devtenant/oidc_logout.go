package devtenant

import (
	"net/http"
	"net/url"
	"slices"
)

func (t *Tenant) handleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		t.errorPage(w, r, http.StatusMethodNotAllowed, 900561, "The endpoint only accepts GET, POST requests. Received a "+r.Method+" request.")
		return
	}
	if err := r.ParseForm(); err != nil {
		t.errorPage(w, r, http.StatusBadRequest, 90004, "The request isn't properly formatted.")
		return
	}
	if !t.tenantOK(r.PathValue("tenant")) {
		t.errorPage(w, r, http.StatusBadRequest, 90002, "Tenant '"+r.PathValue("tenant")+"' not found.")
		return
	}
	p := r.Form
	if hint := p.Get("id_token_hint"); hint != "" && !t.validIDTokenHint(r, hint) {
		t.errorPage(w, r, http.StatusBadRequest, 50061, "Unable to complete sign out. The id_token_hint is not a token this tenant issued to this application.")
		return
	}
	target := p.Get("post_logout_redirect_uri")
	if target == "" {
		t.renderPage(w, http.StatusOK, "signedout", map[string]any{"Title": "You signed out of your account", "Org": orgDisplayName})
		return
	}
	if !t.postLogoutAllowed(target) {
		t.errorPage(w, r, http.StatusBadRequest, 50011, "The post logout redirect URI '"+target+"' does not match the post logout redirect URIs configured for the application '"+t.opts.ClientID+"'.")
		return
	}
	dest, _ := url.Parse(target)
	if st := p.Get("state"); st != "" {
		q := dest.Query()
		q.Set("state", st)
		dest.RawQuery = q.Encode()
	}
	noStore(w)
	http.Redirect(w, r, dest.String(), http.StatusFound)
}

// validIDTokenHint accepts an ID token this tenant signed for the registered client; expiry does
// not matter, as Entra accepts expired hints.
func (t *Tenant) validIDTokenHint(r *http.Request, raw string) bool {
	t.mu.Lock()
	keys := slices.Clone(t.keys)
	t.mu.Unlock()
	claims, err := verifyJWT(keys, raw)
	if err != nil {
		return false
	}
	return claimString(claims, "iss") == t.issuerFor(t.baseOf(r)) && slices.Contains(claimStrings(claims, "aud"), t.opts.ClientID)
}
