package invite

import (
	"context"
	"encoding/json"

	"portico/store"
)

// Via is how an action reached Portico.
type Via string

// Ways an action reaches Portico.
const (
	ViaHTTP    Via = "http"    // a browser or API request of a signed-in employee
	ViaJob     Via = "job"     // background work
	ViaCommand Via = "command" // the command line (portico invite, …)
)

// Meta describes what carried an action, for the audit trail and the logs: an HTTP request, a
// background job or a command. Build it with HTTPMeta, JobMeta or CommandMeta.
type Meta struct {
	Via       Via    // "" counts as ViaHTTP
	RequestID string // the HTTP request id (ViaHTTP), or the command's run id (ViaCommand)
	ClientIP  string // ViaHTTP only
	JobID     string // ViaJob only
}

// HTTPMeta describes an HTTP request.
func HTTPMeta(requestID, clientIP string) Meta {
	return Meta{Via: ViaHTTP, RequestID: requestID, ClientIP: clientIP}
}

// JobMeta describes a background job.
func JobMeta(jobID string) Meta { return Meta{Via: ViaJob, JobID: jobID} }

// CommandMeta describes a command-line run; runID names the run in logs and the audit trail.
func CommandMeta(runID string) Meta { return Meta{Via: ViaCommand, RequestID: runID} }

// logAttrs are the attributes every log line about the action carries.
func (m Meta) logAttrs() []any {
	attrs := []any{"request_id", m.RequestID}
	if m.Via != "" && m.Via != ViaHTTP {
		attrs = append(attrs, "via", string(m.Via))
	}
	if m.JobID != "" {
		attrs = append(attrs, "job_id", m.JobID)
	}
	return attrs
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
	Via              Via    `json:"via,omitempty"`   // only when not ViaHTTP
	JobID            string `json:"jobId,omitempty"` // ViaJob
	// ApprovalID is the approval request an approver approved this invitation through;
	// OnBehalfOf is then the requester (the record's owner), the actor being the approver.
	ApprovalID string `json:"approvalId,omitempty"`
	OnBehalfOf string `json:"onBehalfOf,omitempty"`
	// GraphIdentity is "application" when Portico called Graph as itself on the employee's behalf.
	GraphIdentity string `json:"graphIdentity,omitempty"`
	// Policy is the lifecycle setting that caused the action (a reminder, an expiry).
	Policy string `json:"policy,omitempty"`
}

func (d auditDetail) String() string {
	b, err := json.Marshal(d)
	if err != nil || string(b) == "{}" {
		return ""
	}
	return string(b)
}

func (s *Service) event(inv Inviter, meta Meta, action, target string, outcome Outcome, graphRequestID string, d auditDetail) *store.AuditEvent {
	if meta.Via != "" && meta.Via != ViaHTTP {
		d.Via, d.JobID = meta.Via, meta.JobID
	}
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
