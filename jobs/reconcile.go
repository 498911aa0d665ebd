package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"portico/invite"
)

// KindIntentReconcile settles send intents left open (see invite.Service.Reconcile).
const KindIntentReconcile = "intent_reconcile"

// DefaultReconcileInterval is how often the reconciler runs on its own.
const DefaultReconcileInterval = 15 * time.Second

// reconcileBatch is how many intents one claim takes.
const reconcileBatch = 50

// IntentReconcileArgs runs the reconciler once: every open intent past its lease is claimed and
// settled by lookup, or left for a later run. It only reads Graph, with Portico's own identity.
type IntentReconcileArgs struct {
	Asker Asker `json:"asker"`
}

// Kind implements river.JobArgs.
func (IntentReconcileArgs) Kind() string { return KindIntentReconcile }

// InsertOpts keeps at most one reconciler queued or running at a time (River requires the running
// state in a unique set); an intent handed over during a run is claimed by the next one.
func (IntentReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: unfinishedStates()}}
}

type reconcileWorker struct {
	river.WorkerDefaults[IntentReconcileArgs]
	r *Runner
}

func (w *reconcileWorker) Work(ctx context.Context, job *river.Job[IntentReconcileArgs]) error {
	if w.r.cfg.Tokens == nil {
		return river.JobSnooze(noIdentitySnooze)
	}
	var total invite.ReconcileResult
	for {
		res, err := w.r.cfg.Invites.Reconcile(ctx, w.r.cfg.Tokens, reconcileBatch)
		total.Claimed += res.Claimed
		total.Confirmed += res.Confirmed
		total.NotSent += res.NotSent
		total.Waiting += res.Waiting
		if err != nil {
			w.r.log.WarnContext(ctx, "intent reconcile: some intents stay open for the next run", "job", job.ID, "err", err)
			break
		}
		if res.Claimed < reconcileBatch {
			break
		}
	}
	if total.Claimed > 0 {
		w.r.log.InfoContext(ctx, "intent reconcile", "job", job.ID, "claimed", total.Claimed, "confirmed", total.Confirmed,
			"not_sent", total.NotSent, "waiting", total.Waiting)
	}
	// Intents that failed to settle are claimed again after their lease: the periodic run retries.
	return nil
}

// ReconcileSoon queues a reconciler run now (an invitation's outcome became unknown).
func (r *Runner) ReconcileSoon(ctx context.Context, intentID string) {
	if r.client == nil {
		return
	}
	res, err := r.client.Insert(context.WithoutCancel(ctx), IntentReconcileArgs{Asker: Asker{Kind: AskerSchedule}}, nil)
	if err != nil {
		r.log.WarnContext(ctx, "jobs: could not queue the reconciler; its periodic run settles the intent", "intent", intentID, "err", err)
		return
	}
	if !res.UniqueSkippedAsDuplicate {
		r.log.DebugContext(ctx, "reconciler queued", "job", res.Job.ID, "intent", intentID)
	}
}

// reconcileAfterStart queues one reconciler run as soon as the leases an earlier process left
// behind (a restart after kill -9) can have lapsed: one intent lease after the start. It does not
// wait for this instance to win River's leadership (up to River's 15 s leader TTL after a crash)
// and for the periodic run after that; any instance's worker takes the job.
func (r *Runner) reconcileAfterStart(ctx context.Context) {
	t := time.NewTimer(invite.DefaultIntentLease + time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	if r.cfg.Invites.ReconcileDue(ctx) {
		r.ReconcileSoon(ctx, "")
	}
}

// ReconcileNow runs the reconciler at once in this process (tests, the command line); it returns
// what the run did.
func (r *Runner) ReconcileNow(ctx context.Context) (invite.ReconcileResult, error) {
	if r.cfg.Tokens == nil {
		return invite.ReconcileResult{}, errors.New("jobs: no background identity to look guests up with")
	}
	res, err := r.cfg.Invites.Reconcile(ctx, r.cfg.Tokens, reconcileBatch)
	if err != nil {
		return res, fmt.Errorf("jobs: reconcile: %w", err)
	}
	return res, nil
}
