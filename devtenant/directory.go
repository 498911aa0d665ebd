package devtenant

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

const (
	orgDisplayName = "Contoso"
	defaultDomain  = "contoso.example"
	initialDomain  = "contoso.onmicrosoft.com"
)

// User is a directory user, with the Graph user properties devtenant models plus the role data
// that goes into tokens.
type User struct {
	ID                              string
	DisplayName                     string
	GivenName                       string
	Surname                         string
	JobTitle                        string
	Mail                            string
	MailNickname                    string
	UserPrincipalName               string
	UserType                        string // Member or Guest
	ExternalUserState               string // "", PendingAcceptance or Accepted
	ExternalUserStateChangeDateTime *time.Time
	CreationType                    string // "" or Invitation
	OtherMails                      []string
	ProxyAddresses                  []string
	Identities                      []ObjectIdentity
	AccountEnabled                  bool
	CreatedDateTime                 time.Time
	Sponsors                        []string   // object ids
	Manager                         string     // the manager's object id, or ""
	Wids                            []string   // directory role template ids (the wids claim)
	AppRoles                        []string   // app role values (the roles claim)
	LastSignIn                      *time.Time // signInActivity: the last sign-in (redemption counts)

	tokensValidFrom time.Time
	tokenGen        int       // bumped by RevokeRefreshTokens; refresh tokens of older generations are refused
	visibleAt       time.Time // when eventually consistent queries first see the user
}

// ObjectIdentity is one of a user's sign-in identities (Graph's objectIdentity).
type ObjectIdentity struct {
	SignInType       string `json:"signInType"`
	Issuer           string `json:"issuer"`
	IssuerAssignedID string `json:"issuerAssignedId"`
}

// Account is a demo sign-in account shown on the account picker.
type Account struct {
	UPN         string
	DisplayName string
	Description string
	RoleNames   []string
	ObjectID    string
	Wids        []string
}

// Invitation is devtenant's record of one POST /invitations.
type Invitation struct {
	ID                string
	UserID            string
	Email             string
	DisplayName       string
	UserType          string
	RedirectURL       string
	RedeemURL         string
	Status            string
	SendMessage       bool
	ResetRedemption   bool
	InvitedByID       string
	InvitedByName     string
	InvitedByUPN      string
	CreatedAt         time.Time
	RedeemedAt        *time.Time
	CustomizedMessage string
	Language          string
	CC                []string
}

// Message is an invitation email devtenant "sent" on behalf of Graph.
type Message struct {
	To           string
	ToName       string
	CC           []string
	Subject      string
	Body         string // the customized message body, when the invitation had one
	Language     string // language of Microsoft's localized default text; "" when Body replaces it
	RedeemURL    string
	InvitedBy    string // the inviter's display name
	InviterUPN   string
	InvitationID string
	UserID       string
	SentAt       time.Time
}

type ticket struct {
	invitationID string
	userID       string
	redirect     string
	used         bool
}

