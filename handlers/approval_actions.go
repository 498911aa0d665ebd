package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"portico/auth"
	"portico/invite"
	"portico/views"
)

// approveRequest sends the request's invitation as the approver (their delegated token, or
// Portico's application token in application mode). What the request holds is sent, nothing
// from this form.
func (s *Server) approveRequest(c echo.Context) error {
	if !s.approvalsOn() {
		return errNotFound
	}
	res, r, err := s.Approvals.Approve(c.Request().Context(), s.graphTokens(c), s.inviter(c), c.Param("id"), meta(c))
	if err != nil {
		return s.approvalFailed(c, err, "")
	}
	if wantsJSON(c) {
		return c.JSON(http.StatusCreated, approvalJSON(r, res))
	}
	if r.State == invite.ApprovalApproving {
		return s.flashRedirect(c, "/approvals/"+r.ID, "Approved. Microsoft Graph has not answered yet: the request shows Approved once the invitation is confirmed.")
	}
	return s.flashRedirect(c, "/approvals/"+r.ID, "Approved: the invitation to "+r.Email+" was sent in "+personName(r.Requester)+"'s name.")
}

// denyRequest refuses the request with the reason the requester reads.
func (s *Server) denyRequest(c echo.Context) error {
	if !s.approvalsOn() {
		return errNotFound
	}
	reason := c.FormValue(invite.FieldDecisionReason)
	r, err := s.Approvals.Deny(c.Request().Context(), s.inviter(c), c.Param("id"), reason, meta(c))
	if err != nil {
		return s.approvalFailed(c, err, reason)
	}
	if wantsJSON(c) {
		return c.JSON(http.StatusOK, approvalJSON(r, nil))
	}
	return s.flashRedirect(c, "/approvals/"+r.ID, "Denied. "+personName(r.Requester)+" sees your reason.")
}

// cancelRequest withdraws the requester's own request.
func (s *Server) cancelRequest(c echo.Context) error {
	if !s.approvalsOn() {
		return errNotFound
	}
	r, err := s.Approvals.Cancel(c.Request().Context(), s.inviter(c), c.Param("id"), meta(c))
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.JSON(http.StatusOK, approvalJSON(r, nil))
	}
	return s.flashRedirect(c, "/invitations", "Your request to invite "+r.Email+" was cancelled.")
}

// approvalFailed shows a decision that did not go through on the request's page (a reason
// missing, the preflight refusing now, Graph failing); refusals of the person (self-approval, not
// an approver, closed, not found) go to the error handler.
func (s *Server) approvalFailed(c echo.Context, err error, reason string) error {
	if errors.Is(err, auth.ErrReauthRequired) || c.Request().Context().Err() != nil || wantsJSON(c) {
		return err
	}
	p := problemOf(err)
	if !p.Form {
		return err
	}
	m, derr := s.approvalDetail(c, false)
	if derr != nil {
		return derr
	}
	setRetryAfter(c, p.RetryAfter)
	m.Alert = &views.Alert{Kind: p.Kind, Title: p.Title, Text: p.Text, RequestID: p.GraphRequestID}
	var ve *invite.ValidationError
	if errors.As(err, &ve) {
		m.Errors, m.DenyReason = ve.Fields, reason
		if msg := ve.Fields[invite.FieldDecisionReason]; msg != "" {
			m.Alert = &views.Alert{Kind: "error", Title: "Give a reason", Text: msg}
		}
	}
	return render(c, p.Status, views.ApprovalPage(*m))
}

type approvalBody struct {
	ID           string   `json:"id"`
	State        string   `json:"state"`
	Email        string   `json:"invitedUserEmailAddress"`
	Reasons      []string `json:"reasons"`
	Approvers    string   `json:"approvers"`
	ExpiresAt    string   `json:"expiresDateTime"`
	Reason       string   `json:"reason,omitempty"`
	InvitationID string   `json:"invitationId,omitempty"`
	DecidedBy    string   `json:"decidedBy,omitempty"`
}

func approvalJSON(r *invite.ApprovalRequest, res *invite.Result) map[string]any {
	b := approvalBody{ID: r.ID, State: string(r.State), Email: r.Email, Approvers: r.Approvers(),
		ExpiresAt: r.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"), Reason: r.DecisionReason, InvitationID: r.InvitationID,
		DecidedBy: r.DecidedBy.UPN}
	for _, x := range r.Reasons {
		b.Reasons = append(b.Reasons, x.Text)
	}
	out := map[string]any{"approvalRequest": b}
	if res != nil {
		out["invitation"] = invitationJSON(res)
	}
	return out
}

// approvalSubmitted answers a request sent for approval: JSON clients get 202 with the request,
// browsers its page.
func (s *Server) approvalSubmitted(c echo.Context, r *invite.ApprovalRequest) error {
	if wantsJSON(c) {
		return c.JSON(http.StatusAccepted, approvalJSON(r, nil))
	}
	return s.flashRedirect(c, "/approvals/"+r.ID, "Your request was sent for approval. Nothing goes to the partner until "+r.Approvers()+" approves it.")
}
