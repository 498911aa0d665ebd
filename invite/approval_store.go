package invite

import (
	"context"
	"encoding/json"
	"fmt"

	"portico/store"
)

// ApprovalStoreAdapter makes a *store.DB an ApprovalStore.
type ApprovalStoreAdapter struct {
	*store.Queries
	db *store.DB
}

var _ ApprovalStore = (*ApprovalStoreAdapter)(nil)

// NewApprovalStore wraps an open database for NewApprovals.
func NewApprovalStore(db *store.DB) *ApprovalStoreAdapter {
	return &ApprovalStoreAdapter{Queries: db.Queries, db: db}
}

// ApprovalTx runs fn in one database transaction; a nested ApprovalTx joins it.
func (a *ApprovalStoreAdapter) ApprovalTx(ctx context.Context, fn func(ApprovalStore) error) error {
	if a.db == nil {
		return fn(a)
	}
	return a.db.InTx(ctx, func(q *store.Queries) error { return fn(&ApprovalStoreAdapter{Queries: q}) })
}

func approvalRow(r *ApprovalRequest) (*store.ApprovalRequest, error) {
	req, err := json.Marshal(frozenRequest{DisplayName: r.Request.DisplayName, Email: r.Request.Email, Message: r.Request.Message,
		CC: r.Request.CC, RedirectURL: r.Request.RedirectURL, Language: r.Request.Language, UserType: r.Request.UserType,
		SendEmail: r.Request.SendEmail, Resend: r.Request.Resend, Sponsors: r.Request.Sponsors, Groups: r.Request.Groups})
	if err != nil {
		return nil, fmt.Errorf("invite: encoding the approval request: %w", err)
	}
	reasons, err := json.Marshal(r.Reasons)
	if err != nil {
		return nil, fmt.Errorf("invite: encoding the approval reasons: %w", err)
	}
	return &store.ApprovalRequest{
		ID: r.ID, TenantID: r.TenantID, RequesterOID: r.Requester.ObjectID, RequesterUPN: r.Requester.UPN,
		RequesterName: r.Requester.Name, RequesterEmail: r.Requester.Email, Email: r.Email, RequestJSON: string(req),
		ReasonsJSON: string(reasons), AssignedOID: r.Assigned.ObjectID, AssignedName: r.Assigned.Name, AssignedEmail: r.Assigned.Email, State: string(r.State),
		DecidedByOID: r.DecidedBy.ObjectID, DecidedByUPN: r.DecidedBy.UPN, DecidedByName: r.DecidedBy.Name,
		DecisionReason: r.DecisionReason, LastError: r.LastError, InvitationID: r.InvitationID,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, ClaimedAt: r.ClaimedAt, DecidedAt: r.DecidedAt,
	}, nil
}

func approvalFromRow(row *store.ApprovalRequest) (*ApprovalRequest, error) {
	var fr frozenRequest
	if err := json.Unmarshal([]byte(row.RequestJSON), &fr); err != nil {
		return nil, fmt.Errorf("invite: approval request %s: unreadable request: %w", row.ID, err)
	}
	r := &ApprovalRequest{
		ID: row.ID, TenantID: row.TenantID, Email: row.Email, State: ApprovalState(row.State),
		Requester: Person{ObjectID: row.RequesterOID, UPN: row.RequesterUPN, Name: row.RequesterName, Email: row.RequesterEmail},
		Request: Request{DisplayName: fr.DisplayName, Email: fr.Email, Message: fr.Message, CC: fr.CC, RedirectURL: fr.RedirectURL,
			Language: fr.Language, UserType: fr.UserType, SendEmail: fr.SendEmail, Resend: fr.Resend, Sponsors: fr.Sponsors, Groups: fr.Groups},
		Assigned:       Person{ObjectID: row.AssignedOID, Name: row.AssignedName, Email: row.AssignedEmail},
		DecidedBy:      Person{ObjectID: row.DecidedByOID, UPN: row.DecidedByUPN, Name: row.DecidedByName},
		DecisionReason: row.DecisionReason, LastError: row.LastError, InvitationID: row.InvitationID,
		CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt, ClaimedAt: row.ClaimedAt, DecidedAt: row.DecidedAt,
	}
	if err := json.Unmarshal([]byte(row.ReasonsJSON), &r.Reasons); err != nil {
		return nil, fmt.Errorf("invite: approval request %s: unreadable reasons: %w", row.ID, err)
	}
	return r, nil
}

func approvalsFromRows(rows []store.ApprovalRequest) ([]ApprovalRequest, error) {
	out := make([]ApprovalRequest, 0, len(rows))
	for i := range rows {
		r, err := approvalFromRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}
