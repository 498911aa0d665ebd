package store

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"portico/store/storetest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// backend makes fresh, empty databases of one engine for the conformance suite.
type backend struct {
	newDSN  func(t *testing.T) string
	lasting bool // reopening a DSN finds the same data
}

func TestSQLiteFile(t *testing.T) {
	runConformance(t, backend{lasting: true, newDSN: func(t *testing.T) string {
		return filepath.Join(t.TempDir(), "portico.db")
	}})
}

func TestSQLiteMemory(t *testing.T) {
	runConformance(t, backend{newDSN: func(*testing.T) string { return ":memory:" }})
}

func TestPostgres(t *testing.T) {
	storetest.FreshPostgres(t) // skips (or fails in CI) before any subtest when no server is configured
	runConformance(t, backend{lasting: true, newDSN: func(t *testing.T) string { return storetest.FreshPostgres(t) }})
}

func openTest(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// logBuffer collects log output safely from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func (l *logBuffer) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), `msg="`+msg+`"`)
}

func migrationCount(t *testing.T, dialect string) int {
	t.Helper()
	ms, err := loadMigrations(migrationFiles, "migrations/"+dialect)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatalf("no %s migrations embedded", dialect)
	}
	return len(ms)
}

// assertMigrationsRecorded checks that schema_migrations holds each embedded migration exactly once.
func assertMigrationsRecorded(t *testing.T, db *DB) {
	t.Helper()
	var rows, distinct int
	if err := db.sql.QueryRowContext(t.Context(), "SELECT COUNT(*), COUNT(DISTINCT name) FROM schema_migrations").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t, db.Dialect()); rows != want || distinct != want {
		t.Errorf("schema_migrations has %d rows (%d distinct), want %d", rows, distinct, want)
	}
}

func TestNewID(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z2-7]{26}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !valid.MatchString(id) {
			t.Fatalf("NewID() = %q, want 26 lowercase base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestRebind(t *testing.T) {
	tests := []struct{ dialect, in, want string }{
		{DialectSQLite, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = ? AND c = ?"},
		{DialectPostgres, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{DialectPostgres, "SELECT '?' || a FROM t WHERE b = ?", "SELECT '?' || a FROM t WHERE b = $1"},
		{DialectPostgres, "SELECT 'it''s?' FROM t WHERE b IN (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "SELECT 'it''s?' FROM t WHERE b IN ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"},
		{DialectPostgres, "SELECT 1", "SELECT 1"},
	}
	for _, tc := range tests {
		if got := rebind(tc.dialect, tc.in); got != tc.want {
			t.Errorf("rebind(%s, %q) = %q, want %q", tc.dialect, tc.in, got, tc.want)
		}
	}
}

func TestPage(t *testing.T) {
	tests := []struct {
		dialect       string
		limit, offset int
		want          string
	}{
		{DialectSQLite, 0, 0, ""},
		{DialectSQLite, 10, 0, " LIMIT 10 OFFSET 0"},
		{DialectSQLite, 10, 20, " LIMIT 10 OFFSET 20"},
		{DialectSQLite, 0, 5, " LIMIT -1 OFFSET 5"},
		{DialectPostgres, 0, 5, " OFFSET 5"},
		{DialectPostgres, -1, -3, ""},
	}
	for _, tc := range tests {
		q := &Queries{dialect: tc.dialect}
		if got := q.page(tc.limit, tc.offset); got != tc.want {
			t.Errorf("%s page(%d, %d) = %q, want %q", tc.dialect, tc.limit, tc.offset, got, tc.want)
		}
	}
}

func TestSQLiteDSN(t *testing.T) {
	tests := []struct{ in, prefix string }{
		{"portico.db", "portico.db?_pragma=busy_timeout(5000)&"},
		{":memory:", ":memory:?_pragma=busy_timeout(5000)&"},
		{"file:x.db?mode=rwc", "file:x.db?mode=rwc&_pragma=busy_timeout(5000)&"},
	}
	for _, tc := range tests {
		got := sqliteDSN(tc.in)
		if !strings.HasPrefix(got, tc.prefix) {
			t.Errorf("sqliteDSN(%q) = %q, want prefix %q", tc.in, got, tc.prefix)
		}
		for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)", "_txlock=immediate"} {
			if !strings.Contains(got, p) {
				t.Errorf("sqliteDSN(%q) = %q, missing %s", tc.in, got, p)
			}
		}
	}
}

func TestOpenRejects(t *testing.T) {
	tests := []struct{ name, dsn string }{
		{"empty", ""},
		{"missing directory", filepath.Join(t.TempDir(), "no", "such", "dir", "portico.db")},
		{"unreachable postgres", "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(t.Context(), tc.dsn, nil)
			if err == nil {
				_ = db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), "store: ") {
				t.Errorf("error %q lacks the store: prefix", err)
			}
		})
	}
}

func TestLoadMigrations(t *testing.T) {
	// Numbers are handed out to features developed in parallel (e.g. 0011 while 0007–0010 are on
	// other branches), so a branch may have gaps: each engine's numbers increase, start at 1, and
	// both engines have the same ones.
	versions := map[string][]int{}
	for _, d := range []string{DialectSQLite, DialectPostgres} {
		ms, err := loadMigrations(migrationFiles, "migrations/"+d)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		for i, m := range ms {
			if i == 0 && m.version != 1 || i > 0 && m.version <= ms[i-1].version {
				t.Errorf("%s migration %s has number %d after %d", d, m.name, m.version, ms[max(i-1, 0)].version)
			}
			versions[d] = append(versions[d], m.version)
		}
	}
	if !slices.Equal(versions[DialectSQLite], versions[DialectPostgres]) {
		t.Errorf("the engines' migrations have different numbers: %v and %v", versions[DialectSQLite], versions[DialectPostgres])
	}
	if migrationCount(t, DialectSQLite) != migrationCount(t, DialectPostgres) {
		t.Error("the SQLite and PostgreSQL migrations differ in number")
	}
}
