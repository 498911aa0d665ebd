package handlers

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// Refused actions on invitations a user may make in a burst, and how fast the allowance returns.
const (
	refusalBurst = 10
	refusalEvery = 6 * time.Second
)

// idLength is the length of every record id Portico makes (store.NewID: 16 random bytes,
// unpadded base32, lower case).
const idLength = 26

// wellFormedID reports whether id has the shape of a Portico record id. Anything else (too long,
// control or bidi characters, invalid UTF-8, a NUL that PostgreSQL refuses) is answered 404 before
// the domain sees it, so it is never queried and never written to the audit trail.
func wellFormedID(id string) bool {
	if len(id) != idLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		if b := id[i]; (b < 'a' || b > 'z') && (b < '2' || b > '7') {
			return false
		}
	}
	return true
}

// guardInvitation protects the routes about one invitation: a malformed :id is 404 with nothing
// queried or audited, and a user whose actions keep being refused (not found, not allowed,
// conflicts) is slowed down with 429 before anything else happens, so the audit trail cannot be
// flooded with refusals.
func (s *Server) guardInvitation() echo.MiddlewareFunc {
	lim := newRefusalLimiter(refusalEvery, refusalBurst)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key := actorKey(c)
			now := s.Clock()
			if wait, ok := lim.allowed(key, now); !ok {
				setRetryAfter(c, max(wait, time.Second))
				s.Logger.Warn("refused actions rate-limited", "request_id", requestID(c), "path", c.Path(), "client_ip", c.RealIP())
				return errTooManyRefusals
			}
			if !wellFormedID(c.Param("id")) {
				lim.refused(key, now)
				return errNotFound
			}
			err := next(c)
			if err != nil && !errors.Is(err, errTooManyRefusals) {
				switch problemOf(err).Status {
				case http.StatusNotFound, http.StatusForbidden, http.StatusConflict:
					lim.refused(key, now)
				}
			}
			return err
		}
	}
}

// refusalLimiter is a token bucket per key that only refusals drain.
type refusalLimiter struct {
	mu    sync.Mutex
	every time.Duration
	burst int
	m     map[string]*rate.Limiter
}

func newRefusalLimiter(every time.Duration, burst int) *refusalLimiter {
	return &refusalLimiter{every: every, burst: burst, m: map[string]*rate.Limiter{}}
}

// allowed reports whether key may act now, and else how long until it may.
func (l *refusalLimiter) allowed(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		return 0, true
	}
	if t := b.TokensAt(now); t < 1 {
		return time.Duration((1 - t) * float64(l.every)), false
	}
	return 0, true
}

// refused takes one token from key's bucket.
func (l *refusalLimiter) refused(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= 10000 {
			l.prune(now)
		}
		b = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.m[key] = b
	}
	b.AllowN(now, 1)
}

// prune forgets the buckets that have filled up again: they behave as new ones.
func (l *refusalLimiter) prune(now time.Time) {
	for k, b := range l.m {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.m, k)
		}
	}
}
