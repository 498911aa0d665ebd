package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"portico/config"
	"portico/graph"
	"portico/handlers"
	"portico/invite"
	"portico/jobs"
)

// Application permissions that let Portico's own identity change guests (Microsoft's permission
// tables for PATCH /users/{id} accountEnabled and DELETE /users/{id}).
var (
	permDisableUsers = []string{"User.ReadWrite.All", "Directory.ReadWrite.All", "User.EnableDisableAccount.All"}
	permDeleteUsers  = []string{"User.ReadWrite.All", "Directory.ReadWrite.All", "User.DeleteRestore.All"}
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
		rc.Graph, rc.Tokens = reviewGraph{a.Graph}, background
		rc.Sponsors = graphSponsors{a.Graph}
		if hasAny(a.appRoles, permSignIns) {
			rc.SignIns = reviewGraph{a.Graph}
		}
	}
	return invite.NewReviews(rc)
}

// reviewGraph adapts the Graph client to invite.ReviewGraph and invite.SignIns.
type reviewGraph struct{ g *graph.Client }

func (r reviewGraph) DisableUser(ctx context.Context, ts oauth2.TokenSource, id string) (string, error) {
	return r.g.DisableUser(ctx, ts, id)
}

func (r reviewGraph) DeleteUser(ctx context.Context, ts oauth2.TokenSource, id string) (string, error) {
	return r.g.DeleteUser(ctx, ts, id)
}

func (r reviewGraph) UserType(ctx context.Context, ts oauth2.TokenSource, id string) (string, bool, error) {
	found, _, err := r.g.GuestStatuses(ctx, ts, []string{id}, false)
	if err != nil {
		return "", false, err
	}
	st, ok := found[id]
	if !ok {
		return "", false, nil
	}
	return st.UserType, true, nil
}

func (r reviewGraph) LastSignIns(ctx context.Context, ts oauth2.TokenSource, ids []string) (map[string]*time.Time, error) {
	found, _, err := r.g.GuestStatuses(ctx, ts, ids, true)
	out := make(map[string]*time.Time, len(found))
	for id, st := range found {
		out[id] = st.SignInActivity.Last()
	}
	return out, err
}

// graphSponsors adapts Graph's GET /users/{id}/sponsors to invite.GuestSponsors.
type graphSponsors struct{ g *graph.Client }

func (s graphSponsors) GuestSponsors(ctx context.Context, ts oauth2.TokenSource, ids []string) (map[string][]invite.Person, error) {
	m, err := s.g.Sponsors(ctx, ts, ids)
	out := make(map[string][]invite.Person, len(m))
	for id, us := range m {
		for _, u := range us {
			out[id] = append(out[id], invite.Person{ObjectID: u.ID, UPN: u.UserPrincipalName, Name: u.DisplayName, Email: u.Mail})
		}
	}
	return out, err
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
