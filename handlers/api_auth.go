package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"portico/auth"
	"portico/invite"
)

// APIAuth authenticates API calls by bearer token and supplies their Graph tokens (auth.API
// satisfies it).
type APIAuth interface {
	Verify(ctx context.Context, raw string) (*auth.Caller, error)
	GraphTokens(ctx context.Context, c *auth.Caller) (oauth2.TokenSource, error)
}

var _ APIAuth = auth.API{}

const (
	ctxCaller      = "portico.api_caller"
	ctxCallerGraph = "portico.api_graph"
)

// requireBearer admits API calls with a valid access token for Portico (Authorization: Bearer),
// and nothing else: no session is read or created and a cookie counts for nothing, so CSRF does
// not apply. Missing or invalid tokens get 401 with WWW-Authenticate: Bearer; a valid token
// without the API's scope or app role gets 403. Both in Graph's error envelope.
func (s *Server) requireBearer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Add("Vary", "Authorization")
		if s.API == nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "The API is not configured on this instance.")
		}
		raw, ok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="portico"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "Send an access token for Portico in the Authorization header (Bearer).")
		}
		caller, err := s.API.Verify(c.Request().Context(), raw)
		if err != nil {
			return s.bearerRefused(c, err)
		}
		ts, err := s.API.GraphTokens(c.Request().Context(), caller)
		if err != nil {
			return s.bearerRefused(c, err)
		}
		// Get the Graph token now (cached afterwards): a user the identity provider no longer lets
		// Portico act for is refused here with 401, not halfway through an invitation.
		if _, err := ts.Token(); err != nil {
			var be *auth.BearerError
			if errors.As(err, &be) {
				return s.bearerRefused(c, err)
			}
			s.Logger.Error("API: no Graph token for the caller", "request_id", requestID(c), "err", err)
			return echo.NewHTTPError(http.StatusServiceUnavailable, "Portico cannot get a Microsoft Graph token right now. Try again in a minute.")
		}
		c.Set(ctxCaller, caller)
		c.Set(ctxCallerGraph, ts)
		return next(c)
	}
}

// sessionOrBearer routes a request that carries Authorization: Bearer through requireBearer
// (no session, no cookie, no CSRF) and any other through the session chain; a request carrying
// both is judged by the bearer token alone.
func (s *Server) sessionOrBearer(session ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		viaSession := next
		for i := len(session) - 1; i >= 0; i-- {
			viaSession = session[i](viaSession)
		}
		viaBearer := s.requireBearer(next)
		return func(c echo.Context) error {
			if _, ok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization)); ok {
				return viaBearer(c)
			}
			return viaSession(c)
		}
	}
}

// bearerRefused answers a refused token; the reason is Portico's own wording, never the token.
func (s *Server) bearerRefused(c echo.Context, err error) error {
	h := c.Response().Header()
	var be *auth.BearerError
	switch {
	case errors.As(err, &be) && be.Forbidden:
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="portico", error="insufficient_scope", scope="`+auth.APIScope+`"`)
		s.Logger.Warn("API token refused", "request_id", requestID(c), "status", http.StatusForbidden, "reason", be.Reason)
		return echo.NewHTTPError(http.StatusForbidden, be.Reason)
	case errors.As(err, &be):
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="portico", error="invalid_token"`)
		s.Logger.Warn("API token refused", "request_id", requestID(c), "status", http.StatusUnauthorized, "reason", be.Reason)
		return echo.NewHTTPError(http.StatusUnauthorized, be.Reason)
	}
	return err // the issuer unreachable (503) or an internal failure
}

// bearerToken takes the token out of an Authorization header (scheme case-insensitive, RFC 6750).
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func apiCaller(c echo.Context) *auth.Caller {
	cl, _ := c.Get(ctxCaller).(*auth.Caller)
	return cl
}

func apiGraph(c echo.Context) oauth2.TokenSource {
	ts, _ := c.Get(ctxCallerGraph).(oauth2.TokenSource)
	return ts
}

// apiInviter is the API caller as the domain sees them. A user goes through the same policy as
// the form (PORTICO_INVITERS, guests refused in application mode, admin from wids or roles). An
// application acting as itself is "application <appid>": it may invite (an admin granted it
// Invitations.ReadWrite.All), never as an administrator (Member invitations, everyone's records)
// unless one of its app roles is listed in PORTICO_ADMIN_ROLES.
func (s *Server) apiInviter(c echo.Context) invite.Inviter {
	cl := apiCaller(c)
	if cl == nil {
		return invite.Inviter{}
	}
	if cl.App {
		inv := invite.NewInviter(invite.Claims{TenantID: cl.TenantID, ObjectID: cl.ObjectID, UPN: cl.UPN, Name: cl.Name, AppRoles: cl.Roles}, s.Config.AdminRoles)
		inv.Application = true
		return inv
	}
	return s.inviterOf(&cl.Identity)
}

// apiIdempotencyKey scopes an Idempotency-Key header to its caller, so the same key sent by
// someone else never returns the first caller's result.
func apiIdempotencyKey(c echo.Context) (string, error) {
	k := c.Request().Header.Get("Idempotency-Key")
	if k == "" {
		return "", nil
	}
	if len(k) > invite.MaxIdempotencyKey || strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", &invite.ValidationError{Fields: invite.FieldErrors{invite.FieldIdempotencyKey: "Use at most 200 printable characters."}}
	}
	cl := apiCaller(c)
	sum := sha256.Sum256([]byte(k))
	return "api:" + cl.ObjectID + ":" + hex.EncodeToString(sum[:16]), nil
}
