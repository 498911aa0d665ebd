package devtenant

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
)

const graphAppID = "00000003-0000-0000-c000-000000000000"

// graphDelegated are the Graph delegated permissions devtenant knows, in their canonical spelling.
var graphDelegated = []string{
	"User.Read", "User.ReadBasic.All", "User.Read.All", "User.Invite.All", "User.ReadWrite.All",
	"Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All", "Organization.Read.All",
	"GroupMember.Read.All", "GroupMember.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All",
	"Mail.Send", "Mail.Send.Shared",
}

// registeredDelegated are the permissions configured on the app registration: what .default grants.
var registeredDelegated = []string{"User.Read", "User.Invite.All", "User.Read.All"}

var oidcScopes = []string{"openid", "profile", "email", "offline_access"}

// scopeSet is a parsed scope parameter: OpenID Connect scopes and Graph permissions (short names).
type scopeSet struct {
	oidc  []string
	graph []string
	api   []string // scopes of an application's own API, in full: api://<client-id>/Invitations.ReadWrite
}

func (s scopeSet) has(name string) bool {
	return slices.Contains(s.oidc, name) || slices.Contains(s.graph, name)
}

// parseScopes reads a space-separated scope list; it returns the first scope it cannot grant.
func parseScopes(raw string) (scopeSet, string) {
	var s scopeSet
	add := func(list *[]string, v string) {
		if !slices.Contains(*list, v) {
			*list = append(*list, v)
		}
	}
	for _, sc := range strings.Fields(raw) {
		if i := slices.IndexFunc(oidcScopes, func(o string) bool { return strings.EqualFold(o, sc) }); i >= 0 {
			add(&s.oidc, oidcScopes[i])
			continue
		}
		if strings.HasPrefix(strings.ToLower(sc), "api://") {
			i := strings.LastIndex(sc, "/")
			name := sc[i+1:]
			switch {
			case i <= len("api://") || !(name == APIScope || name == ".default"):
				return s, sc
			case name == ".default":
				add(&s.api, sc[:i+1]+APIScope)
			default:
				add(&s.api, sc)
			}
			continue
		}
		short := sc
		for _, p := range []string{GraphAudience + "/", graphAppID + "/", "https://graph.microsoft.com//"} {
			if len(sc) > len(p) && strings.EqualFold(sc[:len(p)], p) {
				short = sc[len(p):]
			}
		}
		if strings.EqualFold(short, ".default") {
			for _, g := range registeredDelegated {
				add(&s.graph, g)
			}
			continue
		}
		i := slices.IndexFunc(graphDelegated, func(g string) bool { return strings.EqualFold(g, short) })
		if i < 0 {
			return s, sc
		}
		add(&s.graph, graphDelegated[i])
	}
	return s, ""
}

