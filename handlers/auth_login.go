package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"portico/auth"
	"portico/views"
)

// login starts the OIDC authorization code flow (PKCE S256, state, nonce) and sends the browser
// to the identity provider. Any existing session is discarded first.
func (s *Server) login(c echo.Context) error {
	sess := sessionOf(c)
	if sess.User() != nil {
		if err := sess.Renew(c.Request()); err != nil {
			return err
		}
	}
	authURL, flow, err := s.RP.StartLogin(c.Request().Context(), c.QueryParam("return"), loginHint(c.QueryParam("login_hint")))
	if err != nil {
		s.Logger.Error("sign-in unavailable", "request_id", requestID(c), "err", err)
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Sign-in is unavailable: Portico cannot reach the identity provider. Try again in a minute.")
	}
	sess.AddFlow(flow)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, authURL)
}

// loginHint passes on only a plausible account name.
func loginHint(h string) string {
	if len(h) > 256 {
		return ""
	}
	for _, r := range h {
		if r < 0x21 || r == 0x7f {
			return ""
		}
	}
	return h
}

// callback finishes sign-in. State is matched (constant time, single use) and removed from the
// session before the code is redeemed, so an attacker's code is never spent on a foreign flow.
func (s *Server) callback(c echo.Context) error {
	sess := sessionOf(c)
	q := c.QueryParams()
	flow, ok := sess.TakeFlow(q.Get("state"))
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	if !ok {
		return s.errorPage(c, http.StatusForbidden, "Sign-in link expired", "This sign-in attempt has expired or was already used. Start again from the sign-in button.")
	}
	if e := q.Get("error"); e != "" {
		// Only now, with the state matched, is the error the provider's; name it only if it looks
		// like an OAuth error code, so a forged link cannot put words on a Portico page.
		s.Logger.Warn("sign-in failed at the identity provider", "request_id", requestID(c), "error", oauthCode(e))
		return s.errorPage(c, http.StatusForbidden, "Sign-in did not complete", "The identity provider ended the sign-in ("+oauthCode(e)+"). Try again, or ask your IT team if it keeps happening.")
	}
	if iss := q.Get("iss"); iss != "" && iss != s.Config.Issuer() {
		return s.errorPage(c, http.StatusForbidden, "Sign-in refused", "The answer came from an unexpected identity provider.")
	}
	id, tok, err := s.RP.FinishLogin(c.Request().Context(), flow, q.Get("code"))
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrWrongTenant):
		s.Logger.Warn("sign-in refused: other tenant", "request_id", requestID(c))
		return s.errorPage(c, http.StatusForbidden, "Account not accepted", "This account belongs to another organization. Sign in with your work account.")
	case errors.Is(err, auth.ErrNotReady):
		return echo.NewHTTPError(http.StatusServiceUnavailable)
	default:
		s.Logger.Warn("sign-in refused", "request_id", requestID(c), "err", err)
		return s.errorPage(c, http.StatusForbidden, "Sign-in refused", "Portico could not verify the sign-in. Start again from the sign-in button.")
	}
	if err := sess.Renew(c.Request()); err != nil {
		return err
	}
	sess.Data.User = id
	sess.Data.Token = tok
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	s.audit(c, id, "signin", id.UPN, "success", "")
	return c.Redirect(http.StatusFound, auth.SafeReturnPath(flow.Return))
}

// logout ends the session here and at the identity provider.
func (s *Server) logout(c echo.Context) error {
	sess := sessionOf(c)
	hint := ""
	if u := sess.User(); u != nil {
		if sess.Data.Token != nil {
			hint = sess.Data.Token.IDToken
		}
		s.audit(c, u, "signout", u.UPN, "success", "")
	}
	if err := sess.Destroy(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.RP.LogoutURL(hint))
}

// signedOut is where the identity provider sends the browser after sign-out.
func (s *Server) signedOut(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusFound, "/")
	}
	return render(c, http.StatusOK, views.SignedOutPage(views.SignedOut{Page: s.page(c, "Signed out")}))
}

// oauthCode returns e if it looks like an OAuth error code (access_denied, login_required, …).
func oauthCode(e string) string {
	if len(e) == 0 || len(e) > 64 {
		return "unknown_error"
	}
	for _, r := range e {
		if (r < 'a' || r > 'z') && r != '_' {
			return "unknown_error"
		}
	}
	return e
}
