package store

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testGuestReviews(t *testing.T, db *DB) {
	ctx := t.Context()
	acc := at(time.Hour)
	for _, inv := range []Invitation{
		// g1: accepted guest; g2: the same guest invited again later by someone else (the older stands);
		// m1: a Member; p1: pending; f1: failed; g3: accepted guest of another inviter.
		{ID: "g1", TenantID: "t1", InviterOID: "A", Email: "g1@x.example", Outcome: OutcomeCreated, GraphUserID: "u1", UserType: "Guest", ExternalUserState: StateAccepted, ExternalUserStateChangedAt: &acc, CreatedAt: at(0)},
		{ID: "g2", TenantID: "t1", InviterOID: "B", Email: "g1@x.example", Outcome: OutcomeCreated, GraphUserID: "u1", UserType: "Guest", ExternalUserState: StateAccepted, CreatedAt: at(time.Minute)},
		{ID: "m1", TenantID: "t1", InviterOID: "A", Email: "m1@x.example", Outcome: OutcomeCreated, GraphUserID: "u2", UserType: "Member", ExternalUserState: StateAccepted, CreatedAt: at(0)},
		{ID: "p1", TenantID: "t1", InviterOID: "A", Email: "p1@x.example", Outcome: OutcomeCreated, GraphUserID: "u3", UserType: "Guest", ExternalUserState: "PendingAcceptance", CreatedAt: at(0)},
		{ID: "f1", TenantID: "t1", InviterOID: "A", Email: "f1@x.example", Outcome: OutcomeFailed, CreatedAt: at(0)},
		{ID: "g3", TenantID: "t1", InviterOID: "C", Email: "g3@x.example", Outcome: OutcomeCreated, GraphUserID: "u4", ExternalUserState: StateAccepted, CreatedAt: at(2 * time.Minute)},
	} {
		if err := db.CreateInvitation(ctx, &inv); err != nil {
			t.Fatal(err)
		}
	}
	cands, err := db.ReviewCandidates(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 2 || cands[0].Invitation.ID != "g1" || cands[1].Invitation.ID != "g3" || !cands[0].Since.Equal(utc(acc)) ||
		cands[0].LastRound != 0 || !cands[1].Since.Equal(utc(at(2*time.Minute))) {
		t.Fatalf("candidates = %+v", cands)
	}
	every, grace := 180*24*time.Hour, 14*24*time.Hour
	r := &GuestReview{ID: "r1", TenantID: "t1", InvitationID: "g1", GuestOID: "u1", Round: 1, DueAt: acc.Add(every), GraceUntil: acc.Add(every + grace), CreatedAt: at(0)}
	revs := []GuestReviewer{{ReviewerOID: "A", DisplayName: "Ann", Address: "ann@contoso.example"}, {ReviewerOID: "S", DisplayName: "Sam"}}
	if ok, err := db.CreateGuestReview(ctx, r, revs); err != nil || !ok {
		t.Fatalf("create: %v %v", ok, err)
	}
	// The same round again, or another unfinished round, writes nothing.
	if ok, err := db.CreateGuestReview(ctx, &GuestReview{TenantID: "t1", InvitationID: "g1", GuestOID: "u1", Round: 1, DueAt: at(0), GraceUntil: at(0)}, revs); err != nil || ok {
		t.Fatalf("same round again: %v %v", ok, err)
	}
	if ok, err := db.CreateGuestReview(ctx, &GuestReview{TenantID: "t1", InvitationID: "g1", GuestOID: "u1", Round: 2, DueAt: at(0), GraceUntil: at(0)}, revs); err != nil || ok {
		t.Fatalf("a second unfinished round: %v %v", ok, err)
	}
	if n, _ := db.CountGuestReviews(ctx, GuestReviewFilter{InvitationIDs: []string{"g1"}}); n != 1 {
		t.Fatalf("rounds of g1 = %d", n)
	}
	if cands, _ = db.ReviewCandidates(ctx, 0); len(cands) != 1 || cands[0].Invitation.ID != "g3" {
		t.Fatalf("a guest with a scheduled round is no candidate: %+v", cands)
	}
	got, err := db.GetGuestReview(ctx, "r1")
	if err != nil || got.State != ReviewScheduled || !got.DueAt.Equal(utc(acc.Add(every))) || got.DecidedAt != nil {
		t.Fatalf("get: %+v %v", got, err)
	}
	if l, _ := db.ListGuestReviews(ctx, GuestReviewFilter{ReviewerOID: "S"}); len(l) != 1 || l[0].ID != "r1" {
		t.Fatalf("by reviewer S: %+v", l)
	}
	if l, _ := db.ListGuestReviews(ctx, GuestReviewFilter{ReviewerOID: "B"}); len(l) != 0 {
		t.Fatalf("by reviewer B: %+v", l)
	}
	if ps, _ := db.GuestReviewers(ctx, "r1"); len(ps) != 2 || ps[0].ReviewerOID != "A" || ps[0].Address != "ann@contoso.example" {
		t.Fatalf("reviewers: %+v", ps)
	}
	// Due: not before due_at; then open; then warn window; then past grace.
	if d, _ := db.DueGuestReviews(ctx, acc.Add(every-time.Hour), acc.Add(every-time.Hour), 10); len(d) != 0 {
		t.Fatalf("due early: %+v", d)
	}
	now := acc.Add(every)
	if d, _ := db.DueGuestReviews(ctx, now, now, 10); len(d) != 1 {
		t.Fatalf("due: %+v", d)
	}
	if ok, _ := db.ChangeGuestReview(ctx, "r1", GuestReviewChange{From: []string{ReviewScheduled}, To: ReviewOpen, At: now}); !ok {
		t.Fatal("open")
	}
	if d, _ := db.DueGuestReviews(ctx, now, now.Add(7*24*time.Hour), 10); len(d) != 0 {
		t.Fatalf("open, outside the warning window: %+v", d)
	}
	warnBy := now.Add(grace)
	if d, _ := db.DueGuestReviews(ctx, now, warnBy, 10); len(d) != 1 {
		t.Fatalf("open, in the warning window: %+v", d)
	}
	if ok, _ := db.ChangeGuestReview(ctx, "r1", GuestReviewChange{From: []string{ReviewOpen}, At: now, Warned: true}); !ok {
		t.Fatal("warn")
	}
	if ok, _ := db.ChangeGuestReview(ctx, "r1", GuestReviewChange{From: []string{ReviewOpen}, At: now, Warned: true}); ok {
		t.Fatal("warned twice")
	}
	if d, _ := db.DueGuestReviews(ctx, now, warnBy, 10); len(d) != 0 {
		t.Fatalf("warned: %+v", d)
	}
	// Two reviewers decide at once: one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i, dec := range []string{DecisionKeep, DecisionRemove, DecisionKeep, DecisionRemove} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := ReviewKept
			if dec == DecisionRemove {
				to = ReviewRemoving
			}
			ok, err := db.ChangeGuestReview(ctx, "r1", GuestReviewChange{From: []string{ReviewOpen}, To: to, At: now.Add(time.Duration(i) * time.Second),
				Decision: dec, Reason: "because", ByOID: "A", ByName: "Ann"})
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d decisions won", wins.Load())
	}
	got, _ = db.GetGuestReview(ctx, "r1")
	if got.DecidedAt == nil || got.DecidedByOID != "A" || got.Reason != "because" || (got.State != ReviewKept && got.State != ReviewRemoving) {
		t.Fatalf("decided: %+v", got)
	}
	if got.State == ReviewKept {
		cands, _ = db.ReviewCandidates(ctx, 0)
		if len(cands) != 2 || cands[0].Invitation.ID != "g1" || cands[0].LastRound != 1 || !cands[0].Since.Equal(*got.DecidedAt) {
			t.Fatalf("after keep: %+v", cands)
		}
		return
	}
	// Removing: one claim of the action at a time.
	lease := now.Add(time.Minute)
	if ok, _ := db.ChangeGuestReview(ctx, "r1", GuestReviewChange{From: []string{ReviewRemoving}, At: now, Lease: &lease, LeaseFree: &now}); !ok {
		t.Fatal("claim")
	}
	if ok, _ := db.ChangeGuestReview(ctx, "r1", GuestReviewChange{From: []string{ReviewRemoving}, At: now, Lease: &lease, LeaseFree: &now}); ok {
		t.Fatal("claimed twice")
	}
	if d, _ := db.DueGuestReviews(ctx, now, now, 10); len(d) != 0 {
		t.Fatalf("leased: %+v", d)
	}
	if cands, _ = db.ReviewCandidates(ctx, 0); len(cands) != 1 {
		t.Fatalf("a guest being removed is no candidate: %+v", cands)
	}
}
