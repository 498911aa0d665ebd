package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"portico/store"
)

// TestSignInAndOutAreAudited: the session store, not the HTTP layer, records sign-in and sign-out,
// with the actor, target and request details; sign-in rotates the session id.
func TestSignInAndOutAreAudited(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	st, db := newTestStore(t, clock, time.Hour, 8*time.Hour)
	planted := signedIn(t, st, clock)
	sess, req := load(t, st, planted)
	oldID := sess.ID()
	sess.Data.User = nil

	id := &Identity{TenantID: "tid", ObjectID: "oid-ann", UPN: "ann@contoso.example"}
	rec := httptest.NewRecorder()
	if err := sess.SignIn(req, rec, id, &Token{AccessToken: "at", IDToken: "idt-ann", Expiry: clock.Now().Add(time.Hour)}, Meta{ClientIP: "192.0.2.7", RequestID: "req-1"}); err != nil {
		t.Fatal(err)
	}
	if sess.ID() == oldID || sess.ID() == "" {
		t.Fatalf("sign-in kept the session id %q", oldID)
	}
	if _, err := db.GetSession(context.Background(), oldID); err == nil {
		t.Error("the pre-sign-in record still exists")
	}

	sess2, req2 := load(t, st, rec.Result().Cookies()[0])
	if sess2.User() == nil || sess2.User().ObjectID != "oid-ann" {
		t.Fatalf("signed-in session not saved: %+v", sess2.Data)
	}
	out := httptest.NewRecorder()
	hint, err := sess2.SignOut(req2, out, Meta{ClientIP: "192.0.2.7", RequestID: "req-2"})
	if err != nil || hint != "idt-ann" {
		t.Fatalf("SignOut = %q, %v", hint, err)
	}
	if _, err := db.GetSession(context.Background(), sess.ID()); err == nil {
		t.Error("sign-out left the session record")
	}

	for _, tt := range []struct{ action, req string }{{ActionSignIn, "req-1"}, {ActionSignOut, "req-2"}} {
		evs, err := db.ListAudit(context.Background(), store.AuditFilter{Action: tt.action})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 {
			t.Fatalf("%s: %d events", tt.action, len(evs))
		}
		ev := evs[0]
		if ev.ActorOID != "oid-ann" || ev.ActorTID != "tid" || ev.Target != "ann@contoso.example" || ev.Outcome != "success" || ev.ClientIP != "192.0.2.7" || ev.RequestID != tt.req {
			t.Errorf("%s event %+v", tt.action, ev)
		}
	}

	// Signing out a session nobody signed in to records nothing.
	anon, _ := st.Load(httptest.NewRequest(http.MethodGet, "/", nil))
	if _, err := anon.SignOut(req2, httptest.NewRecorder(), Meta{}); err != nil {
		t.Fatal(err)
	}
	if evs, _ := db.ListAudit(context.Background(), store.AuditFilter{Action: ActionSignOut}); len(evs) != 1 {
		t.Errorf("anonymous sign-out audited: %d events", len(evs))
	}
}
