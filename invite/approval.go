package invite

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// ApprovalKind is one reason policy sends a request to an approver instead of refusing it.
type ApprovalKind string

// Kinds of ApprovalReason (PORTICO_APPROVAL).
const (
	ApprovalForDomain ApprovalKind = "domain" // the domain is not in PORTICO_ALLOWED_DOMAINS
	ApprovalForMember ApprovalKind = "member" // Member asked for by someone who is not an administrator
	ApprovalForQuota  ApprovalKind = "quota"  // the requester's invitation quota is used up
	ApprovalForAll    ApprovalKind = "all"    // every invitation needs approval
)

// ApprovalReason is why one request needs approval, in words for the requester and the approver.
type ApprovalReason struct {
	Kind ApprovalKind `json:"kind"`
	Text string       `json:"text"`
}

// ApprovalPolicy is which requests need approval and who decides.
type ApprovalPolicy struct {
	For []ApprovalKind // what needs approval; empty: nothing (requests outside policy are refused)
	// Manager: the requester's manager (Graph /users/{id}/manager) decides their requests, with
	// the administrators; without a manager the approvers (PORTICO_APPROVERS) and administrators do.
	Manager bool
	TTL     time.Duration // how long a request waits for a decision
	// Notify are addresses told when a request waits (PORTICO_APPROVAL_NOTIFY: the approvers'
	// shared mailbox or list), besides the assigned manager.
	Notify []string
}

// DefaultApprovalTTL applies when ApprovalPolicy.TTL is zero.
const DefaultApprovalTTL = 14 * 24 * time.Hour

// Enabled reports whether any request can need approval.
func (p ApprovalPolicy) Enabled() bool { return len(p.For) > 0 }

// Covers reports whether requests of kind k go to an approver (k listed, or all).
func (p ApprovalPolicy) Covers(k ApprovalKind) bool { return p.covers(k) }

func (p ApprovalPolicy) covers(k ApprovalKind) bool {
	return slices.Contains(p.For, k) || slices.Contains(p.For, ApprovalForAll)
}

// ApprovalNeed is the decision whether a request needs approval before it is sent, and why.
// Without Needed, the request is sent (or refused) as usual.
type ApprovalNeed struct {
	Needed  bool
	Reasons []ApprovalReason
	// Approvers says who decides, for the requester ("an administrator or an approver").
	Approvers string
	// Fields are the request's own problems (Needed or not, they must be fixed before it is
	// sent or asked for).
	Fields FieldErrors
}

// ApprovalState is where an approval request stands.
type ApprovalState string

// States of an approval request.
const (
	ApprovalPending   ApprovalState = "pending"
	ApprovalApproving ApprovalState = "approving" // an approver's send is under way
	ApprovalApproved  ApprovalState = "approved"
	ApprovalDenied    ApprovalState = "denied"
	ApprovalExpired   ApprovalState = "expired"
	ApprovalCancelled ApprovalState = "cancelled"
)

// Open reports whether the request still waits for a decision.
func (s ApprovalState) Open() bool { return s == ApprovalPending || s == ApprovalApproving }

// Person is someone Portico names on an approval request.
type Person struct {
	ObjectID string
	UPN      string
	Name     string
	Email    string
}

// ApprovalRequest is an invitation waiting for (or past) an approver's decision. Request is the
// validated request as submitted: what is approved is exactly what is sent.
type ApprovalRequest struct {
	ID             string
	TenantID       string
	Requester      Person
	Email          string // the partner's address, in lower case
	Request        Request
	Reasons        []ApprovalReason
	Assigned       Person // the requester's manager, when managers approve; zero otherwise
	State          ApprovalState
	DecidedBy      Person // who approved, denied or cancelled (and who is sending while approving)
	DecisionReason string // why it was denied
	LastError      string // why the last approval did not send, for the approvers
	InvitationID   string // approved: the invitation record
	CreatedAt      time.Time
	ExpiresAt      time.Time
	ClaimedAt      *time.Time
	DecidedAt      *time.Time
}

// Expired reports whether the request is past its expiry at now, whatever its stored state.
func (r *ApprovalRequest) Expired(now time.Time) bool {
	return r.State == ApprovalExpired || (r.State == ApprovalPending && !now.Before(r.ExpiresAt))
}

// Has reports whether the request needs approval for reason k.
func (r *ApprovalRequest) Has(k ApprovalKind) bool {
	return slices.ContainsFunc(r.Reasons, func(x ApprovalReason) bool { return x.Kind == k })
}

// Approvers says who can decide the request, for the requester.
func (r *ApprovalRequest) Approvers() string {
	if r.Assigned.ObjectID != "" {
		name := r.Assigned.Name
		if name == "" {
			name = r.Assigned.UPN
		}
		return "your manager, " + name + ", or an administrator"
	}
	if r.Request.UserType == UserTypeMember {
		return "an administrator"
	}
	return "an administrator or an approver of your organization"
}

// requester is the Inviter the approved invitation belongs to.
func (r *ApprovalRequest) requester() Inviter {
	return Inviter{TenantID: r.TenantID, ObjectID: r.Requester.ObjectID, UPN: r.Requester.UPN, Name: r.Requester.Name, Email: r.Requester.Email}
}

