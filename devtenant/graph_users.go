package devtenant

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultUserSelect is what GET /users returns without $select, as Graph v1.0 does.
var defaultUserSelect = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

// basicUserProperties are what User.ReadBasic.All may read.
var basicUserProperties = []string{"id", "displayName", "givenName", "surname", "mail", "userPrincipalName"}

var (
	readAllPerms   = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	readBasicPerms = []string{"User.ReadBasic.All"}
)

func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// userProperty is one property of u as Graph serialises it (nil is JSON null).
func userProperty(u *User, name string) any {
	switch name {
	case "id":
		return u.ID
	case "displayName":
		return strOrNil(u.DisplayName)
	case "givenName":
		return strOrNil(u.GivenName)
	case "surname":
		return strOrNil(u.Surname)
	case "jobTitle":
		return strOrNil(u.JobTitle)
	case "mail":
		return strOrNil(u.Mail)
	case "mailNickname":
		return strOrNil(u.MailNickname)
	case "userPrincipalName":
		return u.UserPrincipalName
	case "userType":
		return strOrNil(u.UserType)
	case "externalUserState":
		return strOrNil(u.ExternalUserState)
	case "externalUserStateChangeDateTime":
		return timeOrNil(u.ExternalUserStateChangeDateTime)
	case "creationType":
		return strOrNil(u.CreationType)
	case "otherMails":
		return nonNil(u.OtherMails)
	case "proxyAddresses":
		return nonNil(u.ProxyAddresses)
	case "businessPhones", "imAddresses":
		return []string{}
	case "identities":
		if u.Identities == nil {
			return []ObjectIdentity{}
		}
		return u.Identities
	case "accountEnabled":
		return u.AccountEnabled
	case "signInActivity":
		return signInActivityJSON(u)
	case "createdDateTime":
		if u.CreatedDateTime.IsZero() {
			return nil
		}
		return u.CreatedDateTime.UTC().Format(time.RFC3339)
	case "companyName":
		if u.UserType == "Member" {
			return orgDisplayName
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// parseSelect reads $select; every name must be a property of microsoft.graph.user.
func parseSelect(raw string) ([]string, *filterError) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		name, ok := canonical(userProperties, f)
		if !ok {
			return nil, unknownProperty(f, "microsoft.graph.user")
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

func (g *graphCall) queryValue(q url.Values, name string) string {
	if v := q.Get("$" + name); v != "" {
		return v
	}
	return q.Get(name)
}

// userJSON renders u with the selected properties (id always), dropping what basic readers may not see.
func userJSON(u *User, sel []string, basicOnly bool) map[string]any {
	if len(sel) == 0 {
		sel = defaultUserSelect
	}
	out := map[string]any{"id": u.ID}
	for _, p := range sel {
		if basicOnly && !slices.Contains(basicUserProperties, p) {
			continue
		}
		out[p] = userProperty(u, p)
	}
	return out
}

func (g *graphCall) metadata(entity string, sel []string) string {
	ctx := g.base + "/v1.0/$metadata#" + entity
	if len(sel) > 0 {
		ctx += "(" + strings.Join(sel, ",") + ")"
	}
	return ctx
}

// graphListUsers answers GET /users with the $filter forms Portico sends.
//
// Modelling choice: Entra treats a lambda (any) on proxyAddresses or otherMails joined with
// other clauses by "or" as an advanced query. devtenant therefore refuses such a filter with
// 400 Request_UnsupportedQuery unless the request carries both the header
// "ConsistencyLevel: eventual" and $count=true; single clauses and the identities form work
// without them. Eventually consistent requests do not see users created less than SetSearchLag ago.
func (t *Tenant) graphListUsers(g *graphCall) {
	full := g.who.can(readAllPerms...)
	if !full && !g.who.can(readBasicPerms...) {
		g.denied()
		return
	}
	q := g.r.URL.Query()
	sel, ferr := parseSelect(g.queryValue(q, "select"))
	if ferr != nil {
		g.fail(http.StatusBadRequest, ferr.code, ferr.msg)
		return
	}
	if slices.Contains(sel, "signInActivity") && !(full && g.who.can(signInPerm)) {
		// Graph refuses signInActivity without AuditLog.Read.All (and a user read permission).
		g.denied()
		return
	}
	if g.queryValue(q, "orderby") != "" || g.queryValue(q, "expand") != "" {
		g.fail(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported Query.")
		return
	}
	count := strings.EqualFold(g.queryValue(q, "count"), "true")
	eventual := strings.EqualFold(g.r.Header.Get("ConsistencyLevel"), "eventual")
	var (
		search    []searchClause
		searchAnd bool
	)
	if raw := g.queryValue(q, "search"); raw != "" {
		// $search on directory objects is an advanced query: Graph refuses it without the header.
		if !eventual {
			g.fail(http.StatusBadRequest, "Request_UnsupportedQuery", "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'")
			return
		}
		var msg string
		if search, searchAnd, msg = parseSearch(raw); msg != "" {
			g.fail(http.StatusBadRequest, "Request_UnsupportedQuery", msg)
			return
		}
	}
	top := 100
	if v := g.queryValue(q, "top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 999 {
			g.fail(http.StatusBadRequest, "Request_BadRequest", "Invalid page size specified: '"+v+"'. Must be between 1 and 999 inclusive.")
			return
		}
		top = n
	}
	skip := 0
	if v := g.queryValue(q, "skiptoken"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		n, cerr := strconv.Atoi(strings.TrimPrefix(string(b), "devtenant:"))
		if err != nil || cerr != nil || n < 0 {
			g.fail(http.StatusBadRequest, "Request_BadRequest", "The specified page token value has expired or is invalid.")
			return
		}
		skip = n
	}
	var uq *userQuery
	if f := g.queryValue(q, "filter"); f != "" {
		var err error
		if uq, err = compileFilter(f); err != nil {
			var fe *filterError
			if !errors.As(err, &fe) {
				fe = unsupportedQuery()
			}
			g.fail(http.StatusBadRequest, fe.code, fe.msg)
			return
		}
		if uq.advanced && !(eventual && count) {
			g.fail(http.StatusBadRequest, "Request_UnsupportedQuery",
				"Operator 'any' combined with 'or' is an advanced query and is not supported because the required parameters might be missing. Try adding $count with a value of true and set the ConsistencyLevel header to eventual.")
			return
		}
		if !full && uq.usesNonBasic() {
			g.denied()
			return
		}
	}
	now := t.now()
	t.mu.Lock()
	var matched []map[string]any
	for _, id := range t.userOrder {
		u := t.users[id]
		if eventual && now.Before(u.visibleAt) {
			continue
		}
		if uq != nil && !uq.matches(u) {
			continue
		}
		if search != nil && !searchMatches(search, searchAnd, u) {
			continue
		}
		matched = append(matched, userJSON(u, sel, !full))
	}
	t.mu.Unlock()

	out := map[string]any{"@odata.context": g.metadata("users", sel)}
	if count {
		out["@odata.count"] = len(matched)
	}
	page := matched[min(skip, len(matched)):]
	if len(page) > top {
		page = page[:top]
		nq := cloneValues(q)
		nq.Del("skiptoken")
		nq.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("devtenant:"+strconv.Itoa(skip+top))))
		out["@odata.nextLink"] = g.base + "/v1.0/users?" + nq.Encode()
	}
	if page == nil {
		page = []map[string]any{}
	}
	out["value"] = page
	g.ok(http.StatusOK, out)
}

// graphGetUser answers GET /users/{id | userPrincipalName}.
func (t *Tenant) graphGetUser(g *graphCall) {
	key := strings.TrimPrefix(strings.TrimPrefix(g.r.URL.Path, "/v1.0"), "/users/")
	t.mu.Lock()
	u := t.users[strings.ToLower(key)]
	if u == nil {
		u = t.findByUPNLocked(key)
	}
	var snap *User
	if u != nil {
		snap = cloneUser(u)
	}
	t.mu.Unlock()
	self := snap != nil && !g.who.app && snap.ID == g.who.oid
	full := g.who.can(readAllPerms...) || self && g.who.can("User.Read", "User.ReadWrite")
	if !full && !g.who.can(readBasicPerms...) {
		g.denied()
		return
	}
	if snap == nil {
		g.fail(http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+key+"' does not exist or one of its queried reference-property objects are not present.")
		return
	}
	g.writeUser(snap, full)
}

// graphMe answers GET /me for delegated callers.
func (t *Tenant) graphMe(g *graphCall) {
	if g.who.app {
		g.fail(http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
		return
	}
	if !g.who.can(append([]string{"User.Read", "User.ReadWrite", "User.ReadBasic.All"}, readAllPerms...)...) {
		g.denied()
		return
	}
	t.mu.Lock()
	u := t.users[g.who.oid]
	var snap *User
	if u != nil {
		snap = cloneUser(u)
	}
	t.mu.Unlock()
	if snap == nil {
		g.fail(http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+g.who.oid+"' does not exist or one of its queried reference-property objects are not present.")
		return
	}
	g.writeUser(snap, true)
}

func (g *graphCall) writeUser(u *User, full bool) {
	sel, ferr := parseSelect(g.queryValue(g.r.URL.Query(), "select"))
	if ferr != nil {
		g.fail(http.StatusBadRequest, ferr.code, ferr.msg)
		return
	}
	if slices.Contains(sel, "signInActivity") && !(full && g.who.can(signInPerm)) {
		g.denied()
		return
	}
	out := userJSON(u, sel, !full)
	out["@odata.context"] = g.metadata("users", sel) + "/$entity"
	g.ok(http.StatusOK, out)
}

// graphOrganization answers GET /organization with the tenant's verified domains.
func (t *Tenant) graphOrganization(g *graphCall) {
	// User.Read is a delegated permission only: an app needs Organization.Read.All or higher.
	if !g.who.can("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All") &&
		(g.who.app || !g.who.can("User.Read")) {
		g.denied()
		return
	}
	org := map[string]any{
		"id":                t.opts.TenantID,
		"displayName":       orgDisplayName,
		"tenantType":        "AAD",
		"countryLetterCode": "US",
		"preferredLanguage": "en",
		"createdDateTime":   "2020-01-01T00:00:00Z",
		"verifiedDomains":   verifiedDomains(),
	}
	g.ok(http.StatusOK, map[string]any{"@odata.context": g.base + "/v1.0/$metadata#organization", "value": []any{org}})
}

// graphUserSponsors answers GET /users/{id | userPrincipalName}/sponsors: the user's sponsors as
// directory objects (users here), with User.Read.All or higher as user-list-sponsors documents.
func (t *Tenant) graphUserSponsors(g *graphCall) {
	// Microsoft's user-list-sponsors page: delegated User.Read is enough; applications need
	// User.Read.All or User.ReadWrite.All.
	if !g.who.can("User.Read.All", "User.ReadWrite.All") && (g.who.app || !g.who.can("User.Read")) {
		g.denied()
		return
	}
	key := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(g.r.URL.Path, "/v1.0"), "/users/"), "/sponsors")
	t.mu.Lock()
	u := t.users[strings.ToLower(key)]
	if u == nil {
		u = t.findByUPNLocked(key)
	}
	value := []map[string]any{}
	if u != nil {
		for _, id := range u.Sponsors {
			if s := t.users[id]; s != nil {
				m := userJSON(s, nil, false)
				m["@odata.type"] = "#microsoft.graph.user"
				value = append(value, m)
			} else if gr := t.groups[id]; gr != nil {
				m := map[string]any{"@odata.type": "#microsoft.graph.group"}
				for _, p := range groupProperties {
					m[p] = groupProperty(gr, p)
				}
				value = append(value, m)
			}
		}
	}
	t.mu.Unlock()
	if u == nil {
		g.fail(http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+key+"' does not exist or one of its queried reference-property objects are not present.")
		return
	}
	g.ok(http.StatusOK, map[string]any{"@odata.context": g.base + "/v1.0/$metadata#directoryObjects", "value": value})
}
