package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"portico/static"
)

// routes is Portico's one flat route table.
func (s *Server) routes(e *echo.Echo) {
	if s.Observe != nil {
		e.Use(s.Observe)
	}
	e.Use(requestIDs, s.securityHeaders, s.logRequests, s.recoverPanics)

	// Static assets: no session, no body, long-lived fingerprinted names.
	e.GET("/static/*", echo.WrapHandler(static.Handler()))
	e.GET("/favicon.ico", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, static.Path("favicon.svg")) })
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if s.Metrics != nil {
		// Bearer-protected (PORTICO_METRICS_TOKEN); no session, never cached.
		e.GET("/metrics", echo.WrapHandler(s.Metrics), noStore, noIndex)
	}

	// Partner pages: no sign-in, no session, never cached or indexed, rate-limited per address.
	partner := e.Group("", middleware.BodyLimit("4K"), noStore, noIndex, s.limitPerIP(1, 30))
	partner.GET("/join/:token", s.joinShow)
	partner.HEAD("/join/:token", s.joinHead)
	partner.POST("/join/:token/accept", s.joinAccept, s.checkOrigin)
	e.GET("/welcome", s.welcome, noStore, noIndex, s.landingRef())

	// Everything else has a session.
	site := e.Group("", middleware.BodyLimit("64K"), s.withSession)
	site.GET("/", s.home)
	site.GET("/login", s.login, noStore, s.limitPerIP(0.5, 20))
	site.GET("/auth/callback", s.callback, noStore, s.limitPerIP(0.5, 20))
	site.POST("/logout", s.logout, s.checkOrigin, s.checkCSRF)
	site.GET("/signed-out", s.signedOut)

	in := site.Group("", s.requireSignIn, s.checkOrigin, s.checkCSRF)
	in.POST("/invitations", s.createInvitation)
	in.GET("/invitations", s.listInvitations)
	in.GET("/invitations/check", s.checkAddress, s.limitPerUser(2, 20))
	in.GET("/people", s.people, s.limitPerUser(2, 20))
	one := in.Group("/invitations/:id", s.guardInvitation())
	one.GET("", s.showInvitation)
	one.POST("/resend", s.resendInvitation)
	one.POST("/reveal", s.revealRedeemURL, noStore)
	one.POST("/link", s.newJoinLink)
	one.POST("/link/revoke", s.revokeJoinLink)

	in.GET("/approvals", s.listApprovals)
	req := in.Group("/approvals/:id", s.guardInvitation())
	req.GET("", s.showApproval)
	req.POST("/approve", s.approveRequest)
	req.POST("/deny", s.denyRequest)
	req.POST("/cancel", s.cancelRequest)
	// Bulk invitations: the upload takes a larger body, read before the CSRF check finds its token.
	// (Route middleware, not a group: a group's middleware also runs for every unknown path.)
	e.POST("/bulk", s.bulkUpload, s.bulkBodyLimit, s.withSession,
		s.requireSignIn, s.checkOrigin, s.parseUpload, s.checkCSRF, s.requireBulk)
	// The bulk API takes a session (with CSRF) or a bearer token (without), like the rest of /api/.
	e.POST("/api/bulk", s.apiBulkCreate, s.bulkBodyLimit,
		s.sessionOrBearer(s.withSession, s.requireSignIn, s.checkOrigin, s.checkCSRF), s.requireBulk)
	e.GET("/api/bulk/:id", s.apiBulkShow, middleware.BodyLimit("64K"),
		s.sessionOrBearer(s.withSession, s.requireSignIn), s.requireBulk)
	bulkIn := in.Group("/bulk", s.requireBulk)
	bulkIn.GET("", s.bulkForm)
	bulkIn.GET("/template.csv", s.bulkTemplate)
	bulkIn.GET("/:id", s.bulkShow)
	bulkIn.POST("/:id/confirm", s.bulkConfirm)
	bulkIn.POST("/:id/cancel", s.bulkCancel)
	bulkIn.GET("/:id/verdicts.csv", s.bulkCSV("verdicts"))
	bulkIn.GET("/:id/results.csv", s.bulkCSV("results"))

	// The API for scripts: bearer tokens only (no session, no cookie, no CSRF), JSON in Graph's shapes.
	e.GET("/api/openapi.json", s.openAPI)
	e.GET("/api/signin", s.apiSignIn)
	api := e.Group("/api", middleware.BodyLimit("64K"), s.requireBearer)
	api.POST("/invitations", s.apiCreateInvitation)
	api.GET("/invitations", s.apiListInvitations)
	api.GET("/invitations/check", s.apiCheckAddress, s.limitPerUser(2, 20))
	api.GET("/approvals", s.apiListApprovals)
	api.GET("/approvals/:id", s.apiGetApproval)
	api.POST("/approvals/:id/approve", s.apiApprove)
	api.POST("/approvals/:id/deny", s.apiDeny)
	api.POST("/approvals/:id/cancel", s.apiCancel)
	apiOne := api.Group("/invitations/:id", s.guardInvitation())
	apiOne.GET("", s.apiGetInvitation)
	apiOne.POST("/resend", s.apiResendInvitation)
	apiOne.POST("/link", s.apiNewJoinLink)
	apiOne.DELETE("/link", s.apiRevokeJoinLink)
	in.GET("/reviews", s.listReviews)
	rv := in.Group("/reviews/:id", s.guardInvitation())
	rv.POST("/keep", s.keepGuest)
	rv.POST("/remove", s.removeGuest)

	admin := in.Group("/admin", s.requireAdmin)
	admin.GET("/audit", s.auditPage)
	admin.GET("/audit.csv", s.auditCSV)
	admin.GET("/audit.jsonl", s.auditJSONL)
	admin.GET("/jobs", s.jobsPage)
	admin.POST("/jobs/:id/cancel", s.cancelJob)
	admin.GET("/guests", s.guestsPage)
	admin.GET("/guests.csv", s.guestsCSV)
	admin.GET("/guests/dry-run", s.guestsPage)
	admin.POST("/guests/run", s.guestsRun)
	admin.GET("/guests/:id", s.guestPage)
	admin.POST("/guests/:id/exempt", s.guestExempt)
	admin.POST("/guests/:id/act", s.guestActNow)
	admin.POST("/guests/:id/restore", s.guestRestore)
	admin.POST("/guests/:id/reset-redemption", s.guestResetRedemption)
	admin.GET("/webhooks", s.webhooksPage)
}

