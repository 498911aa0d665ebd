package store

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"portico/store/storetest"
)

// The large-database benchmark: 50,000 invitations and 500,000 audit events, seeded once per engine
// with one INSERT … SELECT over a generated series (seconds, not minutes), then every query the audit
// page and the invitation lists make, each reading one page. Run it with
//
//	go test ./store/ -run '^$' -bench Large -benchtime 20x
//
// (PostgreSQL too when PORTICO_TEST_POSTGRES_URL is set). Goal: every page ≤ 50 ms on both engines.
const (
	largeInvitations = 50_000
	largeAudit       = 500_000
	largeInviters    = 200 // 250 invitations each
	largeActors      = 500 // 1,000 audit events each
	benchPageSize    = 25
	benchDeepPage    = 10_000 // page 10,000 of 25 rows: the 249,976th newest event onwards
	largeCountCap    = 1_000  // lists say "more than 1,000" rather than count further
)

// largeBase is the time of the first seeded row; row i is i seconds later.
var largeBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// seedLarge fills db with the large data set. Events cycle through actors, targets and ten actions;
// one event in 5,000 is a failed reveal (the rare action+outcome); invitations cycle through inviters
// and, one in three, are accepted.
func seedLarge(tb testing.TB, db *DB) {
	tb.Helper()
	ctx := context.Background()
	var series, num, t0 string
	switch db.Dialect() {
	case DialectPostgres:
		series, num = "SELECT generate_series(1, %d) AS i", "CAST(i AS TEXT)"
		t0 = "'" + largeBase.Format(time.RFC3339) + "'::timestamptz + i * interval '1 second'"
	default:
		series, num = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) SELECT i FROM n", "CAST(i AS TEXT)"
		t0 = "(" + itoa64(largeBase.UnixMicro()) + " + i * 1000000)"
	}
	actions := "CASE i % 10 WHEN 0 THEN 'signin' WHEN 1 THEN 'invitation.create' WHEN 2 THEN 'invitation.create' WHEN 3 THEN 'joinlink.create' " +
		"WHEN 4 THEN 'joinlink.accept' WHEN 5 THEN 'signin' WHEN 6 THEN 'invitation.resend' WHEN 7 THEN 'invitation.reveal' " +
		"WHEN 8 THEN 'signout' ELSE 'joinlink.revoke' END"
	outcomes := "CASE WHEN i % 5000 = 7 THEN 'failed' WHEN i % 10 IN (1, 2) THEN 'created' ELSE 'success' END"
	audit := "INSERT INTO audit_events (occurred_at, actor_tid, actor_oid, actor_upn, action, target, outcome, detail, client_ip, request_id) " +
		"SELECT " + t0 + ", 't1', 'oid-' || " + mod(num, "i", largeActors) + ", 'user' || " + mod(num, "i", largeActors) + " || '@contoso.example', " +
		actions + ", 'partner' || " + mod(num, "i", largeInvitations) + " || '@fabrikam.example', " + outcomes +
		", '{\"note\":\"seeded\"}', '192.0.2.1', 'req-' || " + num + " FROM (" + sprintf(series, largeAudit) + ") s"
	inv := "INSERT INTO invitations (id, tenant_id, inviter_oid, inviter_upn, email, outcome, graph_user_id, external_user_state, created_at) " +
		"SELECT 'inv' || " + num + ", 't1', 'oid-' || " + mod(num, "i", largeInviters) + ", 'user' || " + mod(num, "i", largeInviters) + " || '@contoso.example', " +
		"'partner' || " + num + " || '@fabrikam.example', 'created', 'user-' || " + num + ", " +
		"CASE WHEN i % 3 = 0 THEN 'Accepted' ELSE 'PendingAcceptance' END, " + t0 + " FROM (" + sprintf(series, largeInvitations) + ") s"
	start := time.Now()
	for _, s := range []string{audit, inv} {
		if _, err := db.sql.ExecContext(ctx, s); err != nil {
			tb.Fatalf("seed: %v\n%s", err, s)
		}
	}
	// PostgreSQL's autovacuum analyzes a table that grew this much; Portico never runs ANALYZE on
	// SQLite, so its planner works here without statistics, as in production.
	if db.Dialect() == DialectPostgres {
		if _, err := db.sql.ExecContext(ctx, "ANALYZE"); err != nil {
			tb.Fatalf("analyze: %v", err)
		}
	}
	tb.Logf("%s: seeded %d audit events and %d invitations in %v", db.Dialect(), largeAudit, largeInvitations, time.Since(start).Round(time.Millisecond))
}

