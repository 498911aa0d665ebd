package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func bulkRows(n int) []BulkRow {
	rows := make([]BulkRow, n)
	for i := range rows {
		rows[i] = BulkRow{N: i + 1, Line: i + 2, Email: fmt.Sprintf("p%d@fabrikam.example", i+1), DisplayName: "Partner, " + fmt.Sprint(i+1),
			Message: "Hello;\n\"quoted\"", RedirectURL: "https://x.example/", SendEmail: i%2 == 0, Verdict: VerdictInvite, State: RowPending}
	}
	return rows
}

func testBulkJobs(t *testing.T, db *DB) {
	ctx := t.Context()
	rows := bulkRows(250)
	rows[3].Verdict, rows[3].State, rows[3].Reason = VerdictSkip, RowSkipped, "already a member"
	rows[4].Verdict = VerdictResend
	j := &BulkJob{TenantID: "t1", OwnerOID: "oid-1", OwnerUPN: "ann@contoso.example", OwnerName: "Ann", OwnerAdmin: true, OwnerClaims: `{"Groups":["g1"]}`, State: BulkDraft,
		Source: "partners.csv", Format: "entra", SendEmail: true, CreatedAt: at(0)}
	if err := db.CreateBulkJob(ctx, j, rows); err != nil {
		t.Fatal(err)
	}
	if j.ID == "" || j.RowsTotal != 250 {
		t.Fatalf("job %+v", j)
	}
	got, err := db.GetBulkJob(ctx, j.ID)
	if err != nil || got.OwnerUPN != "ann@contoso.example" || got.State != BulkDraft || !got.CreatedAt.Equal(utc(at(0))) || got.ConfirmedAt != nil || got.RowsTotal != 250 || !got.SendEmail || !got.OwnerAdmin || got.OwnerClaims != `{"Groups":["g1"]}` {
		t.Fatalf("GetBulkJob: %+v, %v", got, err)
	}
	if _, err := db.GetBulkJob(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
	r5, err := db.GetBulkRow(ctx, j.ID, 5)
	if err != nil || r5.Email != "p5@fabrikam.example" || r5.Message != "Hello;\n\"quoted\"" || r5.Verdict != VerdictResend || r5.Line != 6 || !r5.SendEmail {
		t.Fatalf("row 5: %+v, %v", r5, err)
	}
	page, err := db.BulkRows(ctx, j.ID, 100, 50)
	if err != nil || len(page) != 50 || page[0].N != 101 || page[49].N != 150 {
		t.Fatalf("page after 100: %d rows, %v", len(page), err)
	}

	// The review, a page at a time: the choice on a page replaces the earlier one for its rows
	// only; skipped rows stay skipped.
	if err := db.ExcludeBulkRows(ctx, j.ID, []int{1, 2, 3, 4, 5, 6}, []int{1, 2, 4}, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := db.ExcludeBulkRows(ctx, j.ID, []int{1, 2, 3, 4, 5}, []int{2, 4}, at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := db.ExcludeBulkRows(ctx, j.ID, []int{6, 7}, []int{6}, at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	counts, err := db.BulkRowCounts(ctx, j.ID)
	if err != nil || counts[RowExcluded] != 2 || counts[RowSkipped] != 1 || counts[RowPending] != 247 {
		t.Fatalf("counts after exclusions: %v, %v", counts, err)
	}

	// Confirm once; a second confirm finds the job queued.
	if err := db.SetBulkJobState(ctx, j.ID, []string{BulkDraft}, BulkQueued, at(3*time.Second), ""); err != nil {
		t.Fatal(err)
	}
	if err := db.SetBulkJobState(ctx, j.ID, []string{BulkDraft}, BulkQueued, at(3*time.Second), ""); !errors.Is(err, ErrBulkState) {
		t.Fatalf("second confirm: %v", err)
	}
	if err := db.ExcludeBulkRows(ctx, j.ID, []int{7}, []int{7}, at(4*time.Second)); !errors.Is(err, ErrBulkState) {
		t.Fatalf("exclusion after confirming: %v", err)
	}
	if err := db.SetBulkRiverJob(ctx, j.ID, 42); err != nil {
		t.Fatal(err)
	}
	if err := db.SetBulkJobState(ctx, j.ID, []string{BulkQueued, BulkRunning}, BulkRunning, at(5*time.Second), ""); err != nil {
		t.Fatal(err)
	}

	// Row 1 is excluded: it cannot be sent. Row 3 goes pending → sending → invited.
	if err := db.MarkBulkRowSending(ctx, j.ID, 2, at(6*time.Second)); !errors.Is(err, ErrBulkState) {
		t.Fatalf("sending an excluded row: %v", err)
	}
	if err := db.MarkBulkRowSending(ctx, j.ID, 3, at(6*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkBulkRowSending(ctx, j.ID, 3, at(6*time.Second)); !errors.Is(err, ErrBulkState) {
		t.Fatalf("row 3 marked sending twice: %v", err)
	}
	sending, err := db.BulkRows(ctx, j.ID, 0, 10, RowPending, RowSending)
	if err != nil || len(sending) != 10 || sending[0].N != 1 || sending[1].N != 3 || sending[1].State != RowSending || sending[1].Attempts != 1 ||
		sending[1].SendingAt == nil || !sending[1].SendingAt.Equal(utc(at(6*time.Second))) {
		t.Fatalf("pending and sending rows: %+v, %v", sending[:3], err)
	}
	fin := &BulkRow{JobID: j.ID, N: 3, State: RowInvited, InvitationID: "inv-3", UpdatedAt: at(7 * time.Second)}
	if err := db.FinishBulkRow(ctx, fin, RowSending); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishBulkRow(ctx, fin, RowSending); !errors.Is(err, ErrBulkState) {
		t.Fatalf("finished twice: %v", err)
	}
	if err := db.FinishBulkRow(ctx, &BulkRow{JobID: j.ID, N: 5, State: RowFailed, Reason: "bad\x00", UpdatedAt: at(0)}, RowPending); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("NUL in a reason: %v", err)
	}

	// Cancel: the rest is not sent.
	n, err := db.NotSendBulkRows(ctx, j.ID, "cancelled by Ann", at(8*time.Second))
	if err != nil || n != 246 {
		t.Fatalf("not sent: %d, %v", n, err)
	}
	if err := db.SetBulkJobState(ctx, j.ID, []string{BulkQueued, BulkRunning}, BulkCancelled, at(9*time.Second), "cancelled by Ann"); err != nil {
		t.Fatal(err)
	}
	got, _ = db.GetBulkJob(ctx, j.ID)
	if got.State != BulkCancelled || got.Note != "cancelled by Ann" || got.RiverJobID != 42 || got.FinishedAt == nil || got.StartedAt == nil || got.ConfirmedAt == nil {
		t.Fatalf("after cancel: %+v", got)
	}
	counts, _ = db.BulkRowCounts(ctx, j.ID)
	if counts[RowNotSent] != 246 || counts[RowInvited] != 1 || counts[RowPending] != 0 {
		t.Fatalf("final counts %v", counts)
	}
	r3, _ := db.GetBulkRow(ctx, j.ID, 3)
	if r3.State != RowInvited || r3.InvitationID != "inv-3" {
		t.Fatalf("row 3: %+v", r3)
	}

	// Listing: owner's own, or the tenant's.
	other := &BulkJob{TenantID: "t1", OwnerOID: "oid-2", State: BulkDraft, CreatedAt: at(time.Hour)}
	if err := db.CreateBulkJob(ctx, other, bulkRows(1)); err != nil {
		t.Fatal(err)
	}
	if l, _ := db.ListBulkJobs(ctx, "t1", "oid-1", 10); len(l) != 1 || l[0].ID != j.ID {
		t.Fatalf("owner's jobs: %+v", l)
	}
	if l, _ := db.ListBulkJobs(ctx, "t1", "", 10); len(l) != 2 || l[0].ID != other.ID {
		t.Fatalf("tenant's jobs: %+v", l)
	}

	// A refused row writes nothing of the job.
	bad := bulkRows(3)
	bad[2].DisplayName = "x\x00"
	if err := db.CreateBulkJob(ctx, &BulkJob{TenantID: "t1", OwnerOID: "oid-3", State: BulkDraft}, bad); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("row with NUL: %v", err)
	}
	if l, _ := db.ListBulkJobs(ctx, "t1", "oid-3", 10); len(l) != 0 {
		t.Fatalf("half-written job: %+v", l)
	}

	// Unconfirmed drafts older than the cut-off go.
	if n, err := db.DeleteBulkDrafts(ctx, at(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("delete drafts: %d, %v", n, err)
	}
	if _, err := db.GetBulkRow(ctx, other.ID, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("draft row left: %v", err)
	}
}

// testBulkRowRace: two senders (instances) racing for the same rows each get a row only once.
func testBulkRowRace(t *testing.T, db *DB) {
	ctx := t.Context()
	j := &BulkJob{TenantID: "t1", OwnerOID: "oid-1", State: BulkRunning, CreatedAt: at(0)}
	if err := db.CreateBulkJob(ctx, j, bulkRows(40)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	won := map[int]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; n <= 40; n++ {
				err := db.MarkBulkRowSending(ctx, j.ID, n, at(time.Duration(w)))
				if err == nil {
					mu.Lock()
					won[n]++
					mu.Unlock()
				} else if !errors.Is(err, ErrBulkState) {
					t.Errorf("row %d: %v", n, err)
				}
			}
		}()
	}
	wg.Wait()
	for n := 1; n <= 40; n++ {
		if won[n] != 1 {
			t.Fatalf("row %d marked sending %d times", n, won[n])
		}
	}
}
