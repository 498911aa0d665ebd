package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// base is a non-UTC time with nanoseconds, so the suite also checks UTC and microsecond storage.
var base = time.Date(2026, 11, 23, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))

func at(d time.Duration) time.Time { return base.Add(d) }

func ptr[T any](v T) *T { return &v }

func hashOf(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// runConformance runs the one suite every store engine must pass.
func runConformance(t *testing.T, b backend) {
	tests := []struct {
		name string
		run  func(t *testing.T, db *DB)
	}{
		{"sessions", testSessions},
		{"invitation round trip", testInvitationRoundTrip},
		{"invitation list and count", testInvitationList},
		{"invitation state", testInvitationState},
		{"invitations by email", testInvitationsByEmail},
		{"invitation history", testInvitationHistory},
		{"join links", testJoinLinks},
		{"join link opens", testJoinOpens},
		{"audit filters", testAuditFilters},
		{"audit streaming", testAuditStreaming},
		{"audit append-only", testAuditAppendOnly},
		{"invalid text", testInvalidText},
		{"audit cleaning", testAuditCleaning},
		{"audit keyset paging", testAuditKeyset},
		{"invitation keyset paging and capped count", testInvitationKeysetAndCap},
		{"one active join link", testOneActiveJoinLink},
		{"tenant initial domain", testTenantInitialDomain},
		{"approval requests", testApprovals},
		{"guest reviews", testGuestReviews},
		{"approval claim race", testApprovalClaimRace},
		{"send intents", testSendIntents},
		{"send intent claims", testIntentClaims},
		{"sponsors and groups", testSponsorsAndGroups},
		{"notices", testNotices},
		{"lifecycle", testLifecycle},
		{"bulk jobs and rows", testBulkJobs},
		{"bulk row transitions under concurrency", testBulkRowRace},
		{"webhook outbox", testWebhookOutbox},
		{"transactions", testTransactions},
		{"failed migration", testFailedMigration},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, b.newDSN(t))
			assertMigrationsRecorded(t, db)
			tc.run(t, db)
		})
	}
	t.Run("upgrade keeps the newest join link", func(t *testing.T) {
		testMigrationKeepsNewestLink(t, b.newDSN(t))
	})
	t.Run("reopen", func(t *testing.T) {
		if !b.lasting {
			t.Skip("an in-memory database ends with its handle")
		}
		testReopen(t, b.newDSN(t))
	})
	t.Run("concurrent migrations", func(t *testing.T) {
		if !b.lasting {
			t.Skip("each in-memory database has a single handle")
		}
		testConcurrentMigrations(t, b.newDSN(t))
	})
}

