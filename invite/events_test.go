package invite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"portico/graph"
	"portico/store"
	"portico/webhooks"
)

// invitation.created is written with the record (same transaction) and carries no redemption URL
// or join link; invitation.accepted is written once, the first time Accepted is read, however
// often the state is read again.
func TestWebhookEventsOfAnInvitation(t *testing.T) {
	h := newHarness(t, Policy{})
	var outcomes []string
	h.svc.hooks.Outcome = func(action string, o Outcome) { outcomes = append(outcomes, action+"/"+string(o)) }
	req := validReq()
	req.SendEmail = false // a join link is made: it must not travel
	res, err := h.svc.Send(context.Background(), nil, employee, req, meta)
	if err != nil {
		t.Fatal(err)
	}
	evs := h.store.d.webhooks
	if len(evs) != 1 || evs[0].Type != webhooks.InvitationCreated {
		t.Fatalf("events after a send: %+v", evs)
	}
	body := string(evs[0].Payload)
	for _, leak := range []string{sentinelTicket, "redeem", "/join/", res.JoinToken} {
		if leak != "" && strings.Contains(body, leak) {
			t.Fatalf("invitation.created carries %q: %s", leak, body)
		}
	}
	var b webhooks.Body
	if err := json.Unmarshal(evs[0].Payload, &b); err != nil {
		t.Fatal(err)
	}
	var d InvitationEventData
	if err := json.Unmarshal(b.Data, &d); err != nil || d.InvitationID != res.Invitation.ID || d.Email != res.Invitation.Email ||
		d.InviterOID != employee.ObjectID || d.Resend || d.SentAt == nil {
		t.Fatalf("data %+v (%v)", d, err)
	}
	if len(outcomes) != 1 || outcomes[0] != "invitation.create/created" {
		t.Fatalf("outcomes %v", outcomes)
	}

	state := "PendingAcceptance"
	changed := time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC)
	h.graph.getUser = func(_ context.Context, id string) (*graph.User, error) {
		return &graph.User{ID: id, ExternalUserState: state, ExternalUserStateChangeDateTime: &changed}, nil
	}
	for range 2 {
		if _, err := h.svc.RefreshState(context.Background(), nil, res.Invitation.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.store.d.webhooks); n != 1 {
		t.Fatalf("a pending state emitted %d events", n-1)
	}
	state = "Accepted"
	for range 3 {
		if _, err := h.svc.RefreshState(context.Background(), nil, res.Invitation.ID); err != nil {
			t.Fatal(err)
		}
	}
	evs = h.store.d.webhooks
	if len(evs) != 2 || evs[1].Type != webhooks.InvitationAccepted || evs[1].ID != "invitation.accepted:"+res.Invitation.ID {
		t.Fatalf("events after acceptance: %+v", evs)
	}
	_ = json.Unmarshal(evs[1].Payload, &b)
	_ = json.Unmarshal(b.Data, &d)
	if d.State != "Accepted" || d.AcceptedAt == nil || !d.AcceptedAt.Equal(changed) {
		t.Fatalf("accepted data %+v", d)
	}
	got, _ := h.store.GetInvitation(context.Background(), res.Invitation.ID)
	if got.ExternalUserState != "Accepted" {
		t.Fatalf("state not saved: %q", got.ExternalUserState)
	}

	// A refused attempt is counted with its outcome and emits nothing.
	bad := validReq()
	bad.Email = "someone@blocked.example"
	h2 := newHarness(t, Policy{BlockedDomains: []string{"blocked.example"}})
	h2.svc.hooks.Outcome = func(action string, o Outcome) { outcomes = append(outcomes, action+"/"+string(o)) }
	if _, err := h2.svc.Send(context.Background(), nil, employee, bad, meta); err == nil {
		t.Fatal("a blocked domain was invited")
	}
	if len(h2.store.d.webhooks) != 0 || len(outcomes) != 2 || !strings.HasPrefix(outcomes[1], "invitation.create/") || outcomes[1] == "invitation.create/created" {
		t.Fatalf("refused: events %d, outcomes %v", len(h2.store.d.webhooks), outcomes)
	}
}

// guestDisabledEvents are the outbox's guest.disabled events (nothing dispatches them in these
// tests), their data decoded; each id is checked against its data.
func guestDisabledEvents(t *testing.T, db *store.DB) []webhooks.GuestData {
	t.Helper()
	return guestEvents(t, db, webhooks.GuestDisabled)
}

// guestEvents are the outbox's events of typ (guest.disabled or guest.deleted).
func guestEvents(t *testing.T, db *store.DB, typ string) []webhooks.GuestData {
	t.Helper()
	evs, err := db.DueWebhookEvents(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []webhooks.GuestData
	for _, e := range evs {
		if e.Type != typ {
			continue
		}
		var b webhooks.Body
		var d webhooks.GuestData
		if err := json.Unmarshal(e.Payload, &b); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b.Data, &d); err != nil {
			t.Fatal(err)
		}
		at, other := d.DisabledAt, d.DeletedAt
		if typ == webhooks.GuestDeleted {
			at, other = d.DeletedAt, d.DisabledAt
		}
		if want := fmt.Sprintf("%s:%s:%d", typ, d.GraphUserID, at.Unix()); e.ID != want || at.IsZero() || !other.IsZero() {
			t.Fatalf("event id %q, want %q; data %s", e.ID, want, b.Data)
		}
		out = append(out, d)
	}
	return out
}
