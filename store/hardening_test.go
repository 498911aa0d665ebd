package store

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"
)

// Text PostgreSQL cannot hold: each answered 500 there before the store refused it (issue 14, item 3).
var badText = map[string]string{
	"invalid byte %ff":   "\xff",
	"NUL %00":            "ab\x00cd",
	"overlong slash":     "\xc0\xaf",
	"overlong NUL":       "\xc0\x80",
	"surrogate half":     "\xed\xa0\x80",
	"truncated sequence": "caf\xc3",
}

func testInvalidText(t *testing.T, db *DB) {
	ctx := t.Context()
	seedInvitations(t, db.Queries, Invitation{ID: "i1", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated, CreatedAt: base})
	seedAudit(t, db.Queries)
	for name, bad := range badText {
		t.Run(name, func(t *testing.T) {
			notFound := map[string]error{}
			_, notFound["GetInvitation"] = db.GetInvitation(ctx, bad)
			_, notFound["InvitationHistory"] = db.InvitationHistory(ctx, bad)
			_, notFound["ActiveJoinLink"] = db.ActiveJoinLink(ctx, bad)
			_, notFound["GetSession"] = db.GetSession(ctx, bad)
			notFound["UpdateInvitationState"] = db.UpdateInvitationState(ctx, bad, "Accepted", nil, base)
			notFound["RecordJoinOpen"] = db.RecordJoinOpen(ctx, bad, base)
			for op, err := range notFound {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("%s(%q) = %v, want ErrNotFound", op, bad, err)
				}
			}
			for op, err := range map[string]error{
				"RevokeJoinLinks": db.RevokeJoinLinks(ctx, bad, base),
				"DeleteSession":   db.DeleteSession(ctx, bad),
			} {
				if err != nil {
					t.Errorf("%s(%q) = %v, want nil (nothing to change)", op, bad, err)
				}
			}
			if got, err := db.LatestInvitationsByEmail(ctx, "t1", bad, base.Add(-time.Hour)); err != nil || len(got) != 0 {
				t.Errorf("LatestInvitationsByEmail(%q) = %v, %v; want none", bad, got, err)
			}

			for _, f := range []struct {
				field string
				f     AuditFilter
			}{
				{"actor", AuditFilter{Actor: bad}}, {"actor", AuditFilter{Actor: bad + "@x.example"}},
				{"target", AuditFilter{Target: bad}}, {"action", AuditFilter{Action: bad}}, {"outcome", AuditFilter{Outcome: bad}},
			} {
				_, err := db.ListAudit(ctx, f.f)
				var ie *InputError
				if !errors.Is(err, ErrInvalidInput) || !errors.As(err, &ie) || ie.Field != f.field {
					t.Errorf("ListAudit(%s %q) = %v, want an InputError for %s", f.field, bad, err, f.field)
				}
			}
			for _, f := range []InvitationFilter{{TenantID: "t1", State: bad}, {TenantID: "t1", Email: bad}, {InviterOID: bad},
				{TenantID: "t1", Before: &InvitationCursor{CreatedAt: base, ID: bad}}} {
				if _, err := db.ListInvitations(ctx, f); !errors.Is(err, ErrInvalidInput) {
					t.Errorf("ListInvitations(%+v) = %v, want ErrInvalidInput", f, err)
				}
			}
			if _, err := db.CountInvitations(ctx, InvitationFilter{State: bad}); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("CountInvitations = %v, want ErrInvalidInput", err)
			}
			if err := db.CreateInvitation(ctx, &Invitation{TenantID: "t1", InviterOID: "A", Email: "x@y.example", DisplayName: bad, Outcome: OutcomeCreated}); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("CreateInvitation with a bad display name = %v, want ErrInvalidInput", err)
			}
			if err := db.SaveSession(ctx, &Session{ID: bad, Data: []byte("x"), ExpiresAt: base}); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("SaveSession = %v, want ErrInvalidInput", err)
			}
		})
	}
	// Nothing half-written: the one invitation is still alone.
	if n, err := db.CountInvitations(ctx, InvitationFilter{}); err != nil || n != 1 {
		t.Errorf("CountInvitations = %d, %v; want 1", n, err)
	}
}

