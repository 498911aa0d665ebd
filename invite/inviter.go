package invite

import "slices"

// Role is a permission Portico grants an inviter, derived from the roles in their sign-in token.
type Role string

// Roles an Inviter may hold.
const (
	// RoleAdministrator: a configured directory role (wids) or app role (roles) of the token.
	// Administrators may invite members, see and act on every invitation of their tenant and read
	// the audit trail.
	RoleAdministrator Role = "administrator"
)

// Inviter is the employee (or, later, the job or command acting for them) on whose behalf Portico
// acts, with the roles Portico grants them.
type Inviter struct {
	TenantID string
	ObjectID string
	UPN      string
	Name     string
	Email    string
	Roles    []Role
}

// Has reports whether the inviter holds role r.
func (i Inviter) Has(r Role) bool { return slices.Contains(i.Roles, r) }

// CanInviteMember reports whether the inviter may ask for invitedUserType Member.
func (i Inviter) CanInviteMember() bool { return i.Has(RoleAdministrator) }

// SeesAll reports whether the inviter may see and act on every invitation of their tenant, not
// only their own.
func (i Inviter) SeesAll() bool { return i.Has(RoleAdministrator) }

// CanReadAudit reports whether the inviter may read the audit trail.
func (i Inviter) CanReadAudit() bool { return i.Has(RoleAdministrator) }

// Claims is what a verified sign-in token says about an employee.
type Claims struct {
	TenantID string
	ObjectID string
	UPN      string
	Name     string
	Email    string
	Wids     []string // directory role template ids
	AppRoles []string // app roles
}

// NewInviter maps a signed-in employee to an Inviter: they are an administrator when wids holds one
// of adminRoles (directory role template ids) or roles holds one (app role names). This is the
// only place where token roles become Portico's roles; decide it per request, against the current
// configuration.
func NewInviter(c Claims, adminRoles []string) Inviter {
	inv := Inviter{TenantID: c.TenantID, ObjectID: c.ObjectID, UPN: c.UPN, Name: c.Name, Email: c.Email}
	for _, r := range adminRoles {
		if r != "" && (slices.Contains(c.Wids, r) || slices.Contains(c.AppRoles, r)) {
			inv.Roles = append(inv.Roles, RoleAdministrator)
			break
		}
	}
	return inv
}
