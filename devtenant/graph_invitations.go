package devtenant

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// invitationProperties are the writable properties of microsoft.graph.invitation (v1.0).
var invitationProperties = []string{"invitedUserDisplayName", "invitedUserEmailAddress", "invitedUserMessageInfo",
	"sendInvitationMessage", "inviteRedirectUrl", "invitedUserType", "resetRedemption", "invitedUser",
	"invitedUserSponsors", "inviteRedeemUrl", "status", "id"}

type invitationIn struct {
	InvitedUserDisplayName  *string `json:"invitedUserDisplayName"`
	InvitedUserEmailAddress *string `json:"invitedUserEmailAddress"`
	InviteRedirectURL       *string `json:"inviteRedirectUrl"`
	InvitedUserType         *string `json:"invitedUserType"`
	SendInvitationMessage   *bool   `json:"sendInvitationMessage"`
	ResetRedemption         *bool   `json:"resetRedemption"`
	InvitedUserMessageInfo  *struct {
		CustomizedMessageBody *string       `json:"customizedMessageBody"`
		MessageLanguage       *string       `json:"messageLanguage"`
		CCRecipients          []recipientIO `json:"ccRecipients"`
	} `json:"invitedUserMessageInfo"`
	InvitedUser         *directoryObjectIO  `json:"invitedUser"`
	InvitedUserSponsors []directoryObjectIO `json:"invitedUserSponsors"`
}

type recipientIO struct {
	EmailAddress struct {
		Name    *string `json:"name"`
		Address *string `json:"address"`
	} `json:"emailAddress"`
}

type directoryObjectIO struct {
	ID string `json:"id"`
}

type invitationOut struct {
	Context                 string            `json:"@odata.context"`
	ID                      string            `json:"id"`
	InviteRedeemURL         string            `json:"inviteRedeemUrl"`
	InvitedUserDisplayName  *string           `json:"invitedUserDisplayName"`
	InvitedUserType         string            `json:"invitedUserType"`
	InvitedUserEmailAddress string            `json:"invitedUserEmailAddress"`
	SendInvitationMessage   bool              `json:"sendInvitationMessage"`
	ResetRedemption         bool              `json:"resetRedemption"`
	InviteRedirectURL       string            `json:"inviteRedirectUrl"`
	Status                  string            `json:"status"`
	InvitedUserMessageInfo  messageInfoOut    `json:"invitedUserMessageInfo"`
	InvitedUser             directoryObjectIO `json:"invitedUser"`
}

type messageInfoOut struct {
	MessageLanguage       *string       `json:"messageLanguage"`
	CustomizedMessageBody *string       `json:"customizedMessageBody"`
	CCRecipients          []recipientIO `json:"ccRecipients"`
}

var languageTag = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

// validAddress accepts one bare address (no display name, no CR/LF) with a dotted domain.
func validAddress(s string) bool {
	if s == "" || len(s) > 256 || strings.ContainsAny(s, "\r\n<> ") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.HasSuffix(s, ".")
}

// maxSponsors is how many sponsors a guest may have (invitedUserSponsors).
const maxSponsors = 5

