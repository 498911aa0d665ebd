package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// KindApprovalExpiry is the periodic sweep of approval requests.
const KindApprovalExpiry = "approval_expiry"

// DefaultApprovalSweep is how often the approval sweep runs when Config leaves it zero.
const DefaultApprovalSweep = 5 * time.Minute

// ApprovalSweeper ends approval requests whose time ran out and settles approvals interrupted
// mid-send (invite.Approvals satisfies it).
type ApprovalSweeper interface {
	ExpireDue(ctx context.Context) (int, error)
}

// ApprovalExpiryArgs is the periodic approval sweep. It reads and writes only Portico's database:
// no Graph call, so it runs without a background identity.
type ApprovalExpiryArgs struct {
	Asker Asker `json:"asker"`
}

// Kind implements river.JobArgs.
func (ApprovalExpiryArgs) Kind() string { return KindApprovalExpiry }

// InsertOpts keeps at most one sweep queued or running at a time.
func (ApprovalExpiryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByState: unfinishedStates()}}
}

type approvalExpiryWorker struct {
	river.WorkerDefaults[ApprovalExpiryArgs]
	r *Runner
}

func (w *approvalExpiryWorker) Work(ctx context.Context, job *river.Job[ApprovalExpiryArgs]) error {
	n, err := w.r.cfg.Approvals.ExpireDue(ctx)
	if n > 0 || err != nil {
		w.r.log.InfoContext(ctx, "approval sweep", "job", job.ID, "changed", n, "err", err)
	}
	return err
}

// addApprovals registers the approval sweep (when approvals are configured).
func (r *Runner) addApprovals(workers *river.Workers, periodic []*river.PeriodicJob) []*river.PeriodicJob {
	if r.cfg.Approvals == nil {
		return periodic
	}
	river.AddWorker(workers, &approvalExpiryWorker{r: r})
	r.features = append(r.features, Feature{Name: "Approval requests expire on time", On: true})
	return append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cmpOr(r.cfg.ApprovalSweep, DefaultApprovalSweep)),
		func() (river.JobArgs, *river.InsertOpts) {
			return ApprovalExpiryArgs{Asker: Asker{Kind: AskerSchedule}}, nil
		},
		&river.PeriodicJobOpts{RunOnStart: true, ID: KindApprovalExpiry}))
}

// SweepApprovalsNow queues the approval sweep at once (it also runs on its own).
func (r *Runner) SweepApprovalsNow(ctx context.Context) (int64, error) {
	return r.Insert(ctx, ApprovalExpiryArgs{Asker: Asker{Kind: AskerSchedule}}, nil)
}
