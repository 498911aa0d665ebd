package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"portico/invite"
)

// apiApproval is one approval request in the API.
type apiApproval struct {
	ID                      string             `json:"id"`
	State                   string             `json:"state"` // pending, approving, approved, denied, expired, cancelled
	InvitedUserEmailAddress string             `json:"invitedUserEmailAddress"`
	InvitedUserDisplayName  string             `json:"invitedUserDisplayName,omitempty"`
	InvitedUserType         string             `json:"invitedUserType"`
	Reasons                 []string           `json:"reasons"`
	Approvers               string             `json:"approvers"`
	RequestedBy             apiInviterRef      `json:"requestedBy"`
	CreatedDateTime         time.Time          `json:"createdDateTime"`
	ExpiresDateTime         time.Time          `json:"expiresDateTime"`
	DecidedBy               *apiInviterRef     `json:"decidedBy,omitempty"`
	DecidedDateTime         *time.Time         `json:"decidedDateTime,omitempty"`
	DecisionReason          string             `json:"decisionReason,omitempty"`
	InvitationID            string             `json:"invitationId,omitempty"`
	LastError               string             `json:"lastError,omitempty"`
	Actions                 apiApprovalActions `json:"actions"` // what the caller may do now
}

type apiApprovalActions struct {
	Approve bool `json:"approve"`
	Deny    bool `json:"deny"`
	Cancel  bool `json:"cancel"`
}

func (s *Server) apiApprovalOf(viewer invite.Inviter, r *invite.ApprovalRequest, acts invite.ApprovalActions) apiApproval {
	state := r.State
	if r.Expired(s.Clock()) {
		state = invite.ApprovalExpired
	}
	out := apiApproval{ID: r.ID, State: string(state), InvitedUserEmailAddress: r.Email, InvitedUserDisplayName: r.Request.DisplayName,
		InvitedUserType: r.Request.UserType, Reasons: []string{}, Approvers: r.Approvers(),
		RequestedBy:     apiInviterRef{ID: r.Requester.ObjectID, UserPrincipalName: r.Requester.UPN, DisplayName: r.Requester.Name},
		CreatedDateTime: r.CreatedAt.UTC(), ExpiresDateTime: r.ExpiresAt.UTC(), DecisionReason: r.DecisionReason,
		InvitationID: r.InvitationID, LastError: r.LastError,
		Actions: apiApprovalActions{Approve: acts.Approve.Allowed && s.apiMayDecide(viewer), Deny: acts.Deny.Allowed && s.apiMayDecide(viewer),
			Cancel: acts.Cancel.Allowed}}
	for _, x := range r.Reasons {
		out.Reasons = append(out.Reasons, x.Text)
	}
	if r.DecidedBy.ObjectID != "" || r.DecidedBy.UPN != "" {
		out.DecidedBy = &apiInviterRef{ID: r.DecidedBy.ObjectID, UserPrincipalName: r.DecidedBy.UPN, DisplayName: r.DecidedBy.Name}
	}
	if r.DecidedAt != nil {
		t := r.DecidedAt.UTC()
		out.DecidedDateTime = &t
	}
	return out
}

// apiMayDecide: an application acting as itself decides only when the policy made it an
// approver (one of its app roles in PORTICO_ADMIN_ROLES); a person decides as on the pages.
func (s *Server) apiMayDecide(inv invite.Inviter) bool {
	return !inv.Application || inv.CanApprove()
}

var errAppMayNotDecide = echo.NewHTTPError(http.StatusForbidden,
	"An application may not approve or deny requests: a person decides (sign in to Portico, or call with a delegated token). "+
		"An administrator can allow an application by listing one of its app roles in PORTICO_ADMIN_ROLES.")

