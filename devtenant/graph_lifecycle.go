package devtenant

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// RoleHelpdeskAdministrator is the Helpdesk Administrator directory role template id.
const RoleHelpdeskAdministrator = "729827e3-9c14-49f7-bb1b-9608f156bbb8"

// DeletedRetention is how long a deleted user stays in the directory's deleted items before
// Entra purges it for good (30 days).
const DeletedRetention = 30 * 24 * time.Hour

// Permissions of the lifecycle endpoints, least privileged first, as Microsoft's pages list them.
var (
	// user-update: accountEnabled alone may be changed with User.EnableDisableAccount.All.
	updateUserPerms   = []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}
	enableDisablePerm = "User.EnableDisableAccount.All"
	// user-delete and directory-deleteditems-restore (users): Microsoft's pages list
	// User.ReadWrite.All and no higher permission; Directory.ReadWrite.All does not allow
	// deleting users. User.DeleteRestore.All exists for exactly this and is kept.
	deleteRestorePerms = []string{"User.DeleteRestore.All", "User.ReadWrite.All"}
	// directory-deleteditems-list for users.
	deletedReadPerms = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
		"User.DeleteRestore.All"}
	// signInActivity needs AuditLog.Read.All besides a user read permission.
	signInPerm = "AuditLog.Read.All"
	// invitation-post with resetRedemption: User.ReadWrite.All (User.Invite.All is not enough).
	resetRedemptionPerms = []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}
)

// deletedUser is a user in the directory's deleted items.
type deletedUser struct {
	user      *User
	deletedAt time.Time
}

// ClockOffset is how far devtenant's directory clock runs ahead of Options.Clock: invitation,
// acceptance, deletion and sign-in times and the 30-day purge of deleted items follow it.
// Tokens keep the real clock, so callers' cached tokens stay valid.
func (t *Tenant) ClockOffset() time.Duration { return time.Duration(t.clockOffset.Load()) }

// SetClockOffset moves devtenant's directory clock to Options.Clock()+d (d >= 0).
func (t *Tenant) SetClockOffset(d time.Duration) {
	t.clockOffset.Store(int64(max(d, 0)))
	t.mu.Lock()
	t.purgeDeletedLocked()
	t.mu.Unlock()
}

// AdvanceClock moves devtenant's directory clock forward by d (a test hook: 30 days pass at once).
func (t *Tenant) AdvanceClock(d time.Duration) { t.SetClockOffset(t.ClockOffset() + max(d, 0)) }

// DirectoryNow is the directory's clock: Options.Clock plus ClockOffset.
func (t *Tenant) DirectoryNow() time.Time { return t.now().Add(t.ClockOffset()) }

// DeletedUsers lists snapshots of the users in deleted items with when each was deleted.
func (t *Tenant) DeletedUsers() map[string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.purgeDeletedLocked()
	out := map[string]time.Time{}
	for id, d := range t.deleted {
		out[id] = d.deletedAt
	}
	return out
}

// SetLastSignIn records a sign-in of the user at 'at' (signInActivity), as Entra's sign-in logs do.
func (t *Tenant) SetLastSignIn(userID string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.users[userID]; u != nil {
		v := at.UTC().Truncate(time.Second)
		u.LastSignIn = &v
	}
}

func (t *Tenant) purgeDeletedLocked() {
	now := t.DirectoryNow()
	for id, d := range t.deleted {
		if now.Sub(d.deletedAt) >= DeletedRetention {
			delete(t.deleted, id)
		}
	}
}

// userKey is the {id | userPrincipalName} segment of /users/{key}.
func userKey(g *graphCall) string {
	return strings.TrimPrefix(strings.TrimPrefix(g.r.URL.Path, "/v1.0"), "/users/")
}

func (g *graphCall) notFound(key string) {
	g.fail(http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+key+"' does not exist or one of its queried reference-property objects are not present.")
}

// adminCaller reports whether a delegated caller holds a role that may manage other users'
// accounts (User Administrator, Global Administrator); application callers rely on their permission.
func (g *graphCall) adminCaller(roles ...string) bool {
	return g.who.app || g.who.hasRole(append([]string{RoleUserAdministrator, RoleGlobalAdministrator}, roles...)...)
}

