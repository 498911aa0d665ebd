package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newIntent(id, address, key string, opened time.Time) *SendIntent {
	return &SendIntent{ID: id, TenantID: "t1", Address: address, Kind: IntentInvite, InvitationID: "inv-" + id,
		ActorOID: "actor", OwnerOID: "actor", Request: []byte(`{"a":1}`), IdempotencyKey: key, OpenedAt: opened, LeaseUntil: opened.Add(time.Minute)}
}

func testSendIntents(t *testing.T, db *DB) {
	ctx := context.Background()
	a := newIntent("i1", "p@fabrikam.example", "k1", at(0))
	if err := db.OpenIntent(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetIntent(ctx, "i1")
	if err != nil || got.State != IntentOpen || got.Address != a.Address || string(got.Request) != `{"a":1}` || got.IdempotencyKey != "k1" ||
		!got.OpenedAt.Equal(utc(at(0))) || !got.LeaseUntil.Equal(utc(at(time.Minute))) || got.SettledAt != nil {
		t.Fatalf("GetIntent = %+v, %v", got, err)
	}
	// One open intent per tenant and address; another tenant, or another address, is free.
	if err := db.OpenIntent(ctx, newIntent("i2", a.Address, "", at(1*time.Second))); !errors.Is(err, ErrIntentBusy) {
		t.Fatalf("second open intent for the address: %v, want ErrIntentBusy", err)
	}
	other := newIntent("i3", a.Address, "", at(1*time.Second))
	other.TenantID = "t2"
	if err := db.OpenIntent(ctx, other); err != nil {
		t.Fatalf("other tenant: %v", err)
	}
	// An idempotency key is used once per tenant, whatever the address.
	if err := db.OpenIntent(ctx, newIntent("i4", "q@fabrikam.example", "k1", at(1*time.Second))); !errors.Is(err, ErrIdempotencyKeyUsed) {
		t.Fatalf("reused key: %v, want ErrIdempotencyKeyUsed", err)
	}
	if in, err := db.IntentByKey(ctx, "t1", "k1"); err != nil || in.ID != "i1" {
		t.Fatalf("IntentByKey = %+v, %v", in, err)
	}
	if _, err := db.IntentByKey(ctx, "t1", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("IntentByKey(empty) = %v", err)
	}
	if in, err := db.OpenIntentFor(ctx, "t1", a.Address); err != nil || in.ID != "i1" {
		t.Fatalf("OpenIntentFor = %+v, %v", in, err)
	}
	if in, err := db.OpenIntentOfInvitation(ctx, "inv-i1"); err != nil || in.ID != "i1" {
		t.Fatalf("OpenIntentOfInvitation = %+v, %v", in, err)
	}

	// Settling is a compare-and-set: the first wins, the second changes nothing.
	ok, err := db.SettleIntent(ctx, "i1", IntentDone, "created", "", at(2*time.Second))
	if err != nil || !ok {
		t.Fatalf("first settle = %v, %v", ok, err)
	}
	ok, err = db.SettleIntent(ctx, "i1", IntentFailed, "failed", "late", at(3*time.Second))
	if err != nil || ok {
		t.Fatalf("second settle = %v, %v; want false", ok, err)
	}
	got, _ = db.GetIntent(ctx, "i1")
	if got.State != IntentDone || got.Outcome != "created" || got.SettledAt == nil || !got.SettledAt.Equal(utc(at(2*time.Second))) {
		t.Fatalf("settled intent %+v", got)
	}
	if ok, _ := db.ExtendIntent(ctx, "i1", at(time.Hour)); ok {
		t.Fatal("ExtendIntent moved a settled intent")
	}
	if n, err := db.RenewIntents(ctx, []string{"i1"}, at(time.Hour)); err != nil || n != 0 {
		t.Fatalf("RenewIntents moved a settled intent: %d, %v", n, err)
	}
	if _, err := db.SettleIntent(ctx, "i3", "open", "", "", at(2*time.Second)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("settle to open: %v", err)
	}
	// Settled, the address is free again; the key stays used.
	if err := db.OpenIntent(ctx, newIntent("i5", a.Address, "", at(4*time.Second))); err != nil {
		t.Fatalf("open after settle: %v", err)
	}
	if err := db.OpenIntent(ctx, newIntent("i6", "r@fabrikam.example", "k1", at(4*time.Second))); !errors.Is(err, ErrIdempotencyKeyUsed) {
		t.Fatalf("key after settle: %v", err)
	}

	// Two concurrent opens for one address: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			err := db.OpenIntent(ctx, newIntent(fmt.Sprintf("c%d", i), "race@fabrikam.example", "", at(5*time.Second)))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, ErrIntentBusy):
				t.Errorf("concurrent open: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent opens won; want 1", wins.Load())
	}

	// Quota use: open intents and created ones count, failed ones do not; newest first.
	_ = db.LockQuota(ctx, "t1", "actor", at(6*time.Second))
	if _, err := db.SettleIntent(ctx, "i5", IntentFailed, "failed", "", at(6*time.Second)); err != nil {
		t.Fatal(err)
	}
	use, err := db.QuotaUse(ctx, "t1", "actor", at(-time.Second), 0)
	if err != nil || len(use) != 2 || !use[0].Equal(utc(at(5*time.Second))) || !use[1].Equal(utc(at(0))) {
		t.Fatalf("QuotaUse = %v, %v; want the race winner and i1", use, err)
	}
	if use, _ := db.QuotaUse(ctx, "t1", "actor", at(0), 0); len(use) != 1 {
		t.Fatalf("QuotaUse after at(0) = %v; the window excludes its start", use)
	}
}