// apiListApprovals is GET /api/approvals: the requests the caller may decide (approvers and
// managers) and the caller's own, newest first; ?state=pending (default) or decided.
func (s *Server) apiListApprovals(c echo.Context) error {
	if !s.approvalsOn() {
		return echo.NewHTTPError(http.StatusNotFound, "Approvals are not enabled on this instance (PORTICO_APPROVAL).")
	}
	ctx := c.Request().Context()
	inv := s.apiInviter(c)
	decided := false
	switch c.QueryParam("state") {
	case "", "pending":
	case "decided":
		decided = true
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "The state filter must be pending or decided.")
	}
	var all []invite.ApprovalRequest
	if s.apiMayDecide(inv) {
		inbox, err := s.Approvals.Inbox(ctx, inv, invite.InboxFilter{Decided: decided, Limit: 200})
		if err != nil && !errors.Is(err, invite.ErrForbidden) {
			return err
		}
		all = append(all, inbox...)
	}
	mine, err := s.Approvals.Mine(ctx, inv, 200)
	if err != nil {
		return err
	}
	now := s.Clock()
	for _, r := range mine {
		open := (r.State == invite.ApprovalPending || r.State == invite.ApprovalApproving) && !r.Expired(now)
		if open != decided {
			all = append(all, r)
		}
	}
	seen := map[string]bool{}
	out := []apiApproval{}
	for i := range all {
		r := &all[i]
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		out = append(out, s.apiApprovalOf(inv, r, s.Approvals.Actions(inv, r)))
	}
	// Newest first, the inbox's and the caller's own together.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].CreatedDateTime.After(out[j-1].CreatedDateTime); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"value": out})
}

// apiGetApproval is GET /api/approvals/{id}: the request, for its requester and those who may
// decide it (404 for anyone else, as on the page).
func (s *Server) apiGetApproval(c echo.Context) error {
	if !s.approvalsOn() {
		return errNotFound
	}
	inv := s.apiInviter(c)
	r, acts, err := s.Approvals.Get(c.Request().Context(), inv, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.apiApprovalOf(inv, r, acts))
}

// apiApprove is POST /api/approvals/{id}/approve: the request's invitation is sent as the caller
// approves it (their Graph token), exactly as from the page; 201 with the request and the
// invitation, or 202 while Graph's answer is not known yet.
func (s *Server) apiApprove(c echo.Context) error {
	if !s.approvalsOn() {
		return errNotFound
	}
	inv := s.apiInviter(c)
	if !s.apiMayDecide(inv) {
		return errAppMayNotDecide
	}
	res, r, err := s.Approvals.Approve(c.Request().Context(), apiGraph(c), inv, c.Param("id"), meta(c))
	if err != nil {
		return err
	}
	body := map[string]any{"approvalRequest": s.apiApprovalOf(inv, r, invite.ApprovalActions{})}
	if res != nil && res.Invitation != nil {
		body["invitation"] = invitationJSON(res)
		c.Response().Header().Set(echo.HeaderLocation, "/api/invitations/"+res.Invitation.ID)
	}
	if r.State == invite.ApprovalApproving || res != nil && res.Sending {
		return c.JSON(http.StatusAccepted, body)
	}
	return c.JSON(http.StatusCreated, body)
}

// apiDeny is POST /api/approvals/{id}/deny with {"reason": "…"} (required: the requester reads it).
func (s *Server) apiDeny(c echo.Context) error {
	if !s.approvalsOn() {
		return errNotFound
	}
	inv := s.apiInviter(c)
	if !s.apiMayDecide(inv) {
		return errAppMayNotDecide
	}
	if !wantsJSONBody(c) {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, `Send {"reason": "…"} as application/json.`)
	}
	var body struct {
		Reason string `json:"reason"`
	}
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, `The body must be {"reason": "…"}: `+err.Error())
	}
	r, err := s.Approvals.Deny(c.Request().Context(), inv, c.Param("id"), body.Reason, meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.apiApprovalOf(inv, r, invite.ApprovalActions{}))
}

// apiCancel is POST /api/approvals/{id}/cancel: the requester withdraws their pending request.
func (s *Server) apiCancel(c echo.Context) error {
	if !s.approvalsOn() {
		return errNotFound
	}
	inv := s.apiInviter(c)
	r, err := s.Approvals.Cancel(c.Request().Context(), inv, c.Param("id"), meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.apiApprovalOf(inv, r, invite.ApprovalActions{}))
}
