package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

const invitationColumns = `id, tenant_id, inviter_oid, inviter_upn, inviter_name,
email, display_name, message, cc_address, language, redirect_url, user_type, send_email,
outcome, graph_invitation_id, graph_user_id, graph_status, graph_request_id, error_code, error_message,
redeem_url_sealed, external_user_state, external_user_state_changed_at, state_checked_at, resend_of, created_at, sent_at, replaced_by`

func scanInvitation(s scanner) (*Invitation, error) {
	var inv Invitation
	var sentAt *time.Time
	err := s.Scan(&inv.ID, &inv.TenantID, &inv.InviterOID, &inv.InviterUPN, &inv.InviterName,
		&inv.Email, &inv.DisplayName, &inv.Message, &inv.CCAddress, &inv.Language, &inv.RedirectURL, &inv.UserType, &inv.SendEmail,
		&inv.Outcome, &inv.GraphInvitationID, &inv.GraphUserID, &inv.GraphStatus, &inv.GraphRequestID, &inv.ErrorCode, &inv.ErrorMessage,
		&inv.RedeemURLSealed, &inv.ExternalUserState, nullTimeCol{&inv.ExternalUserStateChangedAt}, nullTimeCol{&inv.StateCheckedAt},
		&inv.ResendOf, timeCol{&inv.CreatedAt}, nullTimeCol{&sentAt}, &inv.ReplacedBy)
	if err != nil {
		return nil, err
	}
	inv.SentAt = inv.CreatedAt
	if sentAt != nil {
		inv.SentAt = *sentAt
	}
	return &inv, nil
}

// CreateInvitation inserts inv, first giving it a NewID when ID is empty and the current time when CreatedAt is zero.
func (q *Queries) CreateInvitation(ctx context.Context, inv *Invitation) error {
	if err := checkText([2]string{"id", inv.ID}, [2]string{"tenant id", inv.TenantID}, [2]string{"inviter", inv.InviterOID},
		[2]string{"inviter UPN", inv.InviterUPN}, [2]string{"inviter name", inv.InviterName}, [2]string{"email", inv.Email},
		[2]string{"display name", inv.DisplayName}, [2]string{"message", inv.Message}, [2]string{"cc address", inv.CCAddress},
		[2]string{"language", inv.Language}, [2]string{"redirect URL", inv.RedirectURL},
		[2]string{"user type", inv.UserType}, [2]string{"outcome", inv.Outcome}, [2]string{"Graph invitation id", inv.GraphInvitationID},
		[2]string{"Graph user id", inv.GraphUserID}, [2]string{"Graph status", inv.GraphStatus}, [2]string{"Graph request id", inv.GraphRequestID},
		[2]string{"error code", inv.ErrorCode}, [2]string{"error message", inv.ErrorMessage},
		[2]string{"external user state", inv.ExternalUserState}, [2]string{"resend of", inv.ResendOf}); err != nil {
		return fmt.Errorf("store: create invitation: %w", err)
	}
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
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		inv.ID, inv.TenantID, inv.InviterOID, inv.InviterUPN, inv.InviterName,
		inv.Email, inv.DisplayName, inv.Message, inv.CCAddress, inv.Language, inv.RedirectURL, inv.UserType, inv.SendEmail,
		inv.Outcome, inv.GraphInvitationID, inv.GraphUserID, inv.GraphStatus, inv.GraphRequestID, inv.ErrorCode, inv.ErrorMessage,
		inv.RedeemURLSealed, inv.ExternalUserState, q.nullTS(inv.ExternalUserStateChangedAt), q.nullTS(inv.StateCheckedAt),
		inv.ResendOf, q.ts(inv.CreatedAt), q.ts(inv.SentAt), inv.ReplacedBy)
	if err != nil {
		return fmt.Errorf("store: create invitation: %w", err)
	}
	return nil
}

// GetInvitation returns the invitation with id, or ErrNotFound (also for an id that is not valid text).
func (q *Queries) GetInvitation(ctx context.Context, id string) (*Invitation, error) {
	if !validText(id) {
		return nil, ErrNotFound
	}
	inv, err := scanInvitation(q.queryRow(ctx, "SELECT "+invitationColumns+" FROM invitations WHERE id = ?", id))
	if err != nil {
		return nil, notFound("get invitation", err)
	}
	return inv, nil
}

