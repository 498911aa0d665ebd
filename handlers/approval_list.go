package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"portico/invite"
	"portico/views"
)

// listApprovals is the approvers' inbox: waiting or decided requests, all or only the viewer's.
func (s *Server) listApprovals(c echo.Context) error {
	if !s.approvalsOn() {
		return errNotFound
	}
	inv := s.inviter(c)
	decided := false
	switch c.QueryParam("state") {
	case "", "pending":
	case "decided":
		decided = true
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "The filter must be pending or decided.")
	}
	mine := c.QueryParam("mine") == "1"
	list, err := s.Approvals.Inbox(c.Request().Context(), inv, invite.InboxFilter{Decided: decided, Mine: mine, Limit: 200})
	if errors.Is(err, invite.ErrForbidden) {
		return echo.NewHTTPError(http.StatusForbidden, "Only approvers have an approvals inbox. Your own requests are under My invitations.")
	}
	if err != nil {
		return err
	}
	p, err := s.flashPage(c, "Approvals")
	if err != nil {
		return err
	}
	p.Nav = "approvals"
	m := views.ApprovalInbox{Page: p, Decided: decided, Mine: mine}
	for i := range list {
		m.Rows = append(m.Rows, s.approvalRow(inv, &list[i]))
	}
	return render(c, http.StatusOK, views.ApprovalsPage(m))
}
