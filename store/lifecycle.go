package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Lifecycle action states (migration 0014).
const (
	LifecycleClaimed = "claimed" // an instance is acting on it until LeaseUntil
	LifecycleDone    = "done"
	LifecycleFailed  = "failed"  // a later run claims it again
	LifecycleSkipped = "skipped" // nothing was needed (e.g. the guest accepted meanwhile)
)

// Guest account states Portico records.
const (
	GuestEnabled  = "enabled"
	GuestDisabled = "disabled"
	GuestDeleted  = "deleted"
)

// LifecycleAction is one entry of the lifecycle log: one rule applied once to one subject.
// (Subject, Action, Step) is unique: claiming it twice, on any instance, acts once.
type LifecycleAction struct {
	ID             string
	TenantID       string
	Subject        string // the invitation record's id, or "user:<object id>" for an opted-in guest
	GuestID        string // the guest's object id, when known
	Action         string // e.g. "remind", "warn", "expire", "review"
	Step           int    // reminder 1, 2, …; review cycle n; 0 when the action happens once
	Effect         string // what it does: "remind", "notice", "report", "disable", "delete", …
	Policy         string // the setting that caused it, e.g. "PORTICO_PENDING_EXPIRY=30d (disable)"
	State          string
	Attempts       int
	Actor          string // "policy" for the scheduled run, or the admin who asked
	Detail         string
	LastError      string
	GraphRequestID string
	LeaseUntil     *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// LifecycleGuest is what Portico keeps per guest: an admin's exemption or opt-in, and the account
// state it last set or saw.
type LifecycleGuest struct {
	TenantID       string
	GuestID        string
	InvitationID   string
	Exempt         bool
	OptedIn        bool
	AccountState   string // "", GuestEnabled, GuestDisabled, GuestDeleted
	StateChangedAt *time.Time
	LastSignInAt   *time.Time
	Note           string
	UpdatedBy      string
	UpdatedAt      time.Time
}

const lifecycleActionColumns = `id, tenant_id, subject, guest_id, action, step, effect, policy, state, attempts, actor, detail,
last_error, graph_request_id, lease_until, created_at, updated_at`

func scanLifecycleAction(s scanner) (*LifecycleAction, error) {
	var a LifecycleAction
	err := s.Scan(&a.ID, &a.TenantID, &a.Subject, &a.GuestID, &a.Action, &a.Step, &a.Effect, &a.Policy, &a.State, &a.Attempts,
		&a.Actor, &a.Detail, &a.LastError, &a.GraphRequestID, nullTimeCol{&a.LeaseUntil}, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// ClaimLifecycleAction claims (a.Subject, a.Action, a.Step) for lease from now: it inserts the
// row as claimed, or takes over a row that failed or whose lease ran out (attempts + 1). It
// reports whether this caller holds the claim; when not, a is filled with the existing row (done,
// skipped, or claimed by someone else). The compare-and-set makes it safe with several instances.
func (q *Queries) ClaimLifecycleAction(ctx context.Context, a *LifecycleAction, now time.Time, lease time.Duration) (bool, error) {
	if err := checkText([2]string{"tenant id", a.TenantID}, [2]string{"subject", a.Subject}, [2]string{"guest id", a.GuestID},
		[2]string{"action", a.Action}, [2]string{"effect", a.Effect}, [2]string{"policy", a.Policy}, [2]string{"actor", a.Actor},
		[2]string{"detail", a.Detail}); err != nil {
		return false, fmt.Errorf("store: claim lifecycle action: %w", err)
	}
	if a.TenantID == "" || a.Subject == "" || a.Action == "" {
		return false, errors.New("store: claim lifecycle action: tenant, subject and action are required")
	}
	if a.ID == "" {
		a.ID = NewID()
	}
	until := now.Add(lease)
	res, err := q.exec(ctx, `INSERT INTO lifecycle_actions (`+lifecycleActionColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'claimed', 1, ?, ?, '', '', ?, ?, ?) ON CONFLICT (subject, action, step) DO NOTHING`,
		a.ID, a.TenantID, a.Subject, a.GuestID, a.Action, a.Step, a.Effect, a.Policy, a.Actor, a.Detail,
		q.ts(until), q.ts(now), q.ts(now))
	if err != nil {
		return false, fmt.Errorf("store: claim lifecycle action: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		a.State, a.Attempts, a.LeaseUntil, a.CreatedAt, a.UpdatedAt = LifecycleClaimed, 1, utcPtr(&until), utc(now), utc(now)
		return true, nil
	}
	res, err = q.exec(ctx, `UPDATE lifecycle_actions SET state = 'claimed', attempts = attempts + 1, lease_until = ?,
effect = ?, policy = ?, actor = ?, guest_id = CASE WHEN guest_id = '' THEN ? ELSE guest_id END, updated_at = ?
WHERE subject = ? AND action = ? AND step = ? AND (state = 'failed' OR (state = 'claimed' AND lease_until < ?))`,
		q.ts(until), a.Effect, a.Policy, a.Actor, a.GuestID, q.ts(now), a.Subject, a.Action, a.Step, q.ts(now))
	if err != nil {
		return false, fmt.Errorf("store: claim lifecycle action: %w", err)
	}
	n, _ := res.RowsAffected()
	cur, err := q.LifecycleActionByKey(ctx, a.Subject, a.Action, a.Step)
	if err != nil {
		return false, err
	}
	*a = *cur
	return n == 1, nil
}

// LifecycleActionByKey reads the log entry of (subject, action, step); ErrNotFound when none.
func (q *Queries) LifecycleActionByKey(ctx context.Context, subject, action string, step int) (*LifecycleAction, error) {
	if !validText(subject, action) {
		return nil, ErrNotFound
	}
	a, err := scanLifecycleAction(q.queryRow(ctx, "SELECT "+lifecycleActionColumns+
		" FROM lifecycle_actions WHERE subject = ? AND action = ? AND step = ?", subject, action, step))
	if err != nil {
		return nil, notFound("lifecycle action", err)
	}
	return a, nil
}

// FinishLifecycleAction settles a claimed action as done, failed or skipped, with its detail,
// error and Graph request id. It reports false when the claim was lost (the row is no longer
// claimed by this id), in which case nothing changes.
func (q *Queries) FinishLifecycleAction(ctx context.Context, id, state, detail, errText, graphRequestID string, at time.Time) (bool, error) {
	switch state {
	case LifecycleDone, LifecycleFailed, LifecycleSkipped:
	default:
		return false, fmt.Errorf("store: finish lifecycle action: state %q", state)
	}
	if err := checkText([2]string{"detail", detail}, [2]string{"error", errText}, [2]string{"request id", graphRequestID}); err != nil {
		return false, fmt.Errorf("store: finish lifecycle action: %w", err)
	}
	if len(errText) > MaxNoticeError {
		errText = errText[:MaxNoticeError]
	}
	res, err := q.exec(ctx, `UPDATE lifecycle_actions SET state = ?, detail = ?, last_error = ?, graph_request_id = ?,
lease_until = NULL, updated_at = ? WHERE id = ? AND state = 'claimed'`, state, detail, errText, graphRequestID, q.ts(at), id)
	if err != nil {
		return false, fmt.Errorf("store: finish lifecycle action: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// LifecycleFilter selects log entries; empty fields match everything.
type LifecycleFilter struct {
	TenantID string
	Subjects []string
	GuestID  string
	Action   string
	State    string
	Limit    int // default 500
}

// ListLifecycleActions lists log entries, newest first.
func (q *Queries) ListLifecycleActions(ctx context.Context, f LifecycleFilter) ([]LifecycleAction, error) {
	if !validText(append([]string{f.TenantID, f.GuestID, f.Action, f.State}, f.Subjects...)...) {
		return nil, nil
	}
	w := &where{}
	if f.TenantID != "" {
		w.add("tenant_id = ?", f.TenantID)
	}
	if len(f.Subjects) > 0 {
		w.add("subject IN ("+placeholders(len(f.Subjects))+")", anySlice(f.Subjects)...)
	}
	if f.GuestID != "" {
		w.add("guest_id = ?", f.GuestID)
	}
	if f.Action != "" {
		w.add("action = ?", f.Action)
	}
	if f.State != "" {
		w.add("state = ?", f.State)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	rows, err := q.query(ctx, "SELECT "+lifecycleActionColumns+" FROM lifecycle_actions"+w.String()+
		" ORDER BY updated_at DESC, id DESC"+q.page(limit, 0), w.args...)
	if err != nil {
		return nil, fmt.Errorf("store: lifecycle actions: %w", err)
	}
	defer rows.Close()
	var out []LifecycleAction
	for rows.Next() {
		a, err := scanLifecycleAction(rows)
		if err != nil {
			return nil, fmt.Errorf("store: lifecycle actions: %w", err)
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

const lifecycleGuestColumns = `tenant_id, guest_id, invitation_id, exempt, opted_in, account_state, state_changed_at,
last_sign_in_at, note, updated_by, updated_at`

func scanLifecycleGuest(s scanner) (*LifecycleGuest, error) {
	var g LifecycleGuest
	err := s.Scan(&g.TenantID, &g.GuestID, &g.InvitationID, &g.Exempt, &g.OptedIn, &g.AccountState,
		nullTimeCol{&g.StateChangedAt}, nullTimeCol{&g.LastSignInAt}, &g.Note, &g.UpdatedBy, timeCol{&g.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// LifecycleGuest reads what Portico keeps about one guest; ErrNotFound when nothing.
func (q *Queries) LifecycleGuest(ctx context.Context, tenantID, guestID string) (*LifecycleGuest, error) {
	if !validText(tenantID, guestID) {
		return nil, ErrNotFound
	}
	g, err := scanLifecycleGuest(q.queryRow(ctx, "SELECT "+lifecycleGuestColumns+
		" FROM lifecycle_guests WHERE tenant_id = ? AND guest_id = ?", tenantID, guestID))
	if err != nil {
		return nil, notFound("lifecycle guest", err)
	}
	return g, nil
}

// LifecycleGuests lists the guests Portico keeps lifecycle data about in a tenant.
func (q *Queries) LifecycleGuests(ctx context.Context, tenantID string) ([]LifecycleGuest, error) {
	if !validText(tenantID) {
		return nil, nil
	}
	rows, err := q.query(ctx, "SELECT "+lifecycleGuestColumns+" FROM lifecycle_guests WHERE tenant_id = ? ORDER BY guest_id", tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: lifecycle guests: %w", err)
	}
	defer rows.Close()
	var out []LifecycleGuest
	for rows.Next() {
		g, err := scanLifecycleGuest(rows)
		if err != nil {
			return nil, fmt.Errorf("store: lifecycle guests: %w", err)
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

func (q *Queries) ensureLifecycleGuest(ctx context.Context, tenantID, guestID, invitationID string, at time.Time) error {
	if err := checkText([2]string{"tenant id", tenantID}, [2]string{"guest id", guestID}, [2]string{"invitation id", invitationID}); err != nil {
		return err
	}
	if tenantID == "" || guestID == "" {
		return errors.New("tenant and guest ids are required")
	}
	_, err := q.exec(ctx, `INSERT INTO lifecycle_guests (tenant_id, guest_id, invitation_id, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (tenant_id, guest_id) DO UPDATE SET invitation_id = CASE WHEN lifecycle_guests.invitation_id = '' THEN excluded.invitation_id ELSE lifecycle_guests.invitation_id END`,
		tenantID, guestID, invitationID, q.ts(at))
	return err
}

// SetGuestFlags records an admin's decision about a guest: exempt from every lifecycle rule, and
// opted in (rules apply although Portico did not invite them). note says why; by who decided.
func (q *Queries) SetGuestFlags(ctx context.Context, tenantID, guestID, invitationID string, exempt, optedIn bool, note, by string, at time.Time) error {
	if err := q.ensureLifecycleGuest(ctx, tenantID, guestID, invitationID, at); err != nil {
		return fmt.Errorf("store: set guest flags: %w", err)
	}
	if err := checkText([2]string{"note", note}, [2]string{"by", by}); err != nil {
		return fmt.Errorf("store: set guest flags: %w", err)
	}
	_, err := q.exec(ctx, `UPDATE lifecycle_guests SET exempt = ?, opted_in = ?, note = ?, updated_by = ?, updated_at = ?
WHERE tenant_id = ? AND guest_id = ?`, exempt, optedIn, note, by, q.ts(at), tenantID, guestID)
	if err != nil {
		return fmt.Errorf("store: set guest flags: %w", err)
	}
	return nil
}

// SetGuestAccountState records the account state Portico set or saw (GuestEnabled, GuestDisabled,
// GuestDeleted) and, when signIn is not nil, the last sign-in Graph reported.
func (q *Queries) SetGuestAccountState(ctx context.Context, tenantID, guestID, invitationID, state string, signIn *time.Time, at time.Time) error {
	switch state {
	case "", GuestEnabled, GuestDisabled, GuestDeleted:
	default:
		return fmt.Errorf("store: set guest account state: state %q", state)
	}
	if err := q.ensureLifecycleGuest(ctx, tenantID, guestID, invitationID, at); err != nil {
		return fmt.Errorf("store: set guest account state: %w", err)
	}
	var err error
	if state == "" {
		_, err = q.exec(ctx, `UPDATE lifecycle_guests SET last_sign_in_at = COALESCE(?, last_sign_in_at), updated_at = ?
WHERE tenant_id = ? AND guest_id = ?`, q.nullTS(signIn), q.ts(at), tenantID, guestID)
	} else {
		_, err = q.exec(ctx, `UPDATE lifecycle_guests SET account_state = ?,
state_changed_at = CASE WHEN account_state = ? THEN state_changed_at ELSE ? END,
last_sign_in_at = COALESCE(?, last_sign_in_at), updated_at = ? WHERE tenant_id = ? AND guest_id = ?`,
			state, state, q.ts(at), q.nullTS(signIn), q.ts(at), tenantID, guestID)
	}
	if err != nil {
		return fmt.Errorf("store: set guest account state: %w", err)
	}
	return nil
}

// PendingCandidates lists, oldest first, the tenant's current invitation records Portico sent
// (outcome created, a Graph user known) whose guest has not accepted, after the record id
// afterID in (created_at, id) order; limit bounds the page.
func (q *Queries) PendingCandidates(ctx context.Context, tenantID string, after *InvitationCursor, limit int) ([]Invitation, error) {
	if !validText(tenantID) {
		return nil, nil
	}
	if limit <= 0 {
		limit = 200
	}
	query := "SELECT " + invitationColumns + ` FROM invitations WHERE tenant_id = ? AND outcome = 'created'
AND graph_user_id <> '' AND replaced_by = '' AND external_user_state <> 'Accepted'`
	args := []any{tenantID}
	if after != nil {
		query += " AND (created_at > ? OR (created_at = ? AND id > ?))"
		args = append(args, q.ts(after.CreatedAt), q.ts(after.CreatedAt), after.ID)
	}
	return q.invitations(ctx, "pending candidates", query+" ORDER BY created_at, id"+q.page(limit, 0), args...)
}
