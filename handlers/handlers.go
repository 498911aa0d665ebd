// Package handlers is Portico's HTTP layer: thin echo handlers that parse input, call the domain
// and render views.
package handlers

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"portico/config"
	"portico/static"
	"portico/store"
	"portico/views"
)

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// AuditLog is the audit trail as the admin pages read it; handlers never append to it.
type AuditLog interface {
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)
	EachAudit(ctx context.Context, f store.AuditFilter, fn func(*store.AuditEvent) error) error
}

// Deps is everything the handlers need; New takes it whole so dependencies stay explicit.
type Deps struct {
	Config       *config.Config
	Logger       *slog.Logger
	Sessions     Sessions
	RP           RelyingParty
	Tokens       Tokens // nil: the signed-in employee's delegated tokens (auth.Delegated over Sessions and RP)
	Invites      Invites
	Audit        AuditLog
	DB           Pinger
	DemoAccounts []views.DemoAccount
	Clock        func() time.Time
	Jobs         Jobs     // the background job queue (/admin/jobs); nil: shown as not running
	Landings     Landings // the welcome page's invitation reference; nil: ignored
	Access       Access   // sponsors and groups at invite time; nil: not offered
	// DemoOutboxURL is devtenant's outbox page in demo mode.
	DemoOutboxURL string
	Approvals     Approvals // approval requests (PORTICO_APPROVAL); nil: off
	Reviews       Reviews   // sponsor reviews (PORTICO_REVIEW_EVERY); nil: off
	// Lifecycle is the guest lifecycle (/admin/guests); nil: no lifecycle policy is configured.
	Lifecycle GuestLifecycle
	Bulk      Bulk // bulk invitations (/bulk, /api/bulk); nil: refused
	// Observe wraps every request first (metrics by route template); nil: none.
	Observe echo.MiddlewareFunc
	// Metrics is served at /metrics (already protected by its own bearer check); nil: no route.
	Metrics http.Handler
	// Webhooks is the delivery log (/admin/webhooks); nil: shown as not configured.
	Webhooks Webhooks
	API      APIAuth // bearer tokens for /api/; nil: the API answers 503
}

// Server holds the handlers' dependencies.
type Server struct {
	Deps
	cspFormAction string
	languages     []views.Option // the form's message languages, from the invitation policy
}

// New builds the echo router with every route and middleware.
func New(d Deps) *echo.Echo {
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Tokens == nil {
		d.Tokens = delegatedTokens(d.Sessions, d.RP)
		if d.Tokens == nil {
			panic("handlers: Deps.Tokens is required unless Sessions and RP are auth's own")
		}
	}
	s := &Server{Deps: d}
	s.cspFormAction = formActionSources(d.Config)
	for _, l := range d.Invites.Policy().Languages {
		s.languages = append(s.languages, views.Option{Value: l.Code, Label: l.Name})
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.IPExtractor = ipExtractor(d.Config.TrustedProxies)
	e.HTTPErrorHandler = s.handleError
	s.routes(e)
	return e
}

func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(prefixToIPNet(p)))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// render writes a component with status, rendering into a buffer first so a template error
// becomes a clean 500 instead of half a page.
func render(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// page builds the layout data every view shares.
func (s *Server) page(c echo.Context, title string) views.Page {
	p := views.Page{
		Title:     title,
		Demo:      s.Config.Demo,
		RequestID: requestID(c),
		OrgName:   s.Config.OrgName,
		Assets:    views.Assets{CSS: static.Path("app.css"), JS: static.Path("app.js")},
		Lang:      "en",
	}
	if sess := sessionOf(c); sess != nil {
		p.CSRF = sess.Data.CSRF
		if u := sess.User(); u != nil {
			inv := s.inviterOf(u)
			p.User = &views.User{Name: u.Name, UPN: u.UPN, Admin: inv.SeesAll(), Bulk: s.Bulk != nil && s.mayBulk(c)}
			s.approverHeader(c, p.User, inv)
			s.reviewerHeader(c, p.User, inv)
		}
	}
	return p
}

// errorPage renders the friendly error page.
func (s *Server) errorPage(c echo.Context, pr problem) error {
	p := s.page(c, pr.Title)
	text := pr.Text
	if pr.GraphRequestID != "" {
		text += " (Graph request id " + pr.GraphRequestID + ")"
	}
	return render(c, pr.Status, views.ErrorPage(views.Error{Page: p, Status: pr.Status, Title: pr.Title, Text: text, SignIn: pr.Status == http.StatusUnauthorized}))
}

// takeFlash moves the session's one-shot message onto the page, saving the session once it is taken.
func (s *Server) takeFlash(c echo.Context, p *views.Page) error {
	sess := sessionOf(c)
	if sess == nil || sess.Data.Flash == "" {
		return nil
	}
	p.Flash = sess.PopFlash()
	return sess.Save(c.Request(), c.Response())
}

// flashPage is page plus the session's one-shot message.
func (s *Server) flashPage(c echo.Context, title string) (views.Page, error) {
	p := s.page(c, title)
	return p, s.takeFlash(c, &p)
}
