package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"portico/invite"
	"portico/static"
	"portico/views"
)

// joinShow is the partner's landing page behind a join link, in the link's state: pending (Accept),
// accepted already (the landing page), or superseded, expired or revoked (whom to contact). HEAD
// requests (link scanners) and GETs only show it; nothing is redeemed until the partner presses Accept.
func (s *Server) joinShow(c echo.Context) error {
	token := c.Param("token")
	jv, err := s.Invites.OpenJoin(c.Request().Context(), token, meta(c))
	if err != nil {
		return err
	}
	return s.joinPage(c, token, jv)
}

// joinPage renders the join page for jv: 200 while the partner may accept or has accepted, 410
// when the link was superseded, revoked or has expired.
func (s *Server) joinPage(c echo.Context, token string, jv *invite.JoinView) error {
	lang := joinLang(jv.Language)
	p := s.partnerPage(c, views.JoinTitle(lang, string(jv.State)))
	p.Lang = lang
	logo := s.Config.OrgLogoURL
	if logo == "" {
		logo = static.Path("logo.svg")
	}
	status := http.StatusOK
	switch jv.State {
	case invite.JoinSuperseded, invite.JoinExpired, invite.JoinRevoked:
		status = http.StatusGone
	}
	// The page names the partner's address: keep it out of caches and referrers.
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return render(c, status, views.JoinPage(views.Join{
		Page: p, State: string(jv.State), InviterName: jv.InviterName, InviterEmail: jv.InviterEmail, InviteeName: jv.InviteeName,
		InviteeEmail: jv.InviteeEmail, LandingURL: jv.RedirectURL,
		Message: jv.Message, AcceptAction: "/join/" + token + "/accept", Expires: jv.ExpiresAt, OrgLogo: logo,
	}))
}

// joinHead answers link scanners' HEAD requests without looking the token up or counting an open.
func (s *Server) joinHead(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	return c.NoContent(http.StatusOK)
}

// joinAccept sends the partner on to Microsoft's redemption URL while the link is pending; a link
// that was accepted, superseded, revoked or has expired shows its page instead, never the ticket.
func (s *Server) joinAccept(c echo.Context) error {
	token := c.Param("token")
	u, err := s.Invites.AcceptJoin(c.Request().Context(), token, meta(c))
	var closed *invite.JoinClosedError
	if errors.As(err, &closed) {
		return s.joinPage(c, token, closed.View)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, u)
}

// joinGone is the same page, with the same status, for every unknown or malformed token
// (invite.ErrJoinGone, answered by handleError), so it reveals nothing about whether a token ever existed.
func (s *Server) joinGone(c echo.Context) error {
	return render(c, http.StatusNotFound, views.JoinGonePage(views.JoinGone{Page: s.partnerPage(c, "This link no longer works")}))
}

// partnerPage is the layout data of a page partners see: branded with the organization only.
func (s *Server) partnerPage(c echo.Context, title string) views.Page {
	p := s.page(c, title)
	p.Partner = true
	return p
}

// joinLang picks the page language from the invitation's message language ("fr-FR" → "fr").
func joinLang(code string) string {
	if len(code) >= 2 {
		return code[:2]
	}
	return "en"
}
