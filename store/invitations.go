package store

import (
	"context"
	"fmt"
	"time"
)

const invitationColumns = `id, tenant_id, inviter_oid, inviter_upn, inviter_name,
email, display_name, message, cc_address, cc_name, language, redirect_url, user_type, send_email,
outcome, graph_invitation_id, graph_user_id, graph_status, graph_request_id, error_code, error_message,
redeem_url_sealed, external_user_state, external_user_state_changed_at, state_checked_at, resend_of, created_at, sent_at, replaced_by`

func scanInvitation(s scanner) (*Invitation, error) {
	var inv Invitation
	err := s.Scan(&inv.ID, &inv.TenantID, &inv.InviterOID, &inv.InviterUPN, &inv.InviterName,
		&inv.Email, &inv.DisplayName, &inv.Message, &inv.CCAddress, &inv.CCName, &inv.Language, &inv.RedirectURL, &inv.UserType, &inv.SendEmail,
		&inv.Outcome, &inv.GraphInvitationID, &inv.GraphUserID, &inv.GraphStatus, &inv.GraphRequestID, &inv.ErrorCode, &inv.ErrorMessage,
		&inv.RedeemURLSealed, &inv.ExternalUserState, nullTimeCol{&inv.ExternalUserStateChangedAt}, nullTimeCol{&inv.StateCheckedAt},
		&inv.ResendOf, timeCol{&inv.CreatedAt}, timeCol{&inv.SentAt}, &inv.ReplacedBy)
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

// CreateInvitation inserts inv, first giving it a NewID when ID is empty and the current time when CreatedAt is zero.
func (q *Queries) CreateInvitation(ctx context.Context, inv *Invitation) error {
	if inv.ID == "" {
		inv.ID = NewID()
	}
	if inv.CreatedAt.IsZero() {
		inv.CreatedAt = time.Now()
	}
	inv.CreatedAt = utc(inv.CreatedAt)
	if inv.SentAt.IsZero() {
		inv.SentAt = inv.CreatedAt
	}
	inv.SentAt = utc(inv.SentAt)
	inv.ExternalUserStateChangedAt, inv.StateCheckedAt = utcPtr(inv.ExternalUserStateChangedAt), utcPtr(inv.StateCheckedAt)
	_, err := q.exec(ctx, `INSERT INTO invitations (`+invitationColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		inv.ID, inv.TenantID, inv.InviterOID, inv.InviterUPN, inv.InviterName,
		inv.Email, inv.DisplayName, inv.Message, inv.CCAddress, inv.CCName, inv.Language, inv.RedirectURL, inv.UserType, inv.SendEmail,
		inv.Outcome, inv.GraphInvitationID, inv.GraphUserID, inv.GraphStatus, inv.GraphRequestID, inv.ErrorCode, inv.ErrorMessage,
		inv.RedeemURLSealed, inv.ExternalUserState, q.nullTS(inv.ExternalUserStateChangedAt), q.nullTS(inv.StateCheckedAt),
		inv.ResendOf, q.ts(inv.CreatedAt), q.ts(inv.SentAt), inv.ReplacedBy)
	if err != nil {
		return fmt.Errorf("store: create invitation: %w", err)
	}
	return nil
}

// GetInvitation returns the invitation with id, or ErrNotFound.
func (q *Queries) GetInvitation(ctx context.Context, id string) (*Invitation, error) {
	inv, err := scanInvitation(q.queryRow(ctx, "SELECT "+invitationColumns+" FROM invitations WHERE id = ?", id))
	if err != nil {
		return nil, notFound("get invitation", err)
	}
	return inv, nil
}

func invitationWhere(f InvitationFilter) *where {
	w := &where{}
	for _, c := range []struct{ col, val string }{
		{"tenant_id", f.TenantID}, {"inviter_oid", f.InviterOID}, {"external_user_state", f.State},
		{"email", f.Email}, {"outcome", f.Outcome},
	} {
		if c.val != "" {
			w.add(c.col+" = ?", c.val)
		}
	}
	if f.Current {
		w.add("replaced_by = ''")
	}
	return w
}

// ListInvitations returns the invitations matching f, newest first, paged by f.Limit and f.Offset.
func (q *Queries) ListInvitations(ctx context.Context, f InvitationFilter) ([]Invitation, error) {
	w := invitationWhere(f)
	return q.invitations(ctx, "list invitations",
		"SELECT "+invitationColumns+" FROM invitations"+w.String()+" ORDER BY created_at DESC, id DESC"+q.page(f.Limit, f.Offset), w.args...)
}

// CountInvitations counts the invitations matching f, ignoring its paging.
func (q *Queries) CountInvitations(ctx context.Context, f InvitationFilter) (int, error) {
	w := invitationWhere(f)
	var n int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM invitations"+w.String(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count invitations: %w", err)
	}
	return n, nil
}

// UpdateInvitationState records the guest's externalUserState as read from Graph at checkedAt.
func (q *Queries) UpdateInvitationState(ctx context.Context, id, state string, changedAt *time.Time, checkedAt time.Time) error {
	res, err := q.exec(ctx, `UPDATE invitations SET external_user_state = ?, external_user_state_changed_at = ?, state_checked_at = ? WHERE id = ?`,
		state, q.nullTS(changedAt), q.ts(checkedAt), id)
	if err != nil {
		return fmt.Errorf("store: update invitation state: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: update invitation state: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// LatestInvitationsByEmail returns the tenant's invitations to email created at or after since, newest first.
func (q *Queries) LatestInvitationsByEmail(ctx context.Context, tenantID, email string, since time.Time) ([]Invitation, error) {
	return q.invitations(ctx, "invitations by email",
		"SELECT "+invitationColumns+" FROM invitations WHERE tenant_id = ? AND email = ? AND created_at >= ? ORDER BY created_at DESC, id DESC",
		tenantID, email, q.ts(since))
}

// InvitationHistory returns every invitation of the same tenant for the same guest as id (same
// address, or same Graph user when known), oldest first; ErrNotFound when id does not exist.
func (q *Queries) InvitationHistory(ctx context.Context, id string) ([]Invitation, error) {
	o, err := q.GetInvitation(ctx, id)
	if err != nil {
		return nil, err
	}
	// A UNION of two indexed lookups (tenant+email, tenant+Graph user): an OR may scan the whole tenant.
	query, args := "SELECT "+invitationColumns+" FROM invitations WHERE tenant_id = ? AND email = ?", []any{o.TenantID, o.Email}
	if o.GraphUserID != "" {
		query += " UNION SELECT " + invitationColumns + " FROM invitations WHERE tenant_id = ? AND graph_user_id = ?"
		args = append(args, o.TenantID, o.GraphUserID)
	}
	return q.invitations(ctx, "invitation history", query+" ORDER BY created_at, id", args...)
}

func (q *Queries) invitations(ctx context.Context, op, query string, args ...any) ([]Invitation, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	defer rows.Close()
	var out []Invitation
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", op, err)
		}
		out = append(out, *inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	return out, nil
}
