package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"portico/store"
)

// Store is what delivery needs from the database (*store.DB has it).
type Store interface {
	GetNotice(ctx context.Context, id string) (*store.Notice, error)
	StartNoticeAttempt(ctx context.Context, id, transport string, at time.Time) (bool, error)
	FinishNoticeAttempt(ctx context.Context, id, state, why string, at time.Time) (bool, error)
	NoteNoticeError(ctx context.Context, id, transport, why string, at time.Time) (bool, error)
	FailNotice(ctx context.Context, id, why string, at time.Time) (bool, error)
	AppendAudit(ctx context.Context, ev *store.AuditEvent) error
}

// ActionNoticeSend is the audit action of each notice's final outcome (sent or failed).
const ActionNoticeSend = "notice.send"

// Deliverer delivers stored notices through one Transport.
type Deliverer struct {
	Store     Store
	Transport Transport
	Kinds     Kinds // kinds switched off since a notice was queued are not sent
	Log       *slog.Logger
	Now       func() time.Time
}

// errNotQueued is begin's refusal for a notice another attempt has taken meanwhile.
var errNotQueued = errors.New("notify: the notice is no longer queued")

// Deliver makes one attempt at notice id. nil means the notice is settled (sent or failed, or was
// already): nothing more to do. An error wrapping ErrNotSent (possibly a *RetryAfterError) means
// try again later; with last set (the final attempt) the notice is marked failed instead, with
// the error, and nil is returned.
func (d *Deliverer) Deliver(ctx context.Context, id string, last bool) error {
	now := d.now
	n, err := d.Store.GetNotice(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil // nothing to deliver (deleted by an operator)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	switch n.State {
	case store.NoticeSent, store.NoticeFailed:
		return nil
	case store.NoticeSending:
		// An earlier attempt handed it over and never came back (the process died): it may have
		// been delivered, so it is not sent again.
		return d.fail(ctx, n, "outcome unknown: an earlier attempt was interrupted after handing the notice to "+
			n.Transport+"; not sent again so that nobody gets it twice")
	}
	if d.Kinds != nil && !d.Kinds.On(Kind(n.Kind)) {
		return d.fail(ctx, n, "not sent: notices of kind "+n.Kind+" are switched off (PORTICO_NOTICES)")
	}
	msg, err := Render(Kind(n.Kind), Recipient{Address: n.Address, Name: n.Name, Language: n.Language}, n.Link, n.Data)
	if err != nil {
		return d.fail(ctx, n, "not sent: "+err.Error())
	}
	began := false
	err = d.Transport.Send(ctx, msg, func() error {
		ok, err := d.Store.StartNoticeAttempt(ctx, n.ID, d.Transport.Name(), now())
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotSent, err)
		}
		if !ok {
			return errNotQueued
		}
		began = true
		return nil
	})
	at := now()
	ctx = context.WithoutCancel(ctx) // the outcome is recorded even when the job's time ran out
	switch {
	case err == nil:
		if _, serr := d.Store.FinishNoticeAttempt(ctx, n.ID, store.NoticeSent, "", at); serr != nil {
			// It went out; the row stays in sending, which a later attempt settles as "unknown"
			// rather than sending again.
			return fmt.Errorf("notify: notice %s sent but not recorded: %w", n.ID, serr)
		}
		d.audit(ctx, n, "success", "")
		d.log().InfoContext(ctx, "notice sent", "notice", n.ID, "kind", n.Kind, "event", n.EventKey, "transport", d.Transport.Name())
		return nil
	case errors.Is(err, errNotQueued):
		return nil // another attempt has it
	case errors.Is(err, ErrNotSent):
		if began {
			_, _ = d.Store.FinishNoticeAttempt(ctx, n.ID, store.NoticeQueued, err.Error(), at)
		} else {
			_, _ = d.Store.NoteNoticeError(ctx, n.ID, d.Transport.Name(), err.Error(), at)
		}
		if last {
			n.Transport = d.Transport.Name()
			return d.fail(ctx, n, "gave up after the last attempt: "+err.Error())
		}
		d.log().WarnContext(ctx, "notice not sent; it will be tried again", "notice", n.ID, "kind", n.Kind, "err", err)
		return err
	default: // ErrRefused, ErrUncertain, or anything a transport did not classify
		why := err.Error()
		if !errors.Is(err, ErrRefused) && !errors.Is(err, ErrUncertain) {
			why = ErrUncertain.Error() + ": " + why
		}
		if began {
			_, _ = d.Store.FinishNoticeAttempt(ctx, n.ID, store.NoticeFailed, why, at)
		}
		return d.fail(ctx, n, why)
	}
}

// fail marks n failed (when it is not settled yet) and records it.
func (d *Deliverer) fail(ctx context.Context, n *store.Notice, why string) error {
	ctx = context.WithoutCancel(ctx)
	if _, err := d.Store.FailNotice(ctx, n.ID, why, d.now()); err != nil {
		return fmt.Errorf("%w: recording the failure of notice %s: %w", ErrNotSent, n.ID, err)
	}
	d.audit(ctx, n, "failed", why)
	d.log().WarnContext(ctx, "notice failed", "notice", n.ID, "kind", n.Kind, "event", n.EventKey, "err", why)
	return nil
}

// audit records a notice's final outcome: who was told (the address is the target), about what.
func (d *Deliverer) audit(ctx context.Context, n *store.Notice, outcome, why string) {
	b, _ := json.Marshal(struct {
		NoticeID  string `json:"noticeId"`
		Kind      string `json:"kind"`
		Event     string `json:"event"`
		Transport string `json:"transport,omitempty"`
		Note      string `json:"note,omitempty"`
	}{n.ID, n.Kind, n.EventKey, n.Transport, why})
	detail := string(b)
	if err := d.Store.AppendAudit(ctx, &store.AuditEvent{ActorUPN: "portico", Action: ActionNoticeSend, Target: n.Address,
		Outcome: outcome, Detail: detail}); err != nil {
		d.log().ErrorContext(ctx, "notice: audit event not written", "notice", n.ID, "err", err)
	}
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}
