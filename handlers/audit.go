package handlers

import (
	"github.com/labstack/echo/v4"

	"portico/auth"
	"portico/store"
)

// audit appends an event for an action the HTTP layer itself performs (sign-in, sign-out). Failures
// are logged: the action has already happened and must not be reported as failed.
func (s *Server) audit(c echo.Context, actor *auth.Identity, action, target, outcome, detail string) {
	ev := &store.AuditEvent{
		Time: s.Clock().UTC(), Action: action, Target: target, Outcome: outcome, Detail: detail,
		ClientIP: c.RealIP(), RequestID: requestID(c),
	}
	if actor != nil {
		ev.ActorTID, ev.ActorOID, ev.ActorUPN = actor.TenantID, actor.ObjectID, actor.UPN
	}
	if err := s.Audit.AppendAudit(c.Request().Context(), ev); err != nil {
		s.Logger.Error("audit append failed", "request_id", requestID(c), "action", action, "err", err)
	}
}
