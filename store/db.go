// Package store persists Portico's sessions, invitations, join links and audit trail in SQLite or PostgreSQL.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"               // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialects reported by DB.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// migrationLockKey is the pg_advisory_lock key that serialises migrations across instances.
const migrationLockKey int64 = 0x706f727469636f // "portico"

//go:embed migrations
var migrationFiles embed.FS

// DB is an open, migrated database; its embedded Queries run outside any transaction.
type DB struct {
	*Queries
	sql *sql.DB
	log *slog.Logger
	dsn string
}

// Queries runs the store's statements on the database or on one transaction.
type Queries struct {
	ex      execer
	dialect string
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open connects to PostgreSQL for a postgres:// or postgresql:// URL and to a SQLite file otherwise, then applies pending migrations.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if dsn == "" {
		return nil, errors.New("store: empty database location")
	}
	dialect, driverName, source := DialectSQLite, "sqlite", sqliteDSN(dsn)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		dialect, driverName, source = DialectPostgres, "pgx", dsn
	}
	sdb, err := sql.Open(driverName, source)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	switch {
	case dialect == DialectPostgres:
		// Several instances share one server (max_connections defaults to 100).
		sdb.SetMaxOpenConns(20)
		sdb.SetMaxIdleConns(10)
		sdb.SetConnMaxIdleTime(5 * time.Minute)
		sdb.SetConnMaxLifetime(time.Hour)
	case isMemory(dsn):
		// Every connection to ":memory:" is a separate database: keep exactly one, forever.
		sdb.SetMaxOpenConns(1)
		sdb.SetMaxIdleConns(1)
		sdb.SetConnMaxIdleTime(0)
		sdb.SetConnMaxLifetime(0)
	default:
		// WAL allows concurrent readers; writers queue on busy_timeout.
		n := max(4, runtime.GOMAXPROCS(0))
		sdb.SetMaxOpenConns(n)
		sdb.SetMaxIdleConns(n)
	}
	if err := ping(ctx, sdb, dialect); err != nil {
		_ = sdb.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", dialect, err)
	}
	if err := migrate(ctx, sdb, dialect, migrationFiles, logger); err != nil {
		_ = sdb.Close()
		return nil, err
	}
	return &DB{Queries: &Queries{ex: sdb, dialect: dialect}, sql: sdb, log: logger, dsn: dsn}, nil
}

