package app

import (
	"context"
	"errors"
	"portico/bulk"
	"portico/invite"
	"strconv"

	"golang.org/x/oauth2"

	"portico/handlers"
	"portico/jobs"
	"portico/store"
)

// buildJobs opens the job queue on the store's database (applying River's migrations) with
// Portico's own identity for background Graph calls, ts (nil: those features are off), and tells
// the invite service whether states are kept current in the background.
func (a *App) buildJobs(ctx context.Context, ts oauth2.TokenSource) error {
	a.Bulk = bulk.NewService(bulk.Config{
		Store:   a.Store,
		Invites: a.Invites,
		// Each row is one send intent with the row's idempotency key: a row found "sending" after
		// a crash is sent again with the same key, which returns the first send's result.
		Send: func(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, req invite.Request, key string, meta invite.Meta) (*invite.Result, error) {
			req.IdempotencyKey = key
			return a.Invites.Send(ctx, ts, inv, req, meta)
		},
		Idempotent: true,
		Tokens:     ts,
		Rate:       a.Config.BulkRate,
		MaxRows:    a.Config.BulkMaxRows,
		MaxBytes:   a.Config.BulkMaxBytes,
		Logger:     a.Logger.With("component", "bulk"),
	})
	r, err := jobs.New(ctx, jobs.Config{
		Store:           a.Store,
		Invites:         a.Invites,
		Logger:          a.Logger,
		Tokens:          ts,
		SyncInterval:    a.Config.StateRefresh, // as old as a page would let a state get
		Notices:         a.notices,
		NoticePoll:      a.noticePoll,
		NoticeRetry:     a.noticeRetry,
		Approvals:       a.approvalSweeper(),
		ApprovalSweep:   approvalSweep(a.Config.ApprovalTTL),
		Bulk:            a.Bulk,
		Recheck:         recheck,
		Webhooks:        a.Webhooks,
		WebhookAttempts: a.Config.WebhookAttempts,
		WebhookInterval: a.webhookInterval,
		WebhookBackoff:  a.webhookBackoff,
		OnWebhook:       a.onWebhook(),
		Reviews:         a.reviewSweeper(),
		Lifecycle:       a.lifecycleRunner(),
	})
	if err != nil {
		return err
	}
	a.Jobs = r
	if a.Reviews != nil {
		a.Reviews.SetKick(func(ctx context.Context, id string) {
			if _, err := r.ActOnReview(ctx, id); err != nil {
				a.Logger.WarnContext(ctx, "review action not queued; the next review sweep carries it out", "review", id, "err", err)
			}
		})
	}
	a.Bulk.SetQueue(r)
	a.Invites.SetBackgroundSync(ts != nil)
	// Group assignments: a job in application mode; retries and the sweep need the identity.
	a.Invites.SetBackgroundGroups(ts != nil)
	if ts != nil {
		a.Invites.SetGroupQueue(r.QueueGroups)
	}
	if a.notices != nil {
		a.Invites.SetNotices(a.notices.Kinds, func(ctx context.Context) {
			if _, err := r.DispatchNotices(ctx); err != nil {
				a.Logger.WarnContext(ctx, "notices not queued yet; the periodic dispatch will", "err", err)
			}
		})
	}
	return nil
}

// recheck decides, before each run of a job an employee asked for, whether it may go on. A bulk
// job was authorized when its owner confirmed it, and each row goes through invite's policy again
// as it is sent (the Member rule, the quota); its owner or an administrator can cancel it. The
// employee's current roles and groups are not known in the background (they come with a sign-in),
// so membership of PORTICO_INVITERS is not re-read here.
func recheck(_ context.Context, asker jobs.Asker, kind string) error {
	if kind == jobs.KindBulkSend && asker.TenantID != "" && asker.ObjectID != "" {
		return nil
	}
	return jobs.ErrNoLongerAllowed
}

// jobsDeps are the handlers' views of the job queue.
func (a *App) jobsDeps() (handlers.Jobs, handlers.Landings) {
	if a.Jobs == nil {
		return nil, nil
	}
	return jobsAdmin{r: a.Jobs, audit: a.Store, bulk: a.Bulk}, landings{a}
}

// startJobs starts working jobs; Serve calls it.
func (a *App) startJobs(ctx context.Context) error {
	if a.Jobs == nil {
		return nil
	}
	return a.Jobs.Start(ctx)
}

// stopJobs drains the job queue (running jobs finish; when ctx ends first they are cancelled and
// retried later) and closes its connections; Serve calls it after the HTTP server stopped.
func (a *App) stopJobs(ctx context.Context) {
	if a.Jobs == nil {
		return
	}
	if err := a.Jobs.Stop(ctx); err != nil {
		a.Logger.Warn("job queue stop", "err", err)
	}
	a.Jobs.Close()
}

type jobsAdmin struct {
	r     *jobs.Runner
	bulk  *bulk.Service
	audit interface {
		AppendAudit(ctx context.Context, ev *store.AuditEvent) error
	}
}

func (j jobsAdmin) List(ctx context.Context, before int64, limit int) ([]handlers.JobInfo, int64, error) {
	list, next, err := j.r.List(ctx, before, limit)
	out := make([]handlers.JobInfo, 0, len(list))
	for _, x := range list {
		out = append(out, handlers.JobInfo{ID: x.ID, Kind: x.Kind, State: x.State, Attempt: x.Attempt, MaxAttempts: x.MaxAttempts,
			LastError: x.LastError, ScheduledAt: x.ScheduledAt, StartedAt: x.StartedAt, FinishedAt: x.FinishedAt,
			Cancellable: x.Cancellable})
	}
	return out, next, err
}

func (j jobsAdmin) Features() []handlers.JobFeature {
	var out []handlers.JobFeature
	for _, f := range j.r.Features() {
		out = append(out, handlers.JobFeature{Name: f.Name, On: f.On, Reason: f.Reason})
	}
	return out
}

// Cancel cancels job id and records who did in the audit trail.
func (j jobsAdmin) Cancel(ctx context.Context, id int64, by invite.Inviter, meta invite.Meta) error {
	job, err := j.r.Get(ctx, id)
	if err != nil {
		if errors.Is(err, jobs.ErrNotFound) {
			return handlers.ErrJobNotFound
		}
		return err
	}
	if job.BulkJobID != "" && j.bulk != nil {
		// Cancelling the sending job cancels the bulk invitation: its unsent rows become "not sent".
		if err := j.bulk.Cancel(ctx, by, job.BulkJobID, meta); err != nil && !errors.Is(err, bulk.ErrState) && !errors.Is(err, bulk.ErrNotFound) {
			return err
		}
	}
	if err := j.r.Cancel(ctx, id); err != nil {
		return err
	}
	return j.audit.AppendAudit(ctx, &store.AuditEvent{
		ActorTID: by.TenantID, ActorOID: by.ObjectID, ActorUPN: by.UPN,
		Action: ActionJobCancel, Target: strconv.FormatInt(id, 10), Outcome: string(invite.OutcomeSuccess),
		ClientIP: meta.ClientIP, RequestID: meta.RequestID,
	})
}

// ActionJobCancel is the audit action of an admin cancelling a background job.
const ActionJobCancel = "job.cancel"

type landings struct{ a *App }

func (l landings) Landed(ctx context.Context, ref string) (string, error) {
	forward, readState := l.a.Invites.Landing(ctx, ref)
	if !readState {
		return forward, nil
	}
	if err := l.a.Jobs.RefreshSoon(ctx, ref); err != nil && !errors.Is(err, store.ErrNotFound) {
		return forward, err
	}
	return forward, nil
}
