package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"portico/auth"
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

// revealRedeemURL reveals Microsoft's redemption URL again to the inviter or an admin; each reveal
// is audited. It answers POST-redirect-GET: the invitation's page shows the URL once, so the
// browser never rests on a POST (a reload neither re-posts nor records a second reveal).
func (s *Server) revealRedeemURL(c echo.Context) error {
	id := c.Param("id")
	u, err := s.Invites.RevealRedeemURL(c.Request().Context(), s.inviter(c), id, meta(c))
	if err != nil {
		return err
	}
	sess := sessionOf(c)
	sess.Data.JustCreated = &auth.Created{ID: id, RedeemURL: u, Revealed: true}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/invitations/"+id)
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
