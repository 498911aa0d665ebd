package handlers

import (
	"context"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"portico/invite"
	"portico/views"
)

// Approvals is what the handlers need of approval requests (invite.Approvals satisfies it).
type Approvals interface {
	Policy() invite.ApprovalPolicy
	Need(ctx context.Context, inv invite.Inviter, req invite.Request) (invite.ApprovalNeed, error)
	Submit(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, req invite.Request, meta invite.Meta) (*invite.ApprovalRequest, error)
	Get(ctx context.Context, viewer invite.Inviter, id string) (*invite.ApprovalRequest, invite.ApprovalActions, error)
	Actions(viewer invite.Inviter, r *invite.ApprovalRequest) invite.ApprovalActions
	Mine(ctx context.Context, inv invite.Inviter, limit int) ([]invite.ApprovalRequest, error)
	Inbox(ctx context.Context, approver invite.Inviter, f invite.InboxFilter) ([]invite.ApprovalRequest, error)
	MayOpenInbox(ctx context.Context, inv invite.Inviter) bool
	PendingCount(ctx context.Context, inv invite.Inviter) (int, error)
	Recheck(ctx context.Context, ts oauth2.TokenSource, approver invite.Inviter, id string) (*invite.Preflight, error)
	Approve(ctx context.Context, ts oauth2.TokenSource, approver invite.Inviter, id string, meta invite.Meta) (*invite.Result, *invite.ApprovalRequest, error)
	Deny(ctx context.Context, approver invite.Inviter, id, reason string, meta invite.Meta) (*invite.ApprovalRequest, error)
	Cancel(ctx context.Context, requester invite.Inviter, id string, meta invite.Meta) (*invite.ApprovalRequest, error)
}

var _ Approvals = (*invite.Approvals)(nil)

// approvalsOn reports whether requests can need approval here.
func (s *Server) approvalsOn() bool { return s.Approvals != nil && s.Approvals.Policy().Enabled() }

// approverHeader fills the header's Approvals link for the signed-in employee: approvers always
// see it; a manager sees it while requests wait for them.
func (s *Server) approverHeader(c echo.Context, u *views.User, inv invite.Inviter) {
	if !s.approvalsOn() || (!inv.CanApprove() && !s.Approvals.Policy().Manager) {
		return
	}
	n, err := s.Approvals.PendingCount(c.Request().Context(), inv)
	if err != nil {
		s.Logger.Warn("approvals count not shown", "request_id", requestID(c), "err", err)
	}
	u.Approver, u.PendingApprovals = inv.CanApprove() || n > 0, n
}

// Words for the states of approval requests.
var approvalStateLabels = map[invite.ApprovalState]string{
	invite.ApprovalPending:   "Waiting for approval",
	invite.ApprovalApproving: "Being approved",
	invite.ApprovalApproved:  "Approved",
	invite.ApprovalDenied:    "Denied",
	invite.ApprovalExpired:   "Expired",
	invite.ApprovalCancelled: "Cancelled",
}

var approvalStateClasses = map[invite.ApprovalState]string{
	invite.ApprovalPending:   "pending",
	invite.ApprovalApproving: "pending",
	invite.ApprovalApproved:  "accepted",
	invite.ApprovalDenied:    "denied",
}

// approvalRow is the view of one request for viewer.
func (s *Server) approvalRow(viewer invite.Inviter, r *invite.ApprovalRequest) views.ApprovalRow {
	now := s.Clock()
	state := r.State
	if r.Expired(now) {
		state = invite.ApprovalExpired
	}
	row := views.ApprovalRow{ID: r.ID, Email: r.Email, DisplayName: r.Request.DisplayName, UserType: r.Request.UserType,
		Requester: personName(r.Requester), Approvers: r.Approvers(), State: string(state), StateLabel: approvalStateLabels[state],
		StateClass: approvalStateClasses[state], Created: r.CreatedAt, Expires: r.ExpiresAt, Decided: r.DecidedAt,
		Reason: r.DecisionReason, CanCancel: s.Approvals.Actions(viewer, r).Cancel.Allowed}
	if state != invite.ApprovalPending && state != invite.ApprovalExpired && r.DecidedBy.ObjectID != "" {
		row.DecidedBy = personName(r.DecidedBy)
	}
	for _, x := range r.Reasons {
		row.Reasons = append(row.Reasons, x.Text)
	}
	if viewer.ObjectID != r.Requester.ObjectID && strings.HasPrefix(row.Approvers, "your manager") {
		row.Approvers = "the requester's manager" + strings.TrimPrefix(row.Approvers, "your manager")
	}
	return row
}

func personName(p invite.Person) string {
	switch {
	case p.Name != "" && p.UPN != "":
		return p.Name + " (" + p.UPN + ")"
	case p.Name != "":
		return p.Name
	}
	return p.UPN
}
