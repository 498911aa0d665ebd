package store

import (
	"context"
	"fmt"
	"time"
)

// The store has no statement that updates or deletes audit_events, and triggers refuse both.

const auditColumns = `id, occurred_at, actor_tid, actor_oid, actor_upn, action, target, outcome, detail,
graph_request_id, client_ip, request_id`

// AppendAudit appends ev, setting its ID and, when zero, its Time to now.
func (q *Queries) AppendAudit(ctx context.Context, ev *AuditEvent) error {
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

// ListAudit returns the events matching f, newest first, paged by f.Limit and f.Offset.
func (q *Queries) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	var out []AuditEvent
	err := q.EachAudit(ctx, f, func(ev *AuditEvent) error {
		out = append(out, *ev)
		return nil
	})
	return out, err
}

// EachAudit streams the events matching f, newest first, to fn one row at a time, stopping at
// fn's first error and returning it. fn must not use the store: on a ":memory:" database the
// stream holds the only connection.
func (q *Queries) EachAudit(ctx context.Context, f AuditFilter, fn func(*AuditEvent) error) error {
	w := &where{}
	if f.Actor != "" {
		w.add("(lower(actor_upn) = lower(?) OR actor_oid = ?)", f.Actor, f.Actor)
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
	rows, err := q.query(ctx, "SELECT "+auditColumns+" FROM audit_events"+w.String()+
		" ORDER BY occurred_at DESC, id DESC"+q.page(f.Limit, f.Offset), w.args...)
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
