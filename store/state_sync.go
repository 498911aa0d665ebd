package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// StateAccepted is the externalUserState of a partner who redeemed their invitation.
const StateAccepted = "Accepted"

// PendingStateSync returns up to limit current, created invitations whose partner has not yet
// accepted and whose state was last read before before (or never), the least recently checked
// first (never-checked ones first of all), for the background state sync.
func (q *Queries) PendingStateSync(ctx context.Context, before time.Time, limit int) ([]Invitation, error) {
	if limit <= 0 {
		return nil, nil
	}
	// The order of the partial index invitations_state_sync (migration 0004), so a batch reads 20
	// index entries instead of sorting every pending invitation: SQLite sorts NULL first in
	// ascending order on its own, PostgreSQL is told to (and its index is built that way).
	order := "state_checked_at, created_at, id"
	if q.dialect == DialectPostgres {
		order = "state_checked_at NULLS FIRST, created_at, id"
	}
	return q.invitations(ctx, "pending state sync",
		"SELECT "+invitationColumns+` FROM invitations
WHERE outcome = 'created' AND graph_user_id <> '' AND replaced_by = '' AND external_user_state <> 'Accepted'
  AND (state_checked_at IS NULL OR state_checked_at < ?)
ORDER BY `+order+q.page(limit, 0), q.ts(before))
}

// MarkStateDue forgets when the invitation's state was last read, so the next refresh (the
// background sync, or a list page when there is no background identity) reads it first.
func (q *Queries) MarkStateDue(ctx context.Context, id string) error {
	if !validText(id) {
		return ErrNotFound
	}
	res, err := q.exec(ctx, `UPDATE invitations SET state_checked_at = NULL WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("store: mark state due: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: mark state due: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// SQL is the connection pool, for a job queue that keeps its own tables in the same database
// (River's drivers take a *sql.DB for SQLite).
func (db *DB) SQL() *sql.DB { return db.sql }

// DSN is the location the database was opened from (a file path, ":memory:" or a PostgreSQL URL).
func (db *DB) DSN() string { return db.dsn }

// InMemory reports a SQLite ":memory:" database, which exists only on its one connection.
func (db *DB) InMemory() bool { return db.dialect == DialectSQLite && isMemory(db.dsn) }

// OpenSQLitePool opens another pool on the SQLite file dsn with the store's connection settings
// (WAL, busy timeout, foreign keys, immediate write transactions) and at most conns connections.
func OpenSQLitePool(ctx context.Context, dsn string, conns int) (*sql.DB, error) {
	sdb, err := sql.Open("sqlite", sqliteDSN(dsn))
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	sdb.SetMaxOpenConns(max(conns, 1))
	sdb.SetMaxIdleConns(max(conns, 1))
	sdb.SetConnMaxIdleTime(0)
	if err := ping(ctx, sdb, DialectSQLite); err != nil {
		_ = sdb.Close()
		return nil, fmt.Errorf("store: connect to sqlite: %w", err)
	}
	return sdb, nil
}
