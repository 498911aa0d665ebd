package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"portico/invite"
	"portico/store"
)

// Job kinds.
const (
	KindStateSync    = "state_sync"
	KindStateRefresh = "state_refresh"
)

// StateSyncArgs is the periodic refresh of pending invitations' states. It only reads, with
// Portico's own read-only identity.
type StateSyncArgs struct {
	Asker Asker `json:"asker"`
}

// Kind implements river.JobArgs.
func (StateSyncArgs) Kind() string { return KindStateSync }

// InsertOpts keeps at most one state sync queued or running at a time.
func (StateSyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByState: unfinishedStates()}}
}

// StateRefreshArgs reads one invitation's state now: its partner just landed on Portico. Past
// NotAfter (the partner is long gone; the periodic sync reads it) it does nothing.
type StateRefreshArgs struct {
	InvitationID string    `json:"invitation_id" river:"unique"`
	Asker        Asker     `json:"asker"`
	NotAfter     time.Time `json:"not_after"`
}

// Kind implements river.JobArgs.
func (StateRefreshArgs) Kind() string { return KindStateRefresh }

// RefreshExpiry is how long a refresh asked for by a landing stays worth doing.
const RefreshExpiry = 10 * time.Minute

// RefreshPeriod is how often one invitation's state can be read at a partner's request.
const RefreshPeriod = 15 * time.Second

// InsertOpts: at most one refresh per invitation per RefreshPeriod, however often the welcome
// page is opened with its reference.
func (StateRefreshArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: RefreshPeriod}}
}

// noIdentitySnooze is how long an instance without a background identity puts back a state job it
// fetched (another instance may have the identity; a landing's refresh expires meanwhile).
const noIdentitySnooze = 5 * time.Minute

// refreshReads is how many times a refresh reads a state still pending (Graph's directory can
// answer with the old state for a moment after redemption).
const refreshReads = 4

type stateSyncWorker struct {
	river.WorkerDefaults[StateSyncArgs]
	r *Runner
}

func (w *stateSyncWorker) Work(ctx context.Context, job *river.Job[StateSyncArgs]) error {
	if w.r.cfg.Tokens == nil {
		return river.JobSnooze(noIdentitySnooze) // another instance may have one; this one waits
	}
	// Invitations read since the job was created are fresh: an attempt after a crash or a
	// throttled answer goes on where the previous one stopped, reading nothing twice.
	res, err := w.r.cfg.Invites.SyncStates(ctx, w.r.cfg.Tokens, invite.SyncOptions{
		Before: job.CreatedAt, Max: w.r.cfg.SyncMax, Pause: w.r.cfg.SyncPause,
	})
	w.r.log.InfoContext(ctx, "state sync", "job", job.ID, "attempt", job.Attempt, "batches", res.Batches,
		"checked", res.Checked, "accepted", res.Accepted, "not_answered", res.Failed)
	var te *invite.ThrottledError
	switch {
	case errors.As(err, &te):
		w.r.log.WarnContext(ctx, "state sync throttled by Graph; resuming later", "job", job.ID, "retry_in", te.RetryAfter)
		return river.JobSnooze(te.RetryAfter)
	case errors.Is(err, invite.ErrBackgroundForbidden):
		w.r.log.ErrorContext(ctx, "state sync refused by Graph: a permission is missing", "job", job.ID, "err", err)
		return river.JobCancel(err) // retrying cannot help; the admin page shows why
	}
	return err
}

type stateRefreshWorker struct {
	river.WorkerDefaults[StateRefreshArgs]
	r *Runner
}

func (w *stateRefreshWorker) Work(ctx context.Context, job *river.Job[StateRefreshArgs]) error {
	if w.r.cfg.Tokens == nil {
		return river.JobSnooze(noIdentitySnooze) // another instance may have one; this one waits
	}
	for read := 1; ; read++ {
		state, err := w.r.cfg.Invites.RefreshState(ctx, w.r.cfg.Tokens, job.Args.InvitationID)
		var te *invite.ThrottledError
		switch {
		case errors.As(err, &te):
			return river.JobSnooze(te.RetryAfter)
		case errors.Is(err, store.ErrNotFound), errors.Is(err, invite.ErrBackgroundForbidden):
			return river.JobCancel(err)
		case err != nil:
			return err
		}
		if state == store.StateAccepted || read == refreshReads {
			w.r.log.InfoContext(ctx, "state refreshed", "job", job.ID, "invitation", job.Args.InvitationID, "state", state)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(read) * 500 * time.Millisecond):
		}
	}
}

// RefreshSoon asks for one invitation's state to be read at once, because its partner just
// landed. Without a background identity it marks the state due for the next refresh instead.
// Repeated calls within RefreshPeriod add nothing.
func (r *Runner) RefreshSoon(ctx context.Context, invitationID string) error {
	if r.cfg.Tokens == nil {
		return r.cfg.Invites.MarkStateDue(ctx, invitationID)
	}
	res, err := r.client.Insert(ctx, StateRefreshArgs{
		InvitationID: invitationID, Asker: Asker{Kind: AskerPartner}, NotAfter: time.Now().Add(RefreshExpiry).UTC(),
	}, nil)
	if err != nil {
		return fmt.Errorf("jobs: queue a state refresh: %w", err)
	}
	if !res.UniqueSkippedAsDuplicate {
		r.log.DebugContext(ctx, "state refresh queued", "job", res.Job.ID, "invitation", invitationID)
	}
	return nil
}

// SyncNow queues a state sync at once (the periodic one runs on its own).
func (r *Runner) SyncNow(ctx context.Context) (int64, error) {
	res, err := r.client.Insert(ctx, StateSyncArgs{Asker: Asker{Kind: AskerSchedule}}, nil)
	if err != nil {
		return 0, fmt.Errorf("jobs: queue a state sync: %w", err)
	}
	return res.Job.ID, nil
}

// logWork logs every job's start and end for operators.
type logWork struct {
	river.MiddlewareDefaults
	log *slog.Logger
}

func (m *logWork) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	start := time.Now()
	m.log.InfoContext(ctx, "job started", "job", job.ID, "kind", job.Kind, "attempt", job.Attempt, "max_attempts", job.MaxAttempts)
	err := doInner(ctx)
	attrs := []any{"job", job.ID, "kind", job.Kind, "attempt", job.Attempt, "duration", time.Since(start).Round(time.Millisecond)}
	var snooze *rivertype.JobSnoozeError
	var cancel *rivertype.JobCancelError
	switch {
	case err == nil:
		m.log.InfoContext(ctx, "job finished", attrs...)
	case errors.As(err, &snooze):
		m.log.InfoContext(ctx, "job snoozed", append(attrs, "for", snooze.Duration)...)
	case errors.As(err, &cancel):
		m.log.WarnContext(ctx, "job cancelled", append(attrs, "err", err)...)
	default:
		m.log.WarnContext(ctx, "job failed; it will be retried with backoff until its attempts run out", append(attrs, "err", err)...)
	}
	return err
}

// errorLog reports jobs that failed or panicked (River retries them with backoff).
type errorLog struct{ log *slog.Logger }

func (h *errorLog) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	if job.Attempt >= job.MaxAttempts {
		h.log.ErrorContext(ctx, "job gave up after its last attempt", "job", job.ID, "kind", job.Kind, "attempt", job.Attempt, "err", err)
	}
	return nil
}

func (h *errorLog) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	h.log.ErrorContext(ctx, "job panicked", "job", job.ID, "kind", job.Kind, "attempt", job.Attempt, "panic", fmt.Sprint(panicVal))
	return nil
}
