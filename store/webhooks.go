package store

import (
	"context"
	"fmt"
	"time"
)

// States of a webhook delivery.
const (
	DeliveryPending   = "pending"   // not delivered yet; its job tries (again)
	DeliveryDelivered = "delivered" // the receiver answered 2xx
	DeliveryFailed    = "failed"    // every attempt failed; nothing more is tried
)

// WebhookEvent is one event in the outbox (see package webhooks).
type WebhookEvent struct {
	ID           string
	Type         string
	CreatedAt    time.Time
	Payload      []byte // the JSON body every endpoint receives
	DispatchedAt *time.Time
}

// WebhookDelivery is one event on its way to one endpoint.
type WebhookDelivery struct {
	ID         string
	EventID    string
	EventType  string // read from the event
	Endpoint   string
	State      string
	Attempts   int
	LastStatus int
	LastError  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

// MaxWebhookError bounds a delivery's last error, in runes.
const MaxWebhookError = 300

// InsertWebhookEvent writes ev to the outbox unless an event with its id is there already:
// inserted is false then (emitting one event twice writes it once).
func (q *Queries) InsertWebhookEvent(ctx context.Context, ev *WebhookEvent) (inserted bool, err error) {
	if ev.ID == "" || ev.Type == "" || len(ev.Payload) == 0 {
		return false, fmt.Errorf("store: webhook event: %w", &InputError{Field: "id, type and payload"})
	}
	if err := checkText([2]string{"id", ev.ID}, [2]string{"type", ev.Type}, [2]string{"payload", string(ev.Payload)}); err != nil {
		return false, fmt.Errorf("store: webhook event: %w", err)
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = time.Now()
	}
	res, err := q.exec(ctx, `INSERT INTO webhook_events (id, type, created_at, payload) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`, ev.ID, ev.Type, q.ts(ev.CreatedAt), string(ev.Payload))
	if err != nil {
		return false, fmt.Errorf("store: webhook event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: webhook event: %w", err)
	}
	return n == 1, nil
}

// GetWebhookEvent reads one event; ErrNotFound when there is none.
func (q *Queries) GetWebhookEvent(ctx context.Context, id string) (*WebhookEvent, error) {
	if !validText(id) {
		return nil, ErrNotFound
	}
	var ev WebhookEvent
	var payload string
	err := q.queryRow(ctx, `SELECT id, type, created_at, payload, dispatched_at FROM webhook_events WHERE id = ?`, id).
		Scan(&ev.ID, &ev.Type, timeCol{&ev.CreatedAt}, &payload, nullTimeCol{&ev.DispatchedAt})
	if err != nil {
		return nil, notFound("webhook event", err)
	}
	ev.Payload = []byte(payload)
	return &ev, nil
}

// DueWebhookEvents lists up to limit events not dispatched yet, oldest first.
func (q *Queries) DueWebhookEvents(ctx context.Context, limit int) ([]WebhookEvent, error) {
	rows, err := q.query(ctx, `SELECT id, type, created_at, payload FROM webhook_events WHERE dispatched_at IS NULL
ORDER BY created_at, id LIMIT ?`, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("store: due webhook events: %w", err)
	}
	defer rows.Close()
	var out []WebhookEvent
	for rows.Next() {
		var ev WebhookEvent
		var payload string
		if err := rows.Scan(&ev.ID, &ev.Type, timeCol{&ev.CreatedAt}, &payload); err != nil {
			return nil, fmt.Errorf("store: due webhook events: %w", err)
		}
		ev.Payload = []byte(payload)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: due webhook events: %w", err)
	}
	return out, nil
}

// HasDueWebhookEvents reports whether some event waits to be dispatched.
func (q *Queries) HasDueWebhookEvents(ctx context.Context) (bool, error) {
	var n int
	if err := q.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM webhook_events WHERE dispatched_at IS NULL LIMIT 1) d`).Scan(&n); err != nil {
		return false, fmt.Errorf("store: due webhook events: %w", err)
	}
	return n > 0, nil
}

// CreateWebhookDelivery adds the delivery of event eventID to endpoint unless it exists; either
// way it returns the delivery's id (one per event and endpoint).
func (q *Queries) CreateWebhookDelivery(ctx context.Context, eventID, endpoint string, at time.Time) (string, error) {
	if err := checkText([2]string{"event", eventID}, [2]string{"endpoint", endpoint}); err != nil {
		return "", fmt.Errorf("store: webhook delivery: %w", err)
	}
	if _, err := q.exec(ctx, `INSERT INTO webhook_deliveries (id, event_id, endpoint, state, created_at, updated_at)
VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT (event_id, endpoint) DO NOTHING`,
		NewID(), eventID, endpoint, q.ts(at), q.ts(at)); err != nil {
		return "", fmt.Errorf("store: webhook delivery: %w", err)
	}
	var id string
	if err := q.queryRow(ctx, `SELECT id FROM webhook_deliveries WHERE event_id = ? AND endpoint = ?`, eventID, endpoint).Scan(&id); err != nil {
		return "", notFound("webhook delivery", err)
	}
	return id, nil
}

// MarkWebhookEventDispatched records that every delivery of the event exists.
func (q *Queries) MarkWebhookEventDispatched(ctx context.Context, id string, at time.Time) error {
	if _, err := q.exec(ctx, `UPDATE webhook_events SET dispatched_at = ? WHERE id = ? AND dispatched_at IS NULL`, q.ts(at), id); err != nil {
		return fmt.Errorf("store: webhook event dispatched: %w", err)
	}
	return nil
}

const deliveryColumns = `d.id, d.event_id, e.type, d.endpoint, d.state, d.attempts, d.last_status, d.last_error, d.created_at, d.updated_at, d.finished_at`

func scanDelivery(s scanner) (*WebhookDelivery, error) {
	var d WebhookDelivery
	if err := s.Scan(&d.ID, &d.EventID, &d.EventType, &d.Endpoint, &d.State, &d.Attempts, &d.LastStatus, &d.LastError,
		timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt}, nullTimeCol{&d.FinishedAt}); err != nil {
		return nil, err
	}
	return &d, nil
}

// GetWebhookDelivery reads one delivery; ErrNotFound when there is none.
func (q *Queries) GetWebhookDelivery(ctx context.Context, id string) (*WebhookDelivery, error) {
	if !validText(id) {
		return nil, ErrNotFound
	}
	d, err := scanDelivery(q.queryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE d.id = ?`, id))
	if err != nil {
		return nil, notFound("webhook delivery", err)
	}
	return d, nil
}

