package app

import (
	"context"
	"slices"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"portico/config"
	"portico/handlers"
	"portico/invite"
	"portico/jobs"
	"portico/store"
)

// clock is Portico's clock: the real one, or in demo mode the demo devtenant's directory clock
// (-demo-clock-offset, PUT /_devtenant/clock), so that both move together and a 30-day
// lifecycle can be shown in a minute; app.Options.Clock replaces it in tests.
func (a *App) clock() func() time.Time {
	if a.clockHook != nil {
		return a.clockHook
	}
	if a.Tenant == nil {
		return time.Now
	}
	t := a.Tenant
	return func() time.Time { return time.Now().Add(t.ClockOffset()) }
}

// LifecyclePolicy is the invite package's view of the configured lifecycle.
func LifecyclePolicy(cfg *config.Config) invite.LifecyclePolicy {
	l := cfg.Lifecycle
	return invite.LifecyclePolicy{RemindAfter: slices.Clone(l.RemindAfter), PendingExpiry: l.PendingExpiry,
		ExpiryAction: l.PendingExpiryAction, WarnBefore: l.WarnBefore}
}

// buildLifecycle builds the guest lifecycle when a policy is configured; it acts with Portico's
// application token ts (nil: planning and reports only, as the admin page then explains).
func (a *App) buildLifecycle(ts oauth2.TokenSource) error {
	cfg := a.Config
	if !cfg.Lifecycle.Enabled() && cfg.ReviewEvery == 0 { // reviews alone still get /admin/guests
		return nil
	}
	l, err := a.Invites.NewLifecycle(invite.LifecycleConfig{Policy: LifecyclePolicy(cfg), Graph: a.Graph, Tokens: ts,
		TenantID: cfg.TenantID, Granted: a.appRoles})
	if err != nil {
		return err
	}
	a.Lifecycle = l
	return nil
}

// lifecycleDemoRoles are the application permissions the demo grants for the lifecycle: the
// write permission its expiry action needs and signInActivity's.
func lifecycleDemoRoles(cfg *config.Config) []string {
	if !cfg.Lifecycle.Enabled() && cfg.ReviewEvery == 0 {
		return nil
	}
	roles := []string{"AuditLog.Read.All"}
	if cfg.Lifecycle.PendingExpiryAction != config.ExpiryReport || (cfg.ReviewEvery > 0 && cfg.ReviewAction != config.ReviewReport) {
		roles = append(roles, "User.ReadWrite.All")
	}
	return roles
}

// lifecycleRunner is the job's view of the lifecycle (a nil interface when there is none).
func (a *App) lifecycleRunner() jobs.LifecycleRunner {
	if a.Lifecycle == nil {
		return nil
	}
	return a.Lifecycle
}

// lifecycleAdmin is the handlers' view of the lifecycle: invite.Lifecycle plus the job queue
// (run now) and the invitation's recorded sponsors.
type lifecycleAdmin struct {
	*invite.Lifecycle
	a *App
}

func (l lifecycleAdmin) ResetRedemption(ctx context.Context, admin invite.Inviter, meta invite.Meta, id, email string) error {
	_, err := l.Lifecycle.ResetRedemption(ctx, admin, meta, id, email)
	return err
}

// Sponsors reads the recorded sponsors of all listed invitations at once; on a read error the
// page shows none recorded rather than failing.
func (l lifecycleAdmin) Sponsors(ctx context.Context, invitationIDs []string) map[string]string {
	names, err := l.a.Invites.SponsorNames(ctx, invitationIDs)
	if err != nil {
		return nil
	}
	return names
}

// RunNow queues a lifecycle run for an admin, recording the click in the audit trail.
func (l lifecycleAdmin) RunNow(ctx context.Context, admin invite.Inviter, meta invite.Meta) error {
	if !admin.Has(invite.RoleAdministrator) {
		return invite.ErrNotFound
	}
	if l.a.Jobs == nil {
		return &invite.LifecycleError{Reason: "the job queue is not running"}
	}
	id, err := l.a.Jobs.RunLifecycleNow(ctx, admin.UPN)
	if err != nil {
		return err
	}
	if l.a.Reviews != nil { // the sponsor reviews' sweep runs too
		if _, err := l.a.Jobs.SweepReviewsNow(ctx); err != nil {
			return err
		}
	}
	return l.a.Store.AppendAudit(ctx, &store.AuditEvent{ActorTID: admin.TenantID, ActorOID: admin.ObjectID, ActorUPN: admin.UPN,
		Action: ActionLifecycleRun, Target: strconv.FormatInt(id, 10), Outcome: string(invite.OutcomeSuccess),
		ClientIP: meta.ClientIP, RequestID: meta.RequestID})
}

// ActionLifecycleRun is the audit action of an admin queueing a lifecycle run.
const ActionLifecycleRun = "lifecycle.run"

func (a *App) handlerLifecycle() handlers.GuestLifecycle {
	if a.Lifecycle == nil {
		return nil
	}
	return lifecycleAdmin{Lifecycle: a.Lifecycle, a: a}
}
