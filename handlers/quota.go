package handlers

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"portico/auth"
	"portico/invite"
	"portico/store"
)

// inviteQuota returns the middleware that refuses a user's invitation beyond the hourly or daily
// quota (PORTICO_INVITE_QUOTA) with 429 and Retry-After, and records the refusal in the audit
// trail. It is keyed on the user's object id, never on the client address.
//
// The count comes from the audit trail (invitations created and re-sent in the last hour and
// day), so every instance sharing the database enforces one quota, and a restart forgets nothing.
func (s *Server) inviteQuota() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			perHour, perDay := s.Config.InviteQuotaHour, s.Config.InviteQuotaDay
			u := currentUser(c)
			if u == nil || (perHour == 0 && perDay == 0) {
				return next(c)
			}
			wait, err := s.quotaWait(c.Request().Context(), u, perHour, perDay)
			if err != nil {
				return err
			}
			if wait > 0 {
				c.Response().Header().Set("Retry-After", strconv.Itoa(int(max(1, math.Ceil(wait.Seconds())))))
				s.audit(c, u, invite.ActionInvitationCreate, "", store.OutcomeThrottled, `{"reason":"quota"}`)
				return echo.NewHTTPError(http.StatusTooManyRequests, "You have sent as many invitations as Portico allows for now. Try again later.")
			}
			return next(c)
		}
	}
}

// quotaWait is how long until the user may send another invitation (0: now).
func (s *Server) quotaWait(ctx context.Context, u *auth.Identity, perHour, perDay int) (time.Duration, error) {
	now := s.Clock()
	var wait time.Duration
	for _, win := range []struct {
		limit  int
		length time.Duration
	}{{perHour, time.Hour}, {perDay, 24 * time.Hour}} {
		if win.limit <= 0 {
			continue
		}
		since := now.Add(-win.length)
		var sent []time.Time
		for _, action := range []string{invite.ActionInvitationCreate, invite.ActionInvitationResend} {
			evs, err := s.Audit.ListAudit(ctx, store.AuditFilter{Actor: u.ObjectID, Action: action, Outcome: store.OutcomeCreated, Since: &since, Limit: win.limit})
			if err != nil {
				return 0, err
			}
			for _, ev := range evs {
				sent = append(sent, ev.Time)
			}
		}
		if len(sent) < win.limit {
			continue
		}
		// Newest first: the window frees a place when the limit-th newest ages out.
		slices.SortFunc(sent, func(a, b time.Time) int { return b.Compare(a) })
		wait = max(wait, sent[win.limit-1].Add(win.length).Sub(now))
	}
	return wait, nil
}
