// Package views holds Portico's templ components and the plain view-model structs they display.
package views

import "time"

// Page is the layout data every page shares.
type Page struct {
	Title     string
	Demo      bool
	User      *User
	CSRF      string
	Flash     string
	Nav       string // invite | invitations | audit
	RequestID string
	Assets    Assets
	OrgName   string
	Lang      string
	// Partner marks the pages partners see (join, welcome): branded with the organization only,
	// never with Portico, a name the partner does not know.
	Partner bool
	// Refresh, when positive, reloads the page every so many seconds (a send still in flight):
	// app.js reloads it (the element with data-refresh), and a meta refresh inside <noscript> does
	// without JavaScript (outside <noscript> axe's meta-refresh rule, WCAG 2.2.1, refuses it).
	Refresh int
}

// Assets are the fingerprinted URLs of the stylesheet and script.
type Assets struct{ CSS, JS string }

// User is the signed-in employee as the header shows them.
type User struct {
	Name, UPN string
	Admin     bool
	// Approver: the header links to /approvals, with PendingApprovals waiting.
	Approver         bool
	PendingApprovals int
	// DueReviews: guests due for the viewer's review; the header links to /reviews when there are any.
	DueReviews int
	Bulk       bool // may use bulk invitations (administrators and PORTICO_BULK_INVITERS)
}

// DemoAccount is one sign-in button on the demo landing page.
type DemoAccount struct{ Label, UPN, Description string }

// Landing is the signed-out home page.
type Landing struct {
	Page
	DemoAccounts []DemoAccount
	// DemoOutboxURL is the demo tenant's outbox page (the notices and invitation emails sent), "" outside the demo.
	DemoOutboxURL string
}

// Option is one choice of a select.
type Option struct{ Value, Label string }

// InviteForm is the invitation form, empty or with the values and errors of a failed post.
type InviteForm struct {
	Page
	Values       InviteValues
	Errors       map[string]string
	Alert        *Alert
	Languages    []Option
	ShowUserType bool
	MaxMessage   int
	Check        *Check // the address check of the last submit, shown where the live check goes
	ResendOffer  *ResendOffer
	Quota        *Quota // nil: no quota is configured
	// SponsorsEnabled shows the sponsors fields (Values.Sponsors, one per extra sponsor); Groups
	// are the groups and teams guests may be added to.
	SponsorsEnabled bool
	Groups          []GroupOption
	// ApprovalOffer: this request needs approval; the form says why and offers to ask for it.
	ApprovalOffer *ApprovalOffer
	// MemberNeedsApproval: the Member choice is shown to a non-administrator because a Member
	// invitation goes to an approver (PORTICO_APPROVAL=member).
	MemberNeedsApproval bool
}

// GroupOption is a group or team offered on the form.
type GroupOption struct {
	ID, Name      string
	Team, Checked bool
}

// GroupStatus is one group assignment of an invitation.
type GroupStatus struct {
	Name, Status, Error, Code, RequestID string // Status: pending | added | failed
	Attempts                             int
	Updated                              time.Time
}

// Person is a sponsor as shown.
type Person struct{ Name, Address string }

// Quota is the inviter's tightest invitation quota window: "N of M left this hour", or, when none
// is left, the limit and when the next invitation is possible.
type Quota struct {
	Limit, Remaining int
	Day              bool      // the window is a day (24 hours), not an hour
	ResetAt          time.Time // when the next place frees up; zero when none is used
}

// InviteValues are the form's field values.
type InviteValues struct {
	DisplayName, Email, Message, CC, RedirectURL, Language, UserType string
	SendEmail                                                        bool
	Sponsors                                                         []string // extra sponsors' addresses, one per field
	Groups                                                           []string // ids of the groups ticked
}

// Alert is a message box at the top of a page.
type Alert struct {
	Kind                   string // error | warning | info | success
	Title, Text, RequestID string
}

// Check is the live address check's answer.
type Check struct {
	Kind string // ok | warn | error
	Text string
}

// ResendOffer lets the inviter send a pending invitation again instead of a duplicate.
// InvitationID is set when the viewer may see the existing invitation: the offer then links to it
// and resends through it; otherwise the form is posted again with resend=1.
type ResendOffer struct{ InvitationID, Text string }

