package invite

import (
	"context"
	"fmt"
	"time"

	"portico/webhooks"
)

// Hooks let the program observe the domain (metrics) without invite importing a metrics library.
// Every field may be nil.
type Hooks struct {
	// Outcome hears each invitation attempt's outcome: action is ActionInvitationCreate or
	// ActionInvitationResend; outcome one of the Outcome values (also for attempts refused before
	// anything was recorded).
	Outcome func(action string, outcome Outcome)
	// JoinOpened hears each visit of a live join link.
	JoinOpened func()
}

func (s *Service) observeOutcome(action string, o Outcome) {
	if s.hooks.Outcome != nil && (action == ActionInvitationCreate || action == ActionInvitationResend) {
		s.hooks.Outcome(action, o)
	}
}

// InvitationEventData is the data of invitation.created and invitation.accepted webhooks: ids,
// the partner's address and states; never the redemption URL or a join link.
type InvitationEventData struct {
	InvitationID string     `json:"invitationId"` // Portico's record id
	TenantID     string     `json:"tenantId"`
	Email        string     `json:"email"`
	DisplayName  string     `json:"displayName,omitempty"`
	UserType     string     `json:"userType"`
	GraphUserID  string     `json:"graphUserId,omitempty"`
	InviterOID   string     `json:"inviterId"`
	InviterUPN   string     `json:"inviterUpn,omitempty"`
	State        string     `json:"externalUserState,omitempty"`
	SentAt       *time.Time `json:"sentAt,omitempty"`
	AcceptedAt   *time.Time `json:"acceptedAt,omitempty"`
	Resend       bool       `json:"resend,omitempty"`
	SendEmail    *bool      `json:"sendInvitationMessage,omitempty"`
}

func eventData(r *Invitation) InvitationEventData {
	return InvitationEventData{InvitationID: r.ID, TenantID: r.TenantID, Email: r.Email, DisplayName: r.DisplayName,
		UserType: r.UserType, GraphUserID: r.GraphUserID, InviterOID: r.InviterOID, InviterUPN: r.InviterUPN,
		State: r.ExternalUserState}
}

// emitCreated writes invitation.created for the attempt's record in tx (the transaction that records
// it). The id names the Graph write: the intent, else the record and its send time.
func (a *attempt) emitCreated(ctx context.Context, tx Store) error {
	d := eventData(a.rec)
	sent := a.rec.SentAt.UTC()
	d.SentAt, d.Resend, d.SendEmail = &sent, a.existing != nil, &a.rec.SendEmail
	id := fmt.Sprintf("invitation.created:%s:%d", a.rec.ID, sent.UnixMicro())
	if a.intent != nil {
		id = "invitation.created:" + a.intent.ID
	}
	if err := webhooks.Emit(ctx, tx, webhooks.Event{ID: id, Type: webhooks.InvitationCreated, Time: a.s.now(), Data: d}); err != nil {
		return err
	}
	if a.rec.ExternalUserState == stateAccepted {
		// Confirmed by lookup after the partner had already accepted: its state is never seen changing.
		return a.s.emitAccepted(ctx, tx, a.rec, a.rec.ExternalUserStateChangedAt)
	}
	return nil
}

func (s *Service) emitAccepted(ctx context.Context, tx Store, r *Invitation, changedAt *time.Time) error {
	d := eventData(r)
	d.State = stateAccepted
	if changedAt != nil {
		t := changedAt.UTC()
		d.AcceptedAt = &t
	}
	return webhooks.Emit(ctx, tx, webhooks.Event{ID: "invitation.accepted:" + r.ID, Type: webhooks.InvitationAccepted, Time: s.now(), Data: d})
}

// approvalEventData is the data of approval.requested and approval.decided: ids, addresses and the
// decision, never the invitation message or a link.
func approvalEventData(r *ApprovalRequest) webhooks.ApprovalData {
	d := webhooks.ApprovalData{ApprovalID: r.ID, TenantID: r.TenantID, Email: r.Email, UserType: r.Request.UserType,
		RequesterOID: r.Requester.ObjectID, RequesterUPN: r.Requester.UPN, InvitationID: r.InvitationID}
	if d.UserType == "" {
		d.UserType = UserTypeGuest
	}
	return d
}

// emitApprovalRequested writes approval.requested for r in tx (the transaction that records it).
func (s *Service) emitApprovalRequested(ctx context.Context, tx webhooks.Outbox, r *ApprovalRequest) error {
	return webhooks.Emit(ctx, tx, webhooks.Event{ID: "approval.requested:" + r.ID, Type: webhooks.ApprovalRequested,
		Time: s.now(), Data: approvalEventData(r)})
}

// emitApprovalDecided writes approval.decided ("approved" or "denied") for r in tx, the transaction
// that records the decision; one per request (its id names the request).
func (s *Service) emitApprovalDecided(ctx context.Context, tx webhooks.Outbox, r *ApprovalRequest, decision string, by Person, at time.Time, invitationID string) error {
	d := approvalEventData(r)
	at = at.UTC()
	d.Decision, d.DeciderOID, d.DeciderUPN, d.DecidedAt = decision, by.ObjectID, by.UPN, &at
	if invitationID != "" {
		d.InvitationID = invitationID
	}
	return webhooks.Emit(ctx, tx, webhooks.Event{ID: "approval.decided:" + r.ID, Type: webhooks.ApprovalDecided,
		Time: s.now(), Data: d})
}

// emitGuestChange writes guest.disabled (effect EffectDisable) or guest.deleted (EffectDelete)
// in tx, the transaction that records the account state Portico set; the id names the user and
// the time of the change.
func emitGuestChange(ctx context.Context, tx webhooks.Outbox, effect string, d webhooks.GuestData, at time.Time) error {
	at = at.UTC()
	typ := webhooks.GuestDisabled
	d.DisabledAt, d.DeletedAt = at, time.Time{}
	if effect == EffectDelete {
		typ = webhooks.GuestDeleted
		d.DisabledAt, d.DeletedAt = time.Time{}, at
	}
	return webhooks.Emit(ctx, tx, webhooks.Event{ID: fmt.Sprintf("%s:%s:%d", typ, d.GraphUserID, at.Unix()), Type: typ, Time: at, Data: d})
}

// lifecycleReason says why the lifecycle disabled a guest: the pending-expiry policy, or an
// administrator (actorName is "policy" for the policy).
func lifecycleReason(p Planned, actorName string) string {
	if actorName != "policy" {
		return "by an administrator (expired invitation)"
	}
	return "invitation not accepted in time (" + p.Policy + ")"
}
