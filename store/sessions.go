package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

const sessionColumns = "id, data, created_at, updated_at, expires_at"

// GetSession returns the session record with id, expired or not (the caller's clock decides), or ErrNotFound.
func (q *Queries) GetSession(ctx context.Context, id string) (*Session, error) {
	if !validText(id) {
		return nil, ErrNotFound
	}
	var s Session
	err := q.queryRow(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", id).
		Scan(&s.ID, &s.Data, timeCol{&s.CreatedAt}, timeCol{&s.UpdatedAt}, timeCol{&s.ExpiresAt})
	if err != nil {
		return nil, notFound("get session", err)
	}
	return &s, nil
}

// SaveSession inserts or replaces a session record, keeping the CreatedAt of the first save.
func (q *Queries) SaveSession(ctx context.Context, s *Session) error {
	if s.ID == "" {
		return errors.New("store: save session: empty id")
	}
	if !validText(s.ID) {
		return fmt.Errorf("store: save session: %w", &InputError{Field: "id"})
	}
	now := utc(time.Now())
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now
	}
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = now
	}
	s.CreatedAt, s.UpdatedAt, s.ExpiresAt = utc(s.CreatedAt), utc(s.UpdatedAt), utc(s.ExpiresAt)
	data := s.Data
	if data == nil {
		data = []byte{}
	}
	_, err := q.exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at, expires_at = excluded.expires_at`,
		s.ID, data, q.ts(s.CreatedAt), q.ts(s.UpdatedAt), q.ts(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store: save session: %w", err)
	}
	return nil
}

// DeleteSession removes a session record; deleting one that does not exist is not an error.
func (q *Queries) DeleteSession(ctx context.Context, id string) error {
	if !validText(id) {
		return nil // no such session
	}
	if _, err := q.exec(ctx, "DELETE FROM sessions WHERE id = ?", id); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions whose expiry is at or before now and reports how many.
func (q *Queries) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := q.exec(ctx, "DELETE FROM sessions WHERE expires_at <= ?", q.ts(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return n, nil
}