// RecordWebhookAttempt records one attempt of a pending delivery: its answer's status (0: none),
// the error ("" when delivered) and the state it leaves the delivery in (pending, delivered or
// failed). It is a compare-and-set on the pending state: false when the delivery had already
// ended (another run recorded it), and then nothing changes.
func (q *Queries) RecordWebhookAttempt(ctx context.Context, id, state string, status int, errText string, at time.Time) (bool, error) {
	switch state {
	case DeliveryPending, DeliveryDelivered, DeliveryFailed:
	default:
		return false, fmt.Errorf("store: webhook attempt: %w", &InputError{Field: "state"})
	}
	var finished any
	if state != DeliveryPending {
		finished = q.ts(at)
	}
	res, err := q.exec(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?,
updated_at = ?, finished_at = ? WHERE id = ? AND state = 'pending'`,
		state, status, cleanAuditText(errText, MaxWebhookError), q.ts(at), finished, id)
	if err != nil {
		return false, fmt.Errorf("store: webhook attempt: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: webhook attempt: %w", err)
	}
	return n == 1, nil
}

// WebhookDeliveryFilter selects deliveries for the admin page: newest first, a keyset page.
type WebhookDeliveryFilter struct {
	State string // "" : any
	// Before continues a page: deliveries strictly older than (BeforeTime, BeforeID).
	BeforeTime time.Time
	BeforeID   string
	Limit      int
}

// ListWebhookDeliveries returns deliveries newest first.
func (q *Queries) ListWebhookDeliveries(ctx context.Context, f WebhookDeliveryFilter) ([]WebhookDelivery, error) {
	where, args := "1 = 1", []any{}
	if f.State != "" {
		where += " AND d.state = ?"
		args = append(args, f.State)
	}
	if !f.BeforeTime.IsZero() {
		where += " AND (d.created_at < ? OR (d.created_at = ? AND d.id < ?))"
		args = append(args, q.ts(f.BeforeTime), q.ts(f.BeforeTime), f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	args = append(args, limit)
	rows, err := q.query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
WHERE `+where+` ORDER BY d.created_at DESC, d.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: webhook deliveries: %w", err)
	}
	defer rows.Close()
	var out []WebhookDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("store: webhook deliveries: %w", err)
		}
		out = append(out, *d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: webhook deliveries: %w", err)
	}
	return out, nil
}

// PruneWebhookEvents deletes events dispatched before cutoff whose deliveries have all ended
// (delivered or failed), with those deliveries; it returns how many events went.
func (q *Queries) PruneWebhookEvents(ctx context.Context, cutoff time.Time) (int, error) {
	// Deliveries first: SQLite enforces ON DELETE CASCADE only with foreign_keys on, which the
	// store sets, but an explicit delete keeps both engines' behaviour obvious.
	const old = `SELECT e.id FROM webhook_events e WHERE e.dispatched_at IS NOT NULL AND e.dispatched_at < ?
AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.event_id = e.id AND p.state = 'pending')`
	if _, err := q.exec(ctx, `DELETE FROM webhook_deliveries WHERE event_id IN (`+old+`)`, q.ts(cutoff)); err != nil {
		return 0, fmt.Errorf("store: prune webhook deliveries: %w", err)
	}
	res, err := q.exec(ctx, `DELETE FROM webhook_events WHERE id IN (`+old+`)`, q.ts(cutoff))
	if err != nil {
		return 0, fmt.Errorf("store: prune webhook events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune webhook events: %w", err)
	}
	return int(n), nil
}

// JobCount is how many of River's jobs of one kind are in one state.
type JobCount struct {
	Kind  string
	State string
	N     int
}

// JobCounts counts River's jobs by kind and state (River's table river_job, created by the job
// queue's own migrations on the same database): for metrics.
func (q *Queries) JobCounts(ctx context.Context) ([]JobCount, error) {
	rows, err := q.query(ctx, `SELECT kind, state, COUNT(*) FROM river_job GROUP BY kind, state`)
	if err != nil {
		return nil, fmt.Errorf("store: job counts: %w", err)
	}
	defer rows.Close()
	var out []JobCount
	for rows.Next() {
		var c JobCount
		if err := rows.Scan(&c.Kind, &c.State, &c.N); err != nil {
			return nil, fmt.Errorf("store: job counts: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: job counts: %w", err)
	}
	return out, nil
}

// WebhookDeliveryCounts counts deliveries by state (for metrics).
func (q *Queries) WebhookDeliveryCounts(ctx context.Context) (map[string]int, error) {
	rows, err := q.query(ctx, `SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("store: webhook delivery counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("store: webhook delivery counts: %w", err)
		}
		out[s] = n
	}
	return out, rows.Err()
}
