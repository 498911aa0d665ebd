package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"portico/graph"
	"portico/invite"
	"portico/store"
)

// Outcomes of Run for the job queue.
var (
	// ErrMore: the run used its time slice and rows remain: run again soon (not a failure).
	ErrMore = errors.New("bulk: time slice used; more rows to send")
	// ErrGone: the job no longer exists; there is nothing to run.
	ErrGone = errors.New("bulk: job gone")
)

// Key is the idempotency key of attempt a of row n of bulk job jobID. The attempt is counted in
// the database before the send (MarkBulkRowSending), so an attempt interrupted by a crash is
// asked again with its own key, across restarts and instances, and never sent twice; only an
// attempt Graph answered definitely (busy: 429, 503) is followed by a new one, with a new key.
func Key(jobID string, n, a int) string {
	return "bulk:" + jobID + ":" + strconv.Itoa(n) + ":" + strconv.Itoa(a)
}

// stopReason is why a run stops sending before its rows are done.
type stopReason int32

const (
	goOn stopReason = iota
	stopBlocked
	stopNotAllowed
	stopCancelled
	stopSlice
	stopQuota
)

// WaitError asks for the job to run again after For: the owner's invitation quota
// (PORTICO_INVITE_QUOTA) is used up until then, or sends are still settling.
type WaitError struct {
	For    time.Duration
	Reason string
}

func (e *WaitError) Error() string { return "bulk: waiting " + e.For.String() + " for " + e.Reason }

// run is one run of a bulk job.
type run struct {
	s     *Service
	job   *store.BulkJob
	owner invite.Inviter
	meta  invite.Meta
	end   time.Time

	stop     atomic.Int32
	pauseMu  sync.Mutex
	pause    time.Time    // Graph asked to wait until then (Retry-After), for every worker
	blockID  string       // request id of the answer that showed the block
	inFlight atomic.Int32 // rows whose send has not settled yet
	quotaMu  sync.Mutex
	quota    time.Duration // how long the owner's quota is used up
}

func (r *run) stopped() stopReason { return stopReason(r.stop.Load()) }

func (r *run) halt(why stopReason) { r.stop.CompareAndSwap(int32(goOn), int32(why)) }

// Run sends a confirmed job's rows, at most Concurrency at once and no faster than Rate, each
// through invite's send pipeline with its idempotency key and at low priority. It returns nil
// when every row is final (or the job was cancelled or blocked), ErrMore when its time slice ran
// out first, and another error for River to retry the run later (rows stay as they are).
func (s *Service) Run(ctx context.Context, jobID string, runID string) error {
	j, err := s.store.GetBulkJob(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrGone
	}
	if err != nil {
		return err
	}
	switch j.State {
	case store.BulkQueued, store.BulkRunning:
	default:
		return nil // draft (never confirmed), done, cancelled or blocked: nothing to send
	}
	if s.cfg.Tokens == nil {
		return ErrSendingOff
	}
	if err := s.store.SetBulkJobState(ctx, j.ID, []string{store.BulkQueued, store.BulkRunning}, store.BulkRunning, s.now(), ""); err != nil {
		if errors.Is(err, store.ErrBulkState) {
			return nil // cancelled meanwhile
		}
		return err
	}
	if s.cfg.MayStillSend != nil {
		// The owner's right to send is re-checked at each run against today's policy; claims
		// that cannot be read are no claims at all.
		var c invite.Claims
		if j.OwnerClaims == "" || json.Unmarshal([]byte(j.OwnerClaims), &c) != nil || !s.cfg.MayStillSend(c) {
			r := &run{s: s, job: j, meta: invite.JobMeta(runID)}
			r.halt(stopNotAllowed)
			s.log.WarnContext(ctx, "bulk: the owner may no longer send; job stopped", "bulk_job", j.ID, "owner", j.OwnerUPN)
			return r.finish(ctx)
		}
	}
	r := &run{s: s, job: j, meta: invite.JobMeta(runID), end: s.now().Add(s.cfg.Slice),
		owner: invite.Inviter{TenantID: j.TenantID, ObjectID: j.OwnerOID, UPN: j.OwnerUPN, Name: j.OwnerName}}
	if j.OwnerAdmin {
		r.owner.Roles = []invite.Role{invite.RoleAdministrator}
	}
	ctx = graph.WithPriority(ctx, "low") // background work: Graph sheds it first
	s.log.InfoContext(ctx, "bulk: sending", "bulk_job", j.ID, "run", runID)

	rows := make(chan store.BulkRow)
	errc := make(chan error, s.cfg.Concurrency)
	var wg sync.WaitGroup
	for range s.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for row := range rows {
				if err := r.sendRow(ctx, row); err != nil {
					select {
					case errc <- err:
					default:
					}
					r.halt(stopSlice)
				}
			}
		}()
	}
	feedErr := r.feed(ctx, rows)
	close(rows)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	if feedErr != nil {
		return feedErr
	}
	return r.finish(ctx)
}

