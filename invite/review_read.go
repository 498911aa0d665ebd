package invite

import (
	"context"
	"errors"
	"time"

	"portico/store"
)

// ReviewItem is one guest in a reviewer's list: the round and what Portico knows of the guest's activity.
type ReviewItem struct {
	ID           string // the round's id
	InvitationID string
	Round        int
	State        string
	Partner      string // display name, or the address
	Email        string
	GuestOID     string
	Inviter      string
	Reviewers    []string
	DueAt        time.Time
	GraceUntil   time.Time
	InvitedAt    time.Time
	AcceptedAt   *time.Time
	// LastJoinOpen is the last time the partner opened the join link (nil: never, or no link).
	LastJoinOpen *time.Time
	// LastSignIn is signInActivity's last sign-in; SignInKnown is false when Portico cannot read it
	// (AuditLog.Read.All not granted).
	LastSignIn  *time.Time
	SignInKnown bool
	Action      string // what "remove" (or no answer) does: report, disable, delete
	// For the admins' list: the decision and what came of it.
	Decision, DecidedBy, Reason string
	Note                        string // why the action is what it is, or Graph's error
}

// Inbox lists the open rounds the person reviews, soonest due first.
func (r *Reviews) Inbox(ctx context.Context, reviewerOID string) ([]ReviewItem, error) {
	if reviewerOID == "" || !r.cfg.Policy.Enabled() {
		return nil, nil
	}
	rows, err := r.cfg.Store.ListGuestReviews(ctx, store.GuestReviewFilter{ReviewerOID: reviewerOID, States: []string{store.ReviewOpen}, Limit: 500})
	if err != nil {
		return nil, err
	}
	byReview, err := r.reviewerNames(ctx, rows)
	if err != nil {
		return nil, err
	}
	out := make([]ReviewItem, 0, len(rows))
	for i := range rows {
		rv := &rows[i]
		inv, err := r.cfg.Store.GetInvitation(ctx, rv.InvitationID)
		if err != nil {
			return nil, err
		}
		it := reviewItemOf(rv, inv, byReview[rv.ID])
		it.Action = r.cfg.Policy.Action
		if it.Inviter == "" {
			it.Inviter = inv.InviterUPN
		}
		if l, err := r.cfg.Store.ActiveJoinLink(ctx, inv.ID); err == nil {
			it.LastJoinOpen = l.LastOpenedAt
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		out = append(out, it)
	}
	if r.cfg.SignIns != nil && r.cfg.Tokens != nil && len(out) > 0 {
		guests := make([]string, len(out))
		for i := range out {
			guests[i] = out[i].GuestOID
		}
		last, err := r.cfg.SignIns.LastSignIns(ctx, r.cfg.Tokens, guests)
		if err != nil {
			// The list shows Portico's own records; the sign-ins it could read are still shown.
			r.log.WarnContext(ctx, "reviews: reading signInActivity failed", "err", err)
		}
		for i := range out {
			if t, ok := last[out[i].GuestOID]; ok {
				out[i].LastSignIn, out[i].SignInKnown = t, true
			}
		}
	}
	return out, nil
}

// Overview lists each reviewed guest's latest round for the admins (kept rounds are followed by
// the next, scheduled one), soonest due first.
func (r *Reviews) Overview(ctx context.Context, limit int) ([]ReviewItem, error) {
	if !r.cfg.Policy.Enabled() {
		return nil, nil
	}
	rows, err := r.cfg.Store.ListGuestReviews(ctx, store.GuestReviewFilter{States: []string{store.ReviewScheduled, store.ReviewOpen,
		store.ReviewRemoving, store.ReviewRemoved, store.ReviewReported, store.ReviewFailed}, Limit: limit})
	if err != nil {
		return nil, err
	}
	names, err := r.reviewerNames(ctx, rows)
	if err != nil {
		return nil, err
	}
	out := make([]ReviewItem, 0, len(rows))
	for i := range rows {
		rv := &rows[i]
		inv, err := r.cfg.Store.GetInvitation(ctx, rv.InvitationID)
		if err != nil {
			return nil, err
		}
		it := reviewItemOf(rv, inv, names[rv.ID])
		it.InvitationID, it.Action, it.Decision, it.DecidedBy, it.Reason, it.Note = rv.InvitationID, rv.Action, rv.Decision, rv.DecidedByName, rv.Reason, rv.ActionWhy
		if rv.ActionError != "" {
			it.Note = rv.ActionError
		}
		out = append(out, it)
	}
	return out, nil
}

// reviewItemOf is what the reviewer's inbox and the admins' overview both show of a round: the
// guest (its name, else its address), the inviter, the reviewers and the dates.
func reviewItemOf(rv *store.GuestReview, inv *store.Invitation, reviewers []string) ReviewItem {
	it := ReviewItem{ID: rv.ID, Round: rv.Round, State: rv.State, Partner: inv.DisplayName, Email: inv.Email, GuestOID: rv.GuestOID,
		Inviter: inv.InviterName, Reviewers: reviewers, DueAt: rv.DueAt, GraceUntil: rv.GraceUntil, InvitedAt: inv.CreatedAt,
		AcceptedAt: inv.ExternalUserStateChangedAt}
	if it.Partner == "" {
		it.Partner = inv.Email
	}
	return it
}

// reviewerNames are the names (or addresses) of each round's reviewers, by round id.
func (r *Reviews) reviewerNames(ctx context.Context, rows []store.GuestReview) (map[string][]string, error) {
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	revs, err := r.cfg.Store.GuestReviewers(ctx, ids...)
	if err != nil {
		return nil, err
	}
	names := map[string][]string{}
	for _, p := range revs {
		n := p.DisplayName
		if n == "" {
			n = p.Address
		}
		names[p.ReviewID] = append(names[p.ReviewID], n)
	}
	return names, nil
}

// ReviewState is a guest's current review state for the admins' list.
type ReviewState struct {
	Round    int
	State    string // scheduled, open, kept, removing, removed, reported, failed
	DueAt    time.Time
	Decision string
	Action   string
}

// States returns the latest round of each invitation that has one.
func (r *Reviews) States(ctx context.Context, invitationIDs []string) (map[string]ReviewState, error) {
	out := map[string]ReviewState{}
	if len(invitationIDs) == 0 {
		return out, nil
	}
	rows, err := r.cfg.Store.ListGuestReviews(ctx, store.GuestReviewFilter{InvitationIDs: invitationIDs})
	if err != nil {
		return nil, err
	}
	for _, rv := range rows {
		if cur, ok := out[rv.InvitationID]; ok && cur.Round > rv.Round {
			continue
		}
		out[rv.InvitationID] = ReviewState{Round: rv.Round, State: rv.State, DueAt: rv.DueAt, Decision: rv.Decision, Action: rv.Action}
	}
	return out, nil
}

// DueFor counts the open rounds the person reviews.
func (r *Reviews) DueFor(ctx context.Context, reviewerOID string) (int, error) {
	if reviewerOID == "" || !r.cfg.Policy.Enabled() {
		return 0, nil
	}
	return r.cfg.Store.CountGuestReviews(ctx, store.GuestReviewFilter{ReviewerOID: reviewerOID, States: []string{store.ReviewOpen}})
}

// DueCount counts the guests due for review now (open rounds).
func (r *Reviews) DueCount(ctx context.Context) (int, error) {
	return r.cfg.Store.CountGuestReviews(ctx, store.GuestReviewFilter{States: []string{store.ReviewOpen}})
}

// ReviewStoreAdapter makes a *store.DB a ReviewStore.
type ReviewStoreAdapter struct {
	*store.Queries
	db *store.DB
}

var _ ReviewStore = (*ReviewStoreAdapter)(nil)

// NewReviewStore wraps an open database for NewReviews.
func NewReviewStore(db *store.DB) *ReviewStoreAdapter {
	return &ReviewStoreAdapter{Queries: db.Queries, db: db}
}

// ReviewTx runs fn in one database transaction; a nested ReviewTx joins it.
func (a *ReviewStoreAdapter) ReviewTx(ctx context.Context, fn func(ReviewStore) error) error {
	if a.db == nil {
		return fn(a)
	}
	return a.db.InTx(ctx, func(q *store.Queries) error { return fn(&ReviewStoreAdapter{Queries: q}) })
}
