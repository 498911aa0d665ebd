package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"portico/views"
)

// resendInvitation invites the same partner again (original inviter or admin).
func (s *Server) resendInvitation(c echo.Context) error {
	ctx := c.Request().Context()
	ts := s.graphTokens(c)
	res, err := s.Invites.Resend(ctx, ts, s.inviter(c), c.Param("id"), meta(c))
	if err != nil {
		return err
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
		return err
	}
	rec, err := s.Invites.Get(ctx, inv, c.Param("id"))
	if err != nil {
		return err
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
		return err
	}
	return s.flashRedirect(c, "/invitations/"+c.Param("id"), "A new join link was created. The old link no longer works.")
}

// revokeJoinLink stops the invitation's join link from working.
func (s *Server) revokeJoinLink(c echo.Context) error {
	if err := s.Invites.RevokeJoinLink(c.Request().Context(), s.inviter(c), c.Param("id"), meta(c)); err != nil {
		return err
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
