package auth

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"portico/store"
)

// SessionDB is the persistence the session store needs.
type SessionDB interface {
	GetSession(ctx context.Context, id string) (*store.Session, error)
	SaveSession(ctx context.Context, s *store.Session) error
	DeleteSession(ctx context.Context, id string) error
}

// Sealer encrypts session records at rest (keyring.Ring satisfies it).
type Sealer interface {
	Seal(plain, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Data is everything Portico keeps in a session; it lives server-side only.
type Data struct {
	CreatedAt time.Time `json:"created"`
	CSRF      string    `json:"csrf"`
	User      *Identity `json:"user,omitempty"`
	Token     *Token    `json:"token,omitempty"`
	Flows     []Flow    `json:"flows,omitempty"`
	Flash     string    `json:"flash,omitempty"`
	// JustCreated carries a new invitation's one-time details to its result page, then is cleared.
	JustCreated *Created `json:"created_inv,omitempty"`
}

// Created is what the result page shows once, right after an invitation was sent (or what the
// invitation's page shows once after a reveal, when Revealed).
type Created struct {
	ID        string `json:"id"`
	RedeemURL string `json:"redeem,omitempty"`
	Revealed  bool   `json:"revealed,omitempty"`
}

// Token is the user's delegated Graph token set.
type Token struct {
	AccessToken  string    `json:"at"`
	RefreshToken string    `json:"rt,omitempty"`
	IDToken      string    `json:"idt,omitempty"`
	Expiry       time.Time `json:"exp"`
}

const dataKey = "data"

// StoreOptions configure the server-side session store.
type StoreOptions struct {
	CookieName  string        // "__Host-portico" when Secure, else "portico_session"
	Secure      bool          // cookies only over https
	IdleTimeout time.Duration // a session unused this long ends
	MaxLifetime time.Duration // a session ends this long after sign-in, however active
	Clock       func() time.Time
	// Audit records sign-in and sign-out; nil uses the session database when it can append audit events.
	Audit  AuditLog
	Logger *slog.Logger
}

// Store is a gorilla/sessions Store that keeps session data in the database, encrypted,
// and gives the browser only a signed, encrypted session id.
type Store struct {
	db     SessionDB
	sealer Sealer
	codecs []securecookie.Codec
	opts   StoreOptions

	locks keyedMutex // per session id: serialises token refreshes, saves and expiry extensions
}

var _ sessions.Store = (*Store)(nil)

// NewStore builds the store; keys are newest first: the first signs cookies, all verify them.
func NewStore(db SessionDB, sealer Sealer, keys []string, opts StoreOptions) (*Store, error) {
	if len(keys) == 0 {
		return nil, errors.New("auth: no session keys")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Audit == nil {
		opts.Audit, _ = db.(AuditLog)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CookieName == "" {
		opts.CookieName = "portico_session"
		if opts.Secure {
			opts.CookieName = "__Host-portico"
		}
	}
	var pairs [][]byte
	for _, k := range keys {
		if len(k) < 32 {
			return nil, errors.New("auth: session keys need at least 32 characters")
		}
		hashKey, err := hkdf.Key(sha256.New, []byte(k), nil, "portico session cookie hmac", 64)
		if err != nil {
			return nil, fmt.Errorf("auth: derive key: %w", err)
		}
		blockKey, err := hkdf.Key(sha256.New, []byte(k), nil, "portico session cookie aes", 32)
		if err != nil {
			return nil, fmt.Errorf("auth: derive key: %w", err)
		}
		pairs = append(pairs, hashKey, blockKey)
	}
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			// The cookie only carries an id; its own timestamp must not outlive the session.
			sc.MaxAge(int(opts.MaxLifetime / time.Second))
		}
	}
	return &Store{db: db, sealer: sealer, codecs: codecs, opts: opts}, nil
}

func (s *Store) cookieOptions() *sessions.Options {
	return &sessions.Options{Path: "/", HttpOnly: true, Secure: s.opts.Secure, SameSite: http.SameSiteLaxMode}
}

// Get returns the session for this request, cached per request by gorilla's registry.
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie, or starts a fresh one. A cookie that no
// longer decodes, or names an expired or unknown session, starts a fresh session rather than failing.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.Options = s.cookieOptions()
	sess.IsNew = true
	sess.Values[dataKey] = &Data{CreatedAt: s.opts.Clock().UTC(), CSRF: randomToken()}
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var id string
	if err := securecookie.DecodeMulti(name, c.Value, &id, s.codecs...); err != nil {
		return sess, nil
	}
	d, rec, err := s.loadRecord(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	s.touch(r.Context(), rec)
	sess.ID = id
	sess.IsNew = false
	sess.Values[dataKey] = d
	return sess, nil
}

func (s *Store) load(ctx context.Context, id string) (*Data, error) {
	d, _, err := s.loadRecord(ctx, id)
	return d, err
}

// loadRecord reads and opens a session record; an expired, unreadable or over-age record is
// reported as store.ErrNotFound (and deleted when it has ended).
func (s *Store) loadRecord(ctx context.Context, id string) (*Data, *store.Session, error) {
	rec, err := s.db.GetSession(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	now := s.opts.Clock()
	if !now.Before(rec.ExpiresAt) {
		_ = s.db.DeleteSession(ctx, id)
		return nil, nil, store.ErrNotFound
	}
	plain, err := s.sealer.Open(rec.Data, []byte(id))
	if err != nil {
		// Unreadable (e.g. its data key was retired): treat as signed out.
		return nil, nil, store.ErrNotFound
	}
	var d Data
	if err := json.Unmarshal(plain, &d); err != nil {
		return nil, nil, store.ErrNotFound
	}
	if s.opts.MaxLifetime > 0 && !now.Before(d.CreatedAt.Add(s.opts.MaxLifetime)) {
		_ = s.db.DeleteSession(ctx, id)
		return nil, nil, store.ErrNotFound
	}
	return &d, rec, nil
}

// touch slides the idle expiry of a session that is in use. Most requests only read the session,
// so without this the idle timeout would end an active session as if it were an absolute limit.
// It writes at most once per touchInterval, never past the absolute lifetime, and skips the write
// while a refresh or save holds the session (those extend the expiry themselves).
func (s *Store) touch(ctx context.Context, rec *store.Session) {
	if s.opts.IdleTimeout <= 0 {
		return
	}
	now := s.opts.Clock()
	if now.Sub(rec.UpdatedAt) < min(s.opts.IdleTimeout/10, time.Minute) {
		return
	}
	unlock, ok := s.locks.tryLock(rec.ID)
	if !ok {
		return
	}
	defer unlock()
	cur, err := s.db.GetSession(ctx, rec.ID)
	if err != nil || !now.Before(cur.ExpiresAt) {
		return
	}
	cur.UpdatedAt, cur.ExpiresAt = now.UTC(), s.expiry(cur.CreatedAt, now)
	_ = s.db.SaveSession(ctx, cur)
}

// expiry is when a session created at created and used at now ends: idle timeout from now, capped
// by the absolute lifetime.
func (s *Store) expiry(created, now time.Time) time.Time {
	expires := now.UTC().Add(s.opts.IdleTimeout)
	if limit := created.UTC().Add(s.opts.MaxLifetime); s.opts.MaxLifetime > 0 && limit.Before(expires) {
		expires = limit
	}
	return expires
}

// Save writes the session record and sets the cookie; MaxAge < 0 deletes both.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.db.DeleteSession(r.Context(), sess.ID); err != nil {
				return fmt.Errorf("auth: delete session: %w", err)
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", &sessions.Options{Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.opts.Secure, SameSite: http.SameSiteLaxMode}))
		return nil
	}
	d := dataOf(sess)
	if sess.ID == "" {
		sess.ID = randomID()
	} else if !sess.IsNew {
		// The record was loaded at the start of this request; other requests of the same session
		// may have changed it since. Serialise with them and re-read it first.
		unlock := s.locks.lock(sess.ID)
		defer unlock()
		cur, err := s.load(r.Context(), sess.ID)
		if errors.Is(err, store.ErrNotFound) {
			// Ended meanwhile (signed out in another tab, expired, refresh refused): it stays ended.
			return nil
		}
		if err != nil {
			return fmt.Errorf("auth: reread session: %w", err)
		}
		// A refresh by a concurrent request rotated the tokens: keep the newer set, or the next
		// refresh would present a refresh token that was already redeemed.
		if cur.Token != nil && (d.Token == nil || cur.Token.Expiry.After(d.Token.Expiry)) && sameUser(cur.User, d.User) {
			d.Token = cur.Token
		}
	}
	if err := s.write(r.Context(), sess.ID, d); err != nil {
		return err
	}
	encoded, err := securecookie.EncodeMulti(sess.Name(), sess.ID, s.codecs...)
	if err != nil {
		return fmt.Errorf("auth: encode session cookie: %w", err)
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, s.cookieOptions()))
	return nil
}

