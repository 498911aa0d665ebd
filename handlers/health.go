package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// healthz answers while the process is alive.
func (s *Server) healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok")
}

// readyz answers 200 when the database is reachable and the sign-in metadata is loaded.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		s.Logger.Warn("not ready: database", "err", err)
		return c.String(http.StatusServiceUnavailable, "database unreachable")
	}
	if err := s.RP.Discover(ctx); err != nil {
		s.Logger.Warn("not ready: identity provider", "err", err)
		return c.String(http.StatusServiceUnavailable, "identity provider metadata not loaded")
	}
	return c.String(http.StatusOK, "ready")
}
