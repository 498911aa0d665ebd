// Package webhooks tells other systems what happened in Portico: events written to an outbox in
// the transaction of the change they report (Emit), delivered to every configured endpoint as a
// signed JSON POST, one durable job per (event, endpoint), retried with backoff (Deliverer), and
// checked by receivers with Verify.
//
// Wire format. The body is
//
//	{"id":"…","type":"invitation.accepted","time":"2026-11-28T12:00:00Z","data":{…}}
//
// and the header Portico-Signature is "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>",
// computed for each attempt. A receiver recomputes the HMAC over the raw body, compares it in
// constant time, rejects a timestamp more than DefaultTolerance from its clock (a replay), and
// treats the event id as an idempotency key (an attempt whose answer was lost is sent again).
// Portico-Event-Id and Portico-Event-Type repeat the id and type.
//
// Payloads carry ids, addresses and states, never redemption URLs, join tokens or links: Emit
// refuses data with such fields.
package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"portico/store"
)

// Event types. Each has a documented data shape (README, "Webhooks").
const (
	// InvitationCreated: Graph created an invitation (a new partner or a resend); emitted by the
	// invite service in the transaction that records it.
	InvitationCreated = "invitation.created"
	// InvitationAccepted: the partner's state was first seen as Accepted; emitted in the
	// transaction that saves the state. Its id is derived from the record, so it exists once.
	InvitationAccepted = "invitation.accepted"
	// ApprovalRequested, ApprovalDecided: an invitation waits for an approver / was approved or
	// denied (the approvals feature emits them with its decision).
	ApprovalRequested = "approval.requested"
	ApprovalDecided   = "approval.decided"
	// BulkFinished: a bulk upload's every row has ended (sent, refused or failed).
	BulkFinished = "bulk.finished"
	// GuestDisabled, GuestDeleted: a guest account was disabled / deleted by Portico (lifecycle
	// expiry, an admin on the guest list, an access review's removal).
	GuestDisabled = "guest.disabled"
	GuestDeleted  = "guest.deleted"
)

// Types lists every event type Portico emits.
var Types = []string{InvitationCreated, InvitationAccepted, ApprovalRequested, ApprovalDecided, BulkFinished, GuestDisabled, GuestDeleted}

// Header names.
const (
	SignatureHeader = "Portico-Signature"
	EventIDHeader   = "Portico-Event-Id"
	EventTypeHeader = "Portico-Event-Type"
)

// DefaultTolerance is how far a signature's timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Event is one thing that happened. ID must be stable for the occurrence it reports (emitting the
// same occurrence twice, e.g. from two instances, must give the same id: it is written once).
type Event struct {
	ID   string
	Type string
	Time time.Time // zero: now
	Data any       // marshalled to JSON; no secrets (see Emit)
}

// Body is the JSON every endpoint receives.
type Body struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data"`
}

// Outbox is where Emit writes: *store.DB and *store.Queries (in a transaction, from DB.InTx)
// implement it, and so does the invite service's store in its transactions.
type Outbox interface {
	InsertWebhookEvent(ctx context.Context, ev *store.WebhookEvent) (bool, error)
}

// ErrSecretInPayload is returned by Emit for data that carries a redemption URL, a join link or a
// token: receivers must never get them.
var ErrSecretInPayload = errors.New("webhooks: event data must not carry redemption URLs, join links or tokens")

// forbiddenKeys are data fields that never go out (compared case-insensitively).
var forbiddenKeys = []string{"inviteredeemurl", "redeemurl", "redemptionurl", "joinurl", "joinlink", "jointoken", "token", "accesstoken", "secret"}

// Emit writes ev to the outbox through tx, inside the caller's transaction, so the event is
// exactly as durable as the change it reports: the dispatcher sends it after the commit, to every
// endpoint configured then; a rolled-back transaction sends nothing. Emitting an id that is in the
// outbox already does nothing. It is the one call features make; webhooks need not be configured
// (the dispatcher then marks events done without deliveries).
func Emit(ctx context.Context, tx Outbox, ev Event) error {
	if !knownType(ev.Type) {
		return fmt.Errorf("webhooks: unknown event type %q", ev.Type)
	}
	if strings.TrimSpace(ev.ID) == "" {
		return errors.New("webhooks: an event needs an id")
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return fmt.Errorf("webhooks: event data: %w", err)
	}
	if data == nil || string(data) == "null" {
		data = []byte("{}")
	}
	if err := checkData(data); err != nil {
		return err
	}
	body, err := json.Marshal(Body{ID: ev.ID, Type: ev.Type, Time: ev.Time.UTC().Truncate(time.Second), Data: data})
	if err != nil {
		return fmt.Errorf("webhooks: event body: %w", err)
	}
	if _, err := tx.InsertWebhookEvent(ctx, &store.WebhookEvent{ID: ev.ID, Type: ev.Type, CreatedAt: ev.Time.UTC(), Payload: body}); err != nil {
		return fmt.Errorf("webhooks: emit %s: %w", ev.Type, err)
	}
	return nil
}

func knownType(t string) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// checkData refuses data with a forbidden key at any depth (a programming error: payloads are
// built from ids and states, never from links).
func checkData(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("webhooks: event data: %w", err)
	}
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				lk := strings.ToLower(k)
				for _, f := range forbiddenKeys {
					if lk == f {
						return fmt.Errorf("%w (field %q)", ErrSecretInPayload, k)
					}
				}
				if err := walk(val); err != nil {
					return err
				}
			}
		case []any:
			for _, val := range x {
				if err := walk(val); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(v)
}

// Sign returns the Portico-Signature header value for body at time t.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("webhooks: no valid signature header")
	ErrBadSignature = errors.New("webhooks: signature does not match")
	ErrStale        = errors.New("webhooks: timestamp outside the tolerance (a replay?)")
)

// Verify checks a Portico-Signature header value against the raw body as received: the HMAC of
// "t.body" under secret must equal one of the header's v1 values (constant-time comparison), and
// t must be within tolerance of now (≤ 0: DefaultTolerance). Receivers should also drop an event
// id they have already processed. This is the reference implementation of what a receiver does.
func Verify(header string, body, secret []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	want := mac(secret, ts, body)
	match := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			match = true
		}
	}
	if !match {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