// feed hands the job's unfinished rows to the workers, in order, until they are all handed over
// or the run stops.
func (r *run) feed(ctx context.Context, rows chan<- store.BulkRow) error {
	after := 0
	for {
		page, err := r.s.store.BulkRows(ctx, r.job.ID, after, 100, store.RowPending, store.RowSending)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, row := range page {
			if r.stopped() != goOn {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !r.s.now().Before(r.end) {
				r.halt(stopSlice)
				return nil
			}
			select {
			case rows <- row:
			case <-ctx.Done():
				return ctx.Err()
			}
			after = row.N
		}
	}
}

// finish settles the job after the workers stopped.
func (r *run) finish(ctx context.Context) error {
	s, now := r.s, r.s.now()
	switch r.stopped() {
	case stopBlocked:
		note := BlockedAdvice
		if r.blockID != "" {
			note += " Request id: " + r.blockID + "."
		}
		if err := s.end(ctx, r.job, []string{store.BulkRunning}, store.BulkBlocked, ReasonBlocked, note, true); err != nil && !errors.Is(err, store.ErrBulkState) {
			return err
		}
		s.audit(ctx, r.owner, r.meta, ActionBulkBlocked, r.job.ID, invite.OutcomeFailed, "abuse protection: "+r.blockID)
		s.log.ErrorContext(ctx, "bulk: invitations blocked by Microsoft; job stopped", "bulk_job", r.job.ID, "graph_request_id", r.blockID)
		return nil
	case stopNotAllowed:
		if err := s.end(ctx, r.job, []string{store.BulkRunning}, store.BulkCancelled, ReasonNotAllow, "Stopped: the person who asked may no longer invite.", true); err != nil && !errors.Is(err, store.ErrBulkState) {
			return err
		}
		return nil
	case stopCancelled:
		return nil
	case stopQuota:
		r.quotaMu.Lock()
		d := r.quota
		r.quotaMu.Unlock()
		note := "Waiting for your invitation quota (PORTICO_INVITE_QUOTA): sending resumes at " + now.Add(d).UTC().Format("15:04 UTC") + "."
		_ = s.store.SetBulkJobState(ctx, r.job.ID, []string{store.BulkRunning}, store.BulkRunning, now, note)
		return &WaitError{For: d, Reason: "the invitation quota"}
	}
	left, err := s.store.BulkRows(ctx, r.job.ID, 0, 1, store.RowPending, store.RowSending)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		if r.stopped() == goOn && r.inFlight.Load() > 0 {
			// Only sends still settling remain: ask again in a few seconds, not at once.
			return &WaitError{For: 5 * time.Second, Reason: "sends still settling"}
		}
		return ErrMore
	}
	if err := s.end(ctx, r.job, []string{store.BulkRunning}, store.BulkDone, "", "", true); err != nil && !errors.Is(err, store.ErrBulkState) {
		return err
	}
	s.log.InfoContext(ctx, "bulk: done", "bulk_job", r.job.ID)
	return nil
}

