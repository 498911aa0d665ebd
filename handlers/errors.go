package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"portico/auth"
)

// apiError is Portico's JSON error body, shaped like Graph's envelope so API clients handle both alike.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	Details    map[string]string `json:"details,omitempty"`
	InnerError map[string]string `json:"innerError,omitempty"`
}

// handleError is the one place errors become responses: 5xx are logged at error and shown
// generically; 4xx carry their own safe message.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if errors.Is(err, auth.ErrReauthRequired) {
		s.reauth(c)
		return
	}
	status := http.StatusInternalServerError
	msg := ""
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		}
	}
	if status >= 500 {
		s.Logger.Error("request failed", "request_id", requestID(c), "path", logPath(c), "err", err)
		msg = ""
	}
	title, text := statusText(status, msg)
	if wantsJSON(c) {
		_ = c.JSON(status, apiError{Error: apiErrorBody{Code: codeFor(status), Message: text, InnerError: map[string]string{"request-id": requestID(c)}}})
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if err := s.errorPage(c, status, title, text); err != nil {
		s.Logger.Error("render error page", "request_id", requestID(c), "err", err)
		_ = c.String(status, title)
	}
}

// reauth ends a session whose tokens can no longer be refreshed and asks the user to sign in again.
func (s *Server) reauth(c echo.Context) {
	if sess := sessionOf(c); sess != nil {
		_ = sess.Destroy(c.Request(), c.Response())
		sess.Data.Flash = "Your sign-in expired. Sign in again to continue."
		_ = sess.Save(c.Request(), c.Response())
	}
	if wantsJSON(c) {
		_ = c.JSON(http.StatusUnauthorized, apiError{Error: apiErrorBody{Code: "InvalidAuthenticationToken", Message: "Your sign-in expired. Sign in again.", InnerError: map[string]string{"request-id": requestID(c)}}})
		return
	}
	ret := "/"
	if c.Request().Method == http.MethodGet {
		ret = c.Request().URL.RequestURI()
	}
	_ = c.Redirect(http.StatusFound, "/login?return="+url.QueryEscape(auth.SafeReturnPath(ret)))
}

func statusText(status int, msg string) (string, string) {
	title, text := http.StatusText(status), msg
	switch status {
	case http.StatusNotFound:
		title = "Page not found"
		if text == "" || text == http.StatusText(status) {
			text = "There is nothing at this address. Check the link, or go back to the start page."
		}
	case http.StatusForbidden:
		title = "Not allowed"
		if text == "" || text == http.StatusText(status) {
			text = "You don't have permission to do that."
		}
	case http.StatusUnauthorized:
		title = "Sign in required"
		if text == "" || text == http.StatusText(status) {
			text = "Sign in to continue."
		}
	case http.StatusRequestEntityTooLarge:
		title = "Too much data"
		text = "What you sent is larger than Portico accepts."
	case http.StatusTooManyRequests:
		title = "Slow down"
		if text == "" || text == http.StatusText(status) {
			text = "Too many requests. Wait a moment and try again."
		}
	case http.StatusMethodNotAllowed:
		title = "Not allowed"
		text = "This address does not accept that kind of request."
	case http.StatusServiceUnavailable:
		title = "Temporarily unavailable"
		if text == "" || text == http.StatusText(status) {
			text = "Portico cannot reach a service it needs right now. Try again in a minute."
		}
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		title = "Something went wrong"
		text = "Portico could not complete the request. Try again; if it keeps happening, give your IT team the request id below."
	}
	if text == "" {
		text = http.StatusText(status)
	}
	return title, text
}

func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "BadRequest"
	case http.StatusUnauthorized:
		return "InvalidAuthenticationToken"
	case http.StatusForbidden:
		return "Authorization_RequestDenied"
	case http.StatusNotFound:
		return "Request_ResourceNotFound"
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusRequestEntityTooLarge:
		return "RequestEntityTooLarge"
	}
	if status >= 500 {
		return "ServiceError"
	}
	return "BadRequest"
}
