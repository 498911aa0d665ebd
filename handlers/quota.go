package handlers

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"portico/store"
)

// quota counts invitations per user in fixed hour and day windows (PORTICO_INVITE_QUOTA).
type quota struct {
	mu     sync.Mutex
	counts map[string]*quotaCount
	swept  time.Time
}

type quotaCount struct {
	hour, day           int
	hourStart, dayStart time.Time
}

// inviteQuota returns the middleware that refuses a user's invitation beyond the hourly or daily
// quota with 429 and Retry-After, and records the refusal in the audit trail. It is keyed on the
// user's tenant and object id, never on the client address.
//
// The counters live in the returned middleware, not in the handler it wraps: echo v4 applies
// route middleware anew on every request, so state created inside func(next) would start empty
// each time. Every route that sends an invitation must share the one value this returns.
func (s *Server) inviteQuota() echo.MiddlewareFunc {
	q := &quota{counts: map[string]*quotaCount{}}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			perHour, perDay := s.Config.InviteQuotaHour, s.Config.InviteQuotaDay
			u := currentUser(c)
			if u == nil || (perHour == 0 && perDay == 0) {
				return next(c)
			}
			wait := q.take(u.TenantID+"/"+u.ObjectID, s.Clock(), perHour, perDay)
			if wait > 0 {
				c.Response().Header().Set("Retry-After", strconv.Itoa(int(max(1, math.Ceil(wait.Seconds())))))
				s.audit(c, u, "invitation.create", "", store.OutcomeThrottled, `{"reason":"quota"}`)
				return echo.NewHTTPError(http.StatusTooManyRequests, "You have sent as many invitations as Portico allows for now. Try again later.")
			}
			return next(c)
		}
	}
}

// take counts one invitation or returns how long until the next one is allowed.
func (q *quota) take(key string, now time.Time, perHour, perDay int) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if now.Sub(q.swept) >= time.Hour {
		q.sweep(now)
	}
	qc := q.counts[key]
	if qc == nil {
		qc = &quotaCount{hourStart: now, dayStart: now}
		q.counts[key] = qc
	}
	if now.Sub(qc.hourStart) >= time.Hour {
		qc.hour, qc.hourStart = 0, now
	}
	if now.Sub(qc.dayStart) >= 24*time.Hour {
		qc.day, qc.dayStart = 0, now
	}
	if perDay > 0 && qc.day >= perDay {
		return qc.dayStart.Add(24 * time.Hour).Sub(now)
	}
	if perHour > 0 && qc.hour >= perHour {
		return qc.hourStart.Add(time.Hour).Sub(now)
	}
	qc.hour++
	qc.day++
	return 0
}

// sweep forgets users whose windows have both ended, so the map holds only recent senders.
func (q *quota) sweep(now time.Time) {
	for k, qc := range q.counts {
		if now.Sub(qc.hourStart) >= time.Hour && now.Sub(qc.dayStart) >= 24*time.Hour {
			delete(q.counts, k)
		}
	}
	q.swept = now
}
