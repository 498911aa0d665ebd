package webhooks

import "time"

// Data shapes of the events other features emit (the invite package has its own for
// invitation.created and invitation.accepted: invite.InvitationEventData). They carry ids,
// addresses, counts and states only. Suggested event ids name the occurrence, so a retried
// transaction or a second instance writes the event once:
//
//	approval.requested  "approval.requested:<approval id>"
//	approval.decided    "approval.decided:<approval id>"
//	bulk.finished       "bulk.finished:<bulk job id>"
//	guest.disabled      "guest.disabled:<graph user id>:<unix seconds of the change>"
//	guest.deleted       "guest.deleted:<graph user id>:<unix seconds of the change>"
//
// Example, in the transaction that records an approval decision:
//
//	err := webhooks.Emit(ctx, q, webhooks.Event{ID: "approval.decided:" + a.ID, Type: webhooks.ApprovalDecided,
//		Data: webhooks.ApprovalData{ApprovalID: a.ID, TenantID: a.TenantID, Email: a.Email, Decision: "approved", …}})

// ApprovalData is the data of approval.requested and approval.decided.
type ApprovalData struct {
	ApprovalID   string     `json:"approvalId"`
	TenantID     string     `json:"tenantId"`
	Email        string     `json:"email"`    // the partner to invite
	UserType     string     `json:"userType"` // Guest or Member
	RequesterOID string     `json:"requesterId"`
	RequesterUPN string     `json:"requesterUpn,omitempty"`
	Decision     string     `json:"decision,omitempty"` // approval.decided: approved or denied
	DeciderOID   string     `json:"deciderId,omitempty"`
	DeciderUPN   string     `json:"deciderUpn,omitempty"`
	DecidedAt    *time.Time `json:"decidedAt,omitempty"`
	InvitationID string     `json:"invitationId,omitempty"` // approved and sent: Portico's record id
}

// BulkData is the data of bulk.finished: the job reached its final state (done: every row ended;
// cancelled or blocked: the rows not yet sent are counted in notSent).
type BulkData struct {
	BulkID     string    `json:"bulkId"`
	TenantID   string    `json:"tenantId"`
	AskerOID   string    `json:"askerId"`
	State      string    `json:"state"` // done, cancelled or blocked
	Rows       int       `json:"rows"`  // rows the owner confirmed (excluded rows not counted)
	Sent       int       `json:"sent"`  // invited or resent
	Refused    int       `json:"refused"`
	Failed     int       `json:"failed"`
	NotSent    int       `json:"notSent"`
	FinishedAt time.Time `json:"finishedAt"`
}

// GuestData is the data of guest.disabled (DisabledAt set) and guest.deleted (DeletedAt set).
type GuestData struct {
	TenantID    string    `json:"tenantId"`
	GraphUserID string    `json:"graphUserId"`
	Email       string    `json:"email,omitempty"`
	Reason      string    `json:"reason"` // e.g. "inactive 90 days", "sponsor left"
	ActorOID    string    `json:"actorId,omitempty"`
	DisabledAt  time.Time `json:"disabledAt,omitzero"`
	DeletedAt   time.Time `json:"deletedAt,omitzero"`
}