func noIndex(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("X-Robots-Tag", "noindex, nofollow")
		return next(c)
	}
}

// limitPerIP is a token bucket per client address (the address from the trusted extractor, so a
// spoofed X-Forwarded-For does not reset it).
func (s *Server) limitPerIP(perSecond float64, burst int) echo.MiddlewareFunc {
	return s.limiter(perSecond, burst, func(c echo.Context) (string, error) { return "ip:" + c.RealIP(), nil })
}

// limitPerUser is a token bucket per signed-in user (tenant + object id).
func (s *Server) limitPerUser(perSecond float64, burst int) echo.MiddlewareFunc {
	return s.limiter(perSecond, burst, func(c echo.Context) (string, error) {
		return actorKey(c), nil
	})
}

func (s *Server) limiter(perSecond float64, burst int, id middleware.Extractor) echo.MiddlewareFunc {
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(perSecond), Burst: burst, ExpiresIn: 10 * time.Minute,
	})
	retry := strconv.Itoa(max(1, int(1/perSecond+0.5)))
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store:               store,
		IdentifierExtractor: id,
		ErrorHandler: func(c echo.Context, err error) error {
			return echo.NewHTTPError(http.StatusForbidden, "request refused")
		},
		DenyHandler: func(c echo.Context, identifier string, err error) error {
			c.Response().Header().Set("Retry-After", retry)
			s.Logger.Warn("rate limit", "request_id", requestID(c), "path", logPath(c), "client_ip", c.RealIP())
			return echo.NewHTTPError(http.StatusTooManyRequests, "Too many requests from your address. Wait a moment and try again.")
		},
	})
}

// actorKey names who is acting for rate limits: the signed-in user, the API caller, else the address.
func actorKey(c echo.Context) string {
	if u := currentUser(c); u != nil {
		return "user:" + u.TenantID + "/" + u.ObjectID
	}
	if cl := apiCaller(c); cl != nil {
		return "user:" + cl.TenantID + "/" + cl.ObjectID
	}
	return "ip:" + c.RealIP()
}
