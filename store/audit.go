package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The store has no statement that updates or deletes audit_events, and triggers refuse both.

const auditColumns = `id, occurred_at, actor_tid, actor_oid, actor_upn, action, target, outcome, detail,
graph_request_id, client_ip, request_id`

// AppendAudit appends ev, setting its ID and, when zero, its Time to now. Its text fields are
// cleaned and bounded first (see cleanAuditText, MaxAuditField, MaxAuditDetail), in ev too, so
// ev holds what was stored.
func (q *Queries) AppendAudit(ctx context.Context, ev *AuditEvent) error {
	cleanAudit(ev)
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Time = utc(ev.Time)
	err := q.queryRow(ctx, `INSERT INTO audit_events (occurred_at, actor_tid, actor_oid, actor_upn, action, target, outcome, detail,
graph_request_id, client_ip, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		q.ts(ev.Time), ev.ActorTID, ev.ActorOID, ev.ActorUPN, ev.Action, ev.Target, ev.Outcome, ev.Detail,
		ev.GraphRequestID, ev.ClientIP, ev.RequestID).Scan(&ev.ID)
	if err != nil {
		return fmt.Errorf("store: append audit event: %w", err)
	}
	return nil
}

// ListAudit returns the events matching f, newest first, paged by f.Limit and f.Before or f.After
// (or f.Offset, which reads every skipped row). Filter text that is not valid UTF-8 or holds NUL is
// an *InputError (ErrInvalidInput).
func (q *Queries) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	var out []AuditEvent
	err := q.EachAudit(ctx, f, func(ev *AuditEvent) error {
		out = append(out, *ev)
		return nil
	})
	return out, err
}

// actorUPN reports whether an actor filter names a user principal name (which always holds an @)
// rather than an object id, so the filter uses one index instead of an OR over two.
func actorUPN(actor string) bool { return strings.Contains(actor, "@") }

// EachAudit streams the events matching f, newest first, to fn one row at a time, stopping at
// fn's first error and returning it. fn must not use the store: on a ":memory:" database the
// stream holds the only connection. With f.After the page is read first and then handed out, so
// give it a Limit. Each filter walks one index that ends in the sort key (see migration 0002):
// the actor filter matches the UPN (any case) when it holds an @ and the object id otherwise.
func (q *Queries) EachAudit(ctx context.Context, f AuditFilter, fn func(*AuditEvent) error) error {
	if err := checkText([2]string{"actor", f.Actor}, [2]string{"target", f.Target}, [2]string{"action", f.Action},
		[2]string{"outcome", f.Outcome}); err != nil {
		return err
	}
	w := &where{}
	switch {
	case f.Actor == "":
	case actorUPN(f.Actor):
		w.add("lower(actor_upn) = lower(?)", f.Actor)
	default:
		w.add("actor_oid = ?", f.Actor)
	}
	if f.Target != "" {
		w.add("lower(target) = lower(?)", f.Target)
	}
	if f.Action != "" {
		w.add("action = ?", f.Action)
	}
	if f.Outcome != "" {
		w.add("outcome = ?", f.Outcome)
	}
	if f.Since != nil {
		w.add("occurred_at >= ?", q.ts(*f.Since))
	}
	if f.Until != nil {
		w.add("occurred_at <= ?", q.ts(*f.Until))
	}
	if f.Before != nil {
		w.add("(occurred_at, id) < (?, ?)", q.ts(f.Before.Time), f.Before.ID)
	}
	order := " ORDER BY occurred_at DESC, id DESC"
	if f.After != nil {
		// The page just newer than the cursor is the oldest events after it: read them oldest
		// first, then hand them out newest first like every other page.
		w.add("(occurred_at, id) > (?, ?)", q.ts(f.After.Time), f.After.ID)
		order = " ORDER BY occurred_at, id"
		var page []AuditEvent
		if err := q.eachAudit(ctx, "SELECT "+auditColumns+" FROM audit_events"+w.String()+order+q.page(f.Limit, f.Offset), w.args, func(ev *AuditEvent) error {
			page = append(page, *ev)
			return nil
		}); err != nil {
			return err
		}
		for i := len(page) - 1; i >= 0; i-- {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return q.eachAudit(ctx, "SELECT "+auditColumns+" FROM audit_events"+w.String()+order+q.page(f.Limit, f.Offset), w.args, fn)
}

func (q *Queries) eachAudit(ctx context.Context, query string, args []any, fn func(*AuditEvent) error) error {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: list audit events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		ev := new(AuditEvent)
		if err := rows.Scan(&ev.ID, timeCol{&ev.Time}, &ev.ActorTID, &ev.ActorOID, &ev.ActorUPN, &ev.Action, &ev.Target,
			&ev.Outcome, &ev.Detail, &ev.GraphRequestID, &ev.ClientIP, &ev.RequestID); err != nil {
			return fmt.Errorf("store: list audit events: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: list audit events: %w", err)
	}
	return nil
}
