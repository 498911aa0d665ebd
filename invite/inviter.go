package invite

import (
	"slices"
	"strings"
)

// Role is a permission Portico grants an inviter, derived from the roles in their sign-in token.
type Role string

// Roles an Inviter may hold.
const (
	// RoleAdministrator: a configured directory role (wids) or app role (roles) of the token.
	// Administrators may invite members, see and act on every invitation of their tenant and read
	// the audit trail.
	RoleAdministrator Role = "administrator"
	// RoleApprover: a configured approver (PORTICO_APPROVERS: app role, directory role or group).
	// Approvers decide on requests that policy sends for approval; administrators always may.
	RoleApprover Role = "approver"
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
	// Barred says why Portico's policy refuses to let this employee invite ("" = they may).
	// InviterPolicy sets it; it is decided per request from the verified token.
	Barred Bar
	// Application: an application acting as itself through Portico's API (an app-only token
	// with the Invitations.ReadWrite.All app role), not a person; ObjectID is its service
	// principal. It is never named as a sponsor.
	Application bool
}

// Bar is why an employee may not invite through Portico.
type Bar string

// Reasons an employee may not invite.
const (
	// BarGuest: the account is a guest of the tenant (userType Guest), not an employee.
	BarGuest Bar = "guest"
	// BarNotInviter: the account holds none of the app roles, directory roles or groups that
	// PORTICO_INVITERS lists.
	BarNotInviter Bar = "not-inviter"
)

// MayInvite is the decision whether the inviter may send (or re-send) invitations and look
// addresses up; when not, Err is ErrNotInviter and Reason says why, for the employee.
func (i Inviter) MayInvite() Action {
	reason := "Your account is not among those allowed to invite partners through this portal. Ask your IT team to add you to the group or role that may invite."
	switch i.Barred {
	case "":
		return allow()
	case BarGuest:
		reason = "Guest accounts cannot invite partners through this portal."
	}
	return deny(&NotInviterError{Bar: i.Barred, Reason: reason}, reason)
}

// NotInviterError is the refusal of an employee Portico's policy does not let invite; it is
// ErrNotInviter for errors.Is.
type NotInviterError struct {
	Bar    Bar
	Reason string // for the employee
}

func (e *NotInviterError) Error() string { return ErrNotInviter.Error() + " (" + string(e.Bar) + ")" }

// Is makes errors.Is(err, ErrNotInviter) hold.
func (e *NotInviterError) Is(target error) bool { return target == ErrNotInviter }

// Has reports whether the inviter holds role r.
func (i Inviter) Has(r Role) bool { return slices.Contains(i.Roles, r) }

// CanInviteMember reports whether the inviter may ask for invitedUserType Member.
func (i Inviter) CanInviteMember() bool { return i.Barred == "" && i.Has(RoleAdministrator) }

// SeesAll reports whether the inviter may see and act on every invitation of their tenant, not
// only their own.
func (i Inviter) SeesAll() bool { return i.Has(RoleAdministrator) }

// CanApprove reports whether the inviter may decide on approval requests in general (the
// administrators and PORTICO_APPROVERS); a request assigned to a manager also lets that manager
// decide it (see Approvals.MayDecide). Guests never approve.
func (i Inviter) CanApprove() bool {
	return i.Barred != BarGuest && (i.Has(RoleAdministrator) || i.Has(RoleApprover))
}

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
	Groups   []string // group object ids (the groups claim)
	// Acct is the optional acct claim: "0" a member of the tenant, "1" a guest; "" not sent.
	Acct string
	// IDP is the idp claim: present when the account was authenticated by another identity
	// provider than the tenant itself (guests from other tenants, Microsoft accounts, …).
	IDP string
}

// Guest reports whether the token describes a guest of the tenant rather than an employee: acct
// 1, an idp other than the tenant's own issuer, or a guest's user principal name (#EXT#).
func (c Claims) Guest() bool {
	if c.Acct == "1" || strings.Contains(strings.ToUpper(c.UPN), "#EXT#") {
		return true
	}
	if c.IDP == "" {
		return false
	}
	own := []string{"https://sts.windows.net/" + c.TenantID + "/", "https://login.microsoftonline.com/" + c.TenantID + "/v2.0"}
	return !slices.ContainsFunc(own, func(o string) bool {
		return strings.EqualFold(strings.TrimRight(o, "/"), strings.TrimRight(c.IDP, "/"))
	})
}

// InviterPolicy is Portico's own rule on who may do what, from the verified sign-in token.
type InviterPolicy struct {
	// AdminRoles are directory role template ids (wids) or app role names (roles) of administrators.
	AdminRoles []string
	// Inviters are app role names, directory role template ids and group ids whose holders may
	// invite; nil: every member of the tenant. Administrators may always invite.
	Inviters []string
	// RefuseGuests bars guest accounts from inviting (application mode, where Graph no longer
	// checks who asks).
	RefuseGuests bool
	// Approvers are app role names, directory role template ids and group ids whose holders
	// approve requests (PORTICO_APPROVERS); administrators always may.
	Approvers []string
}

// Inviter maps a signed-in employee to an Inviter with their roles and, when they may not
// invite, why. Decide it per request, against the current configuration.
func (p InviterPolicy) Inviter(c Claims) Inviter {
	inv := NewInviter(c, p.AdminRoles)
	if !c.Guest() && holdsAny(c, p.Approvers) {
		inv.Roles = append(inv.Roles, RoleApprover)
	}
	switch {
	case p.RefuseGuests && c.Guest():
		inv.Barred = BarGuest
	case p.Inviters == nil || inv.Has(RoleAdministrator):
	case !holdsAny(c, p.Inviters):
		inv.Barred = BarNotInviter
	}
	return inv
}

// holdsAny reports whether the token holds one of the app roles, directory role template ids or
// group ids in list.
func holdsAny(c Claims, list []string) bool {
	return slices.ContainsFunc(list, func(r string) bool {
		return r != "" && (slices.Contains(c.AppRoles, r) || slices.Contains(c.Wids, r) || slices.Contains(c.Groups, r))
	})
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
