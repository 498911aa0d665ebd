package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// States of a send intent.
const (
	IntentOpen   = "open"   // written before the Graph call; not settled yet
	IntentDone   = "done"   // settled: Graph created the invitation (answered, or confirmed by lookup)
	IntentFailed = "failed" // settled: nothing was created (Graph refused, or not found by lookup)
)

// Kinds of send intents.
const (
	IntentInvite   = "invite"
	IntentResend   = "resend"
	IntentBulkRow  = "bulk_row"
	IntentGroupAdd = "group_add"
)

// ErrIntentBusy means another intent for the same tenant and address is open.
var ErrIntentBusy = errors.New("store: an intent for this address is open")

// ErrIdempotencyKeyUsed means the tenant has an intent with that idempotency key already.
var ErrIdempotencyKeyUsed = errors.New("store: idempotency key already used")

// SendIntent is a durable promise, written before a Graph write, to settle it exactly once.
type SendIntent struct {
	ID             string
	TenantID       string
	Address        string // the partner's address key
	Kind           string // IntentInvite, IntentResend, …
	InvitationID   string // the record it creates or updates
	ActorOID       string
	OwnerOID       string
	Request        []byte // JSON: what settling it needs
	IdempotencyKey string // "" : none
	State          string
	OpenedAt       time.Time
	LeaseUntil     time.Time
	SettledAt      *time.Time
	Attempts       int
	Outcome        string
	Error          string
}

const intentColumns = `id, tenant_id, address, kind, invitation_id, actor_oid, owner_oid, request, idem_key, state,
opened_at, lease_until, settled_at, attempts, outcome, error`

func scanIntent(s scanner) (*SendIntent, error) {
	var in SendIntent
	var key sql.NullString
	var req string
	err := s.Scan(&in.ID, &in.TenantID, &in.Address, &in.Kind, &in.InvitationID, &in.ActorOID, &in.OwnerOID, &req, &key, &in.State,
		timeCol{&in.OpenedAt}, timeCol{&in.LeaseUntil}, nullTimeCol{&in.SettledAt}, &in.Attempts, &in.Outcome, &in.Error)
	if err != nil {
		return nil, err
	}
	in.Request, in.IdempotencyKey = []byte(req), key.String
	return &in, nil
}

