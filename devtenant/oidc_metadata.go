package devtenant

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// tenantOK accepts the tenant path segment forms Entra accepts for a single tenant: its id or one
// of its verified domains.
func (t *Tenant) tenantOK(seg string) bool {
	return strings.EqualFold(seg, t.opts.TenantID) || isVerifiedDomain(seg)
}

func (t *Tenant) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if !t.tenantOK(r.PathValue("tenant")) {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '"+r.PathValue("tenant")+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
		return
	}
	base := t.baseOf(r)
	issuer := t.issuerFor(base)
	oauth := base + "/" + t.opts.TenantID + "/oauth2/v2.0"
	host := base
	if u, err := url.Parse(base); err == nil {
		host = u.Host
	}
	doc := map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                oauth + "/authorize",
		"token_endpoint":                        oauth + "/token",
		"end_session_endpoint":                  oauth + "/logout",
		"device_authorization_endpoint":         oauth + "/devicecode",
		"jwks_uri":                              base + "/" + t.opts.TenantID + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials", grantDeviceCode, grantJWTBearer},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "preferred_username",
			"name", "email", "tid", "oid", "ver", "wids", "roles"},
		"request_uri_parameter_supported": false,
		"http_logout_supported":           true,
		"frontchannel_logout_supported":   false,
		"tenant_region_scope":             "EU",
		"cloud_instance_name":             "devtenant.local",
		"msgraph_host":                    host,
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", doc)
}

func (t *Tenant) handleKeys(w http.ResponseWriter, r *http.Request) {
	if !t.tenantOK(r.PathValue("tenant")) {
		t.oauthError(w, r, http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '"+r.PathValue("tenant")+"' not found.")
		return
	}
	issuer := t.issuerFor(t.baseOf(r))
	t.mu.Lock()
	keys := make([]map[string]any, 0, len(t.keys))
	for _, k := range t.keys {
		keys = append(keys, k.jwk(issuer))
	}
	t.mu.Unlock()
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{"keys": keys})
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "devtenant: encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
