package invite

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"portico/notify"
	"portico/store"
)

// Approve sends the invitation of request id for its requester, as approver: the request is
// claimed first (pending → approving, one compare-and-set in a transaction), so of two approvers
// acting at once exactly one sends. The invitation belongs to the requester (its owner, and its
// sponsor in application mode); the approver is the actor in its history and the audit trail.
// When the send does not happen (the preflight, re-run now, refuses; Graph fails), the request
// goes back to pending with the reason, and the error is returned as Send would.
//
// Errors: ErrNotFound, ErrSelfApproval, ErrNotApprover, ErrMemberNotAllowed, ErrApprovalClosed
// (decided, expired, or another approver was first), and Send's errors.
func (a *Approvals) Approve(ctx context.Context, ts oauth2.TokenSource, approver Inviter, id string, meta Meta) (*Result, *ApprovalRequest, error) {
	r, err := a.load(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if act := decideApproval(approver, r, a.s.now()).Approve; !act.Allowed {
		a.refused(ctx, approver, meta, ActionApprovalApprove, r, act)
		return nil, r, act.Err()
	}
	now := a.s.now().UTC()
	won := false
	err = a.store.ApprovalTx(ctx, func(tx ApprovalStore) error {
		ok, err := tx.ChangeApprovalRequest(ctx, r.ID, store.ApprovalChange{From: string(ApprovalPending), To: string(ApprovalApproving),
			At: now, ValidAt: &now, Claim: true, ByOID: approver.ObjectID, ByUPN: approver.UPN, ByName: approver.Name})
		won = ok
		return err
	})
	if err != nil {
		return nil, r, fmt.Errorf("invite: claiming the approval request: %w", err)
	}
	if !won {
		// Another approver was first, or it was decided or expired meanwhile.
		if fresh, err := a.load(ctx, id); err == nil {
			r = fresh
		}
		act := decideApproval(approver, r, a.s.now()).Approve
		if act.Allowed {
			act = deny(ErrApprovalClosed, "Another approver decided this request a moment ago.")
		}
		a.refused(ctx, approver, meta, ActionApprovalApprove, r, act)
		return nil, r, ErrApprovalClosed
	}
	r.State, r.DecidedBy, r.ClaimedAt = ApprovalApproving, personOf(approver), &now

	// One claim, one send: its idempotency key makes the send exactly-once (an interrupted one
	// is settled by the reconciler, never posted again) and lets the sweep find what it did.
	// A later claim (after a failure given back to the approvers) is a new attempt.
	req := r.Request
	req.IdempotencyKey = approvalKey(r.ID, now)
	// The approver acts: their rights were decided above (an approver need not be an inviter).
	actor := approver
	actor.Barred = ""
	att := &attempt{s: a.s, actor: actor, owner: r.requester(), meta: meta, action: ActionInvitationCreate,
		approval: &approvalGrant{requestID: r.ID, waiveAllowList: r.Has(ApprovalForDomain)}}
	res, sendErr := a.s.send(ctx, ts, att, req)

	wctx, cancel := a.s.detach(ctx)
	defer cancel()
	at := a.s.now().UTC()
	if sendErr != nil {
		msg := approvalFailure(sendErr)
		ev := a.s.event(approver, meta, ActionApprovalApprove, r.Email, OutcomeFailed, "",
			auditDetail{ApprovalID: r.ID, OnBehalfOf: r.Requester.UPN, Note: "not sent, back to pending: " + msg})
		err := a.store.ApprovalTx(wctx, func(tx ApprovalStore) error {
			if _, err := tx.ChangeApprovalRequest(wctx, r.ID, store.ApprovalChange{From: string(ApprovalApproving),
				To: string(ApprovalPending), At: at, Release: true, LastError: msg}); err != nil {
				return err
			}
			return tx.AppendAudit(wctx, ev)
		})
		if err != nil {
			a.log.ErrorContext(ctx, "approvals: claim not given back; the sweep will", "approval", r.ID, "err", err)
		}
		r.State, r.DecidedBy, r.ClaimedAt, r.LastError = ApprovalPending, Person{}, nil, msg
		return nil, r, sendErr
	}
	if res.Sending {
		// Graph's answer is not known yet: the request stays claimed ("being approved") until its
		// intent settles; the sweep then marks it approved, or gives it back to the approvers.
		a.log.InfoContext(ctx, "approvals: approved, still sending", "approval", r.ID, "invitation", res.Invitation.ID)
		return res, r, nil
	}
	ev := a.s.event(approver, meta, ActionApprovalApprove, r.Email, OutcomeSuccess, res.Invitation.GraphRequestID,
		auditDetail{ApprovalID: r.ID, OnBehalfOf: r.Requester.UPN, InvitationID: res.Invitation.ID})
	notice := a.approvalNotice(r, notify.KindApprovalApproved)
	notices := 0
	err = a.store.ApprovalTx(wctx, func(tx ApprovalStore) error {
		ok, err := tx.ChangeApprovalRequest(wctx, r.ID, store.ApprovalChange{From: string(ApprovalApproving),
			To: string(ApprovalApproved), At: at, InvitationID: res.Invitation.ID, Decide: true})
		if err != nil || !ok {
			return err
		}
		if err := tx.AppendAudit(wctx, ev); err != nil {
			return err
		}
		if err := a.s.emitApprovalDecided(wctx, tx, r, "approved", personOf(approver), at, res.Invitation.ID); err != nil {
			return err
		}
		notices, err = a.enqueue(wctx, tx, notice)
		return err
	})
	if notices > 0 {
		a.s.NoticesQueued(wctx)
	}
	if err != nil {
		// The invitation is sent and recorded; the sweep finds it and completes the request.
		a.log.ErrorContext(ctx, "approvals: invitation sent but the request not marked approved", "approval", r.ID,
			"invitation", res.Invitation.ID, "err", err)
	}
	r.State, r.InvitationID, r.DecidedAt, r.LastError = ApprovalApproved, res.Invitation.ID, &at, ""
	a.log.InfoContext(ctx, "approvals: approved and sent", "approval", r.ID, "invitation", res.Invitation.ID, "approver_oid", approver.ObjectID)
	return res, r, nil
}

// approvalKey is the idempotency key of the send of one claim of request id.
func approvalKey(id string, claimedAt time.Time) string {
	return "approval:" + id + ":" + strconv.FormatInt(claimedAt.UTC().UnixMicro(), 10)
}

// approvalFailure says, for the approvers, why an approval did not send.
func approvalFailure(err error) string {
	var (
		re *RefusedError
		ve *ValidationError
		ge *GraphError
		qe *QuotaError
	)
	switch {
	case errors.As(err, &re):
		return re.Message()
	case errors.As(err, &ve):
		return "The request no longer passes Portico's checks (" + ve.Error() + "); deny it and ask for a new one."
	case errors.As(err, &ge):
		return ge.Message
	case errors.As(err, &qe):
		return "The invitation quota is used up."
	case errors.Is(err, ErrMemberNotAllowed):
		return "Only an administrator can approve a Member invitation."
	}
	return "Portico could not send the invitation. Try again in a minute."
}

// Deny refuses request id with a reason the requester reads (required, plain text, at most 500
// characters: a *ValidationError otherwise).
func (a *Approvals) Deny(ctx context.Context, approver Inviter, id, reason string, meta Meta) (*ApprovalRequest, error) {
	r, err := a.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if act := decideApproval(approver, r, a.s.now()).Deny; !act.Allowed {
		a.refused(ctx, approver, meta, ActionApprovalDeny, r, act)
		return r, act.Err()
	}
	why, fe := cleanDecisionReason(reason)
	if fe != nil {
		return r, &ValidationError{Fields: fe}
	}
	now := a.s.now().UTC()
	decided := *r
	decided.State, decided.DecidedBy, decided.DecidedAt, decided.DecisionReason = ApprovalDenied, personOf(approver), &now, why
	if err := a.close(ctx, r, approver, meta, ActionApprovalDeny, OutcomeSuccess, store.ApprovalChange{From: string(ApprovalPending),
		To: string(ApprovalDenied), At: now, ValidAt: &now, Decide: true, Reason: why,
		ByOID: approver.ObjectID, ByUPN: approver.UPN, ByName: approver.Name}, auditDetail{ApprovalID: r.ID, OnBehalfOf: r.Requester.UPN, Note: why},
		a.approvalNotice(&decided, notify.KindApprovalDenied), func(tx ApprovalStore) error {
			return a.s.emitApprovalDecided(ctx, tx, r, "denied", personOf(approver), now, "")
		}); err != nil {
		return r, err
	}
	return &decided, nil
}

// Cancel withdraws the requester's own pending request.
func (a *Approvals) Cancel(ctx context.Context, requester Inviter, id string, meta Meta) (*ApprovalRequest, error) {
	r, err := a.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if act := decideApproval(requester, r, a.s.now()).Cancel; !act.Allowed {
		a.refused(ctx, requester, meta, ActionApprovalCancel, r, act)
		return r, act.Err()
	}
	now := a.s.now().UTC()
	if err := a.close(ctx, r, requester, meta, ActionApprovalCancel, OutcomeSuccess, store.ApprovalChange{From: string(ApprovalPending),
		To: string(ApprovalCancelled), At: now, Decide: true, ByOID: requester.ObjectID, ByUPN: requester.UPN, ByName: requester.Name},
		auditDetail{ApprovalID: r.ID}, nil); err != nil {
		return r, err
	}
	r.State, r.DecidedBy, r.DecidedAt = ApprovalCancelled, personOf(requester), &now
	return r, nil
}

// close applies one compare-and-set change with its audit event and notice (nil: none) in a
// transaction; ErrApprovalClosed when the request was no longer in ch.From.
func (a *Approvals) close(ctx context.Context, r *ApprovalRequest, actor Inviter, meta Meta, action string, outcome Outcome,
	ch store.ApprovalChange, d auditDetail, n *notify.Notice, emit ...func(tx ApprovalStore) error) error {
	ev := a.s.event(actor, meta, action, r.Email, outcome, "", d)
	changed := false
	notices := 0
	err := a.store.ApprovalTx(ctx, func(tx ApprovalStore) error {
		ok, err := tx.ChangeApprovalRequest(ctx, r.ID, ch)
		if err != nil || !ok {
			return err
		}
		changed = true
		if err := tx.AppendAudit(ctx, ev); err != nil {
			return err
		}
		for _, e := range emit {
			if err := e(tx); err != nil {
				return err
			}
		}
		notices, err = a.enqueue(ctx, tx, n)
		return err
	})
	if err != nil {
		return fmt.Errorf("invite: recording the decision: %w", err)
	}
	if notices > 0 {
		a.s.NoticesQueued(ctx)
	}
	if !changed {
		a.refused(ctx, actor, meta, action, r, deny(ErrApprovalClosed, "Someone decided this request a moment ago."))
		return ErrApprovalClosed
	}
	return nil
}

// refused audits a refused approval action (self-approval, not an approver, closed).
func (a *Approvals) refused(ctx context.Context, actor Inviter, meta Meta, action string, r *ApprovalRequest, act Action) {
	outcome := OutcomeDenied
	if errors.Is(act.err, ErrApprovalClosed) {
		outcome = OutcomeRejected
	}
	_ = a.s.audit(ctx, a.s.event(actor, meta, action, r.Email, outcome, "", auditDetail{ApprovalID: r.ID, Note: act.Reason}))
	a.log.WarnContext(ctx, "approvals: action refused", "action", action, "approval", r.ID, "actor_oid", actor.ObjectID, "reason", act.Reason)
}

// ExpireDue ends every request whose time ran out (pending → expired, audited, requester told) and
// decides approvals interrupted mid-send (approving for longer than StaleClaim): approved when the
// invitation was recorded, else back to pending. It returns how many requests it changed.
func (a *Approvals) ExpireDue(ctx context.Context) (int, error) {
	now := a.s.now().UTC()
	changed := 0
	for {
		due, err := a.store.DueApprovalRequests(ctx, now, now.Add(-a.staleClaim), 100)
		if err != nil {
			return changed, fmt.Errorf("invite: reading due approval requests: %w", err)
		}
		progress := 0
		for i := range due {
			r, err := approvalFromRow(&due[i])
			if err != nil {
				return changed, err
			}
			ok, err := a.settle(ctx, r, now)
			if err != nil {
				return changed, err
			}
			if ok {
				progress++
			}
		}
		changed += progress
		if len(due) < 100 || progress == 0 {
			return changed, nil
		}
	}
}

var system = Inviter{UPN: "portico"}

func (a *Approvals) settle(ctx context.Context, r *ApprovalRequest, now time.Time) (bool, error) {
	if r.State == ApprovalPending {
		err := a.close(ctx, r, system, JobMeta(""), ActionApprovalExpire, OutcomeExpired, store.ApprovalChange{
			From: string(ApprovalPending), To: string(ApprovalExpired), At: now, Decide: true},
			auditDetail{ApprovalID: r.ID, OnBehalfOf: r.Requester.UPN, Note: "nobody decided before " + r.ExpiresAt.Format(timeLayout)},
			nil) // notify has no "expired" notice; the requester sees it under My invitations
		if errors.Is(err, ErrApprovalClosed) {
			return false, nil
		}
		return err == nil, err
	}
	// An approval interrupted mid-send: what became of its send (the intent of its key)?
	cut := now.Add(-a.staleClaim)
	in, err := a.store.IntentByKey(ctx, r.TenantID, approvalKey(r.ID, *r.ClaimedAt))
	switch {
	case errors.Is(err, store.ErrNotFound):
		in = nil // the send never opened its intent: nothing was sent
	case err != nil:
		return false, fmt.Errorf("invite: reading the intent of an interrupted approval: %w", err)
	case in.State == store.IntentOpen:
		return false, nil // still in flight, or for the reconciler to settle; the next sweep looks again
	}
	if in != nil && in.State == store.IntentDone {
		err := a.close(ctx, r, Inviter{TenantID: r.TenantID, ObjectID: r.DecidedBy.ObjectID, UPN: r.DecidedBy.UPN}, JobMeta(""),
			ActionApprovalApprove, OutcomeSuccess, store.ApprovalChange{From: string(ApprovalApproving), To: string(ApprovalApproved),
				At: now, ClaimedBefore: &cut, InvitationID: in.InvitationID, Decide: true},
			auditDetail{ApprovalID: r.ID, OnBehalfOf: r.Requester.UPN, InvitationID: in.InvitationID, Note: "completed by the sweep after an interruption"},
			a.approvalNotice(r, notify.KindApprovalApproved), func(tx ApprovalStore) error {
				return a.s.emitApprovalDecided(ctx, tx, r, "approved", r.DecidedBy, now, in.InvitationID)
			})
		if errors.Is(err, ErrApprovalClosed) {
			return false, nil
		}
		return err == nil, err
	}
	err = a.close(ctx, r, system, JobMeta(""), ActionApprovalRelease, OutcomeFailed, store.ApprovalChange{From: string(ApprovalApproving),
		To: string(ApprovalPending), At: now, ClaimedBefore: &cut, Release: true,
		LastError: "An approval was interrupted before Portico recorded an invitation; approve again or deny."},
		auditDetail{ApprovalID: r.ID, OnBehalfOf: r.Requester.UPN, Note: "interrupted approval given back"}, nil)
	if errors.Is(err, ErrApprovalClosed) {
		return false, nil
	}
	return err == nil, err
}

func personOf(i Inviter) Person {
	return Person{ObjectID: i.ObjectID, UPN: i.UPN, Name: i.Name, Email: i.Email}
}