// ping checks the first connection. While another process switches a new SQLite file to WAL,
// opening it can fail with SQLITE_BUSY without waiting on busy_timeout, so that is retried briefly.
func ping(ctx context.Context, sdb *sql.DB, dialect string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := sdb.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || dialect != DialectSQLite || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func isMemory(dsn string) bool {
	return dsn == ":memory:" || strings.HasPrefix(dsn, ":memory:?")
}

// sqliteDSN adds the connection settings every SQLite connection needs; _txlock=immediate makes
// transactions take the write lock at BEGIN, so they wait on busy_timeout instead of failing on upgrade.
func sqliteDSN(dsn string) string {
	const params = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	if strings.Contains(dsn, "?") {
		return dsn + "&" + params
	}
	return dsn + "?" + params
}

// Dialect reports the engine: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close closes every connection.
func (db *DB) Close() error {
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// InTx runs fn in one transaction, committed only when fn returns nil and rolled back on an error or a panic.
func (db *DB) InTx(ctx context.Context, fn func(q *Queries) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(&Queries{ex: tx, dialect: db.dialect}); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			db.log.WarnContext(ctx, "store: rollback failed", "err", rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a new record id: 16 random bytes as 26 lowercase base32 characters.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// migration is one numbered schema change, e.g. migrations/sqlite/0001_init.sql.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s: name must start with a positive number", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("store: migrations %s and %s share a number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies the migrations of fsys not yet recorded in schema_migrations, each in its own
// transaction. On PostgreSQL a session advisory lock makes instances starting together take turns;
// on SQLite each transaction takes the write lock at BEGIN and re-checks its version inside.
func migrate(ctx context.Context, sdb *sql.DB, dialect string, fsys fs.FS, log *slog.Logger) error {
	ms, err := loadMigrations(fsys, "migrations/"+dialect)
	if err != nil {
		return err
	}
	conn, err := sdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Close()
	q := &Queries{ex: conn, dialect: dialect}
	timeType := "INTEGER"
	if dialect == DialectPostgres {
		timeType = "TIMESTAMPTZ"
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		defer func() {
			if _, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey); err != nil {
				// Closing the connection below releases the lock too; the pool may reuse it, so say so.
				log.WarnContext(ctx, "store: migration unlock failed", "err", err)
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}()
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at "+timeType+" NOT NULL)"); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	var newest int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&newest); err != nil {
		return fmt.Errorf("store: read schema_migrations: %w", err)
	}
	if len(ms) > 0 && newest > ms[len(ms)-1].version {
		log.WarnContext(ctx, "store: database schema is newer than this build", "database_version", newest, "build_version", ms[len(ms)-1].version)
	}
	for _, m := range ms {
		applied, err := applyMigration(ctx, conn, q, m)
		if err != nil {
			return err
		}
		if applied {
			log.InfoContext(ctx, "store: migration applied", "dialect", dialect, "migration", m.name)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, q *Queries, m migration) (applied bool, err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: migration %s: begin: %w", m.name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	tq := &Queries{ex: tx, dialect: q.dialect}
	var n int
	if err := tq.queryRow(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
		return false, fmt.Errorf("store: migration %s: %w", m.name, err)
	}
	if n > 0 {
		return false, tx.Rollback()
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("store: migration %s: %w", m.name, err)
	}
	if _, err := tq.exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", m.version, m.name, tq.ts(time.Now())); err != nil {
		return false, fmt.Errorf("store: migration %s: record: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: migration %s: commit: %w", m.name, err)
	}
	return true, nil
}

// rebind turns the ? placeholders the queries are written with into PostgreSQL's $1, $2, ….
func rebind(dialect, query string) string {
	if dialect != DialectPostgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (q *Queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.ex.ExecContext(ctx, rebind(q.dialect, query), args...)
}

func (q *Queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.ex.QueryContext(ctx, rebind(q.dialect, query), args...)
}

func (q *Queries) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return q.ex.QueryRowContext(ctx, rebind(q.dialect, query), args...)
}

// page renders LIMIT/OFFSET; a limit of 0 or less means no limit.
func (q *Queries) page(limit, offset int) string {
	offset = max(offset, 0)
	switch {
	case limit > 0:
		return fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset)
	case offset == 0:
		return ""
	case q.dialect == DialectSQLite:
		return fmt.Sprintf(" LIMIT -1 OFFSET %d", offset)
	default:
		return fmt.Sprintf(" OFFSET %d", offset)
	}
}

// where collects AND-ed conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// utc is the form in which times are stored: UTC, to the microsecond (PostgreSQL's precision).
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}

// ts converts a time to its column value: unix microseconds on SQLite (ordering numerically), timestamptz on PostgreSQL.
func (q *Queries) ts(t time.Time) any {
	t = utc(t)
	if q.dialect == DialectSQLite {
		return t.UnixMicro()
	}
	return t
}

func (q *Queries) nullTS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return q.ts(*t)
}

// timeCol scans a time column of either dialect.
type timeCol struct{ dst *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*c.dst = time.UnixMicro(v).UTC()
	case time.Time:
		*c.dst = v.UTC()
	case nil:
		*c.dst = time.Time{}
	default:
		return fmt.Errorf("store: cannot scan %T into a time", src)
	}
	return nil
}

// nullTimeCol scans a nullable time column of either dialect.
type nullTimeCol struct{ dst **time.Time }

func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.dst = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(src); err != nil {
		return err
	}
	*c.dst = &t
	return nil
}

// notFound maps sql.ErrNoRows to ErrNotFound and wraps anything else with what was being done.
func notFound(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

type scanner interface{ Scan(dst ...any) error }
