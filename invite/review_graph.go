package invite

import (
	"context"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
)

// GraphReviews adapts the Graph client to ReviewGraph, SignIns and GuestSponsors: every call is
// one or a few $batch requests (20 users each).
type GraphReviews struct{ g *graph.Client }

// NewReviewGraph wraps the Graph client for NewReviews.
func NewReviewGraph(g *graph.Client) GraphReviews { return GraphReviews{g: g} }

var (
	_ ReviewGraph   = GraphReviews{}
	_ SignIns       = GraphReviews{}
	_ GuestSponsors = GraphReviews{}
)

func writes(in map[string]graph.WriteResult) map[string]ReviewWrite {
	out := make(map[string]ReviewWrite, len(in))
	for id, w := range in {
		out[id] = ReviewWrite{RequestID: w.RequestID, Err: w.Err}
	}
	return out
}

// DisableUsers is PATCH /users/{id} accountEnabled=false for each user, in $batch.
func (r GraphReviews) DisableUsers(ctx context.Context, ts oauth2.TokenSource, ids []string) map[string]ReviewWrite {
	return writes(r.g.SetAccountsEnabled(ctx, ts, ids, false))
}

// DeleteUsers is DELETE /users/{id} for each user, in $batch.
func (r GraphReviews) DeleteUsers(ctx context.Context, ts oauth2.TokenSource, ids []string) map[string]ReviewWrite {
	return writes(r.g.DeleteUsers(ctx, ts, ids))
}

// UserTypes reads the users' userType, in $batch.
func (r GraphReviews) UserTypes(ctx context.Context, ts oauth2.TokenSource, ids []string) (map[string]string, []string, error) {
	found, gone, err := r.g.GuestStatuses(ctx, ts, ids, false)
	types := make(map[string]string, len(found))
	for id, st := range found {
		types[id] = st.UserType
	}
	return types, gone, err
}

// LastSignIns reads the users' signInActivity, in $batch.
func (r GraphReviews) LastSignIns(ctx context.Context, ts oauth2.TokenSource, ids []string) (map[string]*time.Time, error) {
	found, _, err := r.g.GuestStatuses(ctx, ts, ids, true)
	out := make(map[string]*time.Time, len(found))
	for id, st := range found {
		out[id] = st.SignInActivity.Last()
	}
	return out, err
}

// GuestSponsors reads the guests' sponsors (GET /users/{id}/sponsors), in $batch.
func (r GraphReviews) GuestSponsors(ctx context.Context, ts oauth2.TokenSource, ids []string) (map[string][]Person, error) {
	m, err := r.g.Sponsors(ctx, ts, ids)
	out := make(map[string][]Person, len(m))
	for id, us := range m {
		for _, u := range us {
			out[id] = append(out[id], Person{ObjectID: u.ID, UPN: u.UserPrincipalName, Name: u.DisplayName, Email: u.Mail})
		}
	}
	return out, err
}