// granted is the scope string of a token response: OIDC scopes by name and Graph permissions
// as full URIs, each group sorted, as Entra reports them (offline_access is not listed).
func (s scopeSet) granted() string {
	var out, graph []string
	for _, o := range s.oidc {
		if o != "offline_access" {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	for _, g := range s.graph {
		graph = append(graph, GraphAudience+"/"+g)
	}
	graph = append(graph, s.api...)
	slices.Sort(graph)
	return strings.Join(append(out, graph...), " ")
}

// scp is the access token's scp claim: short names, space separated. A token for an
// application's API carries only that API's scopes.
func (s scopeSet) scp() string {
	var out []string
	if len(s.api) > 0 {
		for _, a := range s.api {
			out = append(out, a[strings.LastIndex(a, "/")+1:])
		}
		return strings.Join(out, " ")
	}
	for _, o := range s.oidc {
		if o != "offline_access" {
			out = append(out, o)
		}
	}
	out = append(out, s.graph...)
	slices.Sort(out)
	return strings.Join(out, " ")
}

func (s scopeSet) subsetOf(o scopeSet) bool {
	for _, v := range s.oidc {
		if !slices.Contains(o.oidc, v) {
			return false
		}
	}
	for _, v := range s.graph {
		if !slices.Contains(o.graph, v) {
			return false
		}
	}
	for _, v := range s.api {
		if !slices.Contains(o.api, v) {
			return false
		}
	}
	return true
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pairwiseSub is the subject Entra gives a user for one application.
func pairwiseSub(tenantID, clientID, oid string) string {
	sum := sha256.Sum256([]byte(tenantID + "|" + clientID + "|" + oid))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:43]
}

type authCode struct {
	clientID    string
	redirectURI string
	challenge   string
	nonce       string
	scopes      scopeSet
	userID      string
	expires     time.Time
	used        bool
}

type refreshGrant struct {
	userID   string
	clientID string
	scopes   scopeSet
	issued   time.Time
	gen      int
	used     bool
	public   bool // issued to a public client (the device code flow): redeemed without a secret
}

// refreshInactivity is how long an unused refresh token stays valid, as Entra's default.
const refreshInactivity = 90 * 24 * time.Hour

// codeLifetime bounds how long an authorization code can be redeemed.
const codeLifetime = 5 * time.Minute

// userTokens mints the token response for a user; signIn marks the code redemption, the ID token
// that TamperNextIDToken and SignNextIDTokenWithUnknownKey act on.
func (t *Tenant) userTokens(base string, u *User, scopes scopeSet, nonce string, signIn, public bool) (map[string]any, error) {
	now := t.now()
	t.mu.Lock()
	lifetime := t.accessLifetime
	key := t.keys[0]
	idKey := key
	var tamper func(map[string]any)
	if signIn && scopes.has("openid") {
		if len(t.idTamper) > 0 {
			tamper = t.idTamper[0]
			t.idTamper = t.idTamper[1:]
		}
		if t.unknownNext > 0 && t.unknownKey != nil {
			idKey = t.unknownKey
			t.unknownNext--
		}
	}
	var rt string
	if scopes.has("offline_access") {
		rt = randomToken(48)
		gen := 0
		if cur := t.users[u.ID]; cur != nil {
			gen = cur.tokenGen
		}
		t.refresh[rt] = &refreshGrant{userID: u.ID, clientID: t.opts.ClientID, scopes: scopes, issued: now, gen: gen, public: public}
	}
	t.mu.Unlock()

	claims := t.accessClaims(u, scopes, now, lifetime)
	if len(scopes.api) > 0 {
		claims = t.apiUserClaims(base, u, scopes, now, lifetime, public)
	}
	access, err := signJWT(key, claims)
	if err != nil {
		return nil, err
	}
	resp := map[string]any{
		"token_type":     "Bearer",
		"scope":          scopes.granted(),
		"expires_in":     expiresIn(lifetime),
		"ext_expires_in": expiresIn(lifetime),
		"access_token":   access,
	}
	if rt != "" {
		resp["refresh_token"] = rt
	}
	if scopes.has("openid") {
		claims := t.idClaims(base, u, scopes, nonce, now)
		if tamper != nil {
			tamper(claims)
		}
		idt, err := signJWT(idKey, claims)
		if err != nil {
			return nil, err
		}
		resp["id_token"] = idt
	}
	return resp, nil
}

func expiresIn(d time.Duration) int {
	return max(1, int(d/time.Second)-1)
}

func (t *Tenant) idClaims(base string, u *User, scopes scopeSet, nonce string, now time.Time) map[string]any {
	c := map[string]any{
		"aud":                t.opts.ClientID,
		"iss":                t.issuerFor(base),
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(time.Hour).Unix(),
		"oid":                u.ID,
		"sub":                pairwiseSub(t.opts.TenantID, t.opts.ClientID, u.ID),
		"tid":                t.opts.TenantID,
		"ver":                "2.0",
		"uti":                randomToken(16),
		"preferred_username": u.UserPrincipalName,
		"name":               u.DisplayName,
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if scopes.has("email") && u.Mail != "" {
		c["email"] = u.Mail
	}
	if len(u.Wids) > 0 {
		c["wids"] = slices.Clone(u.Wids)
	}
	if len(u.AppRoles) > 0 {
		c["roles"] = slices.Clone(u.AppRoles)
	}
	if u.UserType == "Guest" {
		// Entra names the identity provider of an account from elsewhere; for guests who
		// redeemed with a one-time passcode that is "mail".
		c["idp"] = "mail"
	}
	return c
}

func (t *Tenant) accessClaims(u *User, scopes scopeSet, now time.Time, lifetime time.Duration) map[string]any {
	c := map[string]any{
		"aud":             GraphAudience,
		"iss":             "https://sts.windows.net/" + t.opts.TenantID + "/",
		"iat":             now.Unix(),
		"nbf":             now.Unix(),
		"exp":             now.Add(lifetime).Unix(),
		"app_displayname": "Portico",
		"appid":           t.opts.ClientID,
		"appidacr":        "1",
		"idtyp":           "user",
		"name":            u.DisplayName,
		"given_name":      u.GivenName,
		"family_name":     u.Surname,
		"oid":             u.ID,
		"scp":             scopes.scp(),
		"sub":             pairwiseSub(t.opts.TenantID, graphAppID, u.ID),
		"tid":             t.opts.TenantID,
		"unique_name":     u.UserPrincipalName,
		"upn":             u.UserPrincipalName,
		"uti":             randomToken(16),
		"ver":             "1.0",
	}
	if len(u.Wids) > 0 {
		c["wids"] = slices.Clone(u.Wids)
	}
	return c
}

// appClaims are the claims of an app-only token; callers hold t.mu (SetAppRoles changes the roles).
func (t *Tenant) appClaims(now time.Time, lifetime time.Duration) map[string]any {
	sp := StableID("serviceprincipal:" + t.opts.ClientID)
	return map[string]any{
		"aud":             GraphAudience,
		"iss":             "https://sts.windows.net/" + t.opts.TenantID + "/",
		"iat":             now.Unix(),
		"nbf":             now.Unix(),
		"exp":             now.Add(lifetime).Unix(),
		"app_displayname": "Portico",
		"appid":           t.opts.ClientID,
		"appidacr":        "1",
		"idtyp":           "app",
		"oid":             sp,
		"sub":             sp,
		"roles":           slices.Clone(t.opts.AppRoles),
		"tid":             t.opts.TenantID,
		"uti":             randomToken(16),
		"ver":             "1.0",
	}
}

// AccessTokenFor mints a delegated Graph access token for a directory user without a browser
// flow (for tests of Graph callers); scopes are Graph permission names, default the three Portico asks for.
func (t *Tenant) AccessTokenFor(upn string, scopes ...string) (string, error) {
	if len(scopes) == 0 {
		scopes = registeredDelegated
	}
	set, bad := parseScopes("openid profile email " + strings.Join(scopes, " "))
	if bad != "" {
		return "", fmt.Errorf("devtenant: unknown scope %q", bad)
	}
	t.mu.Lock()
	u := t.findByUPNLocked(upn)
	var snap *User
	if u != nil {
		snap = cloneUser(u)
	}
	key, lifetime := t.keys[0], t.accessLifetime
	t.mu.Unlock()
	if snap == nil {
		return "", fmt.Errorf("devtenant: no user %q", upn)
	}
	return signJWT(key, t.accessClaims(snap, set, t.now(), lifetime))
}

// AppAccessToken mints an app-only Graph access token carrying roles (default Options.AppRoles).
func (t *Tenant) AppAccessToken(roles ...string) (string, error) {
	t.mu.Lock()
	key, lifetime := t.keys[0], t.accessLifetime
	c := t.appClaims(t.now(), lifetime)
	t.mu.Unlock()
	if len(roles) > 0 {
		c["roles"] = slices.Clone(roles)
	}
	return signJWT(key, c)
}
