package invite

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"strings"

	"portico/store"
)

// Meta describes the HTTP request behind an action, for the audit trail.
type Meta struct {
	ClientIP  string
	RequestID string
}

// auditDetail is the JSON in AuditEvent.Detail. It never holds a redemption URL or a join token.
type auditDetail struct {
	RequestedType    string `json:"requestedType,omitempty"`
	EffectiveType    string `json:"effectiveType,omitempty"`
	SendEmail        *bool  `json:"sendEmail,omitempty"`
	HasCC            bool   `json:"hasCC,omitempty"`
	RedirectHost     string `json:"redirectHost,omitempty"`
	DisplayName      string `json:"displayName,omitempty"`
	InvitationID     string `json:"invitationId,omitempty"`
	GraphUserID      string `json:"graphUserId,omitempty"`
	ResendOf         string `json:"resendOf,omitempty"`
	Verdict          string `json:"verdict,omitempty"`
	Rule             string `json:"rule,omitempty"`
	Status           int    `json:"status,omitempty"`
	ErrorCode        string `json:"errorCode,omitempty"`
	Note             string `json:"note,omitempty"`
	JoinLinkID       string `json:"joinLinkId,omitempty"`
	TokenFingerprint string `json:"tokenFingerprint,omitempty"`
}

func (d auditDetail) String() string {
	b, err := json.Marshal(d)
	if err != nil || string(b) == "{}" {
		return ""
	}
	return string(b)
}

func (s *Service) event(inv Inviter, meta Meta, action, target string, outcome Outcome, graphRequestID string, d auditDetail) *store.AuditEvent {
	return &store.AuditEvent{
		Time:           s.now().UTC(),
		ActorTID:       inv.TenantID,
		ActorOID:       inv.ObjectID,
		ActorUPN:       inv.UPN,
		Action:         action,
		Target:         target,
		Outcome:        string(outcome),
		Detail:         d.String(),
		GraphRequestID: graphRequestID,
		ClientIP:       meta.ClientIP,
		RequestID:      meta.RequestID,
	}
}

// audit appends one event outside any transaction; a failure is logged and returned.
func (s *Service) audit(ctx context.Context, ev *store.AuditEvent) error {
	actx, cancel := s.detach(ctx)
	defer cancel()
	if err := s.store.AppendAudit(actx, ev); err != nil {
		s.log.ErrorContext(ctx, "invite: audit append failed", "action", ev.Action, "outcome", ev.Outcome, "request_id", ev.RequestID, "err", err)
		return err
	}
	return nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns a record id in the store's format: 16 random bytes, base32, lower case.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.ToLower(idEncoding.EncodeToString(b))
}