// Invitation is one invitation as the pages show it.
type Invitation struct {
	Sending                                                                                       bool // the send is still in flight: the page says so and reloads itself
	GuestPage                                                                                     bool // the guest lifecycle is on and the guest was created: admins get a link to /admin/guests/{id}
	ID, Email, DisplayName, InviterName, InviterUPN, UserType, Message, CC, Language, RedirectURL string
	SendEmail                                                                                     bool
	Created                                                                                       time.Time
	State, StateLabel                                                                             string
	StateChanged, StateChecked                                                                    *time.Time
	StateStale                                                                                    bool
	Outcome, ErrorText, GraphRequestID                                                            string

	JoinURL                         string
	JoinQR                          QR
	JoinStatus                      string // active | expired | revoked
	JoinExpires                     *time.Time
	JoinFirstOpened, JoinLastOpened *time.Time
	JoinOpens                       int

	RedeemURL                           string
	CanReveal, CanResend, CanManageLink bool
	RevealReason                        string // why Microsoft's link cannot be revealed, when it cannot
	Revealed                            bool   // RedeemURL was just revealed (shown once, audited)
	History                             []HistoryItem

	// Access at invite time: the guest's sponsors (as Graph has them) and group assignments.
	AccessShown  bool
	Sponsors     []Person
	SponsorsNote string
	Groups       []GroupStatus
	NoLink       bool // listed to a sponsor, who cannot open the invitation's page
}

// QR is a QR code as SVG path data for its dark modules, in a Size×Size view box.
type QR struct {
	Size int
	Path string
}

// HistoryItem is one entry of a partner's history; When is zero for a line about records the
// viewer may not see.
type HistoryItem struct {
	When                  time.Time
	Text, RequestID, Kind string
}

// Result is the page right after an invitation was sent.
type Result struct {
	Page
	Inv         Invitation
	JustCreated bool
}

// InvitationPage is one invitation's page.
type InvitationPage struct {
	Page
	Inv Invitation
}

// InvitationList is "My invitations" (or everyone's, for admins).
type InvitationList struct {
	Page
	Items                    []Invitation
	State                    string
	Everyone, CanSeeEveryone bool
	Sponsored                bool // "Sponsored by me": invitations naming the viewer as a sponsor
	Total                    int  // invitations matching the filter, counted up to a cap
	TotalMore                bool // more than Total match
	// Paging links, "" when there is no such page: the newest invitations, newer ones, older ones.
	NewestURL, NewerURL, OlderURL string
	// Approvals are the employee's own requests waiting for (or recently past) an approver.
	Approvals []ApprovalRow
}

// Join is the partner's landing page behind a join link, in one of its states.
type Join struct {
	Page
	State                                                         string // pending | accepted | superseded | expired | revoked
	InviterName, InviterEmail, InviteeName, Message, AcceptAction string
	InviteeEmail                                                  string // the address the partner must sign in with
	LandingURL                                                    string // accepted: where the partner goes
	Expires                                                       time.Time
	OrgLogo                                                       string
}

// JoinGone is the page for a link that does not work (any reason).
type JoinGone struct{ Page }

// Welcome is where partners land after accepting.
type Welcome struct {
	Page
	Links []Link
}

// Link is a labelled link.
type Link struct{ Label, URL, Text string }

// Audit is the admins' audit trail page.
type Audit struct {
	Page
	Events                []AuditRow
	Filter                AuditFilter
	Actions, Outcomes     []Option // the choices of the action and outcome filters
	Filtered              bool     // a filter is set: offer "Clear filters"
	ExportCSV, ExportJSON string
	// Paging links, "" when there is no such page: the newest events, newer ones, older ones.
	NewestURL, NewerURL, OlderURL string
}

// AuditRow is one audit event; Action and Outcome are readable labels, ActionKey the recorded key.
type AuditRow struct {
	Time                                                             time.Time
	Actor, Action, Target, Outcome, Detail, GraphRequestID, ClientIP string
	ActionKey                                                        string
}

// AuditFilter is the audit page's filter form.
type AuditFilter struct{ Actor, Target, Action, Outcome, Since, Until string }

// Error is an error page.
type Error struct {
	Page
	Status      int
	Title, Text string
	SignIn      bool
}

// SignedOut is shown after sign-out.
type SignedOut struct{ Page }