func (t *Tenant) graphCreateInvitation(g *graphCall) {
	if !g.who.can("User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All") {
		g.denied()
		return
	}
	raw, ok := decodeObject(g.body)
	if !ok {
		g.fail(http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return
	}
	for k := range raw {
		if !strings.HasPrefix(k, "@") && !slices.Contains(invitationProperties, k) {
			g.fail(http.StatusBadRequest, "BadRequest", "The property '"+k+"' does not exist on type 'microsoft.graph.invitation'. Make sure to only use property names that are defined by the type or mark the type as open type.")
			return
		}
	}
	var in invitationIn
	if err := json.Unmarshal(g.body, &in); err != nil {
		g.fail(http.StatusBadRequest, "BadRequest", "Cannot convert a value of the request payload to the expected type of its property.")
		return
	}
	addr := deref(in.InvitedUserEmailAddress)
	redirect := deref(in.InviteRedirectURL)
	switch {
	case strings.TrimSpace(addr) == "":
		g.fail(http.StatusBadRequest, "BadRequest", "Required property 'invitedUserEmailAddress' is missing or empty.")
		return
	case strings.TrimSpace(redirect) == "":
		g.fail(http.StatusBadRequest, "BadRequest", "Required property 'inviteRedirectUrl' is missing or empty.")
		return
	case !validAddress(addr):
		g.fail(http.StatusBadRequest, "BadRequest", "The invited user email address is invalid.")
		return
	}
	if u, err := url.Parse(redirect); err != nil || !u.IsAbs() || u.Host == "" && u.Opaque == "" {
		g.fail(http.StatusBadRequest, "BadRequest", "The invite redirect URL is invalid: it must be an absolute URI.")
		return
	}
	userType := "Guest"
	if in.InvitedUserType != nil && *in.InvitedUserType != "" {
		switch {
		case strings.EqualFold(*in.InvitedUserType, "Guest"):
		case strings.EqualFold(*in.InvitedUserType, "Member"):
			userType = "Member"
		default:
			g.fail(http.StatusBadRequest, "BadRequest", "The value of invitedUserType must be 'Guest' or 'Member'.")
			return
		}
	}
	var (
		body, lang *string
		ccIn       []recipientIO
	)
	if mi := in.InvitedUserMessageInfo; mi != nil {
		body, lang, ccIn = mi.CustomizedMessageBody, mi.MessageLanguage, mi.CCRecipients
	}
	if lang != nil && *lang != "" && !languageTag.MatchString(*lang) {
		g.fail(http.StatusBadRequest, "BadRequest", "The message language '"+*lang+"' is not supported.")
		return
	}
	for _, c := range ccIn {
		if !validAddress(deref(c.EmailAddress.Address)) {
			g.fail(http.StatusBadRequest, "BadRequest", "The cc recipient email address is invalid.")
			return
		}
	}
	reset := in.ResetRedemption != nil && *in.ResetRedemption
	if reset && (in.InvitedUser == nil || in.InvitedUser.ID == "") {
		g.fail(http.StatusBadRequest, "BadRequest", "The invitedUser id is required when resetRedemption is true.")
		return
	}
	// Resetting redemption changes an existing user: User.ReadWrite.All, and in delegated mode a
	// User Administrator, Helpdesk Administrator or Global Administrator caller.
	if reset && (!g.who.can(resetRedemptionPerms...) || !g.adminCaller(RoleHelpdeskAdministrator)) {
		g.denied()
		return
	}
	// Only admins may invite Members (User Administrator or higher); application permission suffices for apps.
	if userType == "Member" && !g.who.app && !g.who.hasRole(RoleUserAdministrator, RoleGlobalAdministrator) {
		g.denied()
		return
	}
	domain := strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])

	t.mu.Lock()
	inv, status, msg := t.inviteLocked(g, addr, domain, userType, reset, &in, body, lang, ccIn)
	t.mu.Unlock()
	if status != 0 {
		code := "BadRequest"
		if status == http.StatusForbidden {
			code = "Authorization_RequestDenied"
		} else if status == http.StatusNotFound {
			code = "Request_ResourceNotFound"
		}
		g.fail(status, code, msg)
		return
	}
	out := invitationOut{
		Context:                 g.base + "/v1.0/$metadata#invitations/$entity",
		ID:                      inv.ID,
		InviteRedeemURL:         inv.RedeemURL,
		InvitedUserDisplayName:  in.InvitedUserDisplayName,
		InvitedUserType:         inv.UserType,
		InvitedUserEmailAddress: addr,
		SendInvitationMessage:   inv.SendMessage,
		ResetRedemption:         reset,
		InviteRedirectURL:       redirect,
		Status:                  inv.Status,
		InvitedUserMessageInfo:  messageInfoOut{MessageLanguage: lang, CustomizedMessageBody: body, CCRecipients: ccIn},
		InvitedUser:             directoryObjectIO{ID: inv.UserID},
	}
	if len(out.InvitedUserMessageInfo.CCRecipients) == 0 {
		// Graph echoes one empty recipient when none was given (see the invitation-post reference).
		out.InvitedUserMessageInfo.CCRecipients = []recipientIO{{}}
	}
	t.log.Info("devtenant: invitation created", "invitation", inv.ID, "user", inv.UserID, "type", inv.UserType, "status", inv.Status, "email_sent", inv.SendMessage)
	g.ok(http.StatusCreated, out)
}

