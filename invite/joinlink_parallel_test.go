package invite

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"portico/keyring"
	"portico/store"
)

// TestParallelNewJoinLinkLeavesOne is issue 14, item 7: many "New join link" requests for one
// invitation at once, on the real store (SQLite, and PostgreSQL under READ COMMITTED when
// configured), all succeed and leave exactly one active link: the database refuses a second active
// link, and the store makes the revoke-then-create transactions take turns on the invitation's row.
func TestParallelNewJoinLinkLeavesOne(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keys, _ := keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
		clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
		svc := NewService(Config{
			Graph: &fakeGraph{}, Store: NewStoreAdapter(db), Keys: keys,
			Policy:    Policy{DefaultRedirectURL: "https://portico.example/welcome"},
			PublicURL: "https://portico.example", JoinTTL: testJoinTTL, Clock: clock.Now, Logger: slog.New(slog.DiscardHandler),
		})
		req := validReq()
		req.SendEmail = false
		res, err := svc.Send(ctx, nil, employee, req, meta)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		const n = 12
		links := make([]*JoinLink, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				_, links[i], errs[i] = svc.NewJoinLink(ctx, employee, res.Invitation.ID, meta)
			})
		}
		close(start)
		wg.Wait()
		active := 0
		for i, l := range append(links, res.JoinLink) {
			if i < n && errs[i] != nil {
				t.Errorf("NewJoinLink %d: %v", i, errs[i])
				continue
			}
			got, err := db.JoinLinkByHash(ctx, l.tokenHash)
			if err != nil {
				t.Fatalf("link %d: %v", i, err)
			}
			if got.RevokedAt == nil {
				active++
			}
		}
		if active != 1 {
			t.Errorf("%d active join links after %d parallel New join link, want exactly 1", active, n)
		}
		if _, err := db.ActiveJoinLink(ctx, res.Invitation.ID); err != nil {
			t.Errorf("ActiveJoinLink: %v", err)
		}
	})
}