// mod renders "num % n" as text in either dialect.
func mod(_, col string, n int) string {
	return "CAST(" + col + " % " + itoa64(int64(n)) + " AS TEXT)"
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func sprintf(format string, n int) string { return fmt.Sprintf(format, n) }

func BenchmarkLargeSQLite(b *testing.B) {
	db := openBench(b, filepath.Join(b.TempDir(), "large.db"))
	benchLarge(b, db)
}

func BenchmarkLargePostgres(b *testing.B) {
	dsn := storetest.FreshPostgres(b)
	benchLarge(b, openBench(b, dsn))
}

func openBench(b *testing.B, dsn string) *DB {
	b.Helper()
	db, err := Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

func benchLarge(b *testing.B, db *DB) {
	seedLarge(b, db)
	ctx := context.Background()
	since, until := largeBase.Add(200_000*time.Second), largeBase.Add(300_000*time.Second)
	audit := []struct {
		name string
		f    AuditFilter
	}{
		{"no_filter", AuditFilter{}},
		{"actor_upn", AuditFilter{Actor: "USER42@contoso.example"}},
		{"actor_oid", AuditFilter{Actor: "oid-42"}},
		{"target", AuditFilter{Target: "Partner4242@fabrikam.example"}},
		{"action", AuditFilter{Action: "invitation.resend"}},
		{"outcome_rare", AuditFilter{Outcome: "failed"}},
		{"action_outcome_rare", AuditFilter{Action: "invitation.reveal", Outcome: "failed"}},
		{"time_range", AuditFilter{Since: &since, Until: &until}},
		{"action_time_range", AuditFilter{Action: "signout", Since: &since, Until: &until}},
	}
	for _, tc := range audit {
		b.Run("audit/"+tc.name, func(b *testing.B) {
			f := tc.f
			f.Limit = benchPageSize + 1
			for b.Loop() {
				evs, err := db.ListAudit(ctx, f)
				if err != nil || len(evs) == 0 {
					b.Fatalf("%d events, %v", len(evs), err)
				}
			}
		})
	}
	// Page 10,000 of 25 rows by keyset: the cursor is the last row of page 9,999, i.e. the event
	// 249,975th newest (the seeded events are one second apart, ids in time order).
	deep := largeAudit - (benchDeepPage-1)*benchPageSize + 1
	deepCursor := AuditCursor{Time: largeBase.Add(time.Duration(deep) * time.Second), ID: int64(deep)}
	b.Run("audit/page_10000", func(b *testing.B) {
		f := AuditFilter{Limit: benchPageSize + 1, Before: &deepCursor}
		for b.Loop() {
			if evs, err := db.ListAudit(ctx, f); err != nil || len(evs) != benchPageSize+1 || evs[0].ID != int64(deep-1) {
				b.Fatalf("%d events, %v", len(evs), err)
			}
		}
	})
	b.Run("audit/page_10000_newer", func(b *testing.B) {
		f := AuditFilter{Limit: benchPageSize + 1, After: &deepCursor}
		for b.Loop() {
			if evs, err := db.ListAudit(ctx, f); err != nil || len(evs) != benchPageSize+1 || evs[len(evs)-1].ID != int64(deep+1) {
				b.Fatalf("%d events, %v", len(evs), err)
			}
		}
	})

	lists := []struct {
		name string
		f    InvitationFilter
	}{
		{"mine", InvitationFilter{TenantID: "t1", InviterOID: "oid-7"}},
		{"mine_accepted", InvitationFilter{TenantID: "t1", InviterOID: "oid-7", State: "Accepted"}},
		{"everyone", InvitationFilter{TenantID: "t1"}},
		{"everyone_pending", InvitationFilter{TenantID: "t1", State: "PendingAcceptance"}},
		{"everyone_accepted", InvitationFilter{TenantID: "t1", State: "Accepted"}},
		// What "My invitations" asks since one record per partner: records not replaced (migration 0003).
		{"mine_current", InvitationFilter{TenantID: "t1", InviterOID: "oid-7", Current: true}},
		{"everyone_current", InvitationFilter{TenantID: "t1", Current: true}},
		{"everyone_pending_current", InvitationFilter{TenantID: "t1", State: "PendingAcceptance", Current: true}},
	}
	for _, tc := range lists {
		b.Run("invitations/"+tc.name, func(b *testing.B) {
			f := tc.f
			f.Limit = benchPageSize + 1
			for b.Loop() {
				if _, _, err := db.CountInvitationsCapped(ctx, f, largeCountCap); err != nil {
					b.Fatal(err)
				}
				if invs, err := db.ListInvitations(ctx, f); err != nil || len(invs) == 0 {
					b.Fatalf("%d invitations, %v", len(invs), err)
				}
			}
		})
	}
	// The background state sync's next batch: 20 pending invitations, least recently checked first
	// (migration 0004's partial index), with half of the pending ones checked already.
	b.Run("invitations/state_sync_batch", func(b *testing.B) {
		if _, err := db.sql.ExecContext(ctx, "UPDATE invitations SET state_checked_at = created_at WHERE id LIKE '%1' OR id LIKE '%3' OR id LIKE '%5' OR id LIKE '%7' OR id LIKE '%9'"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _, _ = db.sql.ExecContext(ctx, "UPDATE invitations SET state_checked_at = NULL") })
		for b.Loop() {
			invs, err := db.PendingStateSync(ctx, largeBase.Add(time.Duration(largeInvitations)*time.Second), 20)
			if err != nil || len(invs) != 20 || invs[0].StateCheckedAt != nil {
				b.Fatalf("%d invitations, %v", len(invs), err)
			}
		}
	})
	// The last page of everyone's invitations, by keyset: the cursor is the 26th oldest invitation.
	last := InvitationCursor{CreatedAt: largeBase.Add(26 * time.Second), ID: "inv26"}
	b.Run("invitations/everyone_last_page", func(b *testing.B) {
		f := InvitationFilter{TenantID: "t1", Limit: benchPageSize + 1, Before: &last}
		for b.Loop() {
			if _, _, err := db.CountInvitationsCapped(ctx, f, largeCountCap); err != nil {
				b.Fatal(err)
			}
			if invs, err := db.ListInvitations(ctx, f); err != nil || len(invs) != benchPageSize {
				b.Fatalf("%d invitations, %v", len(invs), err)
			}
		}
	})
	b.Run("invitations/everyone_exact_count", func(b *testing.B) {
		for b.Loop() {
			if n, err := db.CountInvitations(ctx, InvitationFilter{TenantID: "t1"}); err != nil || n != largeInvitations {
				b.Fatalf("%d, %v", n, err)
			}
		}
	})
}
