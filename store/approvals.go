package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// States of an ApprovalRequest.
const (
	ApprovalPending   = "pending"   // waiting for an approver
	ApprovalApproving = "approving" // claimed by an approver whose invitation is being sent
	ApprovalApproved  = "approved"  // sent; InvitationID names the record
	ApprovalDenied    = "denied"    // refused by an approver, with a reason
	ApprovalExpired   = "expired"   // nobody decided before ExpiresAt
	ApprovalCancelled = "cancelled" // withdrawn by the requester
)

// ErrApprovalOpen is CreateApprovalRequest's answer when the requester has an open (pending or
// approving) request for the same address already.
var ErrApprovalOpen = errors.New("store: an open approval request for this address exists")

// ApprovalRequest is an invitation that policy sent to an approver instead of refusing it.
type ApprovalRequest struct {
	ID             string
	TenantID       string
	RequesterOID   string
	RequesterUPN   string
	RequesterName  string
	RequesterEmail string
	Email          string // the invitee's address, in lower case
	RequestJSON    string // the validated request, frozen
	ReasonsJSON    string // why it needs approval
	AssignedOID    string // the requester's manager, when managers approve
	AssignedName   string
	AssignedEmail  string // where the manager is told about the request
	State          string
	DecidedByOID   string
	DecidedByUPN   string
	DecidedByName  string
	DecisionReason string
	LastError      string // why the last approval could not send, for the approvers
	InvitationID   string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	ClaimedAt      *time.Time
	DecidedAt      *time.Time
	UpdatedAt      time.Time
}

const approvalColumns = `id, tenant_id, requester_oid, requester_upn, requester_name, requester_email, email, request_json,
reasons_json, assigned_oid, assigned_name, assigned_email, state, decided_by_oid, decided_by_upn, decided_by_name, decision_reason,
last_error, invitation_id, created_at, expires_at, claimed_at, decided_at, updated_at`