func invitationWhere(f InvitationFilter) (*where, error) {
	w := &where{}
	for _, c := range []struct{ name, col, val string }{
		{"tenant", "tenant_id", f.TenantID}, {"inviter", "inviter_oid", f.InviterOID}, {"state", "external_user_state", f.State},
		{"email", "email", f.Email}, {"outcome", "outcome", f.Outcome},
	} {
		if !validText(c.val) {
			return nil, &InputError{Field: c.name}
		}
		if c.val != "" {
			w.add(c.col+" = ?", c.val)
		}
	}
	if f.Current {
		w.add("replaced_by = ''")
	}
	if !validText(f.SponsorOID) {
		return nil, &InputError{Field: "sponsor"}
	}
	if f.SponsorOID != "" {
		w.add("id IN (SELECT invitation_id FROM invitation_sponsors WHERE sponsor_oid = ?)", f.SponsorOID)
	}
	return w, nil
}

// ListInvitations returns the invitations matching f, newest first, paged by f.Limit and f.Before or
// f.After (or f.Offset, which reads every skipped row). Filter text that is not valid UTF-8 or
// holds NUL is an *InputError (ErrInvalidInput).
func (q *Queries) ListInvitations(ctx context.Context, f InvitationFilter) ([]Invitation, error) {
	w, err := invitationWhere(f)
	if err != nil {
		return nil, err
	}
	if f.Before != nil {
		if !validText(f.Before.ID) {
			return nil, &InputError{Field: "cursor"}
		}
		w.add("(created_at, id) < (?, ?)", q.ts(f.Before.CreatedAt), f.Before.ID)
	}
	if f.After == nil {
		return q.invitations(ctx, "list invitations",
			"SELECT "+invitationColumns+" FROM invitations"+w.String()+" ORDER BY created_at DESC, id DESC"+q.page(f.Limit, f.Offset), w.args...)
	}
	if !validText(f.After.ID) {
		return nil, &InputError{Field: "cursor"}
	}
	// The page just newer than the cursor: read oldest first, return newest first.
	w.add("(created_at, id) > (?, ?)", q.ts(f.After.CreatedAt), f.After.ID)
	out, err := q.invitations(ctx, "list invitations",
		"SELECT "+invitationColumns+" FROM invitations"+w.String()+" ORDER BY created_at, id"+q.page(f.Limit, f.Offset), w.args...)
	slices.Reverse(out)
	return out, err
}

// CountInvitations counts the invitations matching f, ignoring its paging. It reads every matching
// index entry: for lists that may be long, CountInvitationsCapped answers in bounded time.
func (q *Queries) CountInvitations(ctx context.Context, f InvitationFilter) (int, error) {
	w, err := invitationWhere(f)
	if err != nil {
		return 0, err
	}
	var n int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM invitations"+w.String(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count invitations: %w", err)
	}
	return n, nil
}

// CountInvitationsCapped counts the invitations matching f up to limit, ignoring its paging: it reads
// at most limit+1 index entries and reports more when there are more than limit (n is then limit),
// for a page that says "more than 1,000" instead of scanning a large table for an exact number.
func (q *Queries) CountInvitationsCapped(ctx context.Context, f InvitationFilter, limit int) (n int, more bool, err error) {
	w, err := invitationWhere(f)
	if err != nil {
		return 0, false, err
	}
	limit = max(limit, 0)
	if err := q.queryRow(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM invitations%s LIMIT %d) capped", w.String(), limit+1),
		w.args...).Scan(&n); err != nil {
		return 0, false, fmt.Errorf("store: count invitations: %w", err)
	}
	if n > limit {
		return limit, true, nil
	}
	return n, false, nil
}

// UpdateInvitationState records the guest's externalUserState as read from Graph at checkedAt.
func (q *Queries) UpdateInvitationState(ctx context.Context, id, state string, changedAt *time.Time, checkedAt time.Time) error {
	if !validText(id) {
		return ErrNotFound
	}
	if !validText(state) {
		return fmt.Errorf("store: update invitation state: %w", &InputError{Field: "state"})
	}
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
	if !validText(tenantID, email) {
		return nil, nil // nothing stored can match text that cannot be stored
	}
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
