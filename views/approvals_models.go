package views

import "time"

// ApprovalOffer is the form's notice that a request needs approval, with a button that asks for it.
type ApprovalOffer struct {
	Reasons   []string
	Approvers string // who decides, in words
}

// ApprovalRow is one approval request in a list.
type ApprovalRow struct {
	ID          string
	Email       string
	DisplayName string
	UserType    string
	Requester   string
	Reasons     []string
	Approvers   string
	State       string // pending | approving | approved | denied | expired | cancelled
	StateLabel  string
	StateClass  string // the badge's colour class
	Created     time.Time
	Expires     time.Time
	DecidedBy   string
	Decided     *time.Time
	Reason      string // a denial's reason
	CanCancel   bool
}

// ApprovalInbox is /approvals: the requests an approver may see, filtered.
type ApprovalInbox struct {
	Page
	Rows    []ApprovalRow
	Decided bool // showing decided requests instead of waiting ones
	Mine    bool // only those assigned to or decided by the viewer
}

// ApprovalDetail is one approval request: the full request, the verdict now, and the decisions
// the viewer may take.
type ApprovalDetail struct {
	Page
	Row           ApprovalRow
	Message       string
	CC            string
	RedirectURL   string
	Language      string
	SendEmail     bool
	LastError     string
	InvitationURL string // approved, and the viewer may open the invitation
	// Verdict is the preflight run now (not at submission), for those who may decide.
	Verdict     *Check
	CanApprove  bool
	CanDeny     bool
	Refusal     string // why the viewer may not decide, when they can see but not act
	Alert       *Alert
	Errors      map[string]string
	DenyReason  string
	MemberNote  bool
	AssignedTip string
}
