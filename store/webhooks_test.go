package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The webhook outbox: an event is written once per id, in the caller's transaction (a rollback
// leaves nothing), fanned out once per (event, endpoint), and each delivery ends once.
func testWebhookOutbox(t *testing.T, db *DB) {
	ctx := context.Background()
	body := []byte(`{"id":"ev1","type":"invitation.accepted","time":"2026-11-23T09:30:00Z","data":{}}`)
	ins, err := db.InsertWebhookEvent(ctx, &WebhookEvent{ID: "ev1", Type: "invitation.accepted", CreatedAt: at(0), Payload: body})
	if err != nil || !ins {
		t.Fatalf("insert: %v %v", ins, err)
	}
	// Emitted again (another instance saw the same change): nothing new.
	ins, err = db.InsertWebhookEvent(ctx, &WebhookEvent{ID: "ev1", Type: "invitation.accepted", CreatedAt: at(time.Second), Payload: []byte(`{"other":1}`)})
	if err != nil || ins {
		t.Fatalf("second insert of the same id: inserted=%v err=%v", ins, err)
	}
	// Written in a transaction that rolls back: never there.
	boom := errors.New("boom")
	err = db.InTx(ctx, func(q *Queries) error {
		if _, err := q.InsertWebhookEvent(ctx, &WebhookEvent{ID: "ev-rolled-back", Type: "invitation.created", CreatedAt: at(time.Second), Payload: body}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := db.GetWebhookEvent(ctx, "ev-rolled-back"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a rolled-back event exists: %v", err)
	}
	if _, err := db.InsertWebhookEvent(ctx, &WebhookEvent{ID: "bad\x00", Type: "x", Payload: body}); err == nil {
		t.Fatal("an id with NUL was accepted")
	}
	if _, err := db.InsertWebhookEvent(ctx, &WebhookEvent{ID: "ev2", Type: "invitation.created", CreatedAt: at(2 * time.Second), Payload: []byte(`{"id":"ev2"}`)}); err != nil {
		t.Fatal(err)
	}

	if due, err := db.HasDueWebhookEvents(ctx); err != nil || !due {
		t.Fatalf("due: %v %v", due, err)
	}
	evs, err := db.DueWebhookEvents(ctx, 10)
	if err != nil || len(evs) != 2 || evs[0].ID != "ev1" || evs[1].ID != "ev2" || string(evs[0].Payload) != string(body) {
		t.Fatalf("due events (oldest first, payload byte for byte): %+v %v", evs, err)
	}
	got, err := db.GetWebhookEvent(ctx, "ev1")
	if err != nil || !got.CreatedAt.Equal(at(0).Truncate(time.Microsecond)) || got.DispatchedAt != nil {
		t.Fatalf("event: %+v %v", got, err)
	}

	// Fan-out: one delivery per (event, endpoint), the same id however often it is created.
	a1, err := db.CreateWebhookDelivery(ctx, "ev1", "https://a.example/hook", at(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := db.CreateWebhookDelivery(ctx, "ev1", "https://a.example/hook", at(4*time.Second))
	if err != nil || a2 != a1 {
		t.Fatalf("the same delivery twice: %q %q %v", a1, a2, err)
	}
	b1, err := db.CreateWebhookDelivery(ctx, "ev1", "https://b.example/hook", at(5*time.Second))
	if err != nil || b1 == a1 {
		t.Fatalf("second endpoint: %q %v", b1, err)
	}
	if _, err := db.CreateWebhookDelivery(ctx, "no-such-event", "https://a.example/hook", at(0)); err == nil {
		t.Fatal("a delivery of an unknown event was created")
	}
	if err := db.MarkWebhookEventDispatched(ctx, "ev1", at(6*time.Second)); err != nil {
		t.Fatal(err)
	}
	evs, _ = db.DueWebhookEvents(ctx, 10)
	if len(evs) != 1 || evs[0].ID != "ev2" {
		t.Fatalf("after dispatch, due: %+v", evs)
	}

	// Attempts: a failure keeps it pending, success ends it, and an ended delivery never changes.
	ok, err := db.RecordWebhookAttempt(ctx, a1, DeliveryPending, 503, "answered 503: "+strings.Repeat("x", 1000), at(7*time.Second))
	if err != nil || !ok {
		t.Fatalf("attempt 1: %v %v", ok, err)
	}
	ok, err = db.RecordWebhookAttempt(ctx, a1, DeliveryDelivered, 204, "", at(8*time.Second))
	if err != nil || !ok {
		t.Fatalf("attempt 2: %v %v", ok, err)
	}
	ok, err = db.RecordWebhookAttempt(ctx, a1, DeliveryFailed, 0, "late", at(9*time.Second))
	if err != nil || ok {
		t.Fatalf("an ended delivery was changed: %v %v", ok, err)
	}
	d, err := db.GetWebhookDelivery(ctx, a1)
	if err != nil || d.State != DeliveryDelivered || d.Attempts != 2 || d.LastStatus != 204 || d.LastError != "" ||
		d.FinishedAt == nil || d.EventType != "invitation.accepted" || d.Endpoint != "https://a.example/hook" {
		t.Fatalf("delivery: %+v %v", d, err)
	}
	if _, err := db.RecordWebhookAttempt(ctx, b1, "bogus", 0, "", at(0)); err == nil {
		t.Fatal("a bogus state was accepted")
	}
	ok, err = db.RecordWebhookAttempt(ctx, b1, DeliveryFailed, 0, "no answer: connection refused", at(10*time.Second))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	d, _ = db.GetWebhookDelivery(ctx, b1)
	if d.State != DeliveryFailed || d.Attempts != 1 || d.LastError != "no answer: connection refused" {
		t.Fatalf("failed delivery: %+v", d)
	}
	if _, err := db.GetWebhookDelivery(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}

	// The log: newest first, by state, a keyset page at a time.
	all, err := db.ListWebhookDeliveries(ctx, WebhookDeliveryFilter{})
	if err != nil || len(all) != 2 || all[0].ID != b1 || all[1].ID != a1 {
		t.Fatalf("list: %+v %v", all, err)
	}
	failed, _ := db.ListWebhookDeliveries(ctx, WebhookDeliveryFilter{State: DeliveryFailed})
	if len(failed) != 1 || failed[0].ID != b1 {
		t.Fatalf("failed: %+v", failed)
	}
	older, _ := db.ListWebhookDeliveries(ctx, WebhookDeliveryFilter{BeforeTime: all[0].CreatedAt, BeforeID: all[0].ID, Limit: 1})
	if len(older) != 1 || older[0].ID != a1 {
		t.Fatalf("next page: %+v", older)
	}
	counts, err := db.WebhookDeliveryCounts(ctx)
	if err != nil || counts[DeliveryDelivered] != 1 || counts[DeliveryFailed] != 1 || counts[DeliveryPending] != 0 {
		t.Fatalf("counts: %v %v", counts, err)
	}

	// Pruning: only dispatched events older than the cutoff whose deliveries all ended.
	if _, err := db.CreateWebhookDelivery(ctx, "ev2", "https://a.example/hook", at(11*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkWebhookEventDispatched(ctx, "ev2", at(12*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PruneWebhookEvents(ctx, at(6*time.Second)); err != nil || n != 0 {
		t.Fatalf("prune before the dispatch time: %d %v", n, err)
	}
	if n, err := db.PruneWebhookEvents(ctx, at(time.Hour)); err != nil || n != 1 {
		t.Fatalf("prune: %d %v (ev1 ended; ev2 still pending)", n, err)
	}
	if _, err := db.GetWebhookEvent(ctx, "ev1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ev1 kept: %v", err)
	}
	if _, err := db.GetWebhookDelivery(ctx, a1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ev1's delivery kept: %v", err)
	}
	if _, err := db.GetWebhookEvent(ctx, "ev2"); err != nil {
		t.Fatalf("ev2 (pending delivery) pruned: %v", err)
	}
}
