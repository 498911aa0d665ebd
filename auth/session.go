package auth

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/gorilla/sessions"
)

// Session is one request's view of the server-side session, with typed access to its data.
type Session struct {
	raw   *sessions.Session
	store *Store
	Data  *Data
}

// Load returns the request's session (a fresh, unsaved one when there is none).
func (s *Store) Load(r *http.Request) (*Session, error) {
	raw, err := s.Get(r, s.opts.CookieName)
	if err != nil {
		return nil, err
	}
	return &Session{raw: raw, store: s, Data: dataOf(raw)}, nil
}

// ID is the session id ("" until first saved).
func (s *Session) ID() string { return s.raw.ID }

// IsNew reports whether the browser sent no valid session.
func (s *Session) IsNew() bool { return s.raw.IsNew }

// User is the signed-in identity, or nil.
func (s *Session) User() *Identity { return s.Data.User }

// Save persists the session and sets its cookie; call it before writing the response body.
func (s *Session) Save(r *http.Request, w http.ResponseWriter) error {
	return s.store.Save(r, w, s.raw)
}

// Destroy deletes the server-side record and expires the cookie.
func (s *Session) Destroy(r *http.Request, w http.ResponseWriter) error {
	s.raw.Options.MaxAge = -1
	err := s.store.Save(r, w, s.raw)
	s.raw.ID = ""
	s.raw.Options.MaxAge = 0
	s.Data = &Data{CreatedAt: s.store.opts.Clock().UTC(), CSRF: randomToken()}
	s.raw.Values[dataKey] = s.Data
	return err
}

// Renew discards the old session record and gives the session a new id and CSRF token, as at sign-in,
// so that an id planted before sign-in never becomes authenticated. The caller saves afterwards.
func (s *Session) Renew(r *http.Request) error {
	if s.raw.ID != "" {
		if err := s.store.db.DeleteSession(r.Context(), s.raw.ID); err != nil {
			return err
		}
	}
	s.raw.ID = ""
	s.raw.IsNew = true
	s.Data = &Data{CreatedAt: s.store.opts.Clock().UTC(), CSRF: randomToken(), Flash: s.Data.Flash}
	s.raw.Values[dataKey] = s.Data
	return nil
}

// CheckCSRF compares a submitted token with the session's in constant time.
func (s *Session) CheckCSRF(token string) bool {
	return token != "" && s.Data.CSRF != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.Data.CSRF)) == 1
}

// PopFlash returns and clears the one-shot message.
func (s *Session) PopFlash() string {
	f := s.Data.Flash
	s.Data.Flash = ""
	return f
}

// AddFlow remembers a login attempt; at most a few are kept so parallel tabs work. The kept
// flows are copied to a new slice, so the session's previous slice is never written through.
func (s *Session) AddFlow(f Flow) {
	now := s.store.opts.Clock()
	kept := make([]Flow, 0, maxFlows)
	for _, old := range s.Data.Flows {
		if now.Before(old.Expires) {
			kept = append(kept, old)
		}
	}
	if len(kept) >= maxFlows {
		kept = kept[len(kept)-maxFlows+1:]
	}
	kept = append(kept, f)
	s.Data.Flows = kept
}

// TakeFlow removes and returns the unexpired login attempt whose state matches, compared in constant time.
func (s *Session) TakeFlow(state string) (Flow, bool) {
	now := s.store.opts.Clock()
	var found Flow
	ok := false
	kept := s.Data.Flows[:0]
	for _, f := range s.Data.Flows {
		if state != "" && subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) == 1 && now.Before(f.Expires) {
			found, ok = f, true
			continue
		}
		kept = append(kept, f)
	}
	s.Data.Flows = kept
	return found, ok
}

const maxFlows = 4

// flowLifetime bounds how long a sign-in may take between /login and the callback.
const flowLifetime = 10 * time.Minute