// StableID is the deterministic object id devtenant gives a seeded user, derived from its name.
func StableID(name string) string {
	sum := sha256.Sum256([]byte("devtenant/" + strings.ToLower(name)))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5 style: name-based
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// guestUPN rewrites an external address the way Entra names guest accounts.
func guestUPN(addr string) string {
	return strings.Replace(addr, "@", "_", 1) + "#EXT#@" + initialDomain
}

func (t *Tenant) seed() {
	now := t.now().UTC().Truncate(time.Second)
	created := now.AddDate(0, -6, 0)
	member := func(upn, name, given, sur, job string, wids []string, aliases ...string) *User {
		local := upn[:strings.IndexByte(upn, '@')]
		proxies := []string{"SMTP:" + upn, "smtp:" + local + "@" + initialDomain}
		for _, a := range aliases {
			proxies = append(proxies, "smtp:"+a)
		}
		return &User{
			ID: StableID(upn), DisplayName: name, GivenName: given, Surname: sur, JobTitle: job,
			Mail: upn, MailNickname: local, UserPrincipalName: upn, UserType: "Member",
			ProxyAddresses: proxies, AccountEnabled: true, CreatedDateTime: created, Wids: wids,
			Identities: []ObjectIdentity{{SignInType: "userPrincipalName", Issuer: initialDomain, IssuerAssignedID: upn}},
		}
	}
	guest := func(addr, name, state string, changed time.Time) *User {
		upn := guestUPN(addr)
		c := changed
		u := &User{
			ID: StableID(addr), DisplayName: name, Mail: addr, MailNickname: strings.ReplaceAll(addr, "@", "_") + "#EXT#",
			UserPrincipalName: upn, UserType: "Guest", ExternalUserState: state, ExternalUserStateChangeDateTime: &c,
			CreationType: "Invitation", OtherMails: []string{addr}, ProxyAddresses: []string{"SMTP:" + addr},
			AccountEnabled: true, CreatedDateTime: now.AddDate(0, 0, -10),
			Identities: []ObjectIdentity{{SignInType: "userPrincipalName", Issuer: initialDomain, IssuerAssignedID: upn}},
		}
		if state == "Accepted" {
			u.Identities = append(u.Identities, ObjectIdentity{SignInType: "federated", Issuer: "mail", IssuerAssignedID: addr})
		}
		return u
	}
	users := []*User{
		member("employee@contoso.example", "Erin Employee", "Erin", "Employee", "Project Manager", nil),
		member("admin@contoso.example", "Avery Admin", "Avery", "Admin", "IT Administrator", []string{RoleUserAdministrator}),
		member("inviter@contoso.example", "Ines Inviter", "Ines", "Inviter", "Partner Manager", []string{RoleGuestInviter}),
		member("megan@contoso.example", "Megan Bowen", "Megan", "Bowen", "Marketing Manager", nil, "meganb@contoso.example"),
		member(DemoMailbox, "Portico Notices", "", "", "Shared mailbox of Portico's notices", nil),
		guest("pending.guest@fabrikam.example", "Pat Pending (Fabrikam)", "PendingAcceptance", now.AddDate(0, 0, -2)),
		guest("accepted.guest@fabrikam.example", "Alex Accepted (Fabrikam)", "Accepted", now.AddDate(0, 0, -3)),
	}
	renamed := guest("other.mail@fabrikam.example", "Olivia Other (Fabrikam)", "Accepted", now.AddDate(0, 0, -5))
	renamed.ID = StableID("renamed.guest@fabrikam.example")
	renamed.Mail = "renamed.guest@fabrikam.example"
	renamed.ProxyAddresses = []string{"SMTP:renamed.guest@fabrikam.example"}
	users = append(users, renamed)
	localID := StableID("local.user@contoso.onmicrosoft.com")
	users = append(users, &User{
		ID: localID, DisplayName: "Lee Local", GivenName: "Lee", Surname: "Local", UserType: "Member",
		UserPrincipalName: "cpim_" + strings.ReplaceAll(localID, "-", "") + "@" + initialDomain,
		MailNickname:      "cpim_" + strings.ReplaceAll(localID, "-", ""), AccountEnabled: true, CreatedDateTime: created,
		CreationType: "LocalAccount",
		Identities: []ObjectIdentity{
			{SignInType: "emailAddress", Issuer: initialDomain, IssuerAssignedID: "local.user@contoso.onmicrosoft.com"},
			{SignInType: "userPrincipalName", Issuer: initialDomain, IssuerAssignedID: "cpim_" + strings.ReplaceAll(localID, "-", "") + "@" + initialDomain},
		},
	})
	users[0].Manager = StableID("megan@contoso.example") // Erin's manager (approvals may ask for it)
	for _, u := range users {
		t.putLocked(u)
	}
	t.seedGroups(created)
}

// putLocked stores u (callers hold t.mu, or own t exclusively).
func (t *Tenant) putLocked(u *User) {
	if _, ok := t.users[u.ID]; !ok {
		t.userOrder = append(t.userOrder, u.ID)
	}
	t.users[u.ID] = u
}

var demoAccounts = []struct{ upn, desc string }{
	{"employee@contoso.example", "Employee, no directory role"},
	{"admin@contoso.example", "User Administrator (may invite Members)"},
	{"inviter@contoso.example", "Guest Inviter (may invite guests)"},
}

// Accounts lists the demo sign-in accounts in a stable order.
func (t *Tenant) Accounts() []Account {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Account
	for _, d := range demoAccounts {
		u := t.users[StableID(d.upn)]
		if u == nil {
			continue
		}
		var names []string
		for _, w := range u.Wids {
			names = append(names, roleName(w))
		}
		out = append(out, Account{UPN: u.UserPrincipalName, DisplayName: u.DisplayName, Description: d.desc,
			RoleNames: names, ObjectID: u.ID, Wids: slices.Clone(u.Wids)})
	}
	return out
}

func roleName(templateID string) string {
	switch templateID {
	case RoleGlobalAdministrator:
		return "Global Administrator"
	case RoleUserAdministrator:
		return "User Administrator"
	case RoleGuestInviter:
		return "Guest Inviter"
	}
	return templateID
}

// AddUser seeds a directory user; an empty ID gets StableID of its UPN (or mail), and an
// existing user with the same ID is replaced.
func (t *Tenant) AddUser(u User) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u.ID == "" {
		name := u.UserPrincipalName
		if name == "" {
			name = u.Mail
		}
		u.ID = StableID(name)
	}
	if u.UserType == "" {
		u.UserType = "Member"
	}
	if u.CreatedDateTime.IsZero() {
		u.CreatedDateTime = t.now().UTC().Truncate(time.Second)
	}
	c := cloneUser(&u)
	t.putLocked(c)
}

// UserByMail finds a user whose mail, otherMails or userPrincipalName is addr (case-insensitive).
func (t *Tenant) UserByMail(addr string) (User, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.findByAddressLocked(addr); u != nil {
		return *cloneUser(u), true
	}
	return User{}, false
}