func testAuditCleaning(t *testing.T, db *DB) {
	ctx := t.Context()
	long := strings.Repeat("é", 60_000)
	tests := []struct {
		name         string
		in           AuditEvent
		target, dtl  string
		wantUPN      string
		targetLength int
	}{
		{"plain text unchanged", AuditEvent{Target: "g@x.example", Detail: `{"a":"b c"}`, ActorUPN: "ann@contoso.example"}, "g@x.example", `{"a":"b c"}`, "ann@contoso.example", 0},
		{"line breaks become spaces, NUL and escapes go", AuditEvent{Target: "evil\n2026-01-01 admin.grant\x00ok\r", Detail: "a\tb\x1b[31m\x7f", ActorUPN: "a\u0085b\u0080"}, "evil 2026-01-01 admin.grantok ", "a b[31m", "a b", 0},
		{"bidi overrides removed", AuditEvent{Target: "invoice\u202Egpj.exe", Detail: "\u2066x\u2069\u200f\u061c", ActorUPN: "\u202Dann"}, "invoicegpj.exe", "x", "ann", 0},
		{"invalid UTF-8 replaced (a run of bad bytes by one U+FFFD)", AuditEvent{Target: "a\xffb\xc0\xafc", Detail: "\xed\xa0\x80", ActorUPN: "x\xc3"}, "a\uFFFDb\uFFFDc", "\uFFFD", "x\uFFFD", 0},
		{"bounded", AuditEvent{Target: long, Detail: long, ActorUPN: long}, "", "", "", MaxAuditField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.in
			ev.Action = "test." + strings.ReplaceAll(tc.name, " ", "_")
			if err := db.AppendAudit(ctx, &ev); err != nil {
				t.Fatal(err)
			}
			got, err := db.ListAudit(ctx, AuditFilter{Action: ev.Action})
			if err != nil || len(got) != 1 {
				t.Fatalf("ListAudit = %d events, %v", len(got), err)
			}
			if !reflect.DeepEqual(got[0], ev) {
				t.Errorf("stored %+v, but AppendAudit left %+v in the event", got[0], ev)
			}
			g := got[0]
			if tc.targetLength > 0 {
				for field, pair := range map[string][2]any{"target": {g.Target, MaxAuditField}, "actor": {g.ActorUPN, MaxAuditField}, "detail": {g.Detail, MaxAuditDetail}} {
					s, n := pair[0].(string), pair[1].(int)
					if utf8.RuneCountInString(s) != n || !strings.HasSuffix(s, "…") || !strings.HasPrefix(s, "ééé") {
						t.Errorf("%s: %d runes, ends %q; want %d ending in …", field, utf8.RuneCountInString(s), s[max(0, len(s)-8):], n)
					}
				}
				return
			}
			if g.Target != tc.target || g.Detail != tc.dtl || g.ActorUPN != tc.wantUPN {
				t.Errorf("stored target %q detail %q actor %q; want %q, %q, %q", g.Target, g.Detail, g.ActorUPN, tc.target, tc.dtl, tc.wantUPN)
			}
		})
	}
}