// sendRow sends one row and records its final state (or puts it back to pending when Graph
// asked to wait). An error means the row's state could not be recorded: the run stops and River
// tries again later.
func (r *run) sendRow(ctx context.Context, row store.BulkRow) error {
	s := r.s
	uncertain := row.State == store.RowSending // an earlier run died with this row handed to Graph
	if !uncertain {
		if r.stopped() != goOn {
			return nil
		}
		if err := r.wait(ctx); err != nil {
			return nil // the run is ending; the row stays pending
		}
		if cur, err := s.store.GetBulkJob(ctx, r.job.ID); err != nil {
			return err
		} else if cur.State != store.BulkRunning {
			r.halt(stopCancelled)
			return nil
		}
		if err := s.store.MarkBulkRowSending(ctx, r.job.ID, row.N, s.now()); err != nil {
			if errors.Is(err, store.ErrBulkState) {
				return nil // cancelled, or another run took it
			}
			return err
		}
		row.Attempts++
	}
	req := invite.Request{
		DisplayName: row.DisplayName, Email: row.Email, Message: row.Message, CC: row.CCAddress, RedirectURL: row.RedirectURL,
		Language: row.Language, UserType: row.UserType, SendEmail: row.SendEmail, Resend: row.Verdict == store.VerdictResend,
	}
	done := &store.BulkRow{JobID: r.job.ID, N: row.N}
	if uncertain && !s.cfg.Idempotent {
		if req.Resend {
			// Without idempotency keys a second resend could send a second email: say so instead.
			done.State, done.Reason = store.RowFailed, "interrupted while being resent: open the partner's invitation to see whether it went out, and send it again from there if not"
			return r.record(ctx, done)
		}
		// Sent again as a plain invitation: the checks before sending find the address invited
		// already (directory or Portico's record) and refuse it, which confirms the first send.
	}
	res, err := s.cfg.Send(ctx, s.cfg.Tokens, r.owner, req, Key(r.job.ID, row.N, row.Attempts), r.meta)
	r.outcome(done, row, req, uncertain, res, err)
	if done.State == store.RowSending {
		r.inFlight.Add(1)
		return r.record(ctx, done) // keeps the invitation id; the row stays "sending"
	}
	if done.State == store.RowPending {
		// Graph was busy: the row goes back in line; the next run (or this one) sends it.
		if err := r.recordBack(ctx, done); err != nil {
			return err
		}
		return nil
	}
	return r.record(ctx, done)
}

// outcome decides a row's state from what Send returned.
func (r *run) outcome(done *store.BulkRow, row store.BulkRow, req invite.Request, uncertain bool, res *invite.Result, err error) {
	var refused *invite.RefusedError
	var ve *invite.ValidationError
	var ge *invite.GraphError
	var qe *invite.QuotaError
	switch {
	case err == nil && res.Sending:
		// Graph has not answered within the send's wait; the send goes on and settles its
		// intent. The row stays "sending": a later pass asks again with the same key.
		done.State, done.InvitationID = store.RowSending, res.Invitation.ID
	case err == nil:
		done.State, done.InvitationID = store.RowInvited, res.Invitation.ID
		if req.Resend {
			done.State = store.RowResent
		}
		switch {
		case res.ConfirmedByLookup:
			done.Reason = "Graph's answer was lost; a directory lookup confirmed the invitation"
		case req.SendEmail:
			done.Reason = "Microsoft emails the invitation"
		default:
			done.Reason = "join link ready to share"
		}
	case errors.As(err, &refused):
		done.State, done.Reason = store.RowSkipped, refused.Message()
		if uncertain && refused.Preflight.Verdict == invite.VerdictPendingGuest {
			// The send interrupted by the crash had gone through.
			done.State, done.InvitationID = store.RowInvited, refused.Preflight.InvitationID
			done.Reason = "confirmed after an interruption: the directory shows the invitation"
		}
	case errors.As(err, &ve):
		done.State, done.Reason = store.RowSkipped, fieldProblems(ve.Fields)
	case errors.Is(err, invite.ErrMemberNotAllowed):
		done.State, done.Reason = store.RowSkipped, "only administrators may invite members"
	case errors.Is(err, invite.ErrBusy):
		// Someone else's invitation to this partner is being sent right now.
		if row.Attempts < maxRowAttempts {
			done.State, done.Reason = store.RowPending, "another invitation to this partner was being sent; tried again"
			r.waitUntil(r.s.now().Add(5 * time.Second))
		} else {
			done.State, done.Reason = store.RowSkipped, "another invitation to this partner was being sent at the same time"
		}
	case errors.Is(err, invite.ErrNotInviter):
		done.State, done.Reason = store.RowNotSent, ReasonNotAllow
		r.halt(stopNotAllowed)
	case errors.As(err, &qe):
		// Bulk rows count against the owner's quota as the form's invitations do: the job waits.
		done.State, done.Reason = store.RowPending, "waiting for your invitation quota"
		r.quotaMu.Lock()
		r.quota = max(r.quota, qe.Decision.RetryAfter, time.Minute)
		r.quotaMu.Unlock()
		r.halt(stopQuota)
	case errors.As(err, &ge):
		r.graphFailure(done, row, ge)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		done.State = store.RowPending
	default:
		done.State, done.Reason = store.RowFailed, "failed: "+err.Error()
	}
}