// UserByID returns a snapshot of the user with this object id.
func (t *Tenant) UserByID(id string) (User, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.users[id]; u != nil {
		return *cloneUser(u), true
	}
	return User{}, false
}

// Users lists snapshots of every directory user in creation order.
func (t *Tenant) Users() []User {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]User, 0, len(t.userOrder))
	for _, id := range t.userOrder {
		out = append(out, *cloneUser(t.users[id]))
	}
	return out
}

// Invitations lists every invitation created so far, oldest first.
func (t *Tenant) Invitations() []Invitation {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Invitation, 0, len(t.invitations))
	for _, inv := range t.invitations {
		c := *inv
		c.CC = slices.Clone(inv.CC)
		out = append(out, c)
	}
	return out
}

// Outbox lists the invitation emails sent so far, oldest first.
func (t *Tenant) Outbox() []Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Message, len(t.outbox))
	for i, m := range t.outbox {
		m.CC = slices.Clone(m.CC)
		out[i] = m
	}
	return out
}

// Accept marks an invited user Accepted now, as the redemption page does.
func (t *Tenant) Accept(userID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.users[userID]; u != nil {
		t.acceptLocked(u)
	}
}

func (t *Tenant) acceptLocked(u *User) {
	if u.ExternalUserState == "Accepted" {
		return
	}
	now := t.DirectoryNow().UTC().Truncate(time.Second)
	u.ExternalUserState = "Accepted"
	u.ExternalUserStateChangeDateTime = &now
	signIn := now
	u.LastSignIn = &signIn
	if u.Mail != "" && !slices.ContainsFunc(u.Identities, func(i ObjectIdentity) bool { return i.Issuer == "mail" }) {
		// Redemption by one-time passcode, the path an address without its own Entra account takes.
		u.Identities = append(u.Identities, ObjectIdentity{SignInType: "federated", Issuer: "mail", IssuerAssignedID: u.Mail})
	}
}

// RevokeRefreshTokens invalidates every refresh token issued so far to the user (like
// revokeSignInSessions); their next refresh answers invalid_grant.
func (t *Tenant) RevokeRefreshTokens(upn string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.findByUPNLocked(upn); u != nil {
		u.tokensValidFrom = t.now()
		u.tokenGen++
	}
}

func (t *Tenant) findByUPNLocked(upn string) *User {
	for _, id := range t.userOrder {
		if u := t.users[id]; strings.EqualFold(u.UserPrincipalName, upn) {
			return u
		}
	}
	return nil
}

// findByAddressLocked finds the user an invitation to addr refers to: mail, otherMails,
// proxyAddresses (SMTP) or userPrincipalName.
func (t *Tenant) findByAddressLocked(addr string) *User {
	for _, id := range t.userOrder {
		u := t.users[id]
		if strings.EqualFold(u.Mail, addr) || strings.EqualFold(u.UserPrincipalName, addr) ||
			slices.ContainsFunc(u.OtherMails, func(m string) bool { return strings.EqualFold(m, addr) }) ||
			slices.ContainsFunc(u.ProxyAddresses, func(p string) bool { return strings.EqualFold(p, "smtp:"+addr) }) {
			return u
		}
	}
	return nil
}

// signInUserLocked finds a member who may sign in by UPN (guests sign in at their home tenant).
func (t *Tenant) signInUserLocked(upn string) *User {
	upn = strings.TrimSpace(upn)
	u := t.findByUPNLocked(upn)
	if u == nil {
		// A guest who accepted signs in with their own address, as B2B guests do.
		if g := t.findByAddressLocked(upn); g != nil && g.UserType == "Guest" && g.ExternalUserState == "Accepted" {
			u = g
		}
	}
	if u == nil || !u.AccountEnabled || u.UserType != "Member" && u.ExternalUserState != "Accepted" {
		return nil
	}
	return u
}

func cloneUser(u *User) *User {
	c := *u
	c.OtherMails = slices.Clone(u.OtherMails)
	c.ProxyAddresses = slices.Clone(u.ProxyAddresses)
	c.Identities = slices.Clone(u.Identities)
	c.Sponsors = slices.Clone(u.Sponsors)
	c.Wids = slices.Clone(u.Wids)
	c.AppRoles = slices.Clone(u.AppRoles)
	if u.ExternalUserStateChangeDateTime != nil {
		v := *u.ExternalUserStateChangeDateTime
		c.ExternalUserStateChangeDateTime = &v
	}
	if u.LastSignIn != nil {
		v := *u.LastSignIn
		c.LastSignIn = &v
	}
	return &c
}

// verifiedDomains are the organization's domains as GET /organization reports them.
func verifiedDomains() []map[string]any {
	return []map[string]any{
		{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": true, "isInitial": false, "name": defaultDomain, "type": "Managed"},
		{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": false, "isInitial": true, "name": initialDomain, "type": "Managed"},
	}
}

func isVerifiedDomain(domain string) bool {
	d := strings.ToLower(domain)
	return d == defaultDomain || d == initialDomain
}
