package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
)

// Landings is what the welcome page does with the invitation reference a partner's redirect
// carries after redeeming (app adapts the job queue and the invite service).
type Landings interface {
	// Landed notes that the partner of invitation ref arrived: it reads that one state at once (or
	// marks it due for the next refresh) and returns the invitation's own landing page when that
	// is not the welcome page ("" otherwise, also for an unknown reference). It changes no state
	// by itself.
	Landed(ctx context.Context, ref string) (forward string, err error)
}

// landingRefParam names the reference in /welcome?i=<ref>.
const landingRefParam = "i"

// landingRef handles /welcome?i=<ref> before the welcome page: a well-formed reference, within
// its rate limits (per invitation and per client address), triggers at most one state read and,
// for an invitation with its own landing page, a redirect there. Anything else shows the welcome
// page as if there were no reference: the partner never sees an error for it.
func (s *Server) landingRef() echo.MiddlewareFunc {
	perRef := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Every(10 * time.Second), Burst: 1, ExpiresIn: 10 * time.Minute,
	})
	perIP := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Every(2 * time.Second), Burst: 5, ExpiresIn: 10 * time.Minute,
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ref := c.QueryParam(landingRefParam)
			if s.Landings == nil || !wellFormedID(ref) {
				return next(c)
			}
			if ok, _ := perIP.Allow("ip:" + c.RealIP()); !ok {
				s.Logger.Warn("welcome reference rate limited", "request_id", requestID(c), "client_ip", c.RealIP())
				return next(c)
			}
			if ok, _ := perRef.Allow("ref:" + ref); !ok {
				return next(c)
			}
			forward, err := s.Landings.Landed(c.Request().Context(), ref)
			if err != nil {
				s.Logger.Warn("welcome reference not handled", "request_id", requestID(c), "err", err)
				return next(c)
			}
			if forward != "" {
				return c.Redirect(http.StatusSeeOther, forward)
			}
			return next(c)
		}
	}
}
