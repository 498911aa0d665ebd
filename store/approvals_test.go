package store

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newApproval(id, requester string, created time.Time) *ApprovalRequest {
	return &ApprovalRequest{ID: id, TenantID: "tid", RequesterOID: requester, RequesterUPN: requester + "@contoso.example",
		RequesterName: "Erin", Email: "pat@northwind.example", RequestJSON: `{"email":"pat@northwind.example"}`,
		ReasonsJSON: `[{"kind":"domain"}]`, CreatedAt: created, ExpiresAt: created.Add(14 * 24 * time.Hour)}
}

func testApprovals(t *testing.T, db *DB) {
	ctx := t.Context()
	r := newApproval("a1", "erin", at(0))
	r.AssignedOID, r.AssignedName, r.AssignedEmail = "mgr", "Morgan Manager", "morgan@contoso.example"
	if err := db.CreateApprovalRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetApprovalRequest(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != ApprovalPending || !got.CreatedAt.Equal(utc(at(0))) || got.CreatedAt.Location() != time.UTC ||
		got.RequestJSON != r.RequestJSON || got.AssignedOID != "mgr" || got.AssignedEmail != "morgan@contoso.example" || got.ClaimedAt != nil || got.DecidedAt != nil {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := db.GetApprovalRequest(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := db.GetApprovalRequest(ctx, "a\x00"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("NUL id: %v", err)
	}
	bad := newApproval("a-bad", "erin", at(0))
	bad.RequestJSON = "x\x00"
	if err := db.CreateApprovalRequest(ctx, bad); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("NUL text: %v, want ErrInvalidInput", err)
	}
	// One open request per requester and address; others' and other addresses' are independent.
	if err := db.CreateApprovalRequest(ctx, newApproval("a1-again", "erin", at(time.Second))); !errors.Is(err, ErrApprovalOpen) {
		t.Fatalf("a second open request for the address: %v, want ErrApprovalOpen", err)
	}
	a2 := newApproval("a2", "erin", at(time.Minute))
	a2.Email = "sam@northwind.example"
	if err := db.CreateApprovalRequest(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateApprovalRequest(ctx, newApproval("a3", "ines", at(2*time.Minute))); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetApprovalRequest(ctx, "a1-again"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused request was written: %v", err)
	}

	// Claim: only from pending, only before expiry.
	late := at(15 * 24 * time.Hour)
	if ok, err := db.ChangeApprovalRequest(ctx, "a1", ApprovalChange{From: ApprovalPending, To: ApprovalApproving, At: late, ValidAt: &late, Claim: true, ByOID: "adm"}); err != nil || ok {
		t.Fatalf("claim after expiry: %t %v", ok, err)
	}
	now := at(time.Hour)
	ok, err := db.ChangeApprovalRequest(ctx, "a1", ApprovalChange{From: ApprovalPending, To: ApprovalApproving, At: now, ValidAt: &now,
		Claim: true, ByOID: "adm", ByUPN: "admin@contoso.example", ByName: "Avery"})
	if err != nil || !ok {
		t.Fatalf("claim: %t %v", ok, err)
	}
	if ok, _ := db.ChangeApprovalRequest(ctx, "a1", ApprovalChange{From: ApprovalPending, To: ApprovalDenied, At: now, Reason: "no"}); ok {
		t.Fatal("a claimed request was denied")
	}
	ok, err = db.ChangeApprovalRequest(ctx, "a1", ApprovalChange{From: ApprovalApproving, To: ApprovalApproved, At: now, InvitationID: "inv-1", Decide: true})
	if err != nil || !ok {
		t.Fatalf("approve: %t %v", ok, err)
	}
	got, _ = db.GetApprovalRequest(ctx, "a1")
	if got.State != ApprovalApproved || got.InvitationID != "inv-1" || got.DecidedByOID != "adm" || got.DecidedByName != "Avery" ||
		got.ClaimedAt == nil || got.DecidedAt == nil || !got.DecidedAt.Equal(utc(now)) {
		t.Fatalf("approved: %+v", got)
	}

	// A claim given back: pending again, without an approver, with the reason the send failed.
	if ok, _ := db.ChangeApprovalRequest(ctx, "a2", ApprovalChange{From: ApprovalPending, To: ApprovalApproving, At: now, Claim: true, ByOID: "adm"}); !ok {
		t.Fatal("claim a2")
	}
	if ok, _ := db.ChangeApprovalRequest(ctx, "a2", ApprovalChange{From: ApprovalApproving, To: ApprovalPending, At: now, Release: true, LastError: "Graph busy"}); !ok {
		t.Fatal("release a2")
	}
	got, _ = db.GetApprovalRequest(ctx, "a2")
	if got.State != ApprovalPending || got.ClaimedAt != nil || got.DecidedByOID != "" || got.LastError != "Graph busy" {
		t.Fatalf("released: %+v", got)
	}

	// Filters and counts.
	list, err := db.ListApprovalRequests(ctx, ApprovalFilter{TenantID: "tid", States: []string{ApprovalPending}})
	if err != nil || len(list) != 2 || list[0].ID != "a3" || list[1].ID != "a2" {
		t.Fatalf("pending, newest first: %v %+v", err, list)
	}
	if n, err := db.CountApprovalRequests(ctx, ApprovalFilter{TenantID: "tid", RequesterOID: "erin"}); err != nil || n != 2 {
		t.Fatalf("erin's: %d %v", n, err)
	}
	if n, _ := db.CountApprovalRequests(ctx, ApprovalFilter{TenantID: "other"}); n != 0 {
		t.Fatalf("another tenant sees %d", n)
	}
	mine, err := db.ListApprovalRequests(ctx, ApprovalFilter{TenantID: "tid", Involving: "mgr"})
	if err != nil || len(mine) != 1 || mine[0].ID != "a1" {
		t.Fatalf("assigned to mgr: %v %+v", err, mine)
	}
	if n, _ := db.CountApprovalRequests(ctx, ApprovalFilter{TenantID: "tid", DecidableBy: "someone"}); n != 2 {
		t.Fatalf("decidable by another approver: %d, want the 2 unassigned", n)
	}
	if n, _ := db.CountApprovalRequests(ctx, ApprovalFilter{TenantID: "tid", DecidableBy: "mgr"}); n != 3 {
		t.Fatalf("decidable by the manager: %d, want 3", n)
	}
	if mine, _ := db.ListApprovalRequests(ctx, ApprovalFilter{TenantID: "tid", Involving: "adm"}); len(mine) != 1 {
		t.Fatalf("decided by adm: %+v", mine)
	}
	if _, err := db.ListApprovalRequests(ctx, ApprovalFilter{TenantID: "t\xff"}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("invalid filter: %v", err)
	}
	if l, _ := db.ListApprovalRequests(ctx, ApprovalFilter{TenantID: "tid", Limit: 1}); len(l) != 1 {
		t.Fatalf("limit: %d", len(l))
	}

	// Due: pending past expiry, and claims older than the cut-off.
	if ok, _ := db.ChangeApprovalRequest(ctx, "a3", ApprovalChange{From: ApprovalPending, To: ApprovalApproving, At: now, Claim: true, ByOID: "adm"}); !ok {
		t.Fatal("claim a3")
	}
	due, err := db.DueApprovalRequests(ctx, at(14*24*time.Hour+90*time.Second), now.Add(time.Second), 10)
	if err != nil || len(due) != 2 || due[0].ID != "a2" || due[1].ID != "a3" {
		t.Fatalf("due: %v %+v", err, due)
	}
	stale := now.Add(time.Second)
	if ok, _ := db.ChangeApprovalRequest(ctx, "a3", ApprovalChange{From: ApprovalApproving, To: ApprovalPending, At: stale, ClaimedBefore: &now, Release: true}); ok {
		t.Fatal("a claim not older than the cut-off was released")
	}
}

// testApprovalClaimRace: many approvers claim one request at once; exactly one wins.
func testApprovalClaimRace(t *testing.T, db *DB) {
	ctx := t.Context()
	if err := db.CreateApprovalRequest(ctx, newApproval("race", "erin", at(0))); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			now := at(time.Hour)
			err := db.InTx(ctx, func(q *Queries) error {
				ok, err := q.ChangeApprovalRequest(ctx, "race", ApprovalChange{From: ApprovalPending, To: ApprovalApproving, At: now,
					ValidAt: &now, Claim: true, ByOID: "approver-" + string(rune('a'+i))})
				if err != nil {
					return err
				}
				if ok {
					wins.Add(1)
					return q.AppendAudit(ctx, &AuditEvent{Time: now, Action: "approval.claim", Target: "race"})
				}
				return nil
			})
			if err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("claim: %v", err)
	}
	if wins.Load() != 1 {
		t.Fatalf("%d approvers claimed the request, want 1", wins.Load())
	}
	evs, err := db.ListAudit(ctx, AuditFilter{Action: "approval.claim"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("claim audited %d times: %v", len(evs), err)
	}
}
