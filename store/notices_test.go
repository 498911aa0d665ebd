package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// testNotices: one notice per event and address (case-insensitively, also when enqueued
// concurrently or inside a rolled-back transaction), and the state machine of an attempt.
func testNotices(t *testing.T, db *DB) {
	ctx := context.Background()
	n := &Notice{EventKey: "invitation.accepted:r1", Kind: "invitation.accepted", Address: "Ines@Contoso.example",
		Name: "Ines", Language: "fr-FR", Link: "https://portico.example/invitations/r1", Data: map[string]string{"partner": "Pat <b>"}, CreatedAt: at(0)}
	created, err := db.EnqueueNotice(ctx, n)
	if err != nil || !created {
		t.Fatalf("enqueue = %v, %v; want created", created, err)
	}
	again := &Notice{EventKey: n.EventKey, Kind: n.Kind, Address: " ines@contoso.EXAMPLE "}
	if created, err := db.EnqueueNotice(ctx, again); err != nil || created || again.ID != n.ID {
		t.Fatalf("second enqueue = %v, %v, id %q; want not created, id %q", created, err, again.ID, n.ID)
	}
	// Concurrent enqueues of one event for one address make one row.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.EnqueueNotice(ctx, &Notice{EventKey: "approval.waiting:a1", Kind: "approval.waiting", Address: "admin@contoso.example"})
			if err != nil {
				t.Errorf("concurrent enqueue: %v", err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("concurrent enqueues created %d notices, want 1", wins)
	}
	// Rolled back with its event: no notice.
	boom := errors.New("boom")
	if err := db.InTx(ctx, func(q *Queries) error {
		if _, err := q.EnqueueNotice(ctx, &Notice{EventKey: "approval.denied:x", Kind: "approval.denied", Address: "e@contoso.example"}); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("InTx = %v", err)
	}
	if got, _ := db.NoticesByEvent(ctx, "approval.denied:x"); len(got) != 0 {
		t.Fatalf("rolled-back notice stored: %+v", got)
	}
	if _, err := db.EnqueueNotice(ctx, &Notice{EventKey: "k", Kind: "k", Address: "a@b\x00"}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("NUL address: %v, want ErrInvalidInput", err)
	}

	got, err := db.GetNotice(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != NoticeQueued || got.Address != "Ines@Contoso.example" || got.Data["partner"] != "Pat <b>" || got.Language != "fr-FR" || !got.CreatedAt.Equal(utc(at(0))) {
		t.Fatalf("stored notice = %+v", got)
	}
	list, err := db.UndispatchedNotices(ctx, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("undispatched = %d, %v; want 2", len(list), err)
	}
	if ok, err := db.SetNoticeJob(ctx, n.ID, 42, at(time.Second)); err != nil || !ok {
		t.Fatalf("set job = %v, %v", ok, err)
	}
	if ok, _ := db.SetNoticeJob(ctx, n.ID, 43, at(time.Second)); ok {
		t.Fatal("a second job was recorded for one notice")
	}
	if list, _ := db.UndispatchedNotices(ctx, 10); len(list) != 1 {
		t.Fatalf("undispatched after dispatch = %d, want 1", len(list))
	}
	// A server that is down: the attempt is counted, the notice stays queued.
	if ok, err := db.NoteNoticeError(ctx, n.ID, "smtp", "connection refused", at(2*time.Second)); err != nil || !ok {
		t.Fatalf("note error = %v, %v", ok, err)
	}
	if ok, err := db.StartNoticeAttempt(ctx, n.ID, "smtp", at(3*time.Second)); err != nil || !ok {
		t.Fatalf("start = %v, %v", ok, err)
	}
	if ok, _ := db.StartNoticeAttempt(ctx, n.ID, "smtp", at(3*time.Second)); ok {
		t.Fatal("a notice in sending was started again")
	}
	if ok, err := db.FinishNoticeAttempt(ctx, n.ID, NoticeSent, "", at(4*time.Second)); err != nil || !ok {
		t.Fatalf("finish = %v, %v", ok, err)
	}
	got, _ = db.GetNotice(ctx, n.ID)
	if got.State != NoticeSent || got.Attempts != 2 || got.SentAt == nil || !got.SentAt.Equal(utc(at(4*time.Second))) || got.Transport != "smtp" ||
		got.JobID == nil || *got.JobID != 42 || got.LastError != "" {
		t.Fatalf("sent notice = %+v", got)
	}
	if ok, _ := db.FailNotice(ctx, n.ID, "late", at(5*time.Second)); ok {
		t.Fatal("a sent notice was marked failed")
	}
	// Failed is final, with why.
	w := list[1]
	if w.ID == n.ID {
		w = list[0]
	}
	if ok, err := db.FailNotice(ctx, w.ID, "gave up: 550 no such user", at(5*time.Second)); err != nil || !ok {
		t.Fatalf("fail = %v, %v", ok, err)
	}
	if ok, _ := db.StartNoticeAttempt(ctx, w.ID, "smtp", at(6*time.Second)); ok {
		t.Fatal("a failed notice was started again")
	}
	got, _ = db.GetNotice(ctx, w.ID)
	if got.State != NoticeFailed || got.LastError != "gave up: 550 no such user" {
		t.Fatalf("failed notice = %+v", got)
	}
	// Cancelling settles only a queued notice.
	if ok, _ := db.CancelNotice(ctx, n.ID, "cancelled", at(7*time.Second)); ok {
		t.Fatal("a sent notice was cancelled")
	}
	c := &Notice{EventKey: "approval.approved:c", Kind: "approval.approved", Address: "c@contoso.example"}
	if _, err := db.EnqueueNotice(ctx, c); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.CancelNotice(ctx, c.ID, "not sent: its job was cancelled", at(7*time.Second)); err != nil || !ok {
		t.Fatalf("cancel = %v, %v", ok, err)
	}
	if got, _ := db.GetNotice(ctx, c.ID); got.State != NoticeFailed || got.LastError != "not sent: its job was cancelled" {
		t.Fatalf("cancelled notice %+v", got)
	}
	if recent, err := db.RecentNotices(ctx, 10); err != nil || len(recent) != 3 {
		t.Fatalf("recent = %d, %v", len(recent), err)
	}
}