// OpenIntent inserts an open intent. It returns ErrIntentBusy when the tenant has an open intent
// for the address, and ErrIdempotencyKeyUsed when an intent with the same key exists (open or not).
func (q *Queries) OpenIntent(ctx context.Context, in *SendIntent) error {
	if err := checkText([2]string{"id", in.ID}, [2]string{"tenant id", in.TenantID}, [2]string{"address", in.Address},
		[2]string{"kind", in.Kind}, [2]string{"invitation id", in.InvitationID}, [2]string{"actor", in.ActorOID},
		[2]string{"owner", in.OwnerOID}, [2]string{"request", string(in.Request)}, [2]string{"idempotency key", in.IdempotencyKey}); err != nil {
		return fmt.Errorf("store: open intent: %w", err)
	}
	if in.ID == "" {
		in.ID = NewID()
	}
	if in.OpenedAt.IsZero() {
		in.OpenedAt = time.Now()
	}
	in.OpenedAt, in.LeaseUntil, in.State = utc(in.OpenedAt), utc(in.LeaseUntil), IntentOpen
	var key any
	if in.IdempotencyKey != "" {
		key = in.IdempotencyKey
	}
	_, err := q.exec(ctx, `INSERT INTO send_intents (`+intentColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, NULL, 0, '', '')`,
		in.ID, in.TenantID, in.Address, in.Kind, in.InvitationID, in.ActorOID, in.OwnerOID, string(in.Request), key,
		q.ts(in.OpenedAt), q.ts(in.LeaseUntil))
	if err != nil {
		if which := uniqueViolation(err); which != "" {
			if strings.Contains(which, "idem") {
				return ErrIdempotencyKeyUsed
			}
			return ErrIntentBusy
		}
		return fmt.Errorf("store: open intent: %w", err)
	}
	return nil
}

// uniqueViolation returns the violated constraint's name (PostgreSQL) or SQLite's message when err
// is a unique violation, else "".
func uniqueViolation(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return pe.ConstraintName
	}
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return se.Error()
	}
	return ""
}

// GetIntent returns one intent, or ErrNotFound.
func (q *Queries) GetIntent(ctx context.Context, id string) (*SendIntent, error) {
	if !validText(id) {
		return nil, ErrNotFound
	}
	in, err := scanIntent(q.queryRow(ctx, "SELECT "+intentColumns+" FROM send_intents WHERE id = ?", id))
	if err != nil {
		return nil, notFound("get intent", err)
	}
	return in, nil
}

// IntentByKey returns the tenant's intent with an idempotency key, or ErrNotFound.
func (q *Queries) IntentByKey(ctx context.Context, tenantID, key string) (*SendIntent, error) {
	if key == "" || !validText(tenantID, key) {
		return nil, ErrNotFound
	}
	in, err := scanIntent(q.queryRow(ctx, "SELECT "+intentColumns+" FROM send_intents WHERE tenant_id = ? AND idem_key = ?", tenantID, key))
	if err != nil {
		return nil, notFound("intent by key", err)
	}
	return in, nil
}

// OpenIntentFor returns the tenant's open intent for an address, or ErrNotFound.
func (q *Queries) OpenIntentFor(ctx context.Context, tenantID, address string) (*SendIntent, error) {
	if !validText(tenantID, address) {
		return nil, ErrNotFound
	}
	in, err := scanIntent(q.queryRow(ctx, "SELECT "+intentColumns+" FROM send_intents WHERE tenant_id = ? AND address = ? AND state = 'open'", tenantID, address))
	if err != nil {
		return nil, notFound("open intent", err)
	}
	return in, nil
}

// OpenIntentOfInvitation returns the open intent that creates or updates an invitation, or ErrNotFound.
func (q *Queries) OpenIntentOfInvitation(ctx context.Context, invitationID string) (*SendIntent, error) {
	if !validText(invitationID) {
		return nil, ErrNotFound
	}
	in, err := scanIntent(q.queryRow(ctx, "SELECT "+intentColumns+" FROM send_intents WHERE invitation_id = ? AND state = 'open'", invitationID))
	if err != nil {
		return nil, notFound("open intent of invitation", err)
	}
	return in, nil
}

// SettleIntent moves an open intent to state (IntentDone or IntentFailed) with its outcome and
// error. It is a compare-and-set: it reports false, changing nothing, when the intent is not open
// any more (someone else settled it), so an intent is settled exactly once.
func (q *Queries) SettleIntent(ctx context.Context, id, state, outcome, errText string, at time.Time) (bool, error) {
	if state != IntentDone && state != IntentFailed {
		return false, fmt.Errorf("store: settle intent: %w", &InputError{Field: "state"})
	}
	if err := checkText([2]string{"id", id}, [2]string{"outcome", outcome}, [2]string{"error", errText}); err != nil {
		return false, fmt.Errorf("store: settle intent: %w", err)
	}
	res, err := q.exec(ctx, "UPDATE send_intents SET state = ?, outcome = ?, error = ?, settled_at = ? WHERE id = ? AND state = 'open'",
		state, outcome, cleanAuditText(errText, MaxAuditDetail), q.ts(at), id)
	if err != nil {
		return false, fmt.Errorf("store: settle intent: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: settle intent: %w", err)
	}
	return n == 1, nil
}

// ExtendIntent moves an open intent's lease to until (the caller is still working on it); false
// when it is not open any more.
func (q *Queries) ExtendIntent(ctx context.Context, id string, until time.Time) (bool, error) {
	res, err := q.exec(ctx, "UPDATE send_intents SET lease_until = ? WHERE id = ? AND state = 'open'", q.ts(until), id)
	if err != nil {
		return false, fmt.Errorf("store: extend intent: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// MaxRenewIntents is the most intents one RenewIntents call takes (its IN list).
const MaxRenewIntents = 500

// RenewIntents moves the leases of the open intents among ids forward to until, in one UPDATE:
// the heartbeat of the process whose Graph calls are still running on them. A lease already at or
// past until (a reconciler's longer claim) is left as it is, and settled intents are never
// touched. It returns how many leases moved. At most MaxRenewIntents ids per call.
func (q *Queries) RenewIntents(ctx context.Context, ids []string, until time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	if len(ids) > MaxRenewIntents {
		return 0, fmt.Errorf("store: renew intents: %d ids, at most %d per call", len(ids), MaxRenewIntents)
	}
	for _, id := range ids {
		if !validText(id) {
			return 0, fmt.Errorf("store: renew intents: %w", &InputError{Field: "id"})
		}
	}
	args := append([]any{q.ts(until), q.ts(until)}, anySlice(ids)...)
	res, err := q.exec(ctx, "UPDATE send_intents SET lease_until = ? WHERE state = 'open' AND lease_until < ? AND id IN ("+
		placeholders(len(ids))+")", args...)
	if err != nil {
		return 0, fmt.Errorf("store: renew intents: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: renew intents: %w", err)
	}
	return int(n), nil
}

// ClaimIntents claims up to limit open intents whose lease ended by now: each gets a new lease
// until now+lease and one more attempt, and is returned. An intent is claimed by one caller at a
// time: on PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED, on SQLite the
// write transaction holds the database; and the update re-checks the lease either way.
func (q *Queries) ClaimIntents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]SendIntent, error) {
	if limit <= 0 {
		limit = 50
	}
	lock := ""
	if q.dialect == DialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := q.query(ctx, fmt.Sprintf(`UPDATE send_intents SET lease_until = ?, attempts = attempts + 1
WHERE state = 'open' AND lease_until <= ? AND id IN (
  SELECT id FROM send_intents WHERE state = 'open' AND lease_until <= ? ORDER BY lease_until, id LIMIT %d%s)
RETURNING `+intentColumns, limit, lock), q.ts(now.Add(lease)), q.ts(now), q.ts(now))
	if err != nil {
		return nil, fmt.Errorf("store: claim intents: %w", err)
	}
	defer rows.Close()
	var out []SendIntent
	for rows.Next() {
		in, err := scanIntent(rows)
		if err != nil {
			return nil, fmt.Errorf("store: claim intents: %w", err)
		}
		out = append(out, *in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: claim intents: %w", err)
	}
	return out, nil
}

// LockQuota takes the per-inviter lock that quota reservations hold until their transaction ends:
// an upsert of the inviter's row, which PostgreSQL keeps locked until commit; on SQLite the
// write transaction (BEGIN IMMEDIATE) serialises every writer anyway. Call it first in the
// transaction that counts and inserts.
func (q *Queries) LockQuota(ctx context.Context, tenantID, actorOID string, at time.Time) error {
	if !validText(tenantID, actorOID) {
		return fmt.Errorf("store: lock quota: %w", &InputError{Field: "actor"})
	}
	_, err := q.exec(ctx, `INSERT INTO quota_locks (tenant_id, actor_oid, locked_at) VALUES (?, ?, ?)
ON CONFLICT (tenant_id, actor_oid) DO UPDATE SET locked_at = excluded.locked_at`, tenantID, actorOID, q.ts(at))
	if err != nil {
		return fmt.Errorf("store: lock quota: %w", err)
	}
	return nil
}

// QuotaUse returns when an inviter's intents opened after since were opened, newest first, at
// most limit of them: the open ones and those that created an invitation (outcome "created").
// Failed intents give their place back.
func (q *Queries) QuotaUse(ctx context.Context, tenantID, actorOID string, since time.Time, limit int) ([]time.Time, error) {
	if !validText(tenantID, actorOID) {
		return nil, nil
	}
	rows, err := q.query(ctx, `SELECT opened_at FROM send_intents
WHERE tenant_id = ? AND actor_oid = ? AND opened_at > ? AND (state = 'open' OR (state = 'done' AND outcome = 'created'))
ORDER BY opened_at DESC`+q.page(limit, 0), tenantID, actorOID, q.ts(since))
	if err != nil {
		return nil, fmt.Errorf("store: quota use: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var t time.Time
		if err := rows.Scan(timeCol{&t}); err != nil {
			return nil, fmt.Errorf("store: quota use: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// HasDueIntents reports whether any open intent's lease ended by now (the reconciler has work).
func (q *Queries) HasDueIntents(ctx context.Context, now time.Time) (bool, error) {
	var one int
	err := q.queryRow(ctx, "SELECT 1 FROM send_intents WHERE state = 'open' AND lease_until <= ? LIMIT 1", q.ts(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: due intents: %w", err)
	}
	return true, nil
}