// CreateApprovalRequest inserts r (state pending unless set), giving it an id when it has none.
func (q *Queries) CreateApprovalRequest(ctx context.Context, r *ApprovalRequest) error {
	if r.ID == "" {
		r.ID = NewID()
	}
	if r.State == "" {
		r.State = ApprovalPending
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	r.CreatedAt, r.ExpiresAt = utc(r.CreatedAt), utc(r.ExpiresAt)
	r.UpdatedAt = r.CreatedAt
	if err := checkText([2]string{"id", r.ID}, [2]string{"tenant", r.TenantID}, [2]string{"requester", r.RequesterOID},
		[2]string{"requester upn", r.RequesterUPN}, [2]string{"requester name", r.RequesterName},
		[2]string{"requester email", r.RequesterEmail}, [2]string{"email", r.Email}, [2]string{"request", r.RequestJSON},
		[2]string{"reasons", r.ReasonsJSON}, [2]string{"assigned", r.AssignedOID}, [2]string{"assigned name", r.AssignedName},
		[2]string{"assigned email", r.AssignedEmail}); err != nil {
		return fmt.Errorf("store: create approval request: %w", err)
	}
	_, err := q.exec(ctx, `INSERT INTO approval_requests (`+approvalColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.TenantID, r.RequesterOID, r.RequesterUPN, r.RequesterName, r.RequesterEmail, r.Email, r.RequestJSON,
		r.ReasonsJSON, r.AssignedOID, r.AssignedName, r.AssignedEmail, r.State, r.DecidedByOID, r.DecidedByUPN, r.DecidedByName,
		r.DecisionReason, r.LastError, r.InvitationID, q.ts(r.CreatedAt), q.ts(r.ExpiresAt), q.nullTS(r.ClaimedAt),
		q.nullTS(r.DecidedAt), q.ts(r.UpdatedAt))
	if err != nil {
		if uniqueViolation(err) != "" {
			return ErrApprovalOpen
		}
		return fmt.Errorf("store: create approval request: %w", err)
	}
	return nil
}

// GetApprovalRequest reads one request; ErrNotFound when there is none.
func (q *Queries) GetApprovalRequest(ctx context.Context, id string) (*ApprovalRequest, error) {
	if !validText(id) {
		return nil, ErrNotFound
	}
	r, err := scanApproval(q.queryRow(ctx, "SELECT "+approvalColumns+" FROM approval_requests WHERE id = ?", id))
	if err != nil {
		return nil, notFound("approval request", err)
	}
	return r, nil
}

// ApprovalFilter selects approval requests; zero fields select everything.
type ApprovalFilter struct {
	TenantID     string
	RequesterOID string   // only this requester's
	States       []string // only these states
	// Involving: only requests assigned to (the manager) or decided by this object id.
	Involving string
	// DecidableBy: only requests assigned to no one or to this object id (a manager's requests are
	// not another approver's to decide).
	DecidableBy string
	Limit       int // 0: no limit
}

func (q *Queries) approvalWhere(f ApprovalFilter) (*where, error) {
	if err := checkText([2]string{"tenant", f.TenantID}, [2]string{"requester", f.RequesterOID}, [2]string{"involving", f.Involving},
		[2]string{"decidable by", f.DecidableBy}); err != nil {
		return nil, err
	}
	w := &where{}
	if f.TenantID != "" {
		w.add("tenant_id = ?", f.TenantID)
	}
	if f.RequesterOID != "" {
		w.add("requester_oid = ?", f.RequesterOID)
	}
	if len(f.States) > 0 {
		w.add("state IN ("+placeholders(len(f.States))+")", anySlice(f.States)...)
	}
	if f.Involving != "" {
		w.add("(assigned_oid = ? OR decided_by_oid = ?)", f.Involving, f.Involving)
	}
	if f.DecidableBy != "" {
		w.add("(assigned_oid = '' OR assigned_oid = ?)", f.DecidableBy)
	}
	return w, nil
}

// ListApprovalRequests returns the requests f selects, newest first.
func (q *Queries) ListApprovalRequests(ctx context.Context, f ApprovalFilter) ([]ApprovalRequest, error) {
	w, err := q.approvalWhere(f)
	if err != nil {
		return nil, fmt.Errorf("store: list approval requests: %w", err)
	}
	rows, err := q.query(ctx, "SELECT "+approvalColumns+" FROM approval_requests"+w.String()+
		" ORDER BY created_at DESC, id DESC"+q.page(f.Limit, 0), w.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list approval requests: %w", err)
	}
	defer rows.Close()
	var out []ApprovalRequest
	for rows.Next() {
		r, err := scanApproval(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list approval requests: %w", err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list approval requests: %w", err)
	}
	return out, nil
}

// CountApprovalRequests counts the requests f selects (Limit is ignored).
func (q *Queries) CountApprovalRequests(ctx context.Context, f ApprovalFilter) (int, error) {
	w, err := q.approvalWhere(f)
	if err != nil {
		return 0, fmt.Errorf("store: count approval requests: %w", err)
	}
	var n int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM approval_requests"+w.String(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count approval requests: %w", err)
	}
	return n, nil
}

// ApprovalChange moves a request from one state to another.
type ApprovalChange struct {
	From, To string
	At       time.Time
	// ValidAt, when set, also requires expires_at > ValidAt (an expired request cannot be claimed).
	ValidAt *time.Time
	// ClaimedBefore, when set, also requires claimed_at < ClaimedBefore (a stale claim).
	ClaimedBefore *time.Time
	// By, when ByOID is set, records who decided (or claimed).
	ByOID, ByUPN, ByName string
	Reason               string // decision_reason, when not empty
	LastError            string // last_error (always written: "" clears it)
	InvitationID         string // invitation_id, when not empty
	Claim                bool   // claimed_at = At
	Release              bool   // claimed_at, decided_by_* cleared (a claim given back)
	Decide               bool   // decided_at = At
}

