package store

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func testSponsorsAndGroups(t *testing.T, db *DB) {
	ctx := t.Context()
	seedInvitations(t, db.Queries,
		Invitation{ID: "inv-1", TenantID: "t1", InviterOID: "oid-a", Email: "one@fabrikam.example", Outcome: OutcomeCreated, CreatedAt: at(0)},
		Invitation{ID: "inv-2", TenantID: "t1", InviterOID: "oid-b", Email: "two@fabrikam.example", Outcome: OutcomeCreated, CreatedAt: at(time.Minute)},
	)
	// Sponsors: stored in order, replaced as a set, and "Sponsored by me" finds them by sponsor.
	if err := db.SetInvitationSponsors(ctx, "inv-1", []InvitationSponsor{{SponsorOID: "oid-a", DisplayName: "Ann"}, {SponsorOID: "oid-c", DisplayName: "Cy", Address: "cy@contoso.example"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetInvitationSponsors(ctx, "inv-2", []InvitationSponsor{{SponsorOID: "oid-x"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetInvitationSponsors(ctx, "inv-2", []InvitationSponsor{{SponsorOID: "oid-b"}, {SponsorOID: "oid-c"}}); err != nil {
		t.Fatal(err)
	}
	sp, err := db.InvitationSponsors(ctx, "inv-1", "inv-2")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sp {
		got = append(got, s.InvitationID+"/"+s.SponsorOID)
	}
	if want := []string{"inv-1/oid-a", "inv-1/oid-c", "inv-2/oid-b", "inv-2/oid-c"}; !slices.Equal(got, want) {
		t.Errorf("sponsors = %v, want %v", got, want)
	}
	if sp[1].Address != "cy@contoso.example" || sp[1].DisplayName != "Cy" || sp[1].Position != 1 {
		t.Errorf("sponsor row = %+v", sp[1])
	}
	list, err := db.ListInvitations(ctx, InvitationFilter{TenantID: "t1", SponsorOID: "oid-c"})
	if err != nil || !slices.Equal(ids(list), []string{"inv-2", "inv-1"}) {
		t.Errorf("sponsored by oid-c = %v, %v", ids(list), err)
	}
	if list, _ := db.ListInvitations(ctx, InvitationFilter{TenantID: "t1", SponsorOID: "oid-x"}); len(list) != 0 {
		t.Errorf("a replaced sponsor still finds %v", ids(list))
	}
	if err := db.SetInvitationSponsors(ctx, "inv-1", []InvitationSponsor{{SponsorOID: ""}}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("empty sponsor: %v", err)
	}

	// Groups: pending, claimed once under a lease, finished once.
	g := []InvitationGroup{{GroupID: "g1", GroupName: "Alpha"}, {GroupID: "g2", GroupName: "Beta"}}
	if err := db.AddInvitationGroups(ctx, "inv-1", g, at(0)); err != nil {
		t.Fatal(err)
	}
	if err := db.AddInvitationGroups(ctx, "inv-2", g[:1], at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	pend, err := db.PendingGroupInvitations(ctx, at(time.Second), 10)
	if err != nil || !slices.Equal(pend, []string{"inv-1"}) {
		t.Errorf("pending at +1s = %v, %v", pend, err)
	}
	// The sweep takes only due rows (above); a claim for one invitation takes its rows now.
	if c, _ := db.ClaimGroupAssignments(ctx, "inv-2", at(time.Second), time.Second, 10); len(c) != 1 || c[0].GroupID != "g1" {
		t.Errorf("claim of inv-2 before it is due = %+v", c)
	}
	claimed, err := db.ClaimGroupAssignments(ctx, "inv-1", at(time.Second), time.Minute, 10)
	if err != nil || len(claimed) != 2 || claimed[0].Attempts != 1 || claimed[0].LeaseUntil == nil {
		t.Fatalf("claim = %+v, %v", claimed, err)
	}
	if again, _ := db.ClaimGroupAssignments(ctx, "", at(2*time.Second), time.Minute, 10); len(again) != 0 {
		t.Errorf("claimed twice under a lease: %+v", again)
	}
	added := claimed[0]
	added.Status, added.GraphRequestID, added.AddedBy = GroupAdded, "rid-1", "application"
	if ok, err := db.FinishGroupAssignment(ctx, &added, at(time.Second), at(3*time.Second)); !ok || err != nil {
		t.Errorf("finish added: %v %v", ok, err)
	}
	if ok, _ := db.FinishGroupAssignment(ctx, &added, at(time.Second), at(3*time.Second)); ok {
		t.Error("a finished assignment was finished again")
	}
	retry := claimed[1]
	retry.Status, retry.ErrorCode, retry.ErrorMessage = GroupPending, "ServiceUnavailable", "busy\nnow"
	if ok, err := db.FinishGroupAssignment(ctx, &retry, at(time.Minute), at(3*time.Second)); !ok || err != nil {
		t.Errorf("finish retry: %v %v", ok, err)
	}
	// Once the retry is due it is claimed again, with the lease from before released.
	if c, _ := db.ClaimGroupAssignments(ctx, "", at(30*time.Second), time.Minute, 10); len(c) != 0 {
		t.Errorf("claimed before due: %+v", c)
	}
	c, err := db.ClaimGroupAssignments(ctx, "", at(2*time.Minute), time.Minute, 10)
	if err != nil || len(c) != 1 || c[0].GroupID != "g2" || c[0].Attempts != 2 {
		t.Fatalf("claim the retry = %+v, %v", c, err)
	}
	c[0].Status, c[0].ErrorCode, c[0].ErrorMessage = GroupFailed, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
	if ok, err := db.FinishGroupAssignment(ctx, &c[0], at(2*time.Minute), at(2*time.Minute)); !ok || err != nil {
		t.Errorf("finish failed: %v %v", ok, err)
	}
	rows, err := db.InvitationGroups(ctx, "inv-1")
	if err != nil || len(rows) != 2 {
		t.Fatalf("groups = %+v, %v", rows, err)
	}
	if rows[0].GroupName != "Alpha" || rows[0].Status != GroupAdded || rows[0].GraphRequestID != "rid-1" || rows[0].AddedBy != "application" || rows[0].LeaseUntil != nil {
		t.Errorf("alpha = %+v", rows[0])
	}
	if rows[1].Status != GroupFailed || rows[1].ErrorCode != "Authorization_RequestDenied" || rows[1].Attempts != 2 {
		t.Errorf("beta = %+v", rows[1])
	}
	// Choosing the groups again: the added one stays added, the failed one is pending again.
	if err := db.AddInvitationGroups(ctx, "inv-1", g, at(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	rows, _ = db.InvitationGroups(ctx, "inv-1")
	if rows[0].Status != GroupAdded || rows[1].Status != GroupPending || rows[1].Attempts != 0 || rows[1].ErrorMessage != "" {
		t.Errorf("after choosing again: %+v", rows)
	}
	if ok, err := db.FinishGroupAssignment(ctx, &InvitationGroup{InvitationID: "inv-1", GroupID: "g2", Status: "done"}, at(0), at(0)); ok || !errors.Is(err, ErrInvalidInput) {
		t.Errorf("unknown status: %v %v", ok, err)
	}

	// Workers claiming at once never share a row.
	if err := db.AddInvitationGroups(ctx, "inv-2", []InvitationGroup{{GroupID: "g3"}, {GroupID: "g4"}, {GroupID: "g5"}}, at(0)); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			c, err := db.ClaimGroupAssignments(ctx, "", at(2*time.Hour), time.Minute, 2)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, g := range c {
				seen[g.InvitationID+"/"+g.GroupID]++
			}
		})
	}
	wg.Wait()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s claimed %d times", k, n)
		}
	}
	if len(seen) != 5 {
		t.Errorf("claimed %d rows, want 5 (g1 and g3-g5 of inv-2, g2 of inv-1): %v", len(seen), seen)
	}
}
