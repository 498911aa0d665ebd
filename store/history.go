package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RevokeSuperseded is JoinLink.RevokeReason for a link that a newer send or a new link replaced.
const RevokeSuperseded = "superseded"

// Kinds of InvitationEvent.
const (
	EventSent          = "sent"           // the first send
	EventResent        = "resent"         // "Send again": a new Graph invitation on the same record
	EventResendFailed  = "resend_failed"  // a "Send again" that Graph refused or failed; the record is unchanged
	EventLinkCreated   = "link_created"   // a new join link replaced the previous one
	EventLinkRevoked   = "link_revoked"   // the inviter revoked the join link
	EventRevealed      = "revealed"       // Microsoft's redemption URL was shown to an employee
	EventAcceptStarted = "accept_started" // the partner pressed Accept on the join page
	EventSuperseded    = "superseded"     // a newer invitation to the same partner, by someone else, replaced the join link
)

// InvitationEvent is one entry of a partner record's history; events are only ever appended.
type InvitationEvent struct {
	ID             int64
	InvitationID   string
	Time           time.Time
	Kind           string
	ActorOID       string
	ActorName      string
	Outcome        string
	GraphRequestID string
	Note           string
}

const invitationEventColumns = `id, invitation_id, occurred_at, kind, actor_oid, actor_name, outcome, graph_request_id, note`

// AppendInvitationEvent appends ev, setting its ID and, when zero, its Time to now.
func (q *Queries) AppendInvitationEvent(ctx context.Context, ev *InvitationEvent) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Time = utc(ev.Time)
	err := q.queryRow(ctx, `INSERT INTO invitation_events (invitation_id, occurred_at, kind, actor_oid, actor_name, outcome, graph_request_id, note)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		ev.InvitationID, q.ts(ev.Time), ev.Kind, ev.ActorOID, ev.ActorName, ev.Outcome, ev.GraphRequestID, ev.Note).Scan(&ev.ID)
	if err != nil {
		return fmt.Errorf("store: append invitation event: %w", err)
	}
	return nil
}

// InvitationEvents returns the events of the given records, oldest first.
func (q *Queries) InvitationEvents(ctx context.Context, invitationIDs ...string) ([]InvitationEvent, error) {
	if len(invitationIDs) == 0 {
		return nil, nil
	}
	rows, err := q.query(ctx, "SELECT "+invitationEventColumns+" FROM invitation_events WHERE invitation_id IN ("+
		placeholders(len(invitationIDs))+") ORDER BY occurred_at, id", anySlice(invitationIDs)...)
	if err != nil {
		return nil, fmt.Errorf("store: invitation events: %w", err)
	}
	defer rows.Close()
	var out []InvitationEvent
	for rows.Next() {
		var ev InvitationEvent
		if err := rows.Scan(&ev.ID, &ev.InvitationID, timeCol{&ev.Time}, &ev.Kind, &ev.ActorOID, &ev.ActorName,
			&ev.Outcome, &ev.GraphRequestID, &ev.Note); err != nil {
			return nil, fmt.Errorf("store: invitation events: %w", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: invitation events: %w", err)
	}
	return out, nil
}

// UpdateInvitationSend records a new send of an existing record ("Send again"): the options sent,
// what Graph answered, the sealed redemption URL and SentAt. Id, tenant, inviter and CreatedAt stay.
// On PostgreSQL the UPDATE locks the row until the transaction ends, so parallel resends of one
// record take turns.
func (q *Queries) UpdateInvitationSend(ctx context.Context, inv *Invitation) error {
	inv.SentAt = utc(inv.SentAt)
	inv.ExternalUserStateChangedAt, inv.StateCheckedAt = utcPtr(inv.ExternalUserStateChangedAt), utcPtr(inv.StateCheckedAt)
	res, err := q.exec(ctx, `UPDATE invitations SET display_name = ?, message = ?, cc_address = ?, language = ?,
redirect_url = ?, user_type = ?, send_email = ?, outcome = ?, graph_invitation_id = ?, graph_user_id = ?, graph_status = ?,
graph_request_id = ?, error_code = ?, error_message = ?, redeem_url_sealed = ?, external_user_state = ?,
external_user_state_changed_at = ?, state_checked_at = ?, sent_at = ? WHERE id = ?`,
		inv.DisplayName, inv.Message, inv.CCAddress, inv.Language,
		inv.RedirectURL, inv.UserType, inv.SendEmail, inv.Outcome, inv.GraphInvitationID, inv.GraphUserID, inv.GraphStatus,
		inv.GraphRequestID, inv.ErrorCode, inv.ErrorMessage, inv.RedeemURLSealed, inv.ExternalUserState,
		q.nullTS(inv.ExternalUserStateChangedAt), q.nullTS(inv.StateCheckedAt), q.ts(inv.SentAt), inv.ID)
	if err != nil {
		return fmt.Errorf("store: update invitation send: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: update invitation send: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// SupersedeJoinLinks marks every unrevoked link of the invitation revoked at at because a newer
// send or link replaced it, and reports how many it revoked. On PostgreSQL it first locks the
// invitation's row until the transaction ends, so parallel "supersede, then create a link"
// transactions for one invitation take turns and each revokes the link the one before created
// (SQLite transactions take the write lock at BEGIN already).
func (q *Queries) SupersedeJoinLinks(ctx context.Context, invitationID string, at time.Time) (int, error) {
	if q.dialect == DialectPostgres {
		var id string
		err := q.queryRow(ctx, "SELECT id FROM invitations WHERE id = ? FOR UPDATE", invitationID).Scan(&id)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("store: supersede join links: lock invitation: %w", err)
		}
	}
	res, err := q.exec(ctx, "UPDATE join_links SET revoked_at = ?, revoke_reason = ? WHERE invitation_id = ? AND revoked_at IS NULL",
		q.ts(at), RevokeSuperseded, invitationID)
	if err != nil {
		return 0, fmt.Errorf("store: supersede join links: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: supersede join links: %w", err)
	}
	return int(n), nil
}

// JoinLinks returns every link of the invitation, revoked and expired ones included, oldest first.
func (q *Queries) JoinLinks(ctx context.Context, invitationID string) ([]JoinLink, error) {
	rows, err := q.query(ctx, "SELECT "+joinLinkColumns+" FROM join_links WHERE invitation_id = ? ORDER BY created_at, id", invitationID)
	if err != nil {
		return nil, fmt.Errorf("store: join links: %w", err)
	}
	defer rows.Close()
	var out []JoinLink
	for rows.Next() {
		l, err := scanJoinLink(rows)
		if err != nil {
			return nil, fmt.Errorf("store: join links: %w", err)
		}
		out = append(out, *l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: join links: %w", err)
	}
	return out, nil
}
