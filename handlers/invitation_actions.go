package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"portico/auth"
	"portico/invite"
	"portico/views"
)

// actionError maps the domain's refusals of an action on one invitation.
func actionError(err error) error {
	switch {
	case errors.Is(err, invite.ErrNotFound):
		return errNotFound
	case errors.Is(err, invite.ErrNotPending):
		return echo.NewHTTPError(http.StatusConflict, "Only pending invitations can be sent again.")
	case errors.Is(err, invite.ErrNoRedeemURL):
		return echo.NewHTTPError(http.StatusConflict, "Portico no longer holds a usable redemption link for this invitation. Use Send again to get a new one.")
	}
	return err
}

// resendInvitation invites the same partner again (original inviter or admin).
func (s *Server) resendInvitation(c echo.Context) error {
	ctx := c.Request().Context()
	ts := s.Sessions.GraphTokens(ctx, s.RP, sessionOf(c))
	res, err := s.Invites.Resend(ctx, ts, s.inviter(c), c.Param("id"), meta(c))
	if err != nil {
		var ge *invite.GraphError
		if errors.As(err, &ge) && !errors.Is(err, auth.ErrReauthRequired) {
			return echo.NewHTTPError(graphStatus(ge), ge.Message+" (Graph request id "+ge.RequestID+")")
		}
		return actionError(err)
	}
	return s.invitationCreated(c, res)
}

// revealRedeemURL shows Microsoft's redemption URL again to the inviter or an admin; each reveal
// is audited. The answer is a POST response that is never cached.
func (s *Server) revealRedeemURL(c echo.Context) error {
	ctx := c.Request().Context()
	inv := s.inviter(c)
	u, err := s.Invites.RevealRedeemURL(ctx, inv, c.Param("id"), meta(c))
	if err != nil {
		return actionError(err)
	}
	rec, err := s.Invites.Get(ctx, inv, c.Param("id"))
	if err != nil {
		return actionError(err)
	}
	vm, err := s.detailVM(c, rec, inv)
	if err != nil {
		return err
	}
	vm.RedeemURL = u
	p := s.page(c, "Invitation for "+rec.Email)
	p.Nav = "invitations"
	return render(c, http.StatusOK, views.InvitationDetailPage(views.InvitationPage{Page: p, Inv: vm}))
}

// newJoinLink replaces the invitation's join link; the old one stops working.
func (s *Server) newJoinLink(c echo.Context) error {
	if _, _, err := s.Invites.NewJoinLink(c.Request().Context(), s.inviter(c), c.Param("id"), meta(c)); err != nil {
		return actionError(err)
	}
	return s.flashRedirect(c, "/invitations/"+c.Param("id"), "A new join link was created. The old link no longer works.")
}

// revokeJoinLink stops the invitation's join link from working.
func (s *Server) revokeJoinLink(c echo.Context) error {
	if err := s.Invites.RevokeJoinLink(c.Request().Context(), s.inviter(c), c.Param("id"), meta(c)); err != nil {
		return actionError(err)
	}
	return s.flashRedirect(c, "/invitations/"+c.Param("id"), "The join link was revoked.")
}

func (s *Server) flashRedirect(c echo.Context, to, msg string) error {
	sess := sessionOf(c)
	sess.Data.Flash = msg
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, to)
}
