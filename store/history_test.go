package store

import (
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"portico/store/storetest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func TestPartnerHistorySQLite(t *testing.T) {
	runPartnerHistory(t, "sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "portico.db") })
}

func TestPartnerHistoryPostgres(t *testing.T) {
	storetest.FreshPostgres(t)
	runPartnerHistory(t, "postgres", func(t *testing.T) string { return storetest.FreshPostgres(t) })
}

func runPartnerHistory(t *testing.T, dialect string, newDSN func(t *testing.T) string) {
	t.Run("events, resend update, superseded links", func(t *testing.T) { testPartnerEvents(t, openTest(t, newDSN(t))) })
	t.Run("migration 0003 groups earlier resend chains", func(t *testing.T) { testLegacyResendChains(t, dialect, newDSN(t)) })
	t.Run("parallel resends leave one live link", func(t *testing.T) { testParallelResends(t, openTest(t, newDSN(t))) })
}

// Several instances may "Send again" the same record at once: each transaction updates the row
// first (a row lock on PostgreSQL, the write lock on SQLite), so each supersedes the link the one
// before it made and exactly one link stays live.
func testParallelResends(t *testing.T, db *DB) {
	ctx := t.Context()
	seedInvitations(t, db.Queries, Invitation{ID: "inv-par", TenantID: "t1", InviterOID: "oid-a", Email: "p@fabrikam.example", Outcome: OutcomeCreated, CreatedAt: base})
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- db.InTx(ctx, func(q *Queries) error {
				now := at(time.Duration(i) * time.Second)
				if err := q.UpdateInvitationSend(ctx, &Invitation{ID: "inv-par", Outcome: OutcomeCreated, GraphInvitationID: fmt.Sprint("g-", i), SentAt: now}); err != nil {
					return err
				}
				if _, err := q.SupersedeJoinLinks(ctx, "inv-par", now); err != nil {
					return err
				}
				if err := q.CreateJoinLink(ctx, &JoinLink{InvitationID: "inv-par", TokenHash: hashOf(fmt.Sprint("par-", i)), CreatedAt: now, ExpiresAt: at(time.Hour)}); err != nil {
					return err
				}
				return q.AppendInvitationEvent(ctx, &InvitationEvent{InvitationID: "inv-par", Time: now, Kind: EventResent})
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	links, err := db.JoinLinks(ctx, "inv-par")
	if err != nil || len(links) != n {
		t.Fatalf("JoinLinks = %d, %v; want %d", len(links), err, n)
	}
	live := 0
	for _, l := range links {
		if l.RevokedAt == nil {
			live++
		} else if l.RevokeReason != RevokeSuperseded {
			t.Errorf("link %s revoked as %q", l.ID, l.RevokeReason)
		}
	}
	if live != 1 {
		t.Errorf("%d live links after %d parallel resends; want 1", live, n)
	}
	if evs, err := db.InvitationEvents(ctx, "inv-par"); err != nil || len(evs) != n {
		t.Errorf("%d history events, %v; want %d", len(evs), err, n)
	}
}

func testPartnerEvents(t *testing.T, db *DB) {
	ctx := t.Context()
	inv := &Invitation{ID: "inv-p", TenantID: "t1", InviterOID: "oid-a", InviterName: "Ann", Email: "p@fabrikam.example",
		Outcome: OutcomeCreated, GraphInvitationID: "g-1", RedeemURLSealed: []byte("one"), CreatedAt: base}
	other := &Invitation{ID: "inv-o", TenantID: "t1", InviterOID: "oid-b", Email: "o@fabrikam.example", Outcome: OutcomeCreated, CreatedAt: at(time.Minute)}
	seedInvitations(t, db.Queries, *inv, *other)
	old := &JoinLink{ID: "l-old", InvitationID: inv.ID, TokenHash: hashOf("old"), CreatedAt: base, ExpiresAt: at(time.Hour)}
	if err := db.CreateJoinLink(ctx, old); err != nil {
		t.Fatal(err)
	}

	// A resend, as invite records it: the row first (locking it on PostgreSQL), then the links, then the event.
	err := db.InTx(ctx, func(q *Queries) error {
		upd := *inv
		upd.GraphInvitationID, upd.RedeemURLSealed, upd.SentAt, upd.Message = "g-2", []byte("two"), at(2*time.Minute), "again"
		if err := q.UpdateInvitationSend(ctx, &upd); err != nil {
			return err
		}
		n, err := q.SupersedeJoinLinks(ctx, inv.ID, at(2*time.Minute))
		if err != nil || n != 1 {
			t.Errorf("SupersedeJoinLinks = %d, %v; want 1", n, err)
		}
		if err := q.CreateJoinLink(ctx, &JoinLink{ID: "l-new", InvitationID: inv.ID, TokenHash: hashOf("new"), CreatedAt: at(2 * time.Minute), ExpiresAt: at(time.Hour)}); err != nil {
			return err
		}
		return q.AppendInvitationEvent(ctx, &InvitationEvent{InvitationID: inv.ID, Time: at(2 * time.Minute), Kind: EventResent, ActorOID: "oid-a", ActorName: "Ann", Outcome: OutcomeCreated, GraphRequestID: "req-2"})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetInvitation(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.GraphInvitationID != "g-2" || string(got.RedeemURLSealed) != "two" || !got.SentAt.Equal(utc(at(2*time.Minute))) ||
		!got.CreatedAt.Equal(utc(base)) || got.InviterOID != "oid-a" || got.Message != "again" {
		t.Errorf("after the resend: %+v", got)
	}
	if err := db.UpdateInvitationSend(ctx, &Invitation{ID: "missing", SentAt: base}); err != ErrNotFound {
		t.Errorf("UpdateInvitationSend(missing) = %v, want ErrNotFound", err)
	}
	links, err := db.JoinLinks(ctx, inv.ID)
	if err != nil || len(links) != 2 {
		t.Fatalf("JoinLinks = %d, %v", len(links), err)
	}
	if links[0].ID != "l-old" || links[0].RevokedAt == nil || links[0].RevokeReason != RevokeSuperseded {
		t.Errorf("old link %+v, want revoked as superseded", links[0])
	}
	if links[1].ID != "l-new" || links[1].RevokedAt != nil || links[1].RevokeReason != "" {
		t.Errorf("new link %+v, want active", links[1])
	}
	if l, err := db.JoinLinkByHash(ctx, hashOf("old")); err != nil || l.RevokeReason != RevokeSuperseded {
		t.Errorf("JoinLinkByHash(old) = %+v, %v", l, err)
	}

	if err := db.AppendInvitationEvent(ctx, &InvitationEvent{InvitationID: other.ID, Time: at(time.Minute), Kind: EventSent}); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendInvitationEvent(ctx, &InvitationEvent{InvitationID: inv.ID, Time: base, Kind: EventSent, Note: "first"}); err != nil {
		t.Fatal(err)
	}
	evs, err := db.InvitationEvents(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	if !reflect.DeepEqual(kinds, []string{EventSent, EventResent}) || evs[1].GraphRequestID != "req-2" || evs[1].ActorName != "Ann" || evs[0].Note != "first" {
		t.Errorf("events of %s: %+v", inv.ID, evs)
	}
	if evs, err := db.InvitationEvents(ctx, inv.ID, other.ID); err != nil || len(evs) != 3 {
		t.Errorf("events of two records: %d, %v; want 3", len(evs), err)
	}
	if evs, err := db.InvitationEvents(ctx); err != nil || len(evs) != 0 {
		t.Errorf("events of no record: %v, %v", evs, err)
	}
}

// A database written by an earlier build holds a record per "Send again", chained by resend_of.
// Migration 0003 keeps every row, hides the replaced ones from the lists, revokes their join links
// as superseded and gives every row its first history event.
func testLegacyResendChains(t *testing.T, dialect, dsn string) {
	ctx := t.Context()
	driverName, source := "sqlite", sqliteDSN(dsn)
	if dialect == DialectPostgres {
		driverName, source = "pgx", dsn
	}
	sdb, err := sql.Open(driverName, source)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	before := fstest.MapFS{}
	err = fs.WalkDir(migrationFiles, "migrations/"+dialect, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Compare(filepath.Base(p), "0003") >= 0 {
			return err
		}
		b, err := fs.ReadFile(migrationFiles, p)
		before[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, sdb, dialect, before, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	q := &Queries{ex: sdb, dialect: dialect}
	legacy := []struct{ id, inviter, outcome, resendOf string }{
		{"a1", "oid-a", OutcomeCreated, ""},   // replaced by a2
		{"a2", "oid-a", OutcomeCreated, "a1"}, // replaced by a4
		{"a3", "oid-a", OutcomeFailed, "a2"},  // a failed resend: folded into a2
		{"a4", "oid-a", OutcomeCreated, "a2"}, // current
		{"b1", "oid-b", OutcomeCreated, "a4"}, // another employee's own record: stays
	}
	for i, r := range legacy {
		insertOldInvitation(t, q, r.id, r.inviter, r.outcome, r.resendOf, at(time.Duration(i)*time.Minute))
	}
	for _, l := range []struct{ id, inv string }{{"l-a1", "a1"}, {"l-a4", "a4"}} {
		insertOldJoinLink(t, q, JoinLink{ID: l.id, InvitationID: l.inv, TokenHash: hashOf(l.id), CreatedAt: base, ExpiresAt: at(time.Hour)})
	}
	if err := migrate(ctx, sdb, dialect, migrationFiles, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{"a1": "a2", "a2": "a4", "a3": "a2", "a4": "", "b1": ""}
	for i, r := range legacy {
		got, err := q.GetInvitation(ctx, r.id)
		if err != nil {
			t.Fatal(err)
		}
		if got.ReplacedBy != want[r.id] || !got.SentAt.Equal(utc(at(time.Duration(i)*time.Minute))) {
			t.Errorf("%s: replaced by %q, sent %v; want %q, %v", r.id, got.ReplacedBy, got.SentAt, want[r.id], utc(at(time.Duration(i)*time.Minute)))
		}
	}
	list, err := q.ListInvitations(ctx, InvitationFilter{TenantID: "t1", Current: true})
	if err != nil || !reflect.DeepEqual(ids(list), []string{"b1", "a4"}) {
		t.Errorf("current records = %v, %v; want [b1 a4]", ids(list), err)
	}
	if n, err := q.CountInvitations(ctx, InvitationFilter{TenantID: "t1", InviterOID: "oid-a", Current: true}); err != nil || n != 1 {
		t.Errorf("count of oid-a's current records = %d, %v; want 1", n, err)
	}
	for id, reason := range map[string]string{"l-a1": RevokeSuperseded, "l-a4": ""} {
		l, err := q.JoinLinkByHash(ctx, hashOf(id))
		if err != nil || l.RevokeReason != reason || (l.RevokedAt != nil) != (reason != "") {
			t.Errorf("link %s: %+v, %v; want revoke reason %q", id, l, err, reason)
		}
	}
	evs, err := q.InvitationEvents(ctx, "a1", "a2", "a3", "a4", "b1")
	if err != nil || len(evs) != 5 {
		t.Fatalf("events after the migration: %d, %v; want 5", len(evs), err)
	}
	if evs[0].Kind != EventSent || evs[1].Kind != EventResent || evs[2].Outcome != OutcomeFailed || evs[0].ActorOID != "oid-a" {
		t.Errorf("backfilled events: %+v", evs)
	}
}

// insertOldInvitation writes an invitation row with the columns of migration 0001 only, as an
// earlier build did, for upgrade tests.
func insertOldInvitation(t *testing.T, q *Queries, id, inviter, outcome, resendOf string, created time.Time) {
	t.Helper()
	if _, err := q.exec(t.Context(), "INSERT INTO invitations (id, tenant_id, inviter_oid, inviter_name, email, outcome, resend_of, created_at) VALUES (?, 't1', ?, 'N', ?, ?, ?, ?)",
		id, inviter, id+"@fabrikam.example", outcome, resendOf, q.ts(created)); err != nil {
		t.Fatal(err)
	}
}

// insertOldJoinLink writes a join link row with the columns of migration 0001 only.
func insertOldJoinLink(t *testing.T, q *Queries, l JoinLink) {
	t.Helper()
	if _, err := q.exec(t.Context(), "INSERT INTO join_links (id, invitation_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		l.ID, l.InvitationID, l.TokenHash, q.ts(l.CreatedAt), q.ts(l.ExpiresAt)); err != nil {
		t.Fatal(err)
	}
}
