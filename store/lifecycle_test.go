package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

// testLifecycle: one claim per (subject, action, step), also when claimed concurrently; a failed or
// expired claim is taken over; a done one never again; guests' flags and account states.
func testLifecycle(t *testing.T, db *DB) {
	ctx := context.Background()
	mk := func() *LifecycleAction {
		return &LifecycleAction{TenantID: "t1", Subject: "inv-1", GuestID: "g1", Action: "remind", Step: 1, Effect: "remind",
			Policy: "PORTICO_REMIND_AFTER=7d,14d", Actor: "policy"}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	wins := 0
	var winner string
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := mk()
			ok, err := db.ClaimLifecycleAction(ctx, a, at(0), time.Minute)
			if err != nil {
				t.Errorf("claim: %v", err)
				return
			}
			if ok {
				mu.Lock()
				wins++
				winner = a.ID
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("concurrent claims won %d times, want 1", wins)
	}
	a := mk()
	if ok, err := db.ClaimLifecycleAction(ctx, a, at(30*time.Second), time.Minute); err != nil || ok || a.ID != winner || a.State != LifecycleClaimed {
		t.Fatalf("claim within the lease = %v, %v, %+v; want the winner's claimed row", ok, err, a)
	}
	if ok, err := db.FinishLifecycleAction(ctx, winner, LifecycleFailed, "", "graph: 503", "rid-1", at(time.Second)); err != nil || !ok {
		t.Fatalf("finish failed = %v, %v", ok, err)
	}
	a = mk()
	if ok, err := db.ClaimLifecycleAction(ctx, a, at(2*time.Second), time.Minute); err != nil || !ok || a.Attempts != 2 || a.ID != winner {
		t.Fatalf("claim after failure = %v, %v, %+v; want attempt 2 of the same row", ok, err, a)
	}
	// A claim whose lease ran out (the instance died) is taken over.
	a = mk()
	if ok, err := db.ClaimLifecycleAction(ctx, a, at(5*time.Minute), time.Minute); err != nil || !ok || a.Attempts != 3 {
		t.Fatalf("claim after the lease = %v, %v, %+v; want attempt 3", ok, err, a)
	}
	if ok, err := db.FinishLifecycleAction(ctx, winner, LifecycleDone, "reminded", "", "rid-2", at(6*time.Minute)); err != nil || !ok {
		t.Fatalf("finish done = %v, %v", ok, err)
	}
	if ok, err := db.FinishLifecycleAction(ctx, winner, LifecycleDone, "again", "", "", at(6*time.Minute)); err != nil || ok {
		t.Fatalf("second finish = %v, %v; want false", ok, err)
	}
	a = mk()
	if ok, err := db.ClaimLifecycleAction(ctx, a, at(time.Hour), time.Minute); err != nil || ok || a.State != LifecycleDone || a.Detail != "reminded" || a.GraphRequestID != "rid-2" {
		t.Fatalf("claim of a done action = %v, %v, %+v; want refused with the done row", ok, err, a)
	}
	// Another step is another action.
	b := mk()
	b.Step = 2
	if ok, err := db.ClaimLifecycleAction(ctx, b, at(time.Hour), time.Minute); err != nil || !ok {
		t.Fatalf("claim of step 2 = %v, %v", ok, err)
	}
	list, err := db.ListLifecycleActions(ctx, LifecycleFilter{TenantID: "t1", Subjects: []string{"inv-1", "other"}})
	if err != nil || len(list) != 2 || list[0].Step != 2 {
		t.Fatalf("list = %+v, %v; want step 2 then step 1", list, err)
	}
	if _, err := db.ClaimLifecycleAction(ctx, &LifecycleAction{TenantID: "t1", Subject: "x\x00", Action: "remind"}, at(0), time.Minute); err == nil {
		t.Fatal("a NUL in the subject was accepted")
	}

	// Guests.
	if _, err := db.LifecycleGuest(ctx, "t1", "g1"); err != ErrNotFound {
		t.Fatalf("unknown guest: %v, want ErrNotFound", err)
	}
	if err := db.SetGuestFlags(ctx, "t1", "g1", "inv-1", true, false, "works with us", "admin", at(0)); err != nil {
		t.Fatal(err)
	}
	signIn := at(-time.Hour)
	if err := db.SetGuestAccountState(ctx, "t1", "g1", "", GuestDisabled, &signIn, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetGuestAccountState(ctx, "t1", "g1", "", GuestDisabled, nil, at(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	g, err := db.LifecycleGuest(ctx, "t1", "g1")
	if err != nil || !g.Exempt || g.OptedIn || g.InvitationID != "inv-1" || g.AccountState != GuestDisabled ||
		g.StateChangedAt == nil || !g.StateChangedAt.Equal(at(time.Minute).UTC().Truncate(time.Microsecond)) ||
		g.LastSignInAt == nil || !g.LastSignInAt.Equal(signIn.UTC().Truncate(time.Microsecond)) || g.Note != "works with us" {
		t.Fatalf("guest = %+v, %v", g, err)
	}
	if err := db.SetGuestAccountState(ctx, "t1", "g1", "", "gone", nil, at(0)); err == nil {
		t.Fatal("an unknown account state was accepted")
	}
	gs, err := db.LifecycleGuests(ctx, "t1")
	if err != nil || len(gs) != 1 {
		t.Fatalf("guests = %+v, %v", gs, err)
	}

	// Candidates: sent, Graph user known, not accepted; oldest first, keyset paged.
	for i, c := range []struct {
		outcome, user, state string
	}{{"created", "u1", "PendingAcceptance"}, {"created", "u2", "Accepted"}, {"failed", "", ""}, {"created", "u3", ""}} {
		inv := &Invitation{TenantID: "t1", InviterOID: "o1", Email: "p@fabrikam.example", Outcome: c.outcome, GraphUserID: c.user,
			ExternalUserState: c.state, CreatedAt: at(time.Duration(i) * time.Second)}
		if err := db.CreateInvitation(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	page, err := db.PendingCandidates(ctx, "t1", nil, 1)
	if err != nil || len(page) != 1 || page[0].GraphUserID != "u1" {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	cur := page[0].Cursor()
	page, err = db.PendingCandidates(ctx, "t1", &cur, 10)
	if err != nil || len(page) != 1 || page[0].GraphUserID != "u3" {
		t.Fatalf("second page = %+v, %v; want u3 only", page, err)
	}
}
