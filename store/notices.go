package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Notice states.
const (
	NoticeQueued  = "queued"  // waiting for its first attempt, or between attempts
	NoticeSending = "sending" // handed to the transport; a crash here leaves the outcome unknown
	NoticeSent    = "sent"    // the transport accepted it
	NoticeFailed  = "failed"  // given up; LastError says why
)

// Notice is one email notice to one recipient for one event (migration 0007).
type Notice struct {
	ID        string
	EventKey  string // what happened, e.g. "invitation.accepted:<record id>"; unique with the address
	Kind      string
	Address   string
	Name      string
	Language  string
	Link      string
	Data      map[string]string
	State     string
	Attempts  int
	LastError string
	Transport string // "smtp" or "graph", once an attempt was made
	JobID     *int64 // the job that delivers it, once dispatched
	CreatedAt time.Time
	UpdatedAt time.Time
	SentAt    *time.Time
}

// Bounds of a notice's text, in bytes: a notice is small, and its fields end up in mail headers.
const (
	MaxNoticeField = 1000
	MaxNoticeData  = 16 << 10
	MaxNoticeError = 1000
)

const noticeColumns = `id, event_key, kind, address, name, language, link, data, state, attempts, last_error, transport,
job_id, created_at, updated_at, sent_at`

func scanNotice(s scanner) (*Notice, error) {
	var n Notice
	var data string
	err := s.Scan(&n.ID, &n.EventKey, &n.Kind, &n.Address, &n.Name, &n.Language, &n.Link, &data, &n.State, &n.Attempts,
		&n.LastError, &n.Transport, &n.JobID, timeCol{&n.CreatedAt}, timeCol{&n.UpdatedAt}, nullTimeCol{&n.SentAt})
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(data), &n.Data); err != nil {
		return nil, fmt.Errorf("store: notice %s data: %w", n.ID, err)
	}
	return &n, nil
}

// NoticeAddressKey is the form of an address the unique key compares: trimmed, lower case.
func NoticeAddressKey(address string) string { return strings.ToLower(strings.TrimSpace(address)) }

// EnqueueNotice inserts n as queued unless a notice for the same event and address exists, in
// which case it changes nothing and reports created false (n.ID is then the existing notice's).
// It runs in the caller's transaction when q is one (store.DB.InTx).
func (q *Queries) EnqueueNotice(ctx context.Context, n *Notice) (created bool, err error) {
	if err := checkText([2]string{"event key", n.EventKey}, [2]string{"kind", n.Kind}, [2]string{"address", n.Address},
		[2]string{"name", n.Name}, [2]string{"language", n.Language}, [2]string{"link", n.Link}); err != nil {
		return false, fmt.Errorf("store: enqueue notice: %w", err)
	}
	key := NoticeAddressKey(n.Address)
	if n.EventKey == "" || n.Kind == "" || key == "" {
		return false, errors.New("store: enqueue notice: event key, kind and address are required")
	}
	for _, f := range []string{n.EventKey, n.Kind, n.Address, n.Name, n.Language, n.Link} {
		if len(f) > MaxNoticeField {
			return false, fmt.Errorf("store: enqueue notice: %w", &InputError{Field: "a field longer than 1000 bytes"})
		}
	}
	data, err := json.Marshal(n.Data)
	if err != nil || len(data) > MaxNoticeData || !validText(string(data)) {
		return false, fmt.Errorf("store: enqueue notice: %w", &InputError{Field: "data"})
	}
	if n.Data == nil {
		data = []byte("{}")
	}
	if n.ID == "" {
		n.ID = NewID()
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = time.Now()
	}
	n.CreatedAt, n.UpdatedAt = utc(n.CreatedAt), utc(n.CreatedAt)
	n.State, n.Attempts, n.LastError, n.Transport, n.JobID, n.SentAt = NoticeQueued, 0, "", "", nil, nil
	res, err := q.exec(ctx, `INSERT INTO notices (id, event_key, kind, address, address_key, name, language, link, data, state, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?) ON CONFLICT (event_key, address_key) DO NOTHING`,
		n.ID, n.EventKey, n.Kind, strings.TrimSpace(n.Address), key, n.Name, n.Language, n.Link, string(data), q.ts(n.CreatedAt), q.ts(n.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("store: enqueue notice: %w", err)
	}
	if k, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("store: enqueue notice: %w", err)
	} else if k == 1 {
		return true, nil
	}
	if err := q.queryRow(ctx, `SELECT id FROM notices WHERE event_key = ? AND address_key = ?`, n.EventKey, key).Scan(&n.ID); err != nil {
		return false, fmt.Errorf("store: enqueue notice: %w", err)
	}
	return false, nil
}

// GetNotice returns one notice, or ErrNotFound.
func (q *Queries) GetNotice(ctx context.Context, id string) (*Notice, error) {
	if !validText(id) {
		return nil, ErrNotFound
	}
	n, err := scanNotice(q.queryRow(ctx, "SELECT "+noticeColumns+" FROM notices WHERE id = ?", id))
	if err != nil {
		return nil, notFound("get notice", err)
	}
	return n, nil
}

