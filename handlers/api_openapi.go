package handlers

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDoc is the OpenAPI 3.1 description of /api/, embedded; a test checks it against the routes.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI serves the description; it needs no token (it describes, it does not act).
func (s *Server) openAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/json", openAPIDoc)
}