func (s *Store) write(ctx context.Context, id string, d *Data) error {
	plain, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("auth: encode session: %w", err)
	}
	sealed, err := s.sealer.Seal(plain, []byte(id))
	if err != nil {
		return fmt.Errorf("auth: seal session: %w", err)
	}
	now := s.opts.Clock().UTC()
	if err := s.db.SaveSession(ctx, &store.Session{ID: id, Data: sealed, CreatedAt: d.CreatedAt, UpdatedAt: now, ExpiresAt: s.expiry(d.CreatedAt, now)}); err != nil {
		return fmt.Errorf("auth: save session: %w", err)
	}
	return nil
}

func (s *Store) lock(id string) func() { return s.locks.lock(id) }

func sameUser(a, b *Identity) bool {
	return a != nil && b != nil && a.TenantID == b.TenantID && a.ObjectID == b.ObjectID
}

// keyedMutex is one mutex per key, kept only while someone holds or waits for it, so it does not
// grow with every session ever seen.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) acquire(id string) *refMutex {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]*refMutex{}
	}
	e := k.m[id]
	if e == nil {
		e = &refMutex{}
		k.m[id] = e
	}
	e.refs++
	return e
}

func (k *keyedMutex) release(id string, e *refMutex) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(k.m, id)
	}
}

// lock waits for the key's mutex and returns its unlock.
func (k *keyedMutex) lock(id string) func() {
	e := k.acquire(id)
	e.Lock()
	return func() {
		e.Unlock()
		k.release(id, e)
	}
}

// tryLock takes the key's mutex only if it is free.
func (k *keyedMutex) tryLock(id string) (func(), bool) {
	e := k.acquire(id)
	if !e.TryLock() {
		k.release(id, e)
		return nil, false
	}
	return func() {
		e.Unlock()
		k.release(id, e)
	}, true
}

func dataOf(sess *sessions.Session) *Data {
	if d, ok := sess.Values[dataKey].(*Data); ok && d != nil {
		return d
	}
	d := &Data{CreatedAt: time.Now().UTC(), CSRF: randomToken()}
	sess.Values[dataKey] = d
	return d
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomID is a 160-bit session id.
func randomID() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return strings.ToLower(b32.EncodeToString(b))
}

// randomToken is a 256-bit URL-safe random string.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return strings.ToLower(b32.EncodeToString(b))
}
