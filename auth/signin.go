package auth

import (
	"context"
	"net/http"

	"portico/store"
)

// Audit actions the sign-in flow records.
const (
	ActionSignIn  = "signin"
	ActionSignOut = "signout"
)

// AuditLog is where sign-in and sign-out are recorded (store.DB satisfies it).
type AuditLog interface {
	AppendAudit(ctx context.Context, ev *store.AuditEvent) error
}

// Meta describes the request behind a sign-in or sign-out, for the audit trail.
type Meta struct {
	ClientIP  string
	RequestID string
}

// SignIn makes the session the signed-in session of id: it gets a new id and CSRF token (so an id
// planted before sign-in never becomes authenticated), holds the tokens, is saved, and the sign-in
// is audited. An audit failure is logged, not returned: the sign-in has already happened.
func (s *Session) SignIn(r *http.Request, w http.ResponseWriter, id *Identity, tok *Token, m Meta) error {
	if err := s.Renew(r); err != nil {
		return err
	}
	s.Data.User = id
	s.Data.Token = tok
	if err := s.Save(r, w); err != nil {
		return err
	}
	s.store.audit(r.Context(), id, ActionSignIn, m)
	return nil
}

// SignOut ends the session (record and cookie) and audits it when someone was signed in. It
// returns the ID token to hint the identity provider's sign-out with ("" when there is none).
func (s *Session) SignOut(r *http.Request, w http.ResponseWriter, m Meta) (string, error) {
	hint := ""
	if u := s.User(); u != nil {
		if s.Data.Token != nil {
			hint = s.Data.Token.IDToken
		}
		s.store.audit(r.Context(), u, ActionSignOut, m)
	}
	return hint, s.Destroy(r, w)
}

func (s *Store) audit(ctx context.Context, id *Identity, action string, m Meta) {
	if s.opts.Audit == nil {
		return
	}
	ev := &store.AuditEvent{
		Time: s.opts.Clock().UTC(), ActorTID: id.TenantID, ActorOID: id.ObjectID, ActorUPN: id.UPN,
		Action: action, Target: id.UPN, Outcome: "success", ClientIP: m.ClientIP, RequestID: m.RequestID,
	}
	if err := s.opts.Audit.AppendAudit(ctx, ev); err != nil {
		s.opts.Logger.Error("audit append failed", "request_id", m.RequestID, "action", action, "err", err)
	}
}
