package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const joinLinkColumns = `id, invitation_id, token_hash, token_sealed, created_at, expires_at,
revoked_at, first_opened_at, last_opened_at, open_count, revoke_reason`

func scanJoinLink(s scanner) (*JoinLink, error) {
	var l JoinLink
	err := s.Scan(&l.ID, &l.InvitationID, &l.TokenHash, &l.TokenSealed, timeCol{&l.CreatedAt}, timeCol{&l.ExpiresAt},
		nullTimeCol{&l.RevokedAt}, nullTimeCol{&l.FirstOpenedAt}, nullTimeCol{&l.LastOpenedAt}, &l.OpenCount, &l.RevokeReason)
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// CreateJoinLink inserts l, first giving it a NewID when ID is empty and the current time when CreatedAt is zero.
func (q *Queries) CreateJoinLink(ctx context.Context, l *JoinLink) error {
	if err := checkText([2]string{"id", l.ID}, [2]string{"invitation id", l.InvitationID}); err != nil {
		return fmt.Errorf("store: create join link: %w", err)
	}
	if l.ID == "" {
		l.ID = NewID()
	}
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now()
	}
	l.CreatedAt, l.ExpiresAt = utc(l.CreatedAt), utc(l.ExpiresAt)
	l.RevokedAt, l.FirstOpenedAt, l.LastOpenedAt = utcPtr(l.RevokedAt), utcPtr(l.FirstOpenedAt), utcPtr(l.LastOpenedAt)
	_, err := q.exec(ctx, `INSERT INTO join_links (`+joinLinkColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, l.InvitationID, l.TokenHash, l.TokenSealed, q.ts(l.CreatedAt), q.ts(l.ExpiresAt),
		q.nullTS(l.RevokedAt), q.nullTS(l.FirstOpenedAt), q.nullTS(l.LastOpenedAt), l.OpenCount, l.RevokeReason)
	if err != nil {
		return fmt.Errorf("store: create join link: %w", err)
	}
	return nil
}

// JoinLinkByHash returns the link whose token hashes to hash, revoked and expired ones included, or ErrNotFound.
func (q *Queries) JoinLinkByHash(ctx context.Context, hash []byte) (*JoinLink, error) {
	l, err := scanJoinLink(q.queryRow(ctx, "SELECT "+joinLinkColumns+" FROM join_links WHERE token_hash = ?", hash))
	if err != nil {
		return nil, notFound("join link by hash", err)
	}
	return l, nil
}

// ActiveJoinLink returns the invitation's link that is not revoked (the database keeps at most one),
// or ErrNotFound.
func (q *Queries) ActiveJoinLink(ctx context.Context, invitationID string) (*JoinLink, error) {
	if !validText(invitationID) {
		return nil, ErrNotFound
	}
	l, err := scanJoinLink(q.queryRow(ctx, "SELECT "+joinLinkColumns+
		" FROM join_links WHERE invitation_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1", invitationID))
	if err != nil {
		return nil, notFound("active join link", err)
	}
	return l, nil
}

// RevokeJoinLinks marks every unrevoked link of the invitation revoked at at.
//
// At most one link per invitation may be unrevoked (a partial unique index refuses a second), so a
// new link is created in the same transaction right after this call. On PostgreSQL this first locks
// the invitation's row until the transaction ends: parallel "revoke, then create" transactions for one
// invitation take turns, and each revokes the link the one before it created (under READ COMMITTED
// every statement sees what committed before it), instead of both finding nothing to revoke. SQLite
// transactions take the write lock at BEGIN (_txlock=immediate), so they take turns already.
func (q *Queries) RevokeJoinLinks(ctx context.Context, invitationID string, at time.Time) error {
	if !validText(invitationID) {
		return nil // no link can belong to it
	}
	if q.dialect == DialectPostgres {
		var id string
		err := q.queryRow(ctx, "SELECT id FROM invitations WHERE id = ? FOR UPDATE", invitationID).Scan(&id)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: revoke join links: lock invitation: %w", err)
		}
	}
	if _, err := q.exec(ctx, "UPDATE join_links SET revoked_at = ? WHERE invitation_id = ? AND revoked_at IS NULL",
		q.ts(at), invitationID); err != nil {
		return fmt.Errorf("store: revoke join links: %w", err)
	}
	return nil
}

// RecordJoinOpen counts one opening of the link at at, in a single UPDATE so concurrent opens are all counted.
func (q *Queries) RecordJoinOpen(ctx context.Context, id string, at time.Time) error {
	if !validText(id) {
		return ErrNotFound
	}
	t := q.ts(at)
	res, err := q.exec(ctx, `UPDATE join_links
SET first_opened_at = COALESCE(first_opened_at, ?), last_opened_at = ?, open_count = open_count + 1
WHERE id = ?`, t, t, id)
	if err != nil {
		return fmt.Errorf("store: record join open: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: record join open: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}
