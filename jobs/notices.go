package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"portico/notify"
)

// Notice job kinds.
const (
	KindNoticeSend     = "notice_send"
	KindNoticeDispatch = "notice_dispatch"
)

// DefaultNoticePoll is how often queued notices without a job are handed to the queue, besides
// right after they are written (DispatchNotices).
const DefaultNoticePoll = 2 * time.Minute

// NoticeSendArgs delivers one stored notice (store.Notice), with River's retries and backoff.
type NoticeSendArgs struct {
	NoticeID string `json:"notice_id" river:"unique"`
	Asker    Asker  `json:"asker"`
}

// Kind implements river.JobArgs.
func (NoticeSendArgs) Kind() string { return KindNoticeSend }

// InsertOpts: one job per notice, whatever its state, so a notice seen twice is sent once.
func (NoticeSendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// NoticeDispatchArgs hands queued notices to the queue (the safety net for notices whose writer
// stopped before it could queue their job).
type NoticeDispatchArgs struct {
	Asker Asker `json:"asker"`
}

// Kind implements river.JobArgs.
func (NoticeDispatchArgs) Kind() string { return KindNoticeDispatch }

type noticeSendWorker struct {
	river.WorkerDefaults[NoticeSendArgs]
	r *Runner
}

// NextRetry uses Config.NoticeRetry when set (tests), River's backoff otherwise.
func (w *noticeSendWorker) NextRetry(job *river.Job[NoticeSendArgs]) time.Time {
	if w.r.cfg.NoticeRetry == nil {
		return time.Time{}
	}
	return time.Now().Add(w.r.cfg.NoticeRetry(job.Attempt))
}

func (w *noticeSendWorker) Work(ctx context.Context, job *river.Job[NoticeSendArgs]) error {
	d := w.r.cfg.Notices
	if d == nil {
		return river.JobSnooze(noIdentitySnooze) // this instance has no transport; another may
	}
	err := d.Deliver(ctx, job.Args.NoticeID, job.Attempt >= job.MaxAttempts)
	var ra *notify.RetryAfterError
	if errors.As(err, &ra) && ra.After > 0 {
		return river.JobSnooze(ra.After)
	}
	return err
}

type noticeDispatchWorker struct {
	river.WorkerDefaults[NoticeDispatchArgs]
	r *Runner
}

func (w *noticeDispatchWorker) Work(ctx context.Context, _ *river.Job[NoticeDispatchArgs]) error {
	_, err := w.r.DispatchNotices(ctx)
	return err
}

// DispatchNotices queues a send job for every queued notice that has none yet (at most 500 per
// call) and returns how many it queued. Call it after committing a transaction that enqueued
// notices; a periodic job calls it too, so a notice whose writer stopped first is not lost. Two
// instances dispatching together queue one job per notice (unique by notice id).
func (r *Runner) DispatchNotices(ctx context.Context) (int, error) {
	if r.cfg.Notices == nil {
		return 0, nil
	}
	list, err := r.cfg.Store.UndispatchedNotices(ctx, 500)
	if err != nil {
		return 0, fmt.Errorf("jobs: dispatch notices: %w", err)
	}
	n := 0
	for _, nt := range list {
		res, err := r.client.Insert(ctx, NoticeSendArgs{NoticeID: nt.ID, Asker: Asker{Kind: AskerSchedule}}, nil)
		if err != nil {
			return n, fmt.Errorf("jobs: queue notice %s: %w", nt.ID, err)
		}
		if _, err := r.cfg.Store.SetNoticeJob(ctx, nt.ID, res.Job.ID, time.Now()); err != nil {
			return n, fmt.Errorf("jobs: dispatch notice %s: %w", nt.ID, err)
		}
		if !res.UniqueSkippedAsDuplicate {
			n++
		}
	}
	if n > 0 {
		r.log.DebugContext(ctx, "notices queued", "count", n)
	}
	return n, nil
}

// noticeJobCancelled settles the notice of a cancelled notice_send job, so it does not stay
// queued for ever: failed, "the job was cancelled" (one being sent is settled by its attempt).
func (r *Runner) noticeJobCancelled(ctx context.Context, row *rivertype.JobRow) error {
	if row == nil || row.Kind != KindNoticeSend {
		return nil
	}
	var args NoticeSendArgs
	if err := json.Unmarshal(row.EncodedArgs, &args); err != nil {
		return fmt.Errorf("jobs: cancelled notice job %d: %w", row.ID, err)
	}
	if _, err := r.cfg.Store.CancelNotice(ctx, args.NoticeID, "not sent: its job was cancelled", time.Now()); err != nil {
		return fmt.Errorf("jobs: cancelled notice job %d: %w", row.ID, err)
	}
	return nil
}

// registerNotices adds the notice workers and the periodic dispatch.
func (r *Runner) registerNotices(workers *river.Workers) []*river.PeriodicJob {
	river.AddWorker(workers, &noticeSendWorker{r: r})
	river.AddWorker(workers, &noticeDispatchWorker{r: r})
	if r.cfg.Notices == nil {
		r.features = append(r.features, Feature{Name: "Email notices",
			Reason: "off: no transport (PORTICO_SMTP_URL, or PORTICO_NOTICE_MAILBOX with application credentials), or PORTICO_NOTICES=none"})
		return nil
	}
	r.features = append(r.features, Feature{Name: "Email notices (" + r.cfg.Notices.Transport.Name() + ": " + r.cfg.Notices.Kinds.String() + ")", On: true})
	if r.cfg.NoticePoll < 0 {
		return nil
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(r.cfg.NoticePoll),
		func() (river.JobArgs, *river.InsertOpts) {
			return NoticeDispatchArgs{Asker: Asker{Kind: AskerSchedule}}, nil
		},
		&river.PeriodicJobOpts{RunOnStart: true, ID: KindNoticeDispatch})}
}
