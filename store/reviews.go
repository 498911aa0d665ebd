package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// States of a GuestReview round.
const (
	ReviewScheduled = "scheduled" // not due yet
	ReviewOpen      = "open"      // due: the reviewers were told and may keep or remove
	ReviewKept      = "kept"      // a reviewer kept the guest; the next round is scheduled
	ReviewRemoving  = "removing"  // "remove", or no answer by grace_until: the action waits for the job
	ReviewRemoved   = "removed"   // the guest was disabled or deleted
	ReviewReported  = "reported"  // the policy (or a missing permission) said report: nothing was changed
	ReviewFailed    = "failed"    // Graph refused the action for good; the reason is in ActionError
)

// Decisions of a round.
const (
	DecisionKeep     = "keep"
	DecisionRemove   = "remove"
	DecisionNoAnswer = "no_answer"
)

// GuestReview is one review round of one guest Portico invited.
type GuestReview struct {
	ID             string
	TenantID       string
	InvitationID   string
	GuestOID       string
	Round          int
	State          string
	DueAt          time.Time
	GraceUntil     time.Time
	Decision       string
	Reason         string
	DecidedByOID   string
	DecidedByUPN   string
	DecidedByName  string
	DecidedAt      *time.Time
	Action         string // report, disable or delete: what the policy did (set when removing)
	ActionWhy      string // why the action is what it is (e.g. degraded to report: the missing permission)
	ActionAttempts int
	ActionLease    *time.Time
	ActionError    string
	GraphRequestID string
	ActedAt        *time.Time
	WarnedAt       *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// GuestReviewer is one person who may decide a round.
type GuestReviewer struct {
	ReviewID    string
	ReviewerOID string
	DisplayName string
	Address     string
}

const reviewColumns = `id, tenant_id, invitation_id, guest_oid, round, state, due_at, grace_until, decision, reason,
decided_by_oid, decided_by_upn, decided_by_name, decided_at, action, action_why, action_attempts, action_lease, action_error,
graph_request_id, acted_at, warned_at, created_at, updated_at`

// CreateGuestReview inserts round r with its reviewers; created is false (and nothing is written)
// when the guest has this round already or another unfinished one.
func (q *Queries) CreateGuestReview(ctx context.Context, r *GuestReview, reviewers []GuestReviewer) (created bool, err error) {
	if r.ID == "" {
		r.ID = NewID()
	}
	if r.State == "" {
		r.State = ReviewScheduled
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	r.CreatedAt, r.DueAt, r.GraceUntil = utc(r.CreatedAt), utc(r.DueAt), utc(r.GraceUntil)
	r.UpdatedAt = r.CreatedAt
	if err := checkText([2]string{"id", r.ID}, [2]string{"tenant", r.TenantID}, [2]string{"invitation", r.InvitationID},
		[2]string{"guest", r.GuestOID}); err != nil {
		return false, fmt.Errorf("store: create review: %w", err)
	}
	res, err := q.exec(ctx, `INSERT INTO guest_reviews (`+reviewColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		r.ID, r.TenantID, r.InvitationID, r.GuestOID, r.Round, r.State, q.ts(r.DueAt), q.ts(r.GraceUntil), r.Decision, r.Reason,
		r.DecidedByOID, r.DecidedByUPN, r.DecidedByName, q.nullTS(r.DecidedAt), r.Action, r.ActionWhy, r.ActionAttempts,
		q.nullTS(r.ActionLease), r.ActionError, r.GraphRequestID, q.nullTS(r.ActedAt), q.nullTS(r.WarnedAt), q.ts(r.CreatedAt), q.ts(r.UpdatedAt))
	if err != nil {
		return false, fmt.Errorf("store: create review: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	return true, q.AddGuestReviewers(ctx, r.ID, reviewers)
}

// AddGuestReviewers adds reviewers to a round; those it has already are left as they are.
func (q *Queries) AddGuestReviewers(ctx context.Context, reviewID string, reviewers []GuestReviewer) error {
	for _, p := range reviewers {
		if p.ReviewerOID == "" || !validText(p.ReviewerOID, p.DisplayName, p.Address) {
			return fmt.Errorf("store: add reviewers: %w", &InputError{Field: "reviewer"})
		}
		if _, err := q.exec(ctx, `INSERT INTO guest_review_reviewers (review_id, reviewer_oid, display_name, address)
VALUES (?, ?, ?, ?) ON CONFLICT (review_id, reviewer_oid) DO NOTHING`, reviewID, p.ReviewerOID, p.DisplayName, p.Address); err != nil {
			return fmt.Errorf("store: add reviewers: %w", err)
		}
	}
	return nil
}

// GuestReviewers returns the reviewers of the rounds, by round and name.
func (q *Queries) GuestReviewers(ctx context.Context, reviewIDs ...string) ([]GuestReviewer, error) {
	if len(reviewIDs) == 0 {
		return nil, nil
	}
	if !validText(reviewIDs...) {
		return nil, &InputError{Field: "review"}
	}
	rows, err := q.query(ctx, `SELECT review_id, reviewer_oid, display_name, address FROM guest_review_reviewers
WHERE review_id IN (`+placeholders(len(reviewIDs))+`) ORDER BY review_id, display_name, reviewer_oid`, anySlice(reviewIDs)...)
	if err != nil {
		return nil, fmt.Errorf("store: reviewers: %w", err)
	}
	defer rows.Close()
	var out []GuestReviewer
	for rows.Next() {
		var p GuestReviewer
		if err := rows.Scan(&p.ReviewID, &p.ReviewerOID, &p.DisplayName, &p.Address); err != nil {
			return nil, fmt.Errorf("store: reviewers: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GetGuestReview reads one round; ErrNotFound when there is none.
func (q *Queries) GetGuestReview(ctx context.Context, id string) (*GuestReview, error) {
	if !validText(id) {
		return nil, ErrNotFound
	}
	r, err := scanReview(q.queryRow(ctx, "SELECT "+reviewColumns+" FROM guest_reviews WHERE id = ?", id))
	if err != nil {
		return nil, notFound("review", err)
	}
	return r, nil
}

// GuestReviewFilter selects rounds; zero fields select everything.
type GuestReviewFilter struct {
	TenantID      string
	ReviewerOID   string   // only rounds this person reviews
	States        []string // only these states
	InvitationIDs []string // only these guests' rounds
	Limit         int
}

func (f GuestReviewFilter) where() (*where, error) {
	if err := checkText([2]string{"tenant", f.TenantID}, [2]string{"reviewer", f.ReviewerOID}); err != nil {
		return nil, err
	}
	if !validText(f.InvitationIDs...) {
		return nil, &InputError{Field: "invitation"}
	}
	w := &where{}
	if f.TenantID != "" {
		w.add("tenant_id = ?", f.TenantID)
	}
	if f.ReviewerOID != "" {
		w.add("id IN (SELECT review_id FROM guest_review_reviewers WHERE reviewer_oid = ?)", f.ReviewerOID)
	}
	if len(f.States) > 0 {
		w.add("state IN ("+placeholders(len(f.States))+")", anySlice(f.States)...)
	}
	if len(f.InvitationIDs) > 0 {
		w.add("invitation_id IN ("+placeholders(len(f.InvitationIDs))+")", anySlice(f.InvitationIDs)...)
	}
	return w, nil
}

// ListGuestReviews returns the rounds f selects, soonest due first.
func (q *Queries) ListGuestReviews(ctx context.Context, f GuestReviewFilter) ([]GuestReview, error) {
	w, err := f.where()
	if err != nil {
		return nil, fmt.Errorf("store: list reviews: %w", err)
	}
	return q.reviews(ctx, "SELECT "+reviewColumns+" FROM guest_reviews"+w.String()+" ORDER BY due_at, id"+q.page(f.Limit, 0), w.args...)
}

// CountGuestReviews counts the rounds f selects (Limit is ignored).
func (q *Queries) CountGuestReviews(ctx context.Context, f GuestReviewFilter) (int, error) {
	w, err := f.where()
	if err != nil {
		return 0, fmt.Errorf("store: count reviews: %w", err)
	}
	var n int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM guest_reviews"+w.String(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count reviews: %w", err)
	}
	return n, nil
}

// DueGuestReviews returns up to limit rounds with something to do at now: scheduled and due (to
// open), open without a warning whose grace ends by warnBy (to warn), open past their grace (no
// answer), and removing without a live lease (the action), oldest first.
func (q *Queries) DueGuestReviews(ctx context.Context, now, warnBy time.Time, limit int) ([]GuestReview, error) {
	return q.reviews(ctx, "SELECT "+reviewColumns+` FROM guest_reviews
WHERE (state = ? AND due_at <= ?) OR (state = ? AND (grace_until <= ? OR (warned_at IS NULL AND grace_until <= ?)))
   OR (state = ? AND (action_lease IS NULL OR action_lease < ?))
ORDER BY due_at, id`+q.page(limit, 0),
		ReviewScheduled, q.ts(now), ReviewOpen, q.ts(now), q.ts(warnBy), ReviewRemoving, q.ts(now))
}

func (q *Queries) reviews(ctx context.Context, query string, args ...any) ([]GuestReview, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: reviews: %w", err)
	}
	defer rows.Close()
	var out []GuestReview
	for rows.Next() {
		r, err := scanReview(rows)
		if err != nil {
			return nil, fmt.Errorf("store: reviews: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// ReviewCandidate is a guest Portico invited that accepted and has no unfinished round: the next
// round is due Every after Since (the acceptance, or the last "keep").
type ReviewCandidate struct {
	Invitation Invitation
	LastRound  int
	Since      time.Time
}

// ReviewCandidates returns up to limit guests that need a (next) round: invitations Portico sent
// (outcome created, current record) whose partner accepted, not invited as Member, whose rounds
// so far (if any) all ended "kept", and not exempted by an admin (lifecycle_guests). When several records name one guest, the oldest stands for it.
func (q *Queries) ReviewCandidates(ctx context.Context, limit int) ([]ReviewCandidate, error) {
	rows, err := q.query(ctx, `SELECT `+prefixed("i.", invitationColumns)+`,
  COALESCE((SELECT MAX(r.round) FROM guest_reviews r WHERE r.invitation_id = i.id), 0),
  (SELECT MAX(r.decided_at) FROM guest_reviews r WHERE r.invitation_id = i.id AND r.state = 'kept')
FROM invitations i
WHERE i.outcome = 'created' AND i.graph_user_id <> '' AND i.replaced_by = '' AND i.external_user_state = 'Accepted'
  AND i.user_type <> 'Member'
  AND NOT EXISTS (SELECT 1 FROM guest_reviews r WHERE r.invitation_id = i.id AND r.state <> 'kept')
  AND NOT EXISTS (SELECT 1 FROM lifecycle_guests g WHERE g.tenant_id = i.tenant_id AND g.guest_id = i.graph_user_id AND g.exempt = ?)
  AND NOT EXISTS (SELECT 1 FROM invitations o WHERE o.tenant_id = i.tenant_id AND o.graph_user_id = i.graph_user_id
      AND o.outcome = 'created' AND o.replaced_by = '' AND (o.created_at < i.created_at OR (o.created_at = i.created_at AND o.id < i.id)))
ORDER BY i.created_at, i.id`+q.page(limit, 0), true)
	if err != nil {
		return nil, fmt.Errorf("store: review candidates: %w", err)
	}
	defer rows.Close()
	var out []ReviewCandidate
	for rows.Next() {
		var c ReviewCandidate
		var kept *time.Time
		inv, err := scanInvitation(extraScanner{rows, []any{&c.LastRound, nullTimeCol{&kept}}})
		if err != nil {
			return nil, fmt.Errorf("store: review candidates: %w", err)
		}
		c.Invitation = *inv
		switch {
		case kept != nil:
			c.Since = *kept
		case c.Invitation.ExternalUserStateChangedAt != nil:
			c.Since = *c.Invitation.ExternalUserStateChangedAt
		default:
			c.Since = c.Invitation.CreatedAt
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// GuestReviewChange moves a round from one of From to To as one compare-and-set.
type GuestReviewChange struct {
	From []string
	To   string
	At   time.Time
	// Decision, when set, records the decision, its reason and who made it (decided_at = At).
	Decision             string
	Reason               string
	ByOID, ByUPN, ByName string
	Action, ActionWhy    string     // written when Action is set
	Lease                *time.Time // action_lease = *Lease and action_attempts + 1 (a claim)
	LeaseFree            *time.Time // also requires action_lease IS NULL OR action_lease < *LeaseFree
	Hold                 *time.Time // action_lease = *Hold, attempts unchanged (a retry's time)
	ClearLease           bool
	ActionError          *string    // written when set
	GraphRequestID       string     // written when set
	Acted                bool       // acted_at = At
	Warned               bool       // warned_at = At (the only change when To is empty: the state stays)
	GraceUntil           *time.Time // grace_until = *GraceUntil (a warning that came late moves the action)
}

// ChangeGuestReview applies ch when the round is in one of ch.From; changed is false when it was
// not. Two reviewers deciding at once: exactly one changes it.
func (q *Queries) ChangeGuestReview(ctx context.Context, id string, ch GuestReviewChange) (changed bool, err error) {
	if !validText(id) {
		return false, ErrNotFound
	}
	var actionErr string
	if ch.ActionError != nil {
		actionErr = *ch.ActionError
	}
	if err := checkText([2]string{"by", ch.ByOID}, [2]string{"by upn", ch.ByUPN}, [2]string{"by name", ch.ByName},
		[2]string{"reason", ch.Reason}, [2]string{"action why", ch.ActionWhy}, [2]string{"action error", actionErr},
		[2]string{"request id", ch.GraphRequestID}); err != nil {
		return false, fmt.Errorf("store: change review: %w", err)
	}
	if len(ch.From) == 0 {
		return false, fmt.Errorf("store: change review: no From state")
	}
	set := []string{"updated_at = ?"}
	args := []any{q.ts(ch.At)}
	if ch.To != "" {
		set = append(set, "state = ?")
		args = append(args, ch.To)
	}
	if ch.Decision != "" {
		set = append(set, "decision = ?", "reason = ?", "decided_by_oid = ?", "decided_by_upn = ?", "decided_by_name = ?", "decided_at = ?")
		args = append(args, ch.Decision, ch.Reason, ch.ByOID, ch.ByUPN, ch.ByName, q.ts(ch.At))
	}
	if ch.Action != "" {
		set = append(set, "action = ?", "action_why = ?")
		args = append(args, ch.Action, ch.ActionWhy)
	}
	switch {
	case ch.Lease != nil:
		set = append(set, "action_lease = ?", "action_attempts = action_attempts + 1")
		args = append(args, q.ts(*ch.Lease))
	case ch.Hold != nil:
		set = append(set, "action_lease = ?")
		args = append(args, q.ts(*ch.Hold))
	case ch.ClearLease:
		set = append(set, "action_lease = NULL")
	}
	if ch.ActionError != nil {
		set = append(set, "action_error = ?")
		args = append(args, *ch.ActionError)
	}
	if ch.GraphRequestID != "" {
		set = append(set, "graph_request_id = ?")
		args = append(args, ch.GraphRequestID)
	}
	if ch.Acted {
		set = append(set, "acted_at = ?")
		args = append(args, q.ts(ch.At))
	}
	if ch.Warned {
		set = append(set, "warned_at = ?")
		args = append(args, q.ts(ch.At))
	}
	if ch.GraceUntil != nil {
		set = append(set, "grace_until = ?")
		args = append(args, q.ts(*ch.GraceUntil))
	}
	cond := " WHERE id = ? AND state IN (" + placeholders(len(ch.From)) + ")"
	args = append(args, id)
	args = append(args, anySlice(ch.From)...)
	if ch.Warned {
		cond += " AND warned_at IS NULL"
	}
	if ch.LeaseFree != nil {
		cond += " AND (action_lease IS NULL OR action_lease < ?)"
		args = append(args, q.ts(*ch.LeaseFree))
	}
	res, err := q.exec(ctx, "UPDATE guest_reviews SET "+strings.Join(set, ", ")+cond, args...)
	if err != nil {
		return false, fmt.Errorf("store: change review: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: change review: %w", err)
	}
	return n == 1, nil
}

func scanReview(s scanner) (*GuestReview, error) {
	var r GuestReview
	err := s.Scan(&r.ID, &r.TenantID, &r.InvitationID, &r.GuestOID, &r.Round, &r.State, timeCol{&r.DueAt}, timeCol{&r.GraceUntil},
		&r.Decision, &r.Reason, &r.DecidedByOID, &r.DecidedByUPN, &r.DecidedByName, nullTimeCol{&r.DecidedAt}, &r.Action,
		&r.ActionWhy, &r.ActionAttempts, nullTimeCol{&r.ActionLease}, &r.ActionError, &r.GraphRequestID, nullTimeCol{&r.ActedAt},
		nullTimeCol{&r.WarnedAt}, timeCol{&r.CreatedAt}, timeCol{&r.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// extraScanner scans a row that has more columns after those its caller's scan function knows.
type extraScanner struct {
	s     scanner
	extra []any
}

func (e extraScanner) Scan(dst ...any) error { return e.s.Scan(append(dst, e.extra...)...) }

// prefixed qualifies each of a comma-separated column list with prefix (e.g. "i.").
func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
