package jobs

import (
	"context"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"portico/invite"
)

// KindLifecycle is the guest lifecycle run (reminders, warnings, expiry; issue 19).
const KindLifecycle = "guest_lifecycle"

// DefaultLifecycleEvery is how often the lifecycle runs on its own.
const DefaultLifecycleEvery = 24 * time.Hour

// LifecycleRunner carries out one lifecycle run (invite.Lifecycle satisfies it).
type LifecycleRunner interface {
	Run(ctx context.Context, meta invite.Meta, dryRun bool) (*invite.RunResult, error)
}

var _ LifecycleRunner = (*invite.Lifecycle)(nil)

// LifecycleArgs is one lifecycle run. Every run is idempotent (the lifecycle log claims each
// action once), so a run queued twice, retried or run on two instances acts once.
type LifecycleArgs struct {
	Asker Asker `json:"asker"`
	// RequestedBy is the admin who asked for this run from /admin/guests ("" : the daily schedule);
	// their click is in the audit trail, and the run applies the configured policy only.
	RequestedBy string `json:"requested_by,omitempty"`
	// RequestedAt makes each admin's request its own job: a run asked for while another is still
	// running is queued, not dropped as a duplicate (two runs act once anyway).
	RequestedAt *time.Time `json:"requested_at,omitempty"`
}

// Kind implements river.JobArgs.
func (LifecycleArgs) Kind() string { return KindLifecycle }

// InsertOpts keeps at most one scheduled run queued or running at a time (unique by arguments:
// an admin's request carries its time, so it is never dropped).
func (LifecycleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: unfinishedStates()}}
}

type lifecycleWorker struct {
	river.WorkerDefaults[LifecycleArgs]
	r *Runner
}

// Timeout gives a run of many guests the time Graph's pacing needs.
func (w *lifecycleWorker) Timeout(*river.Job[LifecycleArgs]) time.Duration { return 30 * time.Minute }

func (w *lifecycleWorker) Work(ctx context.Context, job *river.Job[LifecycleArgs]) error {
	res, err := w.r.cfg.Lifecycle.Run(ctx, invite.JobMeta(strconv.FormatInt(job.ID, 10)), false)
	if err != nil {
		return err
	}
	w.r.log.InfoContext(ctx, "guest lifecycle run", "job", job.ID, "requested_by", job.Args.RequestedBy, "checked", res.Checked,
		"reminded", res.Reminded, "warned", res.Warned, "reported", res.Reported, "disabled", res.Disabled,
		"deleted", res.Deleted, "skipped", res.Skipped, "failed", res.Failed, "not_guests", res.NotGuests)
	return nil
}

// addLifecycle registers the lifecycle run (when a policy is configured and an identity exists).
func (r *Runner) addLifecycle(workers *river.Workers, periodic []*river.PeriodicJob) []*river.PeriodicJob {
	// Listed only when configured: without a policy there is nothing to run (and nothing to say).
	if r.cfg.Lifecycle == nil {
		return periodic
	}
	river.AddWorker(workers, &lifecycleWorker{r: r})
	r.features = append(r.features, Feature{Name: "Guest lifecycle: reminders and expiry of never-accepted guests", On: true})
	every := cmpOr(r.cfg.LifecycleEvery, DefaultLifecycleEvery)
	if every < 0 {
		return periodic
	}
	return append(periodic, river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) {
			return LifecycleArgs{Asker: Asker{Kind: AskerSchedule}}, nil
		},
		&river.PeriodicJobOpts{RunOnStart: true, ID: KindLifecycle}))
}

// RunLifecycleNow queues a lifecycle run at once for the admin by (it also runs daily).
func (r *Runner) RunLifecycleNow(ctx context.Context, by string) (int64, error) {
	now := time.Now().UTC()
	return r.Insert(ctx, LifecycleArgs{Asker: Asker{Kind: AskerSchedule}, RequestedBy: by, RequestedAt: &now}, nil)
}
