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

// Created is what the result page shows once, right after an invitation was sent.
type Created struct {
	ID        string `json:"id"`
	RedeemURL string `json:"redeem,omitempty"`
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
}

// Store is a gorilla/sessions Store that keeps session data in the database, encrypted,
// and gives the browser only a signed, encrypted session id.
type Store struct {
	db     SessionDB
	sealer Sealer
	codecs []securecookie.Codec
	opts   StoreOptions

	locks sync.Map // session id → *sync.Mutex, serialising token refreshes
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

// CookieName is the session cookie's name.
func (s *Store) CookieName() string { return s.opts.CookieName }

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
	d, err := s.load(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	sess.ID = id
	sess.IsNew = false
	sess.Values[dataKey] = d
	return sess, nil
}

func (s *Store) load(ctx context.Context, id string) (*Data, error) {
	rec, err := s.db.GetSession(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.opts.Clock()
	if !now.Before(rec.ExpiresAt) {
		_ = s.db.DeleteSession(ctx, id)
		return nil, store.ErrNotFound
	}
	plain, err := s.sealer.Open(rec.Data, []byte(id))
	if err != nil {
		// Unreadable (e.g. its data key was retired): treat as signed out.
		return nil, store.ErrNotFound
	}
	var d Data
	if err := json.Unmarshal(plain, &d); err != nil {
		return nil, store.ErrNotFound
	}
	if s.opts.MaxLifetime > 0 && !now.Before(d.CreatedAt.Add(s.opts.MaxLifetime)) {
		_ = s.db.DeleteSession(ctx, id)
		return nil, store.ErrNotFound
	}
	return &d, nil
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
	if sess.ID == "" {
		sess.ID = randomID()
	}
	d := dataOf(sess)
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
	expires := now.Add(s.opts.IdleTimeout)
	if limit := d.CreatedAt.Add(s.opts.MaxLifetime); s.opts.MaxLifetime > 0 && limit.Before(expires) {
		expires = limit
	}
	if err := s.db.SaveSession(ctx, &store.Session{ID: id, Data: sealed, CreatedAt: d.CreatedAt, UpdatedAt: now, ExpiresAt: expires}); err != nil {
		return fmt.Errorf("auth: save session: %w", err)
	}
	return nil
}

func (s *Store) lock(id string) func() {
	m, _ := s.locks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
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