// UndispatchedNotices lists up to limit queued notices not yet handed to the job queue, oldest first.
func (q *Queries) UndispatchedNotices(ctx context.Context, limit int) ([]Notice, error) {
	return q.notices(ctx, "undispatched notices",
		"SELECT "+noticeColumns+" FROM notices WHERE state = 'queued' AND job_id IS NULL ORDER BY created_at, id"+q.page(max(limit, 1), 0))
}

// RecentNotices lists up to limit notices, newest first (for operators and the demo's outbox).
func (q *Queries) RecentNotices(ctx context.Context, limit int) ([]Notice, error) {
	return q.notices(ctx, "recent notices",
		"SELECT "+noticeColumns+" FROM notices ORDER BY created_at DESC, id DESC"+q.page(max(limit, 1), 0))
}

// NoticesByEvent lists the notices of one event, oldest first.
func (q *Queries) NoticesByEvent(ctx context.Context, eventKey string) ([]Notice, error) {
	if !validText(eventKey) {
		return nil, nil
	}
	return q.notices(ctx, "notices by event",
		"SELECT "+noticeColumns+" FROM notices WHERE event_key = ? ORDER BY created_at, id", eventKey)
}

// SetNoticeJob records the job that delivers a queued notice. It reports false when the notice
// already has a job or is no longer queued.
func (q *Queries) SetNoticeJob(ctx context.Context, id string, jobID int64, at time.Time) (bool, error) {
	return q.noticeUpdate(ctx, "set notice job",
		`UPDATE notices SET job_id = ?, updated_at = ? WHERE id = ? AND state = 'queued' AND job_id IS NULL`, jobID, q.ts(at), id)
}

// StartNoticeAttempt moves a queued notice to sending and counts the attempt, just before it is
// handed to the transport. It reports false (and changes nothing) for a notice not queued: one
// already sent, failed, or left in sending by an attempt whose outcome is unknown.
func (q *Queries) StartNoticeAttempt(ctx context.Context, id, transport string, at time.Time) (bool, error) {
	return q.noticeUpdate(ctx, "start notice attempt",
		`UPDATE notices SET state = 'sending', attempts = attempts + 1, transport = ?, updated_at = ? WHERE id = ? AND state = 'queued'`,
		transport, q.ts(at), id)
}

// FinishNoticeAttempt settles an attempt of a notice in sending: state is NoticeSent, NoticeFailed
// (final) or NoticeQueued (the transport refused it for now; it is tried again), with why.
func (q *Queries) FinishNoticeAttempt(ctx context.Context, id, state, why string, at time.Time) (bool, error) {
	var sent any
	switch state {
	case NoticeSent:
		sent = q.ts(at)
	case NoticeQueued, NoticeFailed:
	default:
		return false, fmt.Errorf("store: finish notice attempt: %w", &InputError{Field: "state"})
	}
	return q.noticeUpdate(ctx, "finish notice attempt",
		`UPDATE notices SET state = ?, last_error = ?, sent_at = ?, updated_at = ? WHERE id = ? AND state = 'sending'`,
		state, boundError(why), sent, q.ts(at), id)
}

// FailNotice ends a notice that is queued or sending as failed with why (attempts exhausted, an
// outcome that cannot be known, a notice that cannot be rendered). It reports false for a notice
// already sent or failed.
func (q *Queries) FailNotice(ctx context.Context, id, why string, at time.Time) (bool, error) {
	return q.noticeUpdate(ctx, "fail notice",
		`UPDATE notices SET state = 'failed', last_error = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'sending')`,
		boundError(why), q.ts(at), id)
}

// CancelNotice ends a queued notice as failed with why (its job was cancelled). A notice being
// sent is left to its attempt, which settles it.
func (q *Queries) CancelNotice(ctx context.Context, id, why string, at time.Time) (bool, error) {
	return q.noticeUpdate(ctx, "cancel notice",
		`UPDATE notices SET state = 'failed', last_error = ?, updated_at = ? WHERE id = ? AND state = 'queued'`,
		boundError(why), q.ts(at), id)
}

// NoteNoticeError records why an attempt of a queued notice did not reach the transport (its
// server was down, say) and counts the attempt; the notice stays queued.
func (q *Queries) NoteNoticeError(ctx context.Context, id, transport, why string, at time.Time) (bool, error) {
	return q.noticeUpdate(ctx, "note notice error",
		`UPDATE notices SET attempts = attempts + 1, transport = ?, last_error = ?, updated_at = ? WHERE id = ? AND state = 'queued'`,
		transport, boundError(why), q.ts(at), id)
}

// boundError keeps an error's text storable and short.
func boundError(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) > MaxNoticeError {
		s = strings.ToValidUTF8(s[:MaxNoticeError], "") + "…"
	}
	return s
}

func (q *Queries) noticeUpdate(ctx context.Context, op, query string, args ...any) (bool, error) {
	if id, _ := args[len(args)-1].(string); !validText(id) {
		return false, ErrNotFound
	}
	res, err := q.exec(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", op, err)
	}
	return n == 1, nil
}

func (q *Queries) notices(ctx context.Context, op, query string, args ...any) ([]Notice, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	defer rows.Close()
	var out []Notice
	for rows.Next() {
		n, err := scanNotice(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", op, err)
		}
		out = append(out, *n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	return out, nil
}