// inviteLocked creates or reuses the invited user and records the invitation; a non-zero status is a refusal.
func (t *Tenant) inviteLocked(g *graphCall, addr, domain, userType string, reset bool, in *invitationIn,
	body, lang *string, ccIn []recipientIO) (*Invitation, int, string) {
	var u *User
	if reset {
		if u = t.users[in.InvitedUser.ID]; u == nil {
			return nil, http.StatusNotFound, "Resource '" + in.InvitedUser.ID + "' does not exist or one of its queried reference-property objects are not present."
		}
	} else {
		u = t.findByAddressLocked(addr)
	}
	if isVerifiedDomain(domain) && (u == nil || u.CreationType != "Invitation") {
		if u != nil {
			return nil, http.StatusBadRequest, "The invited user already exists in the directory as a member."
		}
		return nil, http.StatusBadRequest, "The invited user's email domain '" + domain + "' is a verified domain of this directory. Users of the organization cannot be invited; create them as members instead."
	}
	if u != nil && u.CreationType != "Invitation" && !reset {
		return nil, http.StatusBadRequest, "The invited user already exists in the directory as a member."
	}
	for _, b := range t.blocked {
		if domain == b || strings.HasSuffix(domain, "."+b) {
			return nil, http.StatusForbidden, "Insufficient privileges to complete the operation. Invitations to the domain '" + domain + "' are blocked by the external collaboration settings of this organization."
		}
	}
	if len(in.InvitedUserSponsors) > maxSponsors {
		return nil, http.StatusBadRequest, fmt.Sprintf("A guest can have at most %d sponsors; %d were given.", maxSponsors, len(in.InvitedUserSponsors))
	}
	var sponsors []string
	for _, s := range in.InvitedUserSponsors {
		// Sponsors are users or groups (the invitation resource's invitedUserSponsors).
		if t.users[s.ID] == nil && t.groups[s.ID] == nil {
			return nil, http.StatusBadRequest, "The sponsor '" + s.ID + "' does not exist in the directory."
		}
		sponsors = append(sponsors, s.ID)
	}
	if len(sponsors) == 0 && !g.who.app {
		sponsors = []string{g.who.oid}
	}

	now := t.DirectoryNow().UTC().Truncate(time.Second)
	if u == nil {
		local := addr[:strings.LastIndexByte(addr, '@')]
		name := deref(in.InvitedUserDisplayName)
		if name == "" {
			name = local
		}
		upn := guestUPN(addr)
		changed := now
		u = &User{
			ID: newUUID(), DisplayName: name, Mail: addr, MailNickname: strings.Replace(addr, "@", "_", 1) + "#EXT#",
			UserPrincipalName: upn, UserType: userType, ExternalUserState: "PendingAcceptance",
			ExternalUserStateChangeDateTime: &changed, CreationType: "Invitation", OtherMails: []string{addr},
			ProxyAddresses: []string{"SMTP:" + addr}, AccountEnabled: true, CreatedDateTime: now,
			Identities: []ObjectIdentity{{SignInType: "userPrincipalName", Issuer: initialDomain, IssuerAssignedID: upn}},
			visibleAt:  t.now().Add(t.searchLag),
		}
		t.putLocked(u)
	} else if reset {
		changed := now
		u.ExternalUserState, u.ExternalUserStateChangeDateTime, u.CreationType = "PendingAcceptance", &changed, "Invitation"
		if !strings.EqualFold(u.Mail, addr) {
			u.Mail = addr
			u.OtherMails = append(u.OtherMails, addr)
		}
		u.Identities = slices.DeleteFunc(u.Identities, func(i ObjectIdentity) bool { return i.SignInType != "userPrincipalName" })
	}
	for _, s := range sponsors {
		if !slices.Contains(u.Sponsors, s) {
			u.Sponsors = append(u.Sponsors, s)
		}
	}
	status := "PendingAcceptance"
	if u.ExternalUserState == "Accepted" {
		status = "Completed"
	}
	tk := randomToken(32)
	q := url.Values{"tenant": {t.opts.TenantID}, "user": {u.ID}, "ticket": {tk}, "ver": {"2.0"}}
	inviter := g.who.name
	if g.who.app {
		inviter = orgDisplayName
	}
	inv := &Invitation{
		ID: newUUID(), UserID: u.ID, Email: addr, DisplayName: deref(in.InvitedUserDisplayName), UserType: u.UserType,
		RedirectURL: deref(in.InviteRedirectURL), RedeemURL: g.base + "/redeem?" + q.Encode(), Status: status,
		SendMessage: in.SendInvitationMessage != nil && *in.SendInvitationMessage, ResetRedemption: reset,
		InvitedByID: g.who.oid, InvitedByName: inviter, InvitedByUPN: g.who.upn, CreatedAt: now,
		CustomizedMessage: deref(body), Language: deref(lang),
	}
	// Only the first cc recipient is honoured, as Graph documents.
	if len(ccIn) > 0 {
		inv.CC = []string{deref(ccIn[0].EmailAddress.Address)}
	}
	t.invitations = append(t.invitations, inv)
	t.tickets[tk] = &ticket{invitationID: inv.ID, userID: u.ID, redirect: inv.RedirectURL}
	if inv.SendMessage {
		// Microsoft ignores messageLanguage whenever customizedMessageBody is set: the guest then
		// gets the custom text, not a localized default.
		language := inv.Language
		switch {
		case inv.CustomizedMessage != "":
			language = ""
		case language == "":
			language = "en-US"
		}
		t.outbox = append(t.outbox, Message{
			To: addr, ToName: deref(in.InvitedUserDisplayName), CC: slices.Clone(inv.CC),
			Subject:  inviter + " invited you to access applications within their organization",
			Body:     inv.CustomizedMessage,
			Language: language, RedeemURL: inv.RedeemURL, InvitedBy: inviter, InviterUPN: g.who.upn,
			InvitationID: inv.ID, UserID: u.ID, SentAt: now,
		})
	}
	return inv, 0, ""
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