// ChangeApprovalRequest applies ch when the request is in state ch.From (and passes ValidAt and
// ClaimedBefore), as one compare-and-set statement; changed is false when it was not. Two
// approvers acting at once: exactly one of them changes it.
func (q *Queries) ChangeApprovalRequest(ctx context.Context, id string, ch ApprovalChange) (changed bool, err error) {
	if !validText(id) {
		return false, ErrNotFound
	}
	if err := checkText([2]string{"by", ch.ByOID}, [2]string{"by upn", ch.ByUPN}, [2]string{"by name", ch.ByName},
		[2]string{"reason", ch.Reason}, [2]string{"last error", ch.LastError}, [2]string{"invitation", ch.InvitationID}); err != nil {
		return false, fmt.Errorf("store: change approval request: %w", err)
	}
	set := []string{"state = ?", "updated_at = ?", "last_error = ?"}
	args := []any{ch.To, q.ts(ch.At), ch.LastError}
	if ch.ByOID != "" {
		set = append(set, "decided_by_oid = ?", "decided_by_upn = ?", "decided_by_name = ?")
		args = append(args, ch.ByOID, ch.ByUPN, ch.ByName)
	}
	if ch.Reason != "" {
		set = append(set, "decision_reason = ?")
		args = append(args, ch.Reason)
	}
	if ch.InvitationID != "" {
		set = append(set, "invitation_id = ?")
		args = append(args, ch.InvitationID)
	}
	switch {
	case ch.Claim:
		set = append(set, "claimed_at = ?")
		args = append(args, q.ts(ch.At))
	case ch.Release:
		set = append(set, "claimed_at = NULL", "decided_by_oid = ''", "decided_by_upn = ''", "decided_by_name = ''")
	}
	if ch.Decide {
		set = append(set, "decided_at = ?")
		args = append(args, q.ts(ch.At))
	}
	cond := " WHERE id = ? AND state = ?"
	args = append(args, id, ch.From)
	if ch.ValidAt != nil {
		cond += " AND expires_at > ?"
		args = append(args, q.ts(*ch.ValidAt))
	}
	if ch.ClaimedBefore != nil {
		cond += " AND claimed_at < ?"
		args = append(args, q.ts(*ch.ClaimedBefore))
	}
	res, err := q.exec(ctx, "UPDATE approval_requests SET "+strings.Join(set, ", ")+cond, args...)
	if err != nil {
		return false, fmt.Errorf("store: change approval request: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: change approval request: %w", err)
	}
	return n == 1, nil
}

// DueApprovalRequests returns up to limit requests past their expiry that are still pending, and
// those claimed before claimedBefore and still approving (their approver's instance stopped), oldest first.
func (q *Queries) DueApprovalRequests(ctx context.Context, now, claimedBefore time.Time, limit int) ([]ApprovalRequest, error) {
	rows, err := q.query(ctx, "SELECT "+approvalColumns+` FROM approval_requests
WHERE (state = ? AND expires_at <= ?) OR (state = ? AND claimed_at < ?) ORDER BY expires_at, id`+q.page(limit, 0),
		ApprovalPending, q.ts(now), ApprovalApproving, q.ts(claimedBefore))
	if err != nil {
		return nil, fmt.Errorf("store: due approval requests: %w", err)
	}
	defer rows.Close()
	var out []ApprovalRequest
	for rows.Next() {
		r, err := scanApproval(rows)
		if err != nil {
			return nil, fmt.Errorf("store: due approval requests: %w", err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: due approval requests: %w", err)
	}
	return out, nil
}

func scanApproval(s scanner) (*ApprovalRequest, error) {
	var r ApprovalRequest
	err := s.Scan(&r.ID, &r.TenantID, &r.RequesterOID, &r.RequesterUPN, &r.RequesterName, &r.RequesterEmail, &r.Email,
		&r.RequestJSON, &r.ReasonsJSON, &r.AssignedOID, &r.AssignedName, &r.AssignedEmail, &r.State, &r.DecidedByOID, &r.DecidedByUPN,
		&r.DecidedByName, &r.DecisionReason, &r.LastError, &r.InvitationID, timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt},
		nullTimeCol{&r.ClaimedAt}, nullTimeCol{&r.DecidedAt}, timeCol{&r.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &r, nil
}
