package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"portico/auth"
)

// Sessions loads the request's server-side session (auth.Store satisfies it).
type Sessions interface {
	Load(r *http.Request) (*auth.Session, error)
}

// RelyingParty is the sign-in flow as the handlers use it (auth.RelyingParty satisfies it).
type RelyingParty interface {
	Discover(ctx context.Context) error
	StartLogin(ctx context.Context, returnPath, loginHint string) (string, auth.Flow, error)
	FinishLogin(ctx context.Context, f auth.Flow, code string) (*auth.Identity, *auth.Token, error)
	LogoutURL(idTokenHint string) string
}

// Tokens yields Microsoft Graph token sources. Handlers ask it for the signed-in employee's
// tokens and never read them from the session themselves.
type Tokens interface {
	ForSession(ctx context.Context, sess *auth.Session) oauth2.TokenSource
}

var (
	_ Sessions     = (*auth.Store)(nil)
	_ RelyingParty = (*auth.RelyingParty)(nil)
	_ Tokens       = auth.Delegated{}
	_ Tokens       = auth.Application{}
)

// delegatedTokens is the default token provider: the employee's delegated tokens held by the
// session store, refreshed through the relying party. Nil when either is not auth's own.
func delegatedTokens(sessions Sessions, rp RelyingParty) Tokens {
	st, ok1 := sessions.(*auth.Store)
	r, ok2 := rp.(*auth.RelyingParty)
	if !ok1 || !ok2 {
		return nil
	}
	return auth.Delegated{Sessions: st, RP: r}
}

// graphTokens is the signed-in employee's Graph token source for this request.
func (s *Server) graphTokens(c echo.Context) oauth2.TokenSource {
	if ts := apiGraph(c); ts != nil {
		return ts // an API call: the caller's Graph tokens (requireBearer)
	}
	return s.Tokens.ForSession(c.Request().Context(), sessionOf(c))
}
