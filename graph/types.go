package graph

import "time"

// Invitation is Graph's invitation resource, as sent to and returned by POST /invitations.
type Invitation struct {
	ID                      string            `json:"id,omitempty"`
	InviteRedeemURL         string            `json:"inviteRedeemUrl,omitempty"`
	InviteRedirectURL       string            `json:"inviteRedirectUrl"`
	InvitedUserDisplayName  string            `json:"invitedUserDisplayName,omitempty"`
	InvitedUserEmailAddress string            `json:"invitedUserEmailAddress"`
	InvitedUserType         string            `json:"invitedUserType,omitempty"`
	SendInvitationMessage   bool              `json:"sendInvitationMessage"`
	InvitedUserMessageInfo  *MessageInfo      `json:"invitedUserMessageInfo,omitempty"`
	ResetRedemption         bool              `json:"resetRedemption,omitempty"`
	InvitedUser             *DirectoryObject  `json:"invitedUser,omitempty"`
	InvitedUserSponsors     []DirectoryObject `json:"invitedUserSponsors,omitempty"`
	Status                  string            `json:"status,omitempty"`

	// RequestID is Graph's request-id header of the answer that carried this invitation.
	RequestID string `json:"-"`
}

// MessageInfo is Graph's invitedUserMessageInfo.
type MessageInfo struct {
	CustomizedMessageBody string      `json:"customizedMessageBody,omitempty"`
	MessageLanguage       string      `json:"messageLanguage,omitempty"`
	CCRecipients          []Recipient `json:"ccRecipients,omitempty"`
}

// Recipient is Graph's recipient resource.
type Recipient struct {
	EmailAddress EmailAddress `json:"emailAddress"`
}

// EmailAddress is Graph's emailAddress resource.
type EmailAddress struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
}

// DirectoryObject is a reference to a directory object by id.
type DirectoryObject struct {
	ID string `json:"id"`
}

// User holds the user properties Portico reads.
type User struct {
	ID                              string     `json:"id"`
	DisplayName                     string     `json:"displayName,omitempty"`
	Mail                            string     `json:"mail,omitempty"`
	UserPrincipalName               string     `json:"userPrincipalName,omitempty"`
	UserType                        string     `json:"userType,omitempty"`
	ExternalUserState               string     `json:"externalUserState,omitempty"`
	ExternalUserStateChangeDateTime *time.Time `json:"externalUserStateChangeDateTime,omitempty"`
	CreationType                    string     `json:"creationType,omitempty"`
	OtherMails                      []string   `json:"otherMails,omitempty"`
}

// Organization is Graph's organization resource, reduced to what Portico reads.
type Organization struct {
	ID              string           `json:"id"`
	DisplayName     string           `json:"displayName"`
	VerifiedDomains []VerifiedDomain `json:"verifiedDomains"`
}

// VerifiedDomain is one of the organization's verified domains.
type VerifiedDomain struct {
	Name         string `json:"name"`
	IsDefault    bool   `json:"isDefault"`
	IsInitial    bool   `json:"isInitial"`
	Type         string `json:"type,omitempty"`
	Capabilities string `json:"capabilities,omitempty"`
}