// graphPatchUser answers PATCH /users/{id | userPrincipalName}: 204 No Content. devtenant applies
// accountEnabled and displayName; other properties of microsoft.graph.user are accepted and ignored,
// unknown ones are refused as Graph does.
func (t *Tenant) graphPatchUser(g *graphCall) {
	key := userKey(g)
	raw, ok := decodeObject(g.body)
	if !ok {
		g.fail(http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return
	}
	onlyEnable := len(raw) > 0
	for k := range raw {
		if strings.HasPrefix(k, "@") {
			continue
		}
		if _, ok := canonical(userProperties, k); !ok {
			g.fail(http.StatusBadRequest, "Request_BadRequest", "Property '"+k+"' does not exist as a declared property or extension property.")
			return
		}
		if k != "accountEnabled" {
			onlyEnable = false
		}
	}
	if !g.who.can(updateUserPerms...) && !(onlyEnable && g.who.can(enableDisablePerm)) {
		g.denied()
		return
	}
	var enabled *bool
	if v, ok := raw["accountEnabled"]; ok {
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			g.fail(http.StatusBadRequest, "BadRequest", "Cannot convert the literal '"+string(v)+"' to the expected type 'Edm.Boolean'.")
			return
		}
		enabled = &b
	}
	var name *string
	if v, ok := raw["displayName"]; ok {
		var s string
		if err := json.Unmarshal(v, &s); err != nil || strings.TrimSpace(s) == "" {
			g.fail(http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'displayName' of resource 'User'.")
			return
		}
		name = &s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.users[strings.ToLower(key)]
	if u == nil {
		u = t.findByUPNLocked(key)
	}
	if u == nil {
		g.notFound(key)
		return
	}
	self := !g.who.app && u.ID == g.who.oid
	// Changing another user's account state needs an administrator role in delegated mode.
	if !self && !g.adminCaller() {
		g.denied()
		return
	}
	if enabled != nil {
		u.AccountEnabled = *enabled
		if !*enabled {
			u.tokensValidFrom = t.now()
			u.tokenGen++ // a disabled account's refresh tokens stop working, as in Entra
		}
	}
	if name != nil {
		u.DisplayName = *name
	}
	g.w.WriteHeader(http.StatusNoContent)
}

// graphDeleteUser answers DELETE /users/{id | userPrincipalName}: 204; the user moves to deleted
// items, restorable for 30 days.
func (t *Tenant) graphDeleteUser(g *graphCall) {
	key := userKey(g)
	if !g.who.can(deleteRestorePerms...) {
		g.denied()
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.users[strings.ToLower(key)]
	if u == nil {
		u = t.findByUPNLocked(key)
	}
	if u == nil {
		g.notFound(key)
		return
	}
	if !g.adminCaller() || !g.who.app && u.ID == g.who.oid {
		g.denied()
		return
	}
	delete(t.users, u.ID)
	t.userOrder = slices.DeleteFunc(t.userOrder, func(id string) bool { return id == u.ID })
	if t.deleted == nil {
		t.deleted = map[string]*deletedUser{}
	}
	t.deleted[u.ID] = &deletedUser{user: u, deletedAt: t.DirectoryNow().UTC().Truncate(time.Second)}
	g.w.WriteHeader(http.StatusNoContent)
}

// graphListDeletedUsers answers GET /directory/deletedItems/microsoft.graph.user.
func (t *Tenant) graphListDeletedUsers(g *graphCall) {
	if !g.who.can(deletedReadPerms...) {
		g.denied()
		return
	}
	sel, ferr := parseSelect(g.queryValue(g.r.URL.Query(), "select"))
	if ferr != nil {
		g.fail(http.StatusBadRequest, ferr.code, ferr.msg)
		return
	}
	if slices.Contains(sel, "signInActivity") {
		g.denied()
		return
	}
	t.mu.Lock()
	t.purgeDeletedLocked()
	ids := make([]string, 0, len(t.deleted))
	for id := range t.deleted {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return t.deleted[a].deletedAt.Compare(t.deleted[b].deletedAt) })
	value := []map[string]any{}
	for _, id := range ids {
		d := t.deleted[id]
		m := userJSON(d.user, sel, false)
		m["deletedDateTime"] = d.deletedAt.UTC().Format(time.RFC3339)
		value = append(value, m)
	}
	t.mu.Unlock()
	g.ok(http.StatusOK, map[string]any{"@odata.context": g.base + "/v1.0/$metadata#directoryObjects/microsoft.graph.user", "value": value})
}

// graphRestoreDeleted answers POST /directory/deletedItems/{id}/restore: 200 with the restored user.
func (t *Tenant) graphRestoreDeleted(g *graphCall) {
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(g.r.URL.Path, "/v1.0"), "/directory/deletedItems/"), "/restore")
	if !g.who.can(deleteRestorePerms...) {
		g.denied()
		return
	}
	if !g.adminCaller() {
		g.denied()
		return
	}
	t.mu.Lock()
	t.purgeDeletedLocked()
	d := t.deleted[strings.ToLower(id)]
	if d == nil {
		t.mu.Unlock()
		g.notFound(id)
		return
	}
	if clash := t.findByUPNLocked(d.user.UserPrincipalName); clash != nil {
		t.mu.Unlock()
		g.fail(http.StatusBadRequest, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.")
		return
	}
	delete(t.deleted, d.user.ID)
	t.putLocked(d.user)
	out := userJSON(d.user, nil, false)
	t.mu.Unlock()
	out["@odata.context"] = g.base + "/v1.0/$metadata#directoryObjects/$entity"
	out["@odata.type"] = "#microsoft.graph.user"
	g.ok(http.StatusOK, out)
}

// signInActivityJSON is Graph's signInActivity resource for u.
func signInActivityJSON(u *User) map[string]any {
	return map[string]any{
		"lastSignInDateTime":               timeOrNil(u.LastSignIn),
		"lastSignInRequestId":              nil,
		"lastNonInteractiveSignInDateTime": nil,
		"lastSuccessfulSignInDateTime":     timeOrNil(u.LastSignIn),
	}
}
