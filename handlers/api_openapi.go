package handlers

import (
	_ "embed"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"portico/auth"
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

// apiSignIn is GET /api/signin: where a command-line client signs in for this Portico (public
// facts, the same the sign-in redirect shows): authority, tenant, client id and the API scope.
func (s *Server) apiSignIn(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, map[string]any{
		"authority": strings.TrimRight(s.Config.Authority, "/"),
		"tenantId":  s.Config.TenantID,
		"clientId":  s.Config.ClientID,
		"scope":     "api://" + s.Config.ClientID + "/" + auth.APIScope,
	})
}