func testSessions(t *testing.T, db *DB) {
	ctx := t.Context()
	if _, err := db.GetSession(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetSession(missing) = %v, want ErrNotFound", err)
	}
	if err := db.SaveSession(ctx, &Session{Data: []byte("x")}); err == nil {
		t.Error("SaveSession without an id succeeded")
	}

	s1 := &Session{ID: "s1", Data: []byte("first"), CreatedAt: base, UpdatedAt: base, ExpiresAt: at(time.Hour)}
	if err := db.SaveSession(ctx, s1); err != nil {
		t.Fatal(err)
	}
	want := Session{ID: "s1", Data: []byte("first"), CreatedAt: utc(base), UpdatedAt: utc(base), ExpiresAt: utc(at(time.Hour))}
	if got, err := db.GetSession(ctx, "s1"); err != nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("GetSession = %+v, %v; want %+v", got, err, want)
	}

	// Upsert: data, updated and expiry change; the creation time stays.
	if err := db.SaveSession(ctx, &Session{ID: "s1", Data: []byte("second"), CreatedAt: at(time.Minute), UpdatedAt: at(2 * time.Minute), ExpiresAt: at(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	want = Session{ID: "s1", Data: []byte("second"), CreatedAt: utc(base), UpdatedAt: utc(at(2 * time.Minute)), ExpiresAt: utc(at(3 * time.Hour))}
	if got, err := db.GetSession(ctx, "s1"); err != nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("after upsert GetSession = %+v, %v; want %+v", got, err, want)
	}

	for _, s := range []*Session{
		{ID: "gone", Data: []byte{1}, ExpiresAt: at(-time.Minute)},
		{ID: "edge", Data: []byte{2}, ExpiresAt: at(time.Hour)},
		{ID: "kept", Data: []byte{3}, ExpiresAt: at(2 * time.Hour)},
	} {
		if err := db.SaveSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.DeleteExpiredSessions(ctx, at(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 2 (expiry at or before now)", n, err)
	}
	for id, exists := range map[string]bool{"gone": false, "edge": false, "kept": true, "s1": true} {
		_, err := db.GetSession(ctx, id)
		if exists && err != nil || !exists && !errors.Is(err, ErrNotFound) {
			t.Errorf("after sweep GetSession(%s) = %v, want exists=%t", id, err, exists)
		}
	}

	if err := db.DeleteSession(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSession(ctx, "kept"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSession after delete = %v, want ErrNotFound", err)
	}
	if err := db.DeleteSession(ctx, "kept"); err != nil {
		t.Errorf("deleting a missing session = %v, want nil", err)
	}
}

func fullInvitation() *Invitation {
	return &Invitation{
		ID: "inv-full", TenantID: "t1", InviterOID: "oid-a", InviterUPN: "a@contoso.example", InviterName: "Ann",
		Email: "guest@fabrikam.example", DisplayName: "Guest, \"The\"", Message: "Welcome — ünïcødé ✓", CCAddress: "cc@contoso.example",
		Language: "de-DE", RedirectURL: "https://portal.example/welcome?x=1", UserType: "Member", SendEmail: true,
		Outcome: OutcomeCreated, GraphInvitationID: "g-inv", GraphUserID: "g-user", GraphStatus: "PendingAcceptance",
		GraphRequestID: "req-1", ErrorCode: "", ErrorMessage: "it's fine", RedeemURLSealed: []byte{0, 1, 2, 0xff},
		ExternalUserState: "PendingAcceptance", ExternalUserStateChangedAt: ptr(at(-time.Hour)), StateCheckedAt: ptr(at(time.Second)),
		ResendOf: "inv-0", CreatedAt: base,
	}
}

func testInvitationRoundTrip(t *testing.T, db *DB) {
	ctx := t.Context()
	in := fullInvitation()
	if err := db.CreateInvitation(ctx, in); err != nil {
		t.Fatal(err)
	}
	want := fullInvitation()
	want.CreatedAt, want.SentAt = utc(base), utc(base)
	want.ExternalUserStateChangedAt, want.StateCheckedAt = ptr(utc(at(-time.Hour))), ptr(utc(at(time.Second)))
	if !reflect.DeepEqual(in, want) {
		t.Errorf("CreateInvitation left the record as\n%+v\nwant the stored form\n%+v", in, want)
	}
	got, err := db.GetInvitation(ctx, "inv-full")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetInvitation =\n%+v\nwant\n%+v", got, want)
	}

	// Defaults: id and creation time; empty optional fields round-trip as empty.
	before := time.Now().Add(-time.Second)
	minimal := &Invitation{TenantID: "t1", InviterOID: "oid-a", Email: "x@fabrikam.example", Outcome: OutcomeDenied}
	if err := db.CreateInvitation(ctx, minimal); err != nil {
		t.Fatal(err)
	}
	if len(minimal.ID) != 26 || minimal.CreatedAt.Before(before) || minimal.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("defaults: id %q created %v", minimal.ID, minimal.CreatedAt)
	}
	got, err = db.GetInvitation(ctx, minimal.ID)
	if err != nil || !reflect.DeepEqual(got, minimal) {
		t.Errorf("GetInvitation(minimal) = %+v, %v; want %+v", got, err, minimal)
	}

	if err := db.CreateInvitation(ctx, fullInvitation()); err == nil {
		t.Error("a second invitation with the same id was accepted")
	}
	if _, err := db.GetInvitation(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetInvitation(missing) = %v, want ErrNotFound", err)
	}
}

// seedInvitations creates invitations from a compact table and returns them by id.
func seedInvitations(t *testing.T, q *Queries, invs ...Invitation) {
	t.Helper()
	for i := range invs {
		if err := q.CreateInvitation(t.Context(), &invs[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(invs []Invitation) []string {
	out := []string{}
	for _, inv := range invs {
		out = append(out, inv.ID)
	}
	return out
}

func testInvitationList(t *testing.T, db *DB) {
	ctx := t.Context()
	const pending, accepted = "PendingAcceptance", "Accepted"
	seedInvitations(t, db.Queries,
		Invitation{ID: "a1", TenantID: "t1", InviterOID: "A", Email: "p@x.example", Outcome: OutcomeCreated, ExternalUserState: pending, CreatedAt: at(1 * time.Minute)},
		Invitation{ID: "a2", TenantID: "t1", InviterOID: "A", Email: "q@x.example", Outcome: OutcomeCreated, ExternalUserState: accepted, CreatedAt: at(2 * time.Minute)},
		Invitation{ID: "a3", TenantID: "t1", InviterOID: "A", Email: "r@x.example", Outcome: OutcomeFailed, CreatedAt: at(3 * time.Minute)},
		Invitation{ID: "b1", TenantID: "t1", InviterOID: "B", Email: "p@x.example", Outcome: OutcomeCreated, ExternalUserState: pending, CreatedAt: at(4 * time.Minute)},
		// One microsecond later than b1: ordering must hold at the stored precision.
		Invitation{ID: "b2", TenantID: "t1", InviterOID: "B", Email: "s@x.example", Outcome: OutcomeCreated, ExternalUserState: accepted, CreatedAt: at(4*time.Minute + time.Microsecond)},
		Invitation{ID: "u1", TenantID: "t2", InviterOID: "A", Email: "p@x.example", Outcome: OutcomeCreated, ExternalUserState: pending, CreatedAt: at(5 * time.Minute)},
	)
	tests := []struct {
		name string
		f    InvitationFilter
		want []string
	}{
		{"mine", InvitationFilter{TenantID: "t1", InviterOID: "A"}, []string{"a3", "a2", "a1"}},
		{"everyone", InvitationFilter{TenantID: "t1"}, []string{"b2", "b1", "a3", "a2", "a1"}},
		{"mine pending", InvitationFilter{TenantID: "t1", InviterOID: "A", State: pending}, []string{"a1"}},
		{"everyone accepted", InvitationFilter{TenantID: "t1", State: accepted}, []string{"b2", "a2"}},
		{"outcome", InvitationFilter{TenantID: "t1", Outcome: OutcomeFailed}, []string{"a3"}},
		{"email", InvitationFilter{TenantID: "t1", Email: "p@x.example"}, []string{"b1", "a1"}},
		{"other tenant", InvitationFilter{TenantID: "t2"}, []string{"u1"}},
		{"no match", InvitationFilter{TenantID: "t1", InviterOID: "C"}, []string{}},
		{"page 1", InvitationFilter{TenantID: "t1", Limit: 2}, []string{"b2", "b1"}},
		{"page 2", InvitationFilter{TenantID: "t1", Limit: 2, Offset: 2}, []string{"a3", "a2"}},
		{"page 3", InvitationFilter{TenantID: "t1", Limit: 2, Offset: 4}, []string{"a1"}},
		{"past the end", InvitationFilter{TenantID: "t1", Limit: 2, Offset: 10}, []string{}},
		{"offset without limit", InvitationFilter{TenantID: "t1", Offset: 3}, []string{"a2", "a1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.ListInvitations(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("ListInvitations = %v, want %v", ids(got), tc.want)
			}
			unpaged := tc.f
			unpaged.Limit, unpaged.Offset = 0, 0
			all, err := db.ListInvitations(ctx, unpaged)
			if err != nil {
				t.Fatal(err)
			}
			n, err := db.CountInvitations(ctx, tc.f)
			if err != nil || n != len(all) {
				t.Errorf("CountInvitations = %d, %v; want %d (paging ignored)", n, err, len(all))
			}
		})
	}
}

func testInvitationState(t *testing.T, db *DB) {
	ctx := t.Context()
	seedInvitations(t, db.Queries, Invitation{ID: "i1", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated, ExternalUserState: "PendingAcceptance", CreatedAt: base})
	tests := []struct {
		name    string
		state   string
		changed *time.Time
		checked time.Time
	}{
		{"accepted", "Accepted", ptr(at(time.Hour)), at(2 * time.Hour)},
		{"no change time", "PendingAcceptance", nil, at(3 * time.Hour)},
	}
	for _, tc := range tests {
		if err := db.UpdateInvitationState(ctx, "i1", tc.state, tc.changed, tc.checked); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := db.GetInvitation(ctx, "i1")
		if err != nil {
			t.Fatal(err)
		}
		if got.ExternalUserState != tc.state || !reflect.DeepEqual(got.ExternalUserStateChangedAt, utcPtr(tc.changed)) ||
			got.StateCheckedAt == nil || !got.StateCheckedAt.Equal(utc(tc.checked)) {
			t.Errorf("%s: state %q changed %v checked %v", tc.name, got.ExternalUserState, got.ExternalUserStateChangedAt, got.StateCheckedAt)
		}
		if got.Outcome != OutcomeCreated || got.Email != "g@x.example" {
			t.Errorf("%s: other fields changed: %+v", tc.name, got)
		}
	}
	if err := db.UpdateInvitationState(ctx, "missing", "Accepted", nil, base); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateInvitationState(missing) = %v, want ErrNotFound", err)
	}
}

func testInvitationsByEmail(t *testing.T, db *DB) {
	ctx := t.Context()
	seedInvitations(t, db.Queries,
		Invitation{ID: "e1", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated, CreatedAt: at(0)},
		Invitation{ID: "e2", TenantID: "t1", InviterOID: "B", Email: "g@x.example", Outcome: OutcomeFailed, CreatedAt: at(time.Hour)},
		Invitation{ID: "e3", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated, CreatedAt: at(2 * time.Hour)},
		Invitation{ID: "other-email", TenantID: "t1", InviterOID: "A", Email: "h@x.example", Outcome: OutcomeCreated, CreatedAt: at(2 * time.Hour)},
		Invitation{ID: "other-tenant", TenantID: "t2", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated, CreatedAt: at(2 * time.Hour)},
	)
	tests := []struct {
		name  string
		since time.Time
		want  []string
	}{
		{"all", time.Time{}, []string{"e3", "e2", "e1"}},
		{"since is inclusive", at(time.Hour), []string{"e3", "e2"}},
		{"none", at(3 * time.Hour), []string{}},
	}
	for _, tc := range tests {
		got, err := db.LatestInvitationsByEmail(ctx, "t1", "g@x.example", tc.since)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("%s: LatestInvitationsByEmail = %v, want %v", tc.name, ids(got), tc.want)
		}
	}
}

func testInvitationHistory(t *testing.T, db *DB) {
	ctx := t.Context()
	seedInvitations(t, db.Queries,
		Invitation{ID: "first", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated, GraphUserID: "u1", CreatedAt: at(0)},
		Invitation{ID: "failed", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeThrottled, CreatedAt: at(time.Minute)},
		Invitation{ID: "resend", TenantID: "t1", InviterOID: "B", Email: "g@x.example", Outcome: OutcomeCreated, GraphUserID: "u1", ResendOf: "first", CreatedAt: at(2 * time.Minute)},
		// The same guest reached through another address Graph resolved to the same user.
		Invitation{ID: "alias", TenantID: "t1", InviterOID: "A", Email: "g.alias@x.example", Outcome: OutcomeCreated, GraphUserID: "u1", CreatedAt: at(3 * time.Minute)},
		Invitation{ID: "stranger", TenantID: "t1", InviterOID: "A", Email: "s@x.example", Outcome: OutcomeCreated, GraphUserID: "u2", CreatedAt: at(4 * time.Minute)},
		Invitation{ID: "other-tenant", TenantID: "t2", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated, GraphUserID: "u1", CreatedAt: at(5 * time.Minute)},
	)
	tests := []struct {
		id   string
		want []string
	}{
		{"first", []string{"first", "failed", "resend", "alias"}},
		{"resend", []string{"first", "failed", "resend", "alias"}},
		{"failed", []string{"first", "failed", "resend"}}, // no Graph user known: by address only
		{"stranger", []string{"stranger"}},
		{"other-tenant", []string{"other-tenant"}},
	}
	for _, tc := range tests {
		got, err := db.InvitationHistory(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("InvitationHistory(%s) = %v, want %v", tc.id, ids(got), tc.want)
		}
	}
	if _, err := db.InvitationHistory(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("InvitationHistory(missing) = %v, want ErrNotFound", err)
	}
}

func testJoinLinks(t *testing.T, db *DB) {
	ctx := t.Context()
	seedInvitations(t, db.Queries,
		Invitation{ID: "i1", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated, CreatedAt: base},
		Invitation{ID: "i2", TenantID: "t1", InviterOID: "A", Email: "h@x.example", Outcome: OutcomeCreated, CreatedAt: base},
	)
	l1 := &JoinLink{ID: "l1", InvitationID: "i1", TokenHash: hashOf("t1"), TokenSealed: []byte("sealed-1"), CreatedAt: at(time.Minute), ExpiresAt: at(24 * time.Hour)}
	l2 := &JoinLink{InvitationID: "i1", TokenHash: hashOf("t2"), TokenSealed: []byte("sealed-2"), CreatedAt: at(2 * time.Minute), ExpiresAt: at(48 * time.Hour)}
	for _, l := range []*JoinLink{l1, l2} {
		// At most one link per invitation is active: a new one replaces the old in one transaction.
		if err := db.InTx(ctx, func(q *Queries) error {
			if err := q.RevokeJoinLinks(ctx, l.InvitationID, l.CreatedAt); err != nil {
				return err
			}
			return q.CreateJoinLink(ctx, l)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(l2.ID) != 26 {
		t.Errorf("CreateJoinLink gave id %q, want a NewID", l2.ID)
	}
	want1 := JoinLink{ID: "l1", InvitationID: "i1", TokenHash: hashOf("t1"), TokenSealed: []byte("sealed-1"), CreatedAt: utc(at(time.Minute)), ExpiresAt: utc(at(24 * time.Hour)),
		RevokedAt: ptr(utc(at(2 * time.Minute)))}
	if got, err := db.JoinLinkByHash(ctx, hashOf("t1")); err != nil || !reflect.DeepEqual(*got, want1) {
		t.Errorf("JoinLinkByHash = %+v, %v; want %+v", got, err, want1)
	}
	if _, err := db.JoinLinkByHash(ctx, hashOf("unknown")); !errors.Is(err, ErrNotFound) {
		t.Errorf("JoinLinkByHash(unknown) = %v, want ErrNotFound", err)
	}
	if got, err := db.ActiveJoinLink(ctx, "i1"); err != nil || got.ID != l2.ID {
		t.Errorf("ActiveJoinLink = %+v, %v; want the newest, %s", got, err, l2.ID)
	}
	if _, err := db.ActiveJoinLink(ctx, "i2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ActiveJoinLink(no links) = %v, want ErrNotFound", err)
	}

	refused := []struct {
		name string
		l    JoinLink
	}{
		{"duplicate hash", JoinLink{InvitationID: "i2", TokenHash: hashOf("t1"), ExpiresAt: base}},
		{"unknown invitation", JoinLink{InvitationID: "missing", TokenHash: hashOf("t3"), ExpiresAt: base}},
		{"not a SHA-256 hash", JoinLink{InvitationID: "i2", TokenHash: []byte("plain-token"), ExpiresAt: base}},
	}
	for _, tc := range refused {
		if err := db.CreateJoinLink(ctx, &tc.l); err == nil {
			t.Errorf("CreateJoinLink(%s) succeeded", tc.name)
		}
	}

	if err := db.RevokeJoinLinks(ctx, "i1", at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ActiveJoinLink(ctx, "i1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ActiveJoinLink after revoke = %v, want ErrNotFound", err)
	}
	// A second revoke keeps the first revocation time.
	if err := db.RevokeJoinLinks(ctx, "i1", at(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for token, revoked := range map[string]time.Time{"t1": at(2 * time.Minute), "t2": at(time.Hour)} {
		got, err := db.JoinLinkByHash(ctx, hashOf(token))
		if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(utc(revoked)) {
			t.Errorf("link %s after revoke: %+v, %v", token, got, err)
		}
	}
	l3 := &JoinLink{InvitationID: "i1", TokenHash: hashOf("t3"), CreatedAt: at(3 * time.Hour), ExpiresAt: at(72 * time.Hour)}
	if err := db.CreateJoinLink(ctx, l3); err != nil {
		t.Fatal(err)
	}
	if got, err := db.ActiveJoinLink(ctx, "i1"); err != nil || got.ID != l3.ID {
		t.Errorf("ActiveJoinLink after a new link = %+v, %v; want %s", got, err, l3.ID)
	}
	if got, err := db.JoinLinkByHash(ctx, hashOf("t3")); err != nil || got.TokenSealed != nil {
		t.Errorf("link without sealed token = %+v, %v; want nil TokenSealed", got, err)
	}
}

func testJoinOpens(t *testing.T, db *DB) {
	ctx := t.Context()
	seedInvitations(t, db.Queries, Invitation{ID: "i1", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated, CreatedAt: base},
		Invitation{ID: "i2", TenantID: "t1", InviterOID: "A", Email: "h@x.example", Outcome: OutcomeCreated, CreatedAt: base})
	l := &JoinLink{ID: "l1", InvitationID: "i1", TokenHash: hashOf("a"), ExpiresAt: at(time.Hour)}
	busy := &JoinLink{ID: "l2", InvitationID: "i2", TokenHash: hashOf("b"), ExpiresAt: at(time.Hour)}
	for _, x := range []*JoinLink{l, busy} {
		if err := db.CreateJoinLink(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		at          time.Time
		first, last time.Time
		count       int
	}{
		{at(time.Minute), at(time.Minute), at(time.Minute), 1},
		{at(5 * time.Minute), at(time.Minute), at(5 * time.Minute), 2},
		{at(9 * time.Minute), at(time.Minute), at(9 * time.Minute), 3},
	}
	for i, s := range steps {
		if err := db.RecordJoinOpen(ctx, "l1", s.at); err != nil {
			t.Fatal(err)
		}
		got, err := db.JoinLinkByHash(ctx, hashOf("a"))
		if err != nil {
			t.Fatal(err)
		}
		if got.OpenCount != s.count || got.FirstOpenedAt == nil || !got.FirstOpenedAt.Equal(utc(s.first)) ||
			got.LastOpenedAt == nil || !got.LastOpenedAt.Equal(utc(s.last)) {
			t.Errorf("after open %d: count %d first %v last %v", i+1, got.OpenCount, got.FirstOpenedAt, got.LastOpenedAt)
		}
	}
	if err := db.RecordJoinOpen(ctx, "missing", base); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordJoinOpen(missing) = %v, want ErrNotFound", err)
	}

	const openers = 20
	var wg sync.WaitGroup
	errs := make(chan error, openers)
	for i := range openers {
		wg.Go(func() { errs <- db.RecordJoinOpen(ctx, "l2", at(time.Duration(i)*time.Second)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent RecordJoinOpen: %v", err)
		}
	}
	got, err := db.JoinLinkByHash(ctx, hashOf("b"))
	if err != nil {
		t.Fatal(err)
	}
	if got.OpenCount != openers || got.FirstOpenedAt == nil || got.LastOpenedAt == nil {
		t.Errorf("after %d concurrent opens: count %d first %v last %v", openers, got.OpenCount, got.FirstOpenedAt, got.LastOpenedAt)
	}
}

func seedAudit(t *testing.T, q *Queries) []AuditEvent {
	t.Helper()
	evs := []AuditEvent{
		{Time: at(1 * time.Minute), ActorTID: "t1", ActorOID: "oid-a", ActorUPN: "Ann@Contoso.example", Action: "signin", Outcome: "ok", ClientIP: "192.0.2.1", RequestID: "r1"},
		{Time: at(2 * time.Minute), ActorTID: "t1", ActorOID: "oid-a", ActorUPN: "ann@contoso.example", Action: "invitation.create", Target: "g@x.example", Outcome: OutcomeCreated, Detail: `{"a":1}`, GraphRequestID: "g1"},
		{Time: at(3 * time.Minute), ActorTID: "t1", ActorOID: "oid-b", ActorUPN: "bob@contoso.example", Action: "invitation.create", Target: "h@x.example", Outcome: OutcomeDenied},
		{Time: at(4 * time.Minute), ActorTID: "t1", ActorOID: "oid-b", ActorUPN: "bob@contoso.example", Action: "invitation.reveal", Target: "G@x.example", Outcome: "ok"},
		{Time: at(5 * time.Minute), Action: "join.open", Target: "g@x.example", Outcome: "ok", ClientIP: "198.51.100.7"},
	}
	for i := range evs {
		if err := q.AppendAudit(t.Context(), &evs[i]); err != nil {
			t.Fatal(err)
		}
		if i > 0 && evs[i].ID <= evs[i-1].ID {
			t.Fatalf("audit ids not increasing: %d after %d", evs[i].ID, evs[i-1].ID)
		}
	}
	return evs
}

func testAuditFilters(t *testing.T, db *DB) {
	ctx := t.Context()
	evs := seedAudit(t, db.Queries)
	// Newest first, by index into evs.
	tests := []struct {
		name string
		f    AuditFilter
		want []int
	}{
		{"all", AuditFilter{}, []int{4, 3, 2, 1, 0}},
		{"actor by UPN, any case", AuditFilter{Actor: "ANN@contoso.example"}, []int{1, 0}},
		{"actor by object id", AuditFilter{Actor: "oid-b"}, []int{3, 2}},
		{"target, any case", AuditFilter{Target: "g@x.example"}, []int{4, 3, 1}},
		{"action", AuditFilter{Action: "invitation.create"}, []int{2, 1}},
		{"outcome", AuditFilter{Outcome: "ok"}, []int{4, 3, 0}},
		{"since is inclusive", AuditFilter{Since: ptr(at(3 * time.Minute))}, []int{4, 3, 2}},
		{"until is inclusive", AuditFilter{Until: ptr(at(2 * time.Minute))}, []int{1, 0}},
		{"window", AuditFilter{Since: ptr(at(2 * time.Minute)), Until: ptr(at(4*time.Minute - time.Microsecond))}, []int{2, 1}},
		{"bounds compare at microsecond precision", AuditFilter{Since: ptr(at(3*time.Minute + 100*time.Nanosecond)), Until: ptr(at(3*time.Minute - 700*time.Nanosecond))}, []int{2}},
		{"combined", AuditFilter{Actor: "oid-b", Action: "invitation.reveal", Target: "g@x.example"}, []int{3}},
		{"no match", AuditFilter{Actor: "nobody@contoso.example"}, nil},
		{"limit", AuditFilter{Limit: 2}, []int{4, 3}},
		{"limit and offset", AuditFilter{Limit: 2, Offset: 2}, []int{2, 1}},
		{"offset only", AuditFilter{Offset: 3}, []int{1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.ListAudit(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var want []AuditEvent
			for _, i := range tc.want {
				want = append(want, evs[i])
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ListAudit =\n%+v\nwant\n%+v", got, want)
			}
		})
	}

	ev := &AuditEvent{Action: "signout"}
	before := time.Now().Add(-time.Second)
	if err := db.AppendAudit(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID == 0 || ev.Time.Before(before) || ev.Time.Location() != time.UTC {
		t.Errorf("AppendAudit with zero time: id %d time %v", ev.ID, ev.Time)
	}
}

func testAuditStreaming(t *testing.T, db *DB) {
	ctx := t.Context()
	const n = 300
	for i := range n {
		if err := db.AppendAudit(ctx, &AuditEvent{Time: at(time.Duration(i) * time.Second), Action: "a", Target: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := db.EachAudit(ctx, AuditFilter{Action: "a"}, func(ev *AuditEvent) error {
		got = append(got, ev.Target)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != n || got[0] != fmt.Sprint(n-1) || got[n-1] != "0" {
		t.Errorf("EachAudit streamed %d events, first %v; want %d newest first", len(got), got[:min(3, len(got))], n)
	}

	stop := errors.New("enough")
	calls := 0
	err := db.EachAudit(ctx, AuditFilter{}, func(*AuditEvent) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Errorf("EachAudit with a failing callback = %v after %d calls, want %v after 2", err, calls, stop)
	}
	// The stream's connection went back to the pool: the database still answers.
	if evs, err := db.ListAudit(ctx, AuditFilter{Limit: 1}); err != nil || len(evs) != 1 {
		t.Errorf("ListAudit after a stopped stream = %d events, %v", len(evs), err)
	}
}

func testAuditAppendOnly(t *testing.T, db *DB) {
	ctx := t.Context()
	evs := seedAudit(t, db.Queries)
	statements := []string{
		"UPDATE audit_events SET outcome = 'forged'",
		"UPDATE audit_events SET detail = '' WHERE id = " + fmt.Sprint(evs[1].ID),
		"DELETE FROM audit_events",
		"DELETE FROM audit_events WHERE id = " + fmt.Sprint(evs[0].ID),
	}
	if db.Dialect() == DialectPostgres {
		statements = append(statements, "TRUNCATE audit_events")
	}
	for _, s := range statements {
		_, err := db.sql.ExecContext(ctx, s)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the database to refuse it as append-only", s, err)
		}
	}
	got, err := db.ListAudit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(got)
	if !reflect.DeepEqual(got, evs) {
		t.Errorf("audit trail changed:\n%+v\nwant\n%+v", got, evs)
	}
}

func testTransactions(t *testing.T, db *DB) {
	ctx := t.Context()
	boom := errors.New("boom")
	err := db.InTx(ctx, func(q *Queries) error {
		if err := q.CreateInvitation(ctx, &Invitation{ID: "rolled-back", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated}); err != nil {
			return err
		}
		if err := q.AppendAudit(ctx, &AuditEvent{Action: "invitation.create", Target: "g@x.example"}); err != nil {
			return err
		}
		if _, err := q.GetInvitation(ctx, "rolled-back"); err != nil {
			return fmt.Errorf("the transaction does not see its own write: %w", err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want fn's error", err)
	}
	if _, err := db.GetInvitation(ctx, "rolled-back"); !errors.Is(err, ErrNotFound) {
		t.Errorf("invitation after rollback: %v, want ErrNotFound", err)
	}
	if evs, err := db.ListAudit(ctx, AuditFilter{}); err != nil || len(evs) != 0 {
		t.Errorf("audit after rollback: %d events, %v; want none", len(evs), err)
	}

	func() {
		defer func() {
			if p := recover(); p != "panic in fn" {
				t.Errorf("recovered %v, want InTx to re-panic", p)
			}
		}()
		_ = db.InTx(ctx, func(q *Queries) error {
			if err := q.CreateInvitation(ctx, &Invitation{ID: "panicked", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated}); err != nil {
				return err
			}
			panic("panic in fn")
		})
	}()
	if _, err := db.GetInvitation(ctx, "panicked"); !errors.Is(err, ErrNotFound) {
		t.Errorf("invitation after panic: %v, want ErrNotFound", err)
	}

	err = db.InTx(ctx, func(q *Queries) error {
		if err := q.CreateInvitation(ctx, &Invitation{ID: "committed", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated}); err != nil {
			return err
		}
		if err := q.CreateJoinLink(ctx, &JoinLink{InvitationID: "committed", TokenHash: hashOf("c"), ExpiresAt: at(time.Hour)}); err != nil {
			return err
		}
		return q.AppendAudit(ctx, &AuditEvent{Action: "invitation.create", Target: "g@x.example"})
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if _, err := db.GetInvitation(ctx, "committed"); err != nil {
		t.Errorf("invitation after commit: %v", err)
	}
	if _, err := db.ActiveJoinLink(ctx, "committed"); err != nil {
		t.Errorf("join link after commit: %v", err)
	}
	if evs, err := db.ListAudit(ctx, AuditFilter{}); err != nil || len(evs) != 1 {
		t.Errorf("audit after commit: %d events, %v; want 1", len(evs), err)
	}

	// A failing statement inside fn rolls back the writes before it too.
	err = db.InTx(ctx, func(q *Queries) error {
		if err := q.AppendAudit(ctx, &AuditEvent{Action: "before.failure"}); err != nil {
			return err
		}
		return q.CreateInvitation(ctx, &Invitation{ID: "committed", TenantID: "t1", InviterOID: "A", Email: "dup@x.example", Outcome: OutcomeCreated})
	})
	if err == nil {
		t.Fatal("InTx with a duplicate id succeeded")
	}
	if evs, err := db.ListAudit(ctx, AuditFilter{Action: "before.failure"}); err != nil || len(evs) != 0 {
		t.Errorf("audit after a failed statement: %d events, %v; want none", len(evs), err)
	}
}

// testFailedMigration checks that a migration that fails halfway leaves no trace while the ones before it stay.
func testFailedMigration(t *testing.T, db *DB) {
	ctx := t.Context()
	dir := "migrations/" + db.Dialect() + "/"
	fsys := fstest.MapFS{
		dir + "9001_ok.sql":   {Data: []byte("CREATE TABLE t_ok (id INTEGER);")},
		dir + "9002_bad.sql":  {Data: []byte("CREATE TABLE t_bad (id INTEGER);\nINSERT INTO no_such_table VALUES (1);")},
		dir + "9003_next.sql": {Data: []byte("CREATE TABLE t_next (id INTEGER);")},
	}
	err := migrate(ctx, db.sql, db.Dialect(), fsys, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "9002_bad.sql") || !strings.HasPrefix(err.Error(), "store: ") {
		t.Fatalf("migrate = %v, want a store: error naming 9002_bad.sql", err)
	}
	for table, exists := range map[string]bool{"t_ok": true, "t_bad": false, "t_next": false} {
		_, err := db.sql.ExecContext(ctx, "SELECT COUNT(*) FROM "+table)
		if (err == nil) != exists {
			t.Errorf("table %s: query error %v, want exists=%t", table, err, exists)
		}
	}
	var versions []int
	rows, err := db.sql.QueryContext(ctx, "SELECT version FROM schema_migrations WHERE version > 9000 ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if !slices.Equal(versions, []int{9001}) {
		t.Errorf("recorded versions %v, want [9001]", versions)
	}
}

func testReopen(t *testing.T, dsn string) {
	ctx := t.Context()
	first := &logBuffer{}
	db, err := Open(ctx, dsn, first.logger())
	if err != nil {
		t.Fatal(err)
	}
	want := migrationCount(t, db.Dialect())
	if n := first.count("store: migration applied"); n != want {
		t.Errorf("first Open applied %d migrations, want %d", n, want)
	}
	if err := db.CreateInvitation(ctx, &Invitation{ID: "kept", TenantID: "t1", InviterOID: "A", Email: "g@x.example", Outcome: OutcomeCreated}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for i := range 2 {
		again := &logBuffer{}
		db, err = Open(ctx, dsn, again.logger())
		if err != nil {
			t.Fatalf("reopen %d: %v", i+1, err)
		}
		if n := again.count("store: migration applied"); n != 0 {
			t.Errorf("reopen %d applied %d migrations, want none", i+1, n)
		}
		assertMigrationsRecorded(t, db)
		if _, err := db.GetInvitation(ctx, "kept"); err != nil {
			t.Errorf("reopen %d: data written before is gone: %v", i+1, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// testConcurrentMigrations starts several instances at once on one empty database: each migration
// must be applied exactly once and no instance may fail (on PostgreSQL this needs the advisory lock).
func testConcurrentMigrations(t *testing.T, dsn string) {
	const instances = 4
	logs := make([]*logBuffer, instances)
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range instances {
		logs[i] = &logBuffer{}
		wg.Go(func() {
			db, err := Open(t.Context(), dsn, logs[i].logger())
			if err == nil {
				err = db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	applied := 0
	for i := range instances {
		if errs[i] != nil {
			t.Errorf("instance %d: Open: %v", i, errs[i])
		}
		applied += logs[i].count("store: migration applied")
	}
	db := openTest(t, dsn)
	if want := migrationCount(t, db.Dialect()); applied != want {
		t.Errorf("migrations applied across instances = %d, want %d (each exactly once)", applied, want)
	}
	assertMigrationsRecorded(t, db)
}
