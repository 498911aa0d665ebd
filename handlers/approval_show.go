package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"portico/invite"
	"portico/views"
)

// showApproval is one request: to its requester (with Cancel) and to those who may decide it
// (with the preflight run again now, Approve and Deny).
func (s *Server) showApproval(c echo.Context) error {
	if !s.approvalsOn() {
		return errNotFound
	}
	m, err := s.approvalDetail(c, true)
	if err != nil {
		return err
	}
	if err := s.takeFlash(c, &m.Page); err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ApprovalPage(*m))
}

// approvalDetail builds the request's page; recheck runs the preflight for those who may decide.
func (s *Server) approvalDetail(c echo.Context, recheck bool) (*views.ApprovalDetail, error) {
	ctx := c.Request().Context()
	inv := s.inviter(c)
	r, acts, err := s.Approvals.Get(ctx, inv, c.Param("id"))
	if err != nil {
		return nil, err
	}
	p := s.page(c, "Request to invite "+r.Email)
	p.Nav = "approvals"
	m := &views.ApprovalDetail{Page: p, Row: s.approvalRow(inv, r), Message: r.Request.Message, CC: r.Request.CC,
		RedirectURL: r.Request.RedirectURL, Language: r.Request.Language, SendEmail: r.Request.SendEmail, LastError: r.LastError,
		CanApprove: acts.Approve.Allowed, CanDeny: acts.Deny.Allowed, MemberNote: r.Request.UserType == invite.UserTypeMember}
	if !acts.Approve.Allowed && inv.ObjectID != r.Requester.ObjectID && r.State == invite.ApprovalPending {
		m.Refusal = acts.Approve.Reason
	}
	if r.State == invite.ApprovalApproved && r.InvitationID != "" && (inv.ObjectID == r.Requester.ObjectID || inv.SeesAll()) {
		m.InvitationURL = "/invitations/" + r.InvitationID
	}
	if recheck && (acts.Approve.Allowed || acts.Deny.Allowed) {
		pf, err := s.Approvals.Recheck(ctx, s.graphTokens(c), inv, r.ID)
		switch {
		case err != nil:
			s.Logger.Warn("approval recheck failed", "request_id", requestID(c), "err", err)
			m.Verdict = &views.Check{Kind: "warn", Text: "Portico could not look the address up just now; approving checks again before anything is sent."}
		case pf.Allowed():
			m.Verdict = &views.Check{Kind: "ok", Text: pf.Message}
		default:
			m.Verdict = &views.Check{Kind: "error", Text: pf.Message}
		}
	}
	return m, nil
}