func testAuditKeyset(t *testing.T, db *DB) {
	ctx := t.Context()
	// 12 events; two share a time, so the id breaks the tie.
	for i := range 12 {
		ev := AuditEvent{Time: at(time.Duration(min(i, 10)) * time.Minute), Action: "k", Target: fmt.Sprint(i)}
		if err := db.AppendAudit(ctx, &ev); err != nil {
			t.Fatal(err)
		}
	}
	targets := func(evs []AuditEvent) string {
		var s []string
		for _, e := range evs {
			s = append(s, e.Target)
		}
		return strings.Join(s, ",")
	}
	page := func(f AuditFilter) []AuditEvent {
		t.Helper()
		f.Action, f.Limit = "k", 5
		got, err := db.ListAudit(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	p1 := page(AuditFilter{})
	if targets(p1) != "11,10,9,8,7" {
		t.Fatalf("first page %s", targets(p1))
	}
	c := p1[4].Cursor()
	p2 := page(AuditFilter{Before: &c})
	if targets(p2) != "6,5,4,3,2" {
		t.Fatalf("older page %s", targets(p2))
	}
	c = p2[4].Cursor()
	if p3 := page(AuditFilter{Before: &c}); targets(p3) != "1,0" {
		t.Errorf("last page %s", targets(p3))
	}
	c = p2[0].Cursor()
	if back := page(AuditFilter{After: &c}); targets(back) != "11,10,9,8,7" {
		t.Errorf("newer page from page 2 = %s, want the first page again", targets(back))
	}
	c = p1[1].Cursor() // "10", same time as "11"
	if newer := page(AuditFilter{After: &c}); targets(newer) != "11" {
		t.Errorf("newer than 10 = %s, want 11 (same time, higher id)", targets(newer))
	}
	if older := page(AuditFilter{Before: &c}); targets(older) != "9,8,7,6,5" {
		t.Errorf("older than 10 = %s", targets(older))
	}
	// A cursor survives its URL form.
	parsed, err := ParseAuditCursor(c.String())
	if err != nil || !reflect.DeepEqual(parsed, AuditCursor{Time: utc(c.Time), ID: c.ID}) {
		t.Errorf("ParseAuditCursor(%q) = %+v, %v", c.String(), parsed, err)
	}
	for _, bad := range []string{"", "1", "x.1", "1.x", "1.-2", "1.2.3"} {
		if _, err := ParseAuditCursor(bad); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ParseAuditCursor(%q) = %v, want ErrInvalidInput", bad, err)
		}
	}
}

func testInvitationKeysetAndCap(t *testing.T, db *DB) {
	ctx := t.Context()
	var invs []Invitation
	for i := range 7 {
		invs = append(invs, Invitation{ID: fmt.Sprintf("k%d", i), TenantID: "t1", InviterOID: "A", Email: fmt.Sprintf("g%d@x.example", i),
			Outcome: OutcomeCreated, CreatedAt: at(time.Duration(min(i, 5)) * time.Minute)})
	}
	seedInvitations(t, db.Queries, invs...)
	list := func(f InvitationFilter) string {
		t.Helper()
		f.TenantID, f.Limit = "t1", 3
		got, err := db.ListInvitations(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(ids(got), ",")
	}
	if got := list(InvitationFilter{}); got != "k6,k5,k4" {
		t.Fatalf("first page %s", got)
	}
	c := invs[4].Cursor()
	if got := list(InvitationFilter{Before: &c}); got != "k3,k2,k1" {
		t.Errorf("older than k4: %s", got)
	}
	c = invs[1].Cursor()
	if got := list(InvitationFilter{After: &c}); got != "k4,k3,k2" {
		t.Errorf("newer than k1: %s", got)
	}
	c = invs[5].Cursor() // k5 and k6 share a time
	if got := list(InvitationFilter{After: &c}); got != "k6" {
		t.Errorf("newer than k5: %s", got)
	}
	parsed, err := ParseInvitationCursor(c.String())
	if err != nil || !reflect.DeepEqual(parsed, InvitationCursor{CreatedAt: utc(c.CreatedAt), ID: "k5"}) {
		t.Errorf("ParseInvitationCursor(%q) = %+v, %v", c.String(), parsed, err)
	}
	for _, tc := range []struct {
		limit int
		n     int
		more  bool
	}{{10, 7, false}, {7, 7, false}, {6, 6, true}, {0, 0, true}} {
		n, more, err := db.CountInvitationsCapped(ctx, InvitationFilter{TenantID: "t1"}, tc.limit)
		if err != nil || n != tc.n || more != tc.more {
			t.Errorf("CountInvitationsCapped(limit %d) = %d, %v, %v; want %d, %v", tc.limit, n, more, err, tc.n, tc.more)
		}
	}
}

// testOneActiveJoinLink runs "New join link" (revoke the invitation's links, create one, in one
// transaction, as invite.Service.NewJoinLink does) from many goroutines at once: exactly one link may
// stay active, and none of them may fail (issue 14, item 7).
func testOneActiveJoinLink(t *testing.T, db *DB) {
	ctx := t.Context()
	seedInvitations(t, db.Queries, Invitation{ID: "i1", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated, CreatedAt: base})
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			l := &JoinLink{InvitationID: "i1", TokenHash: hashOf(fmt.Sprint("parallel", i)), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
			errs <- db.InTx(ctx, func(q *Queries) error {
				if err := q.RevokeJoinLinks(ctx, "i1", l.CreatedAt); err != nil {
					return err
				}
				return q.CreateJoinLink(ctx, l)
			})
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a parallel New join link failed: %v", err)
		}
	}
	var active, total int
	if err := db.sql.QueryRowContext(ctx, "SELECT COUNT(*) FROM join_links WHERE invitation_id = 'i1' AND revoked_at IS NULL").Scan(&active); err != nil {
		t.Fatal(err)
	}
	if err := db.sql.QueryRowContext(ctx, "SELECT COUNT(*) FROM join_links WHERE invitation_id = 'i1'").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if active != 1 || total != n {
		t.Errorf("%d active links of %d, want exactly 1 of %d", active, total, n)
	}
	// The database itself refuses a second active link, whatever the code does.
	err := db.CreateJoinLink(ctx, &JoinLink{InvitationID: "i1", TokenHash: hashOf("sneaky"), ExpiresAt: at(time.Hour)})
	if err == nil {
		t.Error("a second active link was accepted")
	}
}

// testMigrationKeepsNewestLink upgrades a database made before migration 0002, in which parallel
// "New join link" requests left two active links for one invitation: the upgrade keeps the newest
// active, revokes the other, and then refuses a second active link.
func testMigrationKeepsNewestLink(t *testing.T, dsn string) {
	ctx := t.Context()
	dialect, driverName, source := DialectSQLite, "sqlite", sqliteDSN(dsn)
	if strings.HasPrefix(dsn, "postgres") {
		dialect, driverName, source = DialectPostgres, "pgx", dsn
	}
	sdb, err := sql.Open(driverName, source)
	if err != nil {
		t.Fatal(err)
	}
	sdb.SetMaxOpenConns(1) // one ":memory:" database
	t.Cleanup(func() { _ = sdb.Close() })
	initSQL, err := fs.ReadFile(migrationFiles, "migrations/"+dialect+"/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	if err := migrate(ctx, sdb, dialect, fstest.MapFS{"migrations/" + dialect + "/0001_init.sql": {Data: initSQL}}, quiet); err != nil {
		t.Fatal(err)
	}
	q := &Queries{ex: sdb, dialect: dialect}
	// Rows as the schema of 0001 holds them (today's CreateInvitation writes later columns too).
	insertOldInvitation(t, q, "i1", "A", OutcomeCreated, "", base)
	insertOldInvitation(t, q, "i2", "A", OutcomeCreated, "", base)
	for _, l := range []JoinLink{
		{ID: "old", InvitationID: "i1", TokenHash: hashOf("old"), CreatedAt: at(time.Minute), ExpiresAt: at(time.Hour)},
		{ID: "new", InvitationID: "i1", TokenHash: hashOf("new"), CreatedAt: at(2 * time.Minute), ExpiresAt: at(time.Hour)},
		{ID: "other", InvitationID: "i2", TokenHash: hashOf("other"), CreatedAt: at(time.Minute), ExpiresAt: at(time.Hour)},
	} {
		insertOldJoinLink(t, q, l)
	}
	if err := migrate(ctx, sdb, dialect, migrationFiles, quiet); err != nil {
		t.Fatal(err)
	}
	for inv, want := range map[string]string{"i1": "new", "i2": "other"} {
		if got, err := q.ActiveJoinLink(ctx, inv); err != nil || got.ID != want {
			t.Errorf("ActiveJoinLink(%s) after the upgrade = %+v, %v; want %s", inv, got, err, want)
		}
	}
	if old, err := q.JoinLinkByHash(ctx, hashOf("old")); err != nil || old.RevokedAt == nil {
		t.Errorf("the superseded link after the upgrade: %+v, %v; want revoked", old, err)
	}
	if err := q.CreateJoinLink(ctx, &JoinLink{InvitationID: "i2", TokenHash: hashOf("second"), ExpiresAt: at(time.Hour)}); err == nil {
		t.Error("after the upgrade a second active link was accepted")
	}
}
