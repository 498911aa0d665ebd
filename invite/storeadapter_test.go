package invite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"portico/store/storetest"
	"strings"
	"testing"
	"time"

	"portico/graph"
	"portico/keyring"
	"portico/store"
)

// openSQLite opens a fresh in-memory SQLite store, closed when the test ends.
func openSQLite(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// onEachEngine runs fn on a fresh real store of each engine: a SQLite file, and PostgreSQL (under
// its default READ COMMITTED) when PORTICO_TEST_POSTGRES_URL is set (storetest skips otherwise).
func onEachEngine(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	engines := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "portico.db") },
		"postgres": func(t *testing.T) string { return storetest.FreshPostgres(t) },
	}
	for name, dsn := range engines {
		t.Run(name, func(t *testing.T) {
			db, err := store.Open(context.Background(), dsn(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			fn(t, db)
		})
	}
}

// TestWithSQLiteStore runs the main flows against the real store on an in-memory SQLite database.
func TestWithSQLiteStore(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	keys, _ := keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
	fg := &fakeGraph{}
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	logs := &syncBuffer{}
	svc := NewService(Config{
		Graph:     fg,
		Store:     NewStoreAdapter(db),
		Keys:      keys,
		Policy:    Policy{DefaultRedirectURL: "https://portico.example/welcome"},
		PublicURL: "https://portico.example",
		JoinTTL:   testJoinTTL,
		Clock:     clock.Now,
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})

	req := validReq()
	req.SendEmail = false
	res, err := svc.Send(ctx, nil, employee, req, meta)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !strings.Contains(res.RedeemURL, sentinelTicket) || res.JoinToken == "" {
		t.Fatalf("result %+v", res)
	}
	id := res.Invitation.ID
	got, err := svc.Get(ctx, employee, id)
	if err != nil || got.GraphUserID != "user-taylor@fabrikam.example" || got.Email != "taylor@fabrikam.example" {
		t.Fatalf("Get %+v, %v", got, err)
	}
	if _, err := svc.Get(ctx, other, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stranger Get err %v", err)
	}
	if u, err := svc.RevealRedeemURL(ctx, admin, id, meta); err != nil || u != res.RedeemURL {
		t.Fatalf("reveal %q, %v", u, err)
	}
	if u, l, err := svc.JoinURL(ctx, employee, id); err != nil || u != res.JoinURL || l.ID != res.JoinLink.ID {
		t.Fatalf("JoinURL %q, %v", u, err)
	}

	clock.Add(time.Minute)
	if v, err := svc.OpenJoin(ctx, res.JoinToken, meta); err != nil || v.InviterName != employee.Name {
		t.Fatalf("OpenJoin %+v, %v", v, err)
	}
	if u, err := svc.AcceptJoin(ctx, res.JoinToken, meta); err != nil || u != res.RedeemURL {
		t.Fatalf("AcceptJoin %q, %v", u, err)
	}
	_, l, _ := svc.JoinURL(ctx, employee, id)
	if l.OpenCount != 1 || l.FirstOpenedAt == nil {
		t.Fatalf("link %+v", l)
	}

	clock.Add(time.Minute)
	newURL, _, err := svc.NewJoinLink(ctx, employee, id, meta)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := svc.OpenJoin(ctx, res.JoinToken, meta); err != nil || v.State != JoinSuperseded {
		t.Fatalf("old token: %+v, %v; want superseded", v, err)
	}
	newToken := strings.TrimPrefix(newURL, "https://portico.example/join/")
	if _, err := svc.OpenJoin(ctx, newToken, meta); err != nil {
		t.Fatalf("new token: %v", err)
	}
	if err := svc.RevokeJoinLink(ctx, employee, id, meta); err != nil {
		t.Fatal(err)
	}
	var closed *JoinClosedError
	if u, err := svc.AcceptJoin(ctx, newToken, meta); !errors.As(err, &closed) || closed.View.State != JoinRevoked || u != "" {
		t.Fatalf("revoked token: %q, %v", u, err)
	}

	// The directory now knows the pending guest; a resend updates the same record.
	fg.byAddr = func(string) ([]graph.User, error) {
		return []graph.User{{ID: "user-taylor@fabrikam.example", UserType: "Guest", ExternalUserState: "PendingAcceptance"}}, nil
	}
	clock.Add(time.Minute)
	second, err := svc.Resend(ctx, nil, employee, id, meta)
	if err != nil {
		t.Fatalf("Resend: %v", err)
	}
	hist, err := svc.History(ctx, employee, second.Invitation.ID)
	if second.Invitation.ID != id {
		t.Fatalf("resend made record %s; want %s updated", second.Invitation.ID, id)
	}
	var kinds []HistoryKind
	for _, e := range hist {
		kinds = append(kinds, e.Kind)
	}
	wantKinds := []HistoryKind{HistorySent, HistoryRevealed, HistoryAcceptStarted, HistoryOpened, HistoryLinkCreated, HistoryLinkRevoked, HistoryOpened, HistoryResent}
	if err != nil || fmt.Sprint(kinds) != fmt.Sprint(wantKinds) {
		t.Fatalf("history %v, %v; want %v", kinds, err, wantKinds)
	}

	// The partner accepts; a refresh records it and the Accepted filter shows the one record.
	accepted := clock.Now().Add(-time.Second)
	fg.getUser = func(_ context.Context, uid string) (*graph.User, error) {
		return &graph.User{ID: uid, ExternalUserState: "Accepted", ExternalUserStateChangeDateTime: &accepted}, nil
	}
	page, err := svc.List(ctx, employee, ListFilter{})
	if err != nil || page.Total != 1 {
		t.Fatalf("list %+v, %v", page, err)
	}
	clock.Add(2 * time.Minute) // the POSTs' answers were state reads; let them age past maxAge
	out := svc.RefreshStates(ctx, nil, page.Invitations, time.Minute)
	if out[0].ExternalUserState != "Accepted" {
		t.Fatalf("refreshed %+v", out[0])
	}
	page, _ = svc.List(ctx, employee, ListFilter{State: StateAccepted})
	if page.Total != 1 || page.Invitations[0].StateCheckedAt == nil {
		t.Fatalf("accepted list %+v", page)
	}
	if _, err := svc.Resend(ctx, nil, employee, id, meta); !errors.Is(err, ErrNotPending) {
		t.Fatalf("resend after acceptance err %v", err)
	}

	events, err := db.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{ActionInvitationCreate: 1, ActionInvitationReveal: 1, ActionJoinLinkAccept: 1,
		ActionJoinLinkCreate: 1, ActionJoinLinkRevoke: 1, ActionInvitationResend: 1}
	gotActions := map[string]int{}
	for _, ev := range events {
		gotActions[ev.Action]++
		for _, secret := range []string{sentinelTicket, res.JoinToken, newToken, second.JoinToken} {
			if strings.Contains(fmt.Sprintf("%+v", ev), secret) {
				t.Fatalf("audit event holds a secret: %+v", ev)
			}
		}
	}
	if fmt.Sprint(gotActions) != fmt.Sprint(want) {
		t.Fatalf("audit actions %v; want %v", gotActions, want)
	}
	for _, secret := range []string{sentinelTicket, res.JoinToken, newToken, second.JoinToken} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("logs hold a secret:\n%s", logs.String())
		}
	}
}