// Errors of approvals; handlers map them to status codes.
var (
	// ErrSelfApproval: the requester tried to approve or deny their own request.
	ErrSelfApproval = errors.New("invite: a requester cannot decide their own approval request")
	// ErrApprovalClosed: the request is no longer pending (decided, being decided, cancelled or expired).
	ErrApprovalClosed = errors.New("invite: the approval request is no longer pending")
	// ErrNotApprover: the caller may not decide this request.
	ErrNotApprover = errors.New("invite: not an approver of this request")
	// ErrApprovalNotNeeded: Submit was asked for a request policy does not send for approval.
	ErrApprovalNotNeeded = errors.New("invite: this request does not need approval")
)

// ApprovalActions is what one person may do to one approval request.
type ApprovalActions struct {
	Approve Action
	Deny    Action
	Cancel  Action
}

// Reasons an approval action is not allowed.
const (
	reasonApprovalHidden = "This request belongs to someone else."
	reasonSelfApproval   = "You asked for this invitation, so someone else must decide it."
	reasonNotApprover    = "You are not among those who can decide this request."
	reasonAssigned       = "This request is for the requester's manager or an administrator to decide."
	reasonMemberApproval = "Only an administrator can approve a Member invitation."
	reasonNotRequester   = "Only the person who asked can cancel this request."
)

// decideApproval decides what viewer may do to r at now. It reads nothing.
func decideApproval(viewer Inviter, r *ApprovalRequest, now time.Time) ApprovalActions {
	hidden := deny(ErrNotFound, reasonApprovalHidden)
	if r == nil || viewer.TenantID != r.TenantID || !canSeeApproval(viewer, r) {
		return ApprovalActions{Approve: hidden, Deny: hidden, Cancel: hidden}
	}
	var closed Action
	switch {
	case r.Expired(now):
		closed = deny(ErrApprovalClosed, "This request expired on "+r.ExpiresAt.UTC().Format(timeLayout)+"; nothing was sent.")
	case r.State == ApprovalApproving:
		closed = deny(ErrApprovalClosed, "An approver is sending this invitation right now.")
	case r.State != ApprovalPending:
		closed = deny(ErrApprovalClosed, "This request was "+string(r.State)+" already.")
	}
	a := ApprovalActions{Approve: allow(), Deny: allow(), Cancel: allow()}
	if viewer.ObjectID != r.Requester.ObjectID {
		a.Cancel = deny(ErrNotApprover, reasonNotRequester)
	} else if closed.err != nil {
		a.Cancel = closed
	}
	switch {
	case viewer.ObjectID == r.Requester.ObjectID:
		a.Approve, a.Deny = deny(ErrSelfApproval, reasonSelfApproval), deny(ErrSelfApproval, reasonSelfApproval)
	case !mayDecide(viewer, r):
		why := reasonNotApprover
		if r.Assigned.ObjectID != "" && viewer.CanApprove() {
			why = reasonAssigned
		}
		a.Approve, a.Deny = deny(ErrNotApprover, why), deny(ErrNotApprover, why)
	case closed.err != nil:
		a.Approve, a.Deny = closed, closed
	case r.Request.UserType == UserTypeMember && !viewer.CanInviteMember():
		a.Approve = deny(ErrMemberNotAllowed, reasonMemberApproval)
	}
	return a
}

// mayDecide reports whether viewer may approve or deny r (the requester aside): administrators
// always; the assigned manager for an assigned request; the approvers otherwise.
func mayDecide(viewer Inviter, r *ApprovalRequest) bool {
	switch {
	case viewer.Barred == BarGuest:
		return false
	case viewer.Has(RoleAdministrator):
		return true
	case r.Assigned.ObjectID != "":
		return viewer.ObjectID == r.Assigned.ObjectID
	}
	return viewer.Has(RoleApprover)
}

// canSeeApproval reports whether viewer may see r: its requester, whoever may decide it, anyone
// who decided it, and every approver of the tenant.
func canSeeApproval(viewer Inviter, r *ApprovalRequest) bool {
	return viewer.ObjectID == r.Requester.ObjectID || mayDecide(viewer, r) || viewer.CanApprove() ||
		(r.DecidedBy.ObjectID != "" && viewer.ObjectID == r.DecidedBy.ObjectID)
}

// approvalGrant is what an approver allowed when approving one request: the send that follows
// skips the refusals the approval was for (the allow-list, the requester's quota), nothing else.
type approvalGrant struct {
	requestID      string
	waiveAllowList bool
}

func (g *approvalGrant) waivesAllowList() bool { return g != nil && g.waiveAllowList }

// annotate adds the approval to the attempt's audit detail.
func (g *approvalGrant) annotate(d *auditDetail, owner Inviter) {
	if g == nil {
		return
	}
	d.ApprovalID, d.OnBehalfOf = g.requestID, owner.UPN
	if d.OnBehalfOf == "" {
		d.OnBehalfOf = owner.ObjectID
	}
}

// cleanDecisionReason checks a denial's reason: required, plain text, at most 500 characters.
func cleanDecisionReason(s string) (string, FieldErrors) {
	body, msg := cleanMessage(s, 500)
	if msg == "" && strings.TrimSpace(body) == "" {
		msg = "Say why you deny the request; the requester reads it."
	}
	if msg != "" {
		return "", FieldErrors{FieldDecisionReason: strings.Replace(msg, "message", "reason", 1)}
	}
	return body, nil
}

// FieldDecisionReason is the form field of a denial's reason.
const FieldDecisionReason = "reason"
