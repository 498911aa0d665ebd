package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"portico/auth"
	"portico/config"
)

const (
	ctxRequestID = "portico.request_id"
	ctxSession   = "portico.session"
)

// requestIDs gives every request a random id, echoed in X-Request-Id and shown on error pages.
// An id sent by the client is not trusted: it could forge log correlation.
func requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// recoverPanics turns a panic into a logged 500 with a generic page; the stack goes to the log only.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				buf := make([]byte, 8<<10)
				buf = buf[:runtime.Stack(buf, false)]
				s.Logger.Error("panic", "request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(buf))
				err = echo.NewHTTPError(http.StatusInternalServerError)
			}
		}()
		return next(c)
	}
}

// logRequests writes one line per request. The query string is left out on purpose: it can carry
// authorization codes, state and join tokens.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		level := slog.LevelInfo
		switch {
		case status == statusClientClosed:
		case status >= 500:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelWarn
		}
		s.Logger.LogAttrs(c.Request().Context(), level, "request",
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Request().Method),
			slog.String("path", logPath(c)),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.String("client_ip", c.RealIP()),
		)
		return nil
	}
}

// logPath is the route pattern for routes with secrets in the path (join tokens), else the path,
// cut short so a client cannot write 60,000 characters to the log per request.
func logPath(c echo.Context) string {
	if p := c.Path(); strings.Contains(p, ":token") {
		return p
	}
	if p := c.Request().URL.Path; len(p) > maxLogPath {
		return p[:maxLogPath] + "…"
	}
	return c.Request().URL.Path
}

const maxLogPath = 256

// securityHeaders sets the headers every response carries, error pages included.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	img := "'self' data:"
	if u, err := url.Parse(s.Config.OrgLogoURL); err == nil && u.Scheme == "https" && u.Host != "" {
		img += " https://" + u.Host // the operator's own logo, when not served by Portico
	}
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; img-src " + img + "; font-src 'self'; connect-src 'self'; " +
		"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action " + s.cspFormAction
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()")
		if s.Config.SecureCookies() {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		return next(c)
	}
}

// noStore marks a response as private and sensitive: not cached, no referrer sent onwards.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		return next(c)
	}
}

// withSession loads the server-side session for the request. A broken cookie starts a fresh session.
func (s *Server) withSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := s.Sessions.Load(c.Request())
		if err != nil {
			return fmt.Errorf("handlers: load session: %w", err)
		}
		c.Set(ctxSession, sess)
		c.Response().Header().Add("Vary", "Cookie")
		return next(c)
	}
}

func sessionOf(c echo.Context) *auth.Session {
	s, _ := c.Get(ctxSession).(*auth.Session)
	return s
}

// currentUser is the signed-in identity, or nil.
func currentUser(c echo.Context) *auth.Identity {
	if s := sessionOf(c); s != nil {
		return s.User()
	}
	return nil
}

// requireSignIn sends signed-out visitors to sign in and back (JSON clients get 401).
func (s *Server) requireSignIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) != nil {
			c.Response().Header().Set("Cache-Control", "no-store")
			return next(c)
		}
		if wantsJSON(c) {
			return echo.NewHTTPError(http.StatusUnauthorized, "sign in first")
		}
		ret := c.Request().URL.Path
		if c.Request().Method != http.MethodGet {
			ret = "/"
		} else if q := c.Request().URL.RawQuery; q != "" {
			ret += "?" + q
		}
		return c.Redirect(http.StatusFound, "/login?return="+url.QueryEscape(auth.SafeReturnPath(ret)))
	}
}

// requireAdmin lets only admins through, decided from the verified token's roles on every request.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.inviter(c).CanReadAudit() {
			return echo.NewHTTPError(http.StatusForbidden, "Only Portico admins can open this page.")
		}
		return next(c)
	}
}

// checkOrigin refuses cross-site state-changing requests using Fetch Metadata and Origin.
func (s *Server) checkOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	self := origin(s.Config.PublicURL)
	return func(c echo.Context) error {
		r := c.Request()
		if safeMethod(r.Method) {
			return next(c)
		}
		fetchSite := r.Header.Get("Sec-Fetch-Site")
		switch fetchSite {
		case "", "same-origin", "none":
		default:
			return echo.NewHTTPError(http.StatusForbidden, "cross-site request refused")
		}
		switch o := r.Header.Get("Origin"); {
		case o == "null":
			// Browsers send "null" from sandboxed frames and data: or file: pages, and also for a
			// same-origin form on a page served with Referrer-Policy: no-referrer (the Fetch
			// standard's Origin rule), which Portico's pages with bearer links are. Only the
			// latter comes with Sec-Fetch-Site: same-origin, a header no page can set.
			if fetchSite != "same-origin" {
				return echo.NewHTTPError(http.StatusForbidden, "cross-origin request refused")
			}
		case o != "" && !strings.EqualFold(o, self):
			return echo.NewHTTPError(http.StatusForbidden, "cross-origin request refused")
		}
		return next(c)
	}
}

// checkCSRF requires the session's token on every state-changing request: the `_csrf` form
// field, or the X-CSRF-Token header for JSON clients.
func (s *Server) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if safeMethod(c.Request().Method) {
			return next(c)
		}
		tok := c.Request().Header.Get("X-CSRF-Token")
		if tok == "" {
			// A body over the limit without a Content-Length (chunked) is only noticed while
			// reading the form: answer 413 for it, not a misleading CSRF refusal.
			if _, err := c.FormParams(); errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
				return err
			}
			tok = c.FormValue("_csrf")
		}
		sess := sessionOf(c)
		if sess == nil || sess.IsNew() || !sess.CheckCSRF(tok) {
			return echo.NewHTTPError(http.StatusForbidden, "the form expired or did not come from Portico; reload the page and try again")
		}
		return next(c)
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func wantsJSON(c echo.Context) bool {
	r := c.Request()
	if strings.HasPrefix(r.URL.Path, "/api/") {
		return true // the API answers in JSON whatever the body's type (a CSV upload)
	}
	return strings.HasPrefix(r.Header.Get(echo.HeaderContentType), echo.MIMEApplicationJSON) ||
		(strings.Contains(r.Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON) && !strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html"))
}

func origin(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// formActionSources lists where forms may submit, including redirects after submission (sign-in,
// sign-out and the partner's accept button go on to the identity provider).
func formActionSources(c *config.Config) string {
	src := []string{"'self'"}
	if u, err := url.Parse(c.Authority); err == nil && u.Host != "" {
		src = append(src, u.Scheme+"://"+u.Host)
	}
	return strings.Join(src, " ")
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
