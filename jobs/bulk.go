package jobs

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"portico/bulk"
	"portico/invite"
)

// KindBulkSend is the job that sends a confirmed bulk invitation.
const KindBulkSend = "bulk_send"

// BulkSendArgs names the bulk job to send and who confirmed it.
type BulkSendArgs struct {
	BulkJobID string `json:"bulk_job_id" river:"unique"`
	Asker     Asker  `json:"asker"`
}

// Kind implements river.JobArgs.
func (BulkSendArgs) Kind() string { return KindBulkSend }

// InsertOpts: one sending job per bulk job; many attempts, since each run sends a time slice and
// a failed run (the database was busy, the instance died) loses nothing.
func (BulkSendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// BulkSender runs one time slice of a bulk job (bulk.Service).
type BulkSender interface {
	Run(ctx context.Context, jobID string, runID string) error
}

type bulkSendWorker struct {
	river.WorkerDefaults[BulkSendArgs]
	r *Runner
}

// bulkNoIdentitySnooze is how long an instance without a background identity puts a bulk job back.
const bulkNoIdentitySnooze = time.Minute

func (w *bulkSendWorker) Work(ctx context.Context, job *river.Job[BulkSendArgs]) error {
	if w.r.cfg.Bulk == nil || w.r.cfg.Tokens == nil {
		return river.JobSnooze(bulkNoIdentitySnooze) // another instance may send it
	}
	runID := strconv.FormatInt(job.ID, 10) + "." + strconv.Itoa(job.Attempt)
	err := w.r.cfg.Bulk.Run(ctx, job.Args.BulkJobID, runID)
	var wait *bulk.WaitError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bulk.ErrMore):
		return river.JobSnooze(time.Millisecond) // the next slice, at once (a snooze costs no attempt)
	case errors.As(err, &wait):
		return river.JobSnooze(wait.For)
	case errors.Is(err, bulk.ErrGone):
		return river.JobCancel(err)
	case errors.Is(err, bulk.ErrSendingOff):
		return river.JobSnooze(bulkNoIdentitySnooze)
	}
	return err
}

// EnqueueBulk queues the sending of a confirmed bulk job (bulk.Queue).
func (r *Runner) EnqueueBulk(ctx context.Context, jobID string, owner invite.Inviter) (int64, error) {
	return r.Insert(ctx, BulkSendArgs{BulkJobID: jobID, Asker: Asker{Kind: AskerEmployee, TenantID: owner.TenantID, ObjectID: owner.ObjectID, UPN: owner.UPN}}, nil)
}
