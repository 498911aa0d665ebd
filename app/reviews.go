package app

import (
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"portico/config"
	"portico/handlers"
	"portico/invite"
	"portico/jobs"
)

// Application permissions that let Portico's own identity change guests (Microsoft's permission
// tables for PATCH /users/{id} accountEnabled and DELETE /users/{id}).
var (
	permDisableUsers = []string{"User.ReadWrite.All", "Directory.ReadWrite.All", "User.EnableDisableAccount.All"}
	permDeleteUsers  = []string{"User.ReadWrite.All", "User.DeleteRestore.All"}
	permSignIns      = []string{"AuditLog.Read.All"}
)

func hasAny(roles, perms []string) bool {
	return slices.ContainsFunc(roles, func(r string) bool {
		return slices.ContainsFunc(perms, func(p string) bool { return strings.EqualFold(p, r) })
	})
}

// buildReviews makes the sponsor reviews when PORTICO_REVIEW_EVERY is set (nil: off). A disable
// or delete policy without Portico's own identity, or without the permission, degrades to report;
// the reason is logged and shown on /reviews.
func (a *App) buildReviews(background oauth2.TokenSource) *invite.Reviews {
	cfg := a.Config
	if cfg.ReviewEvery <= 0 {
		return nil
	}
	pol := invite.ReviewPolicy{Every: cfg.ReviewEvery, Grace: cfg.ReviewGrace, WarnBefore: cfg.Lifecycle.WarnBefore,
		Action: cfg.ReviewAction, Configured: cfg.ReviewAction}
	granted := strings.Join(a.appRoles, ", ")
	if granted == "" {
		granted = "none"
	}
	need := permDisableUsers
	if pol.Action == config.ReviewDelete {
		need = permDeleteUsers
	}
	switch {
	case pol.Action == config.ReviewReport:
	case background == nil:
		pol.Action, pol.Degraded = config.ReviewReport, "Portico has no application identity for background work (configure application credentials: application mode, or PORTICO_BACKGROUND=on)"
	case a.appRoles != nil && !hasAny(a.appRoles, need):
		pol.Action, pol.Degraded = config.ReviewReport, "the application permission User.ReadWrite.All is not granted to Portico (granted: "+granted+")"
	}
	if pol.Degraded != "" {
		a.Logger.Warn("PORTICO_REVIEW_ACTION="+pol.Configured+" degrades to report", "why", pol.Degraded)
	}
	rc := invite.ReviewsConfig{Store: invite.NewReviewStore(a.Store), Policy: pol, Clock: a.clock(), Log: a.Logger,
		PublicURL: cfg.PublicURL.String(), NoticeOn: a.Invites.NoticeOn, NoticesQueued: a.Invites.NoticesQueued}
	if background != nil && a.Graph != nil {
		rg := invite.NewReviewGraph(a.Graph)
		rc.Graph, rc.Tokens, rc.Sponsors = rg, background, rg
		if hasAny(a.appRoles, permSignIns) {
			rc.SignIns = rg
		}
	}
	return invite.NewReviews(rc)
}

// handlerReviews is the handlers' view of reviews (a nil interface when off).
func (a *App) handlerReviews() handlers.Reviews {
	if a.Reviews == nil {
		return nil
	}
	return a.Reviews
}

// reviewSweeper is the job queue's view of reviews (a nil interface when off).
func (a *App) reviewSweeper() jobs.ReviewSweeper {
	if a.Reviews == nil {
		return nil
	}
	return a.Reviews
}