func testIntentClaims(t *testing.T, db *DB) {
	ctx := context.Background()
	for i := range 6 {
		in := newIntent(fmt.Sprintf("i%d", i), fmt.Sprintf("p%d@fabrikam.example", i), "", at(0))
		in.LeaseUntil = at(time.Duration(i) * time.Minute) // i0 … i5: leases end a minute apart
		if err := db.OpenIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SettleIntent(ctx, "i0", IntentDone, "created", "", at(0)); err != nil {
		t.Fatal(err)
	}
	now := at(150 * time.Second) // i1 and i2 are past their lease; i0 is settled
	if due, err := db.HasDueIntents(ctx, at(30*time.Second)); err != nil || due {
		t.Fatalf("HasDueIntents before any lease ended = %v, %v", due, err)
	}
	if due, err := db.HasDueIntents(ctx, now); err != nil || !due {
		t.Fatalf("HasDueIntents = %v, %v; want true", due, err)
	}
	got, err := db.ClaimIntents(ctx, now, time.Minute, 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("ClaimIntents = %+v, %v; want i1 and i2", got, err)
	}
	for _, in := range got {
		if in.Attempts != 1 || !in.LeaseUntil.Equal(utc(now.Add(time.Minute))) || (in.ID != "i1" && in.ID != "i2") {
			t.Fatalf("claimed %+v", in)
		}
	}
	if again, _ := db.ClaimIntents(ctx, now, time.Minute, 10); len(again) != 0 {
		t.Fatalf("claimed twice: %+v", again)
	}
	// The heartbeat renews its own open intents in one UPDATE: a lease that ended moves forward (so
	// it is no longer due), a longer one (a reconciler's claim) stays, a settled intent is skipped.
	n, err := db.RenewIntents(ctx, []string{"i0", "i3", "i4", "i5", "nope"}, at(200*time.Second))
	if err != nil || n != 1 {
		t.Fatalf("RenewIntents = %d, %v; want 1 (i3; i4 and i5 hold longer leases, i0 is settled)", n, err)
	}
	for id, want := range map[string]time.Duration{"i3": 200 * time.Second, "i4": 4 * time.Minute, "i5": 5 * time.Minute} {
		if in, _ := db.GetIntent(ctx, id); !in.LeaseUntil.Equal(utc(at(want))) {
			t.Fatalf("%s lease %v after renewal; want %v", id, in.LeaseUntil, utc(at(want)))
		}
	}
	if due, _ := db.HasDueIntents(ctx, at(190*time.Second)); due {
		t.Fatal("a renewed intent is due before its new lease ends")
	}
	if n, err := db.RenewIntents(ctx, nil, at(time.Hour)); n != 0 || err != nil {
		t.Fatalf("RenewIntents(nil) = %d, %v", n, err)
	}
	if _, err := db.RenewIntents(ctx, make([]string, MaxRenewIntents+1), at(time.Hour)); err == nil {
		t.Fatal("RenewIntents took more ids than MaxRenewIntents")
	}
	// Parallel claimers never share an intent.
	later := at(time.Hour)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			var got []SendIntent
			err := db.InTx(ctx, func(q *Queries) error {
				var err error
				got, err = q.ClaimIntents(ctx, later, time.Minute, 2)
				return err
			})
			if err != nil {
				t.Errorf("parallel claim: %v", err)
			}
			mu.Lock()
			for _, in := range got {
				seen[in.ID]++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(seen) != 5 {
		t.Fatalf("parallel claims saw %v; want the 5 open intents", seen)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("intent %s claimed %d times", id, n)
		}
	}
}