// graphFailure decides a row Graph refused or failed.
func (r *run) graphFailure(done *store.BulkRow, row store.BulkRow, ge *invite.GraphError) {
	done.ErrorCode = ge.Code
	if ge.Invitation != nil {
		done.InvitationID = ge.Invitation.ID
	}
	if invite.IsInvitationsBlocked(ge) {
		done.State, done.Reason = store.RowNotSent, ReasonBlocked
		r.blockID = ge.RequestID
		r.halt(stopBlocked)
		return
	}
	busy := ge.Throttled() || ge.Status == 0 || ge.Status == 503 || ge.Status == 504 || ge.Status == 502
	if busy && ge.Status == 0 && row.Verdict == store.VerdictResend && !r.s.cfg.Idempotent {
		// No answer to a resend: trying again could send a second email.
		done.State, done.Reason = store.RowFailed, "Graph's answer to the resend was lost: open the partner's invitation to see whether it went out"
		return
	}
	if busy && row.Attempts < maxRowAttempts {
		done.State, done.Reason = store.RowPending, "Graph was busy; tried again"
		if ge.RetryAfter > 0 {
			r.waitUntil(r.s.now().Add(ge.RetryAfter))
		} else {
			r.waitUntil(r.s.now().Add(time.Duration(row.Attempts) * time.Second))
		}
		return
	}
	msg := ge.Message
	if msg == "" {
		msg = ge.Error()
	}
	if ge.RequestID != "" {
		msg += " (Graph request id " + ge.RequestID + ")"
	}
	done.State, done.Reason = store.RowFailed, "failed: "+msg
}

// record writes a row's final state; it must not be lost to the run's own ending.
func (r *run) record(ctx context.Context, done *store.BulkRow) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	done.UpdatedAt = r.s.now()
	if err := r.s.store.FinishBulkRow(wctx, done, store.RowSending); err != nil && !errors.Is(err, store.ErrBulkState) {
		return fmt.Errorf("bulk: recording row %d: %w", done.N, err)
	}
	return nil
}

// recordBack puts a row Graph did not take back to pending.
func (r *run) recordBack(ctx context.Context, done *store.BulkRow) error {
	return r.record(ctx, done)
}

// wait holds a worker until the pace (token bucket) and any Retry-After allow the next write.
func (r *run) wait(ctx context.Context) error {
	r.pauseMu.Lock()
	until := r.pause
	r.pauseMu.Unlock()
	if d := until.Sub(r.s.now()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r.s.limiter.Wait(ctx)
}

// waitUntil makes every worker of the run wait until t (Graph's Retry-After).
func (r *run) waitUntil(t time.Time) {
	r.pauseMu.Lock()
	if t.After(r.pause) {
		r.pause = t
	}
	r.pauseMu.Unlock()
}
