package devtenant

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Permissions as Microsoft's pages list them (group-get, group-post-members), delegated and
// application alike.
var (
	// GroupMember.ReadWrite.All also lists groups and reads their basic properties (Microsoft's
	// permissions reference), though group-get's table names only the read permissions.
	groupReadPerms        = []string{"GroupMember.Read.All", "GroupMember.ReadWrite.All", "Group.Read.All", "Directory.Read.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
	groupMemberWritePerms = []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
)

// memberRef is the path of an @odata.id that names a directory object:
// https://graph.microsoft.com/v1.0/directoryObjects/{id} (or /users/{id}, /groups/{id}).
var memberRef = regexp.MustCompile(`^/(?:v1\.0|beta)/(directoryObjects|users|groups)/([^/]+)$`)

func notFound(g *graphCall, key string) {
	g.fail(http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+key+"' does not exist or one of its queried reference-property objects are not present.")
}

// graphGetGroup answers GET /groups/{id}.
func (t *Tenant) graphGetGroup(g *graphCall) {
	if !g.who.can(groupReadPerms...) {
		g.denied()
		return
	}
	id := strings.TrimPrefix(strings.TrimPrefix(g.r.URL.Path, "/v1.0"), "/groups/")
	var sel []string
	if raw := strings.TrimSpace(g.queryValue(g.r.URL.Query(), "select")); raw != "" {
		for _, f := range strings.Split(raw, ",") {
			name, ok := canonical(groupProperties, strings.TrimSpace(f))
			if !ok {
				ferr := unknownProperty(strings.TrimSpace(f), "microsoft.graph.group")
				g.fail(http.StatusBadRequest, ferr.code, ferr.msg)
				return
			}
			if !slices.Contains(sel, name) {
				sel = append(sel, name)
			}
		}
	}
	gr, ok := t.GroupByID(id)
	if !ok {
		notFound(g, id)
		return
	}
	props := sel
	if len(props) == 0 {
		props = groupProperties
	}
	out := map[string]any{"@odata.context": g.metadata("groups", sel) + "/$entity", "id": gr.ID}
	for _, p := range props {
		out[p] = groupProperty(&gr, p)
	}
	g.ok(http.StatusOK, out)
}

// graphAddGroupMember answers POST /groups/{id}/members/$ref.
//
// Delegated callers need the permission and must also be allowed to manage the group: an owner,
// or a Groups Administrator, Directory Writer, User Administrator or Global Administrator.
func (t *Tenant) graphAddGroupMember(g *graphCall) {
	if !g.who.can(groupMemberWritePerms...) {
		g.denied()
		return
	}
	path := strings.TrimPrefix(g.r.URL.Path, "/v1.0")
	groupID := strings.TrimSuffix(strings.TrimPrefix(path, "/groups/"), "/members/$ref")
	raw, ok := decodeObject(g.body)
	if !ok {
		g.fail(http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return
	}
	var ref string
	if v, has := raw["@odata.id"]; !has || json.Unmarshal(v, &ref) != nil || strings.TrimSpace(ref) == "" {
		g.fail(http.StatusBadRequest, "BadRequest", "The request body must contain a non-empty '@odata.id' property.")
		return
	}
	u, err := url.Parse(ref)
	var m []string
	if err == nil && u.IsAbs() {
		m = memberRef.FindStringSubmatch(u.Path)
	}
	if m == nil {
		g.fail(http.StatusBadRequest, "Request_BadRequest", "Invalid object identifier '"+ref+"'.")
		return
	}
	memberID := strings.ToLower(m[2])

	t.mu.Lock()
	defer t.mu.Unlock()
	gr := t.groups[strings.ToLower(groupID)]
	if gr == nil {
		notFound(g, groupID)
		return
	}
	if !g.who.app && !slices.Contains(gr.Owners, g.who.oid) &&
		!g.who.hasRole(RoleGlobalAdministrator, RoleUserAdministrator, RoleGroupsAdministrator, RoleDirectoryWriters) {
		g.denied()
		return
	}
	exists := t.users[memberID] != nil && m[1] != "groups" || t.groups[memberID] != nil && m[1] != "users"
	if !exists {
		notFound(g, memberID)
		return
	}
	if slices.Contains(gr.Members, memberID) {
		g.fail(http.StatusBadRequest, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
		return
	}
	gr.Members = append(gr.Members, memberID)
	t.log.Info("devtenant: group member added", "group", gr.ID, "member", memberID)
	g.w.WriteHeader(http.StatusNoContent)
}

// graphGetManager answers GET /users/{id | userPrincipalName}/manager (user-list-manager).
func (t *Tenant) graphGetManager(g *graphCall) {
	if !g.who.can(readAllPerms...) && (g.who.app || !g.who.can("Directory.AccessAsUser.All")) {
		g.denied()
		return
	}
	key := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(g.r.URL.Path, "/v1.0"), "/users/"), "/manager")
	t.mu.Lock()
	u := t.users[strings.ToLower(key)]
	if u == nil {
		u = t.findByUPNLocked(key)
	}
	var mgr *User
	if u != nil && u.Manager != "" && t.users[u.Manager] != nil {
		mgr = cloneUser(t.users[u.Manager])
	}
	t.mu.Unlock()
	switch {
	case u == nil:
		notFound(g, key)
		return
	case mgr == nil:
		notFound(g, "manager")
		return
	}
	sel, ferr := parseSelect(g.queryValue(g.r.URL.Query(), "select"))
	if ferr != nil {
		g.fail(http.StatusBadRequest, ferr.code, ferr.msg)
		return
	}
	out := userJSON(mgr, sel, false)
	out["@odata.context"] = g.base + "/v1.0/$metadata#directoryObjects/$entity"
	out["@odata.type"] = "#microsoft.graph.user"
	g.ok(http.StatusOK, out)
}

// searchClause is one "property:term" of a $search expression.
type searchClause struct {
	prop string
	term string
}

// searchableUserProperties are the user properties $search accepts (tokenized prefix matching).
var searchableUserProperties = []string{"displayName", "givenName", "surname", "mail", "userPrincipalName", "jobTitle"}

// parseSearch reads $search as Graph's directory search takes it: quoted "property:term"
// clauses joined by OR or AND (AND binds like OR here: devtenant supports one operator at a time).
func parseSearch(raw string) (clauses []searchClause, and bool, msg string) {
	s := strings.TrimSpace(raw)
	var ops []string
	for s != "" {
		if s[0] != '"' {
			return nil, false, "Syntax error: character '" + s[:1] + "' is not valid at position 0 in '" + raw + "'."
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return nil, false, "Syntax error: unterminated string in '" + raw + "'."
		}
		body := s[1 : end+1]
		s = strings.TrimSpace(s[end+2:])
		prop, term, ok := strings.Cut(body, ":")
		name, known := canonical(searchableUserProperties, strings.TrimSpace(prop))
		if !ok || !known || strings.TrimSpace(term) == "" {
			return nil, false, "Invalid search clause '" + body + "': expected \"property:value\" with a searchable property."
		}
		clauses = append(clauses, searchClause{prop: name, term: strings.ToLower(strings.TrimSpace(term))})
		if s == "" {
			break
		}
		op, rest, _ := strings.Cut(s, " ")
		if op != "OR" && op != "AND" {
			return nil, false, "Syntax error: expected OR or AND in '" + raw + "'."
		}
		ops = append(ops, op)
		s = strings.TrimSpace(rest)
	}
	if len(clauses) == 0 {
		return nil, false, "Syntax error: empty $search."
	}
	and = slices.Contains(ops, "AND")
	if and && slices.Contains(ops, "OR") {
		return nil, false, "Unsupported Query."
	}
	return clauses, and, ""
}

// matchesSearch applies tokenized prefix matching: a term matches a value when a word of the
// value (split on spaces and punctuation) starts with it, or the whole value does.
func (c searchClause) matches(u *User) bool {
	v, _ := userProperty(u, c.prop).(string)
	v = strings.ToLower(v)
	if v == "" {
		return false
	}
	if strings.HasPrefix(v, c.term) {
		return true
	}
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(" .-_@()", r) }) {
		if strings.HasPrefix(w, c.term) {
			return true
		}
	}
	return false
}

func searchMatches(clauses []searchClause, and bool, u *User) bool {
	for _, c := range clauses {
		ok := c.matches(u)
		if ok && !and {
			return true
		}
		if !ok && and {
			return false
		}
	}
	return and
}
