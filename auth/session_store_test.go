package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"portico/keyring"
	"portico/store"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestStore(t *testing.T, clock *fakeClock, idle, lifetime time.Duration) (*Store, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ring, err := keyring.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewStore(db, ring, []string{"a-session-key-of-at-least-32-characters"}, StoreOptions{IdleTimeout: idle, MaxLifetime: lifetime, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return st, db
}

// signedIn creates a saved, signed-in session and returns its cookie.
func signedIn(t *testing.T, st *Store, clock *fakeClock) *http.Cookie {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	sess, err := st.Load(req)
	if err != nil {
		t.Fatal(err)
	}
	sess.Data.User = &Identity{TenantID: "tid", ObjectID: "oid"}
	sess.Data.Token = &Token{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: clock.Now().Add(time.Minute)}
	rec := httptest.NewRecorder()
	if err := sess.Save(req, rec); err != nil {
		t.Fatal(err)
	}
	return rec.Result().Cookies()[0]
}

func load(t *testing.T, st *Store, c *http.Cookie) (*Session, *http.Request) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(c)
	sess, err := st.Load(req)
	if err != nil {
		t.Fatal(err)
	}
	return sess, req
}

func TestSaveKeepsTokensRefreshedMeanwhile(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	st, _ := newTestStore(t, clock, time.Hour, 8*time.Hour)
	c := signedIn(t, st, clock)

	slow, req := load(t, st, c) // a request that read the session before the refresh
	fresh, _ := load(t, st, c)
	d := *fresh.Data
	d.Token = &Token{AccessToken: "at-2", RefreshToken: "rt-2", Expiry: clock.Now().Add(time.Hour)}
	if err := st.write(context.Background(), fresh.ID(), &d); err != nil { // what a refresh writes
		t.Fatal(err)
	}
	slow.Data.Flash = "saved late"
	if err := slow.Save(req, httptest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	after, _ := load(t, st, c)
	if after.Data.Token.RefreshToken != "rt-2" || after.Data.Flash != "saved late" {
		t.Fatalf("a late save put back the redeemed refresh token: %+v flash %q", after.Data.Token, after.Data.Flash)
	}
}

func TestSaveDoesNotResurrectAnEndedSession(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	st, db := newTestStore(t, clock, time.Hour, 8*time.Hour)
	c := signedIn(t, st, clock)
	inflight, req := load(t, st, c)
	if err := db.DeleteSession(context.Background(), inflight.ID()); err != nil { // signed out in another tab
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	inflight.Data.Flash = "late"
	if err := inflight.Save(req, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSession(context.Background(), inflight.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the signed-out session came back: %v", err)
	}
	if again, _ := load(t, st, c); again.User() != nil {
		t.Fatal("the old cookie is signed in again")
	}
}

func TestIdleTimeoutSlidesWithUseUpToTheLifetime(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	st, _ := newTestStore(t, clock, 10*time.Minute, time.Hour)
	c := signedIn(t, st, clock)
	for i := range 7 { // 56 minutes of reading, 8 minutes apart: each read keeps the session alive
		clock.Add(8 * time.Minute)
		if s, _ := load(t, st, c); s.User() == nil {
			t.Fatalf("active session ended after %d minutes", (i+1)*8)
		}
	}
	clock.Add(5 * time.Minute) // 61 minutes after sign-in
	if s, _ := load(t, st, c); s.User() != nil {
		t.Fatal("the absolute lifetime was exceeded")
	}

	c = signedIn(t, st, clock)
	clock.Add(11 * time.Minute)
	if s, _ := load(t, st, c); s.User() != nil {
		t.Fatal("an idle session outlived the idle timeout")
	}
}

func TestKeyedMutexForgetsReleasedKeys(t *testing.T) {
	var k keyedMutex
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := k.lock(string(rune('a' + i%5)))
			unlock()
			if u, ok := k.tryLock("x"); ok {
				u()
			}
		}()
	}
	wg.Wait()
	if len(k.m) != 0 {
		t.Fatalf("%d keys kept after release", len(k.m))
	}
	unlock := k.lock("held")
	if _, ok := k.tryLock("held"); ok {
		t.Fatal("tryLock took a held key")
	}
	unlock()
}
