package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// KindReviewSweep is the periodic sweep of sponsor reviews; KindReviewAction one round's action.
const (
	KindReviewSweep  = "review_sweep"
	KindReviewAction = "review_action"
)

// DefaultReviewSweep is how often the review sweep runs when Config leaves it zero.
const DefaultReviewSweep = time.Hour

// ReviewSweeper runs sponsor reviews (invite.Reviews satisfies it): Sweep does everything due
// (idempotent), Act carries out one round's removal once.
type ReviewSweeper interface {
	SweepReviews(ctx context.Context) (int, error)
	Act(ctx context.Context, id string) error
}

// ReviewSweepArgs is the periodic review sweep.
type ReviewSweepArgs struct {
	Asker Asker `json:"asker"`
}

// Kind implements river.JobArgs.
func (ReviewSweepArgs) Kind() string { return KindReviewSweep }

// A review sweep has no uniqueness: one asked for while another runs must still run (the running
// one may have read the rounds before the change that asked for it); sweeps are idempotent, and
// the periodic one is inserted by the leader only.

// ReviewActionArgs carries out the removal a reviewer asked for, with Portico's own identity.
type ReviewActionArgs struct {
	ReviewID string `json:"review_id"`
	Asker    Asker  `json:"asker"`
}

// Kind implements river.JobArgs.
func (ReviewActionArgs) Kind() string { return KindReviewAction }

type reviewSweepWorker struct {
	river.WorkerDefaults[ReviewSweepArgs]
	r *Runner
}

func (w *reviewSweepWorker) Work(ctx context.Context, job *river.Job[ReviewSweepArgs]) error {
	n, err := w.r.cfg.Reviews.SweepReviews(ctx)
	if n > 0 || err != nil {
		w.r.log.InfoContext(ctx, "review sweep", "job", job.ID, "changed", n, "err", err)
	}
	return err
}

type reviewActionWorker struct {
	river.WorkerDefaults[ReviewActionArgs]
	r *Runner
}

func (w *reviewActionWorker) Work(ctx context.Context, job *river.Job[ReviewActionArgs]) error {
	return w.r.cfg.Reviews.Act(ctx, job.Args.ReviewID)
}

// addReviews registers the review jobs (when reviews are configured).
func (r *Runner) addReviews(workers *river.Workers, periodic []*river.PeriodicJob) []*river.PeriodicJob {
	if r.cfg.Reviews == nil {
		return periodic
	}
	river.AddWorker(workers, &reviewSweepWorker{r: r})
	river.AddWorker(workers, &reviewActionWorker{r: r})
	r.features = append(r.features, Feature{Name: "Sponsor reviews of guests", On: true})
	return append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cmpOr(r.cfg.ReviewSweep, DefaultReviewSweep)),
		func() (river.JobArgs, *river.InsertOpts) {
			return ReviewSweepArgs{Asker: Asker{Kind: AskerSchedule}}, nil
		},
		&river.PeriodicJobOpts{RunOnStart: true, ID: KindReviewSweep}))
}

// SweepReviewsNow queues the review sweep at once.
func (r *Runner) SweepReviewsNow(ctx context.Context) (int64, error) {
	return r.Insert(ctx, ReviewSweepArgs{Asker: Asker{Kind: AskerSchedule}}, nil)
}

// ActOnReview queues the action of one round (after a reviewer's "remove").
func (r *Runner) ActOnReview(ctx context.Context, id string) (int64, error) {
	return r.Insert(ctx, ReviewActionArgs{ReviewID: id, Asker: Asker{Kind: AskerSchedule}}, nil)
}
