package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// InvitationSponsor is one sponsor an invitation named (Graph's invitedUserSponsors).
type InvitationSponsor struct {
	InvitationID string
	Position     int
	SponsorOID   string
	DisplayName  string
	Address      string
}

// Group assignment statuses.
const (
	GroupPending = "pending"
	GroupAdded   = "added"
	GroupFailed  = "failed"
)

// InvitationGroup is one group the guest of an invitation is (to be) added to.
type InvitationGroup struct {
	InvitationID   string
	GroupID        string
	GroupName      string
	Status         string // GroupPending, GroupAdded or GroupFailed
	Attempts       int
	ErrorCode      string
	ErrorMessage   string
	GraphRequestID string
	AddedBy        string // "delegated" (the inviter's token) or "application" (Portico's own)
	NextAttemptAt  time.Time
	LeaseUntil     *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// SetInvitationSponsors replaces the sponsors recorded for an invitation.
func (q *Queries) SetInvitationSponsors(ctx context.Context, invitationID string, sponsors []InvitationSponsor) error {
	if !validText(invitationID) {
		return fmt.Errorf("store: set sponsors: %w", &InputError{Field: "invitation"})
	}
	if _, err := q.exec(ctx, "DELETE FROM invitation_sponsors WHERE invitation_id = ?", invitationID); err != nil {
		return fmt.Errorf("store: set sponsors: %w", err)
	}
	for i, s := range sponsors {
		if err := checkText([2]string{"sponsor", s.SponsorOID}, [2]string{"sponsor name", s.DisplayName}, [2]string{"sponsor address", s.Address}); err != nil || s.SponsorOID == "" {
			return fmt.Errorf("store: set sponsors: %w", &InputError{Field: "sponsor"})
		}
		if _, err := q.exec(ctx, `INSERT INTO invitation_sponsors (invitation_id, position, sponsor_oid, display_name, address)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (invitation_id, sponsor_oid) DO NOTHING`, invitationID, i, s.SponsorOID, s.DisplayName, s.Address); err != nil {
			return fmt.Errorf("store: set sponsors: %w", err)
		}
	}
	return nil
}

// InvitationSponsors returns the sponsors of the invitations, by invitation and position.
func (q *Queries) InvitationSponsors(ctx context.Context, invitationIDs ...string) ([]InvitationSponsor, error) {
	if len(invitationIDs) == 0 {
		return nil, nil
	}
	if !validText(invitationIDs...) {
		return nil, &InputError{Field: "invitation"}
	}
	rows, err := q.query(ctx, `SELECT invitation_id, position, sponsor_oid, display_name, address FROM invitation_sponsors
WHERE invitation_id IN (`+placeholders(len(invitationIDs))+`) ORDER BY invitation_id, position`, anySlice(invitationIDs)...)
	if err != nil {
		return nil, fmt.Errorf("store: sponsors: %w", err)
	}
	defer rows.Close()
	var out []InvitationSponsor
	for rows.Next() {
		var s InvitationSponsor
		if err := rows.Scan(&s.InvitationID, &s.Position, &s.SponsorOID, &s.DisplayName, &s.Address); err != nil {
			return nil, fmt.Errorf("store: sponsors: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sponsors: %w", err)
	}
	return out, nil
}

// AddInvitationGroups records groups the invitation's guest is to be added to, pending and due at
// at. A group already recorded for the invitation keeps its status, except a failed one, which is
// pending again (the inviter chose it again).
func (q *Queries) AddInvitationGroups(ctx context.Context, invitationID string, groups []InvitationGroup, at time.Time) error {
	if !validText(invitationID) {
		return fmt.Errorf("store: add groups: %w", &InputError{Field: "invitation"})
	}
	for _, g := range groups {
		if err := checkText([2]string{"group", g.GroupID}, [2]string{"group name", g.GroupName}); err != nil || g.GroupID == "" {
			return fmt.Errorf("store: add groups: %w", &InputError{Field: "group"})
		}
		if _, err := q.exec(ctx, `INSERT INTO invitation_groups (invitation_id, group_id, group_name, status, next_attempt_at, created_at, updated_at)
VALUES (?, ?, ?, 'pending', ?, ?, ?)
ON CONFLICT (invitation_id, group_id) DO UPDATE SET status = 'pending', attempts = 0, error_code = '', error_message = '',
  next_attempt_at = excluded.next_attempt_at, lease_until = NULL, updated_at = excluded.updated_at
WHERE invitation_groups.status = 'failed'`, invitationID, g.GroupID, g.GroupName, q.ts(at), q.ts(at), q.ts(at)); err != nil {
			return fmt.Errorf("store: add groups: %w", err)
		}
	}
	return nil
}

const groupColumns = `invitation_id, group_id, group_name, status, attempts, error_code, error_message, graph_request_id,
added_by, next_attempt_at, lease_until, created_at, updated_at`

func (q *Queries) groups(ctx context.Context, op, query string, args ...any) ([]InvitationGroup, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	defer rows.Close()
	var out []InvitationGroup
	for rows.Next() {
		var g InvitationGroup
		if err := rows.Scan(&g.InvitationID, &g.GroupID, &g.GroupName, &g.Status, &g.Attempts, &g.ErrorCode, &g.ErrorMessage,
			&g.GraphRequestID, &g.AddedBy, timeCol{&g.NextAttemptAt}, nullTimeCol{&g.LeaseUntil}, timeCol{&g.CreatedAt}, timeCol{&g.UpdatedAt}); err != nil {
			return nil, fmt.Errorf("store: %s: %w", op, err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	return out, nil
}

// InvitationGroups returns the group assignments of the invitations, by invitation and group name.
func (q *Queries) InvitationGroups(ctx context.Context, invitationIDs ...string) ([]InvitationGroup, error) {
	if len(invitationIDs) == 0 {
		return nil, nil
	}
	if !validText(invitationIDs...) {
		return nil, &InputError{Field: "invitation"}
	}
	return q.groups(ctx, "invitation groups", "SELECT "+groupColumns+" FROM invitation_groups WHERE invitation_id IN ("+
		placeholders(len(invitationIDs))+") ORDER BY invitation_id, group_name, group_id", anySlice(invitationIDs)...)
}

// ClaimGroupAssignments takes up to limit pending assignments not held by another worker, counts
// an attempt on each and holds them until now+lease: a worker that dies lets them go when the lease
// ends. With invitationID, that invitation's assignments whatever their next attempt time (the
// inviter's request, or the invitation's own job, tries now); without, those due at now (the sweep).
func (db *DB) ClaimGroupAssignments(ctx context.Context, invitationID string, now time.Time, lease time.Duration, limit int) ([]InvitationGroup, error) {
	if limit <= 0 {
		return nil, nil
	}
	if !validText(invitationID) {
		return nil, &InputError{Field: "invitation"}
	}
	var out []InvitationGroup
	err := db.InTx(ctx, func(q *Queries) error {
		w := &where{}
		w.add("status = 'pending'")
		w.add("(lease_until IS NULL OR lease_until <= ?)", q.ts(now))
		if invitationID != "" {
			w.add("invitation_id = ?", invitationID)
		} else {
			w.add("next_attempt_at <= ?", q.ts(now))
		}
		lock := ""
		if q.dialect == DialectPostgres {
			// Instances sweeping together take different rows instead of waiting on each other.
			lock = " FOR UPDATE SKIP LOCKED"
		}
		claimed, err := q.groups(ctx, "claim group assignments", "SELECT "+groupColumns+" FROM invitation_groups"+w.String()+
			" ORDER BY next_attempt_at, invitation_id, group_id"+q.page(limit, 0)+lock, w.args...)
		if err != nil {
			return err
		}
		until := now.Add(lease)
		for i := range claimed {
			g := &claimed[i]
			if _, err := q.exec(ctx, `UPDATE invitation_groups SET attempts = attempts + 1, lease_until = ?, updated_at = ?
WHERE invitation_id = ? AND group_id = ?`, q.ts(until), q.ts(now), g.InvitationID, g.GroupID); err != nil {
				return fmt.Errorf("store: claim group assignments: %w", err)
			}
			g.Attempts++
			u := utc(until)
			g.LeaseUntil = &u
		}
		out = claimed
		return nil
	})
	return out, err
}

// FinishGroupAssignment records the outcome of an attempt: added or failed for good, or (status
// pending) another attempt at retryAt. Only a pending row changes: a finished one stays finished.
func (q *Queries) FinishGroupAssignment(ctx context.Context, g *InvitationGroup, retryAt time.Time, now time.Time) (bool, error) {
	switch g.Status {
	case GroupPending, GroupAdded, GroupFailed:
	default:
		return false, &InputError{Field: "status"}
	}
	if !validText(g.InvitationID, g.GroupID) {
		return false, &InputError{Field: "group"}
	}
	res, err := q.exec(ctx, `UPDATE invitation_groups SET status = ?, error_code = ?, error_message = ?, graph_request_id = ?,
  added_by = ?, next_attempt_at = ?, lease_until = NULL, updated_at = ?
WHERE invitation_id = ? AND group_id = ? AND status = 'pending'`,
		g.Status, cleanAuditText(g.ErrorCode, 100), cleanAuditText(g.ErrorMessage, 500), cleanAuditText(g.GraphRequestID, 100),
		g.AddedBy, q.ts(retryAt), q.ts(now), g.InvitationID, g.GroupID)
	if err != nil {
		return false, fmt.Errorf("store: finish group assignment: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: finish group assignment: %w", err)
	}
	return n == 1, nil
}

// PendingGroupInvitations lists invitations that have pending group assignments due at now.
func (q *Queries) PendingGroupInvitations(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := q.query(ctx, `SELECT DISTINCT invitation_id FROM invitation_groups WHERE status = 'pending' AND next_attempt_at <= ?
ORDER BY invitation_id`+q.page(limit, 0), q.ts(now))
	if err != nil {
		return nil, fmt.Errorf("store: pending group invitations: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: pending group invitations: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
