package invite

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"portico/keyring"
	"portico/store"
)

// TestListKeysetOnTheStore walks My invitations older and newer by cursors on the real store
// (SQLite, and PostgreSQL when configured): rows created in the same microsecond are kept apart by
// id, a creation time with nanoseconds survives the cursor, and the count is the store's capped one.
func TestListKeysetOnTheStore(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keys, _ := keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
		adapter := NewStoreAdapter(db)
		svc := NewService(Config{Graph: &fakeGraph{}, Store: adapter, Keys: keys, JoinTTL: testJoinTTL,
			Policy: Policy{DefaultRedirectURL: "https://portico.example/welcome"}, Logger: slog.New(slog.DiscardHandler)})
		base := time.Date(2026, 5, 1, 8, 0, 0, 123456789, time.UTC)
		const n = 7
		var want []string // newest first
		for i := range n {
			inv := Invitation{ID: fmt.Sprintf("inv-%02d", i), TenantID: employee.TenantID, InviterOID: employee.ObjectID,
				InviterUPN: employee.UPN, InviterName: employee.Name, Email: fmt.Sprintf("g%d@fabrikam.example", i), UserType: UserTypeGuest,
				RedirectURL: "https://portico.example/welcome", Outcome: OutcomeCreated, CreatedAt: base.Add(time.Duration(i/2) * time.Second)}
			if err := adapter.CreateInvitation(ctx, &inv); err != nil {
				t.Fatal(err)
			}
			want = append([]string{inv.ID}, want...)
		}
		var got []string
		var pages []*ListPage
		f := ListFilter{PageSize: 3}
		for {
			p, err := svc.List(ctx, employee, f)
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != n || p.TotalMore {
				t.Fatalf("count %d more %v; want %d", p.Total, p.TotalMore, n)
			}
			pages = append(pages, p)
			for _, r := range p.Invitations {
				got = append(got, r.ID)
			}
			if p.OlderCursor == "" {
				break
			}
			f.Before = p.OlderCursor
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("walked %v; want %v", got, want)
		}
		back, err := svc.List(ctx, employee, ListFilter{PageSize: 3, After: pages[2].NewerCursor})
		if err != nil || len(back.Invitations) != 3 || back.Invitations[0].ID != pages[1].Invitations[0].ID {
			t.Fatalf("newer than page 3: %+v, %v; want page 2", back, err)
		}
	})
}
