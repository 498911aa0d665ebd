package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"portico/store"
)

var secret = []byte("0123456789abcdef0123456789abcdef-test")

func TestSignVerify(t *testing.T) {
	body := []byte(`{"id":"e1","type":"invitation.accepted"}`)
	now := time.Unix(1_800_000_000, 0)
	h := Sign(secret, body, now)
	if !strings.HasPrefix(h, "t=1800000000,v1=") || len(h) != len("t=1800000000,v1=")+64 {
		t.Fatalf("header %q", h)
	}
	if err := Verify(h, body, secret, now.Add(time.Minute), 0); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	tests := []struct {
		name   string
		header string
		body   []byte
		secret []byte
		now    time.Time
		want   error
	}{
		{"replay older than the tolerance", h, body, secret, now.Add(5*time.Minute + time.Second), ErrStale},
		{"timestamp from the future", h, body, secret, now.Add(-6 * time.Minute), ErrStale},
		{"body changed", h, []byte(`{"id":"e1","type":"invitation.created"}`), secret, now, ErrBadSignature},
		{"other secret", h, body, []byte("another-secret-another-secret-123"), now, ErrBadSignature},
		{"timestamp changed (same v1)", strings.Replace(h, "t=1800000000", "t=1800000100", 1), body, secret, now, ErrBadSignature},
		{"no header", "", body, secret, now, ErrNoSignature},
		{"no v1", "t=1800000000", body, secret, now, ErrNoSignature},
		{"garbage", "t=x,v1=zz", body, secret, now, ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.header, tt.body, tt.secret, tt.now, DefaultTolerance); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Several v1 values (a receiver rotating secrets may be sent both): one matching is enough.
	other := Sign([]byte("another-secret-another-secret-123"), body, now)
	_, v1, _ := strings.Cut(other, ",")
	both := h + "," + v1
	if err := Verify(both, body, secret, now, 0); err != nil {
		t.Fatalf("two v1 values: %v", err)
	}
}

type memOutbox struct{ evs []store.WebhookEvent }

func (m *memOutbox) InsertWebhookEvent(_ context.Context, ev *store.WebhookEvent) (bool, error) {
	for _, e := range m.evs {
		if e.ID == ev.ID {
			return false, nil
		}
	}
	m.evs = append(m.evs, *ev)
	return true, nil
}

func TestEmit(t *testing.T) {
	ctx := context.Background()
	var o memOutbox
	when := time.Date(2026, 11, 28, 12, 0, 0, 123, time.UTC)
	if err := Emit(ctx, &o, Event{ID: "invitation.accepted:r1", Type: InvitationAccepted, Time: when, Data: map[string]any{"invitationId": "r1"}}); err != nil {
		t.Fatal(err)
	}
	if err := Emit(ctx, &o, Event{ID: "invitation.accepted:r1", Type: InvitationAccepted, Time: when.Add(time.Hour), Data: map[string]any{"invitationId": "r1"}}); err != nil {
		t.Fatal(err)
	}
	if len(o.evs) != 1 {
		t.Fatalf("emitted twice, stored %d", len(o.evs))
	}
	var b Body
	if err := json.Unmarshal(o.evs[0].Payload, &b); err != nil {
		t.Fatal(err)
	}
	if b.ID != "invitation.accepted:r1" || b.Type != InvitationAccepted || !b.Time.Equal(when.Truncate(time.Second)) || string(b.Data) != `{"invitationId":"r1"}` {
		t.Fatalf("body %s", o.evs[0].Payload)
	}
	for name, ev := range map[string]Event{
		"unknown type":   {ID: "x", Type: "invitation.exploded"},
		"no id":          {Type: InvitationCreated},
		"redemption URL": {ID: "x", Type: InvitationCreated, Data: map[string]any{"inviteRedeemUrl": "https://login.example/redeem?t=1"}},
		"nested token":   {ID: "x", Type: BulkFinished, Data: map[string]any{"rows": []any{map[string]any{"joinToken": "abc"}}}},
		"unmarshallable": {ID: "x", Type: InvitationCreated, Data: func() {}},
	} {
		if err := Emit(ctx, &o, ev); err == nil {
			t.Errorf("%s: emitted", name)
		}
	}
	if len(o.evs) != 1 {
		t.Fatalf("refused events were stored: %d", len(o.evs))
	}
	if err := Emit(ctx, &o, Event{ID: "g1", Type: GuestDisabled}); err != nil || string(o.evs[1].Payload[len(o.evs[1].Payload)-10:]) != `"data":{}}` {
		t.Fatalf("nil data: %v %s", err, o.evs[len(o.evs)-1].Payload)
	}
}

func TestSenderPost(t *testing.T) {
	var calls atomic.Int32
	var gotSig, gotID, gotType, gotCT string
	var gotBody []byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch r.URL.Path {
		case "/ok":
			gotSig, gotID, gotType, gotCT = r.Header.Get(SignatureHeader), r.Header.Get(EventIDHeader), r.Header.Get(EventTypeHeader), r.Header.Get("Content-Type")
			buf := make([]byte, 1024)
			n, _ := r.Body.Read(buf)
			gotBody = buf[:n]
			w.WriteHeader(http.StatusNoContent)
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/big":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(strings.Repeat("e", 1<<20)))
		case "/slow":
			time.Sleep(2 * time.Second)
		}
	}))
	defer recv.Close()
	eps := []Endpoint{{URL: recv.URL + "/ok", Secret: secret}, {URL: recv.URL + "/redirect", Secret: secret},
		{URL: recv.URL + "/big", Secret: secret}, {URL: recv.URL + "/slow", Secret: secret}}
	s := NewSender(eps, &http.Client{Timeout: 500 * time.Millisecond})
	body := []byte(`{"id":"e1"}`)
	ctx := context.Background()

	status, err := s.Post(ctx, recv.URL+"/ok", "e1", InvitationCreated, body)
	if err != nil || status != 204 {
		t.Fatalf("ok: %d %v", status, err)
	}
	if gotID != "e1" || gotType != InvitationCreated || gotCT != "application/json" || string(gotBody) != string(body) {
		t.Fatalf("headers/body: %q %q %q %s", gotID, gotType, gotCT, gotBody)
	}
	if err := Verify(gotSig, gotBody, secret, time.Now(), 0); err != nil {
		t.Fatalf("signature: %v", err)
	}

	before := calls.Load()
	status, err = s.Post(ctx, recv.URL+"/redirect", "e1", InvitationCreated, body)
	if err == nil || status != http.StatusFound || calls.Load() != before+1 || !strings.Contains(err.Error(), "redirects are not followed") {
		t.Fatalf("redirect followed or accepted: %d %v (calls %d)", status, err, calls.Load()-before)
	}
	status, err = s.Post(ctx, recv.URL+"/big", "e1", InvitationCreated, body)
	if err == nil || status != 500 || len(err.Error()) > 300 {
		t.Fatalf("big answer: %d %d", status, len(err.Error()))
	}
	start := time.Now()
	status, err = s.Post(ctx, recv.URL+"/slow", "e1", InvitationCreated, body)
	if err == nil || status != 0 || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("timeout: %d %v after %v", status, err, time.Since(start))
	}
	if _, err := s.Post(ctx, "https://unknown.example/", "e1", InvitationCreated, body); !errors.Is(err, ErrUnknownEndpoint) {
		t.Fatal(err)
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		if got := Backoff(i + 1); got != w {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w)
		}
	}
	var total time.Duration
	for n := 1; n < 15; n++ {
		total += Backoff(n)
	}
	if Backoff(30) != time.Hour || total < 3*time.Hour {
		t.Fatalf("15 attempts span %v", total)
	}
}