// Every field of the domain types survives the trip to a row and back, inside and outside a
// transaction.
func TestStoreAdapterRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	a := NewStoreAdapter(db)
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	changed, checked := at.Add(time.Minute), at.Add(2*time.Minute)
	inv := &Invitation{
		ID: store.NewID(), TenantID: "t1", InviterOID: "oid", InviterUPN: "e@contoso.example", InviterName: "Erin",
		Email: "p@fabrikam.example", DisplayName: "Pat", Message: "hi", CCAddress: "c@fabrikam.example", Language: "fr-FR",
		RedirectURL: "https://x.example/", UserType: UserTypeGuest, SendEmail: true,
		Outcome: OutcomeCreated, GraphInvitationID: "gi", GraphUserID: "gu", GraphStatus: "PendingAcceptance",
		GraphRequestID: "rq", ErrorCode: "ec", ErrorMessage: "em",
		ExternalUserState: "PendingAcceptance", ExternalUserStateChangedAt: &changed, StateCheckedAt: &checked,
		ResendOf: "earlier", CreatedAt: at, redeemSealed: []byte{1, 2, 3},
	}
	link := &JoinLink{ID: store.NewID(), InvitationID: inv.ID, CreatedAt: at, ExpiresAt: at.Add(time.Hour),
		tokenHash: bytes.Repeat([]byte{7}, 32), tokenSealed: []byte{4, 5, 6}}
	if err := a.Tx(ctx, func(tx Store) error {
		if err := tx.CreateInvitation(ctx, inv); err != nil {
			return err
		}
		return tx.Tx(ctx, func(nested Store) error { return nested.CreateJoinLink(ctx, link) })
	}); err != nil {
		t.Fatal(err)
	}
	got, err := a.GetInvitation(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", *inv) {
		t.Errorf("invitation round trip\n got %+v\nwant %+v", *got, *inv)
	}
	l, err := a.JoinLinkByHash(ctx, link.tokenHash)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", *l) != fmt.Sprintf("%+v", *link) {
		t.Errorf("join link round trip\n got %+v\nwant %+v", *l, *link)
	}
	if _, err := a.GetInvitation(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing invitation: %v, want store.ErrNotFound", err)
	}
	// A failing transaction leaves nothing.
	other := &Invitation{ID: store.NewID(), TenantID: "t1", Email: "q@fabrikam.example", Outcome: OutcomeFailed, CreatedAt: at}
	_ = a.Tx(ctx, func(tx Store) error {
		if err := tx.CreateInvitation(ctx, other); err != nil {
			return err
		}
		return errors.New("stop")
	})
	if _, err := a.GetInvitation(ctx, other.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rolled-back invitation: %v", err)
	}
}
