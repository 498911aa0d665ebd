package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"portico/auth"
	"portico/views"
)

// login starts the OIDC authorization code flow (PKCE S256, state, nonce) and sends the browser
// to the identity provider. A signed-in user is sent on to the return path with nothing changed:
// a cross-site link to /login (a top-level GET carries the Lax cookie) must not end or renew a session.
func (s *Server) login(c echo.Context) error {
	sess := sessionOf(c)
	if sess.User() != nil {
		return c.Redirect(http.StatusFound, auth.SafeReturnPath(c.QueryParam("return")))
	}
	authURL, flow, err := s.RP.StartLogin(c.Request().Context(), c.QueryParam("return"), loginHint(c.QueryParam("login_hint")))
	if err != nil {
		return err
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
		return auth.ErrBadState
	}
	if e := q.Get("error"); e != "" {
		// Only now, with the state matched, is the error the provider's.
		return &signInProviderError{code: oauthCode(e)}
	}
	if iss := q.Get("iss"); iss != "" && iss != s.Config.Issuer() {
		return auth.ErrTokenInvalid
	}
	id, tok, err := s.RP.FinishLogin(c.Request().Context(), flow, q.Get("code"))
	if err != nil {
		return err
	}
	if err := sess.SignIn(c.Request(), c.Response(), id, tok, authMeta(c)); err != nil {
		return err
	}
	s.Invites.Warm(c.Request().Context(), s.Tokens.ForSession(c.Request().Context(), sess), id.TenantID)
	return c.Redirect(http.StatusFound, auth.SafeReturnPath(flow.Return))
}

// logout ends the session here and at the identity provider.
func (s *Server) logout(c echo.Context) error {
	hint, err := sessionOf(c).SignOut(c.Request(), c.Response(), authMeta(c))
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.RP.LogoutURL(hint))
}

func authMeta(c echo.Context) auth.Meta {
	return auth.Meta{ClientIP: c.RealIP(), RequestID: requestID(c)}
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
