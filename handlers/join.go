package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"portico/static"
	"portico/views"
)

// joinShow is the partner's landing page behind a join link. HEAD requests (link scanners) and
// GETs only show it; nothing is redeemed until the partner presses Accept.
func (s *Server) joinShow(c echo.Context) error {
	token := c.Param("token")
	jv, err := s.Invites.OpenJoin(c.Request().Context(), token, meta(c))
	if err != nil {
		return err
	}
	p := s.page(c, "You're invited to "+s.Config.OrgName)
	p.Lang = joinLang(jv.Language)
	logo := s.Config.OrgLogoURL
	if logo == "" {
		logo = static.Path("logo.svg")
	}
	return render(c, http.StatusOK, views.JoinPage(views.Join{
		Page: p, InviterName: jv.InviterName, InviterEmail: jv.InviterEmail, InviteeName: jv.InviteeName,
		Message: jv.Message, AcceptAction: "/join/" + token + "/accept", Expires: jv.ExpiresAt, OrgLogo: logo,
	}))
}

// joinHead answers link scanners' HEAD requests without looking the token up or counting an open.
func (s *Server) joinHead(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	return c.NoContent(http.StatusOK)
}

// joinAccept sends the partner on to Microsoft's redemption URL.
func (s *Server) joinAccept(c echo.Context) error {
	u, err := s.Invites.AcceptJoin(c.Request().Context(), c.Param("token"), meta(c))
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, u)
}

// joinGone is the same page, with the same status, for unknown, malformed, revoked and expired
// links (invite.ErrJoinGone, answered by handleError), so it reveals nothing about whether a token ever existed.
func (s *Server) joinGone(c echo.Context) error {
	return render(c, http.StatusNotFound, views.JoinGonePage(views.JoinGone{Page: s.page(c, "This link no longer works")}))
}

// joinLang picks the page language from the invitation's message language ("fr-FR" → "fr").
func joinLang(code string) string {
	if len(code) >= 2 {
		return code[:2]
	}
	return "en"
}
