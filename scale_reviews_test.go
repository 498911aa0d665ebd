package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/devtenant"
	"portico/graph"
	"portico/invite"
	"portico/store"
)

// reviewScale sets up n guests Portico invited that accepted 181 days ago, in devtenant and in
// Portico's store, and reviews every 180 days that disable a guest nobody kept.
func reviewScale(t testing.TB, n int) (*devtenant.Tenant, *invite.Reviews, *store.DB, *atomic.Int64) {
	tenant := newTenant(t)
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	accepted := time.Now().Add(-181 * 24 * time.Hour)
	for i := range n {
		addr := fmt.Sprintf("guest%04d@fabrikam.example", i)
		tenant.AddUser(devtenant.User{Mail: addr, UserPrincipalName: "guest" + fmt.Sprint(i) + "_fabrikam.example#EXT#@contoso.onmicrosoft.com",
			DisplayName: addr, UserType: "Guest", CreationType: "Invitation", ExternalUserState: "Accepted",
			ExternalUserStateChangeDateTime: &accepted, AccountEnabled: true})
		u, _ := tenant.UserByMail(addr)
		if err := db.CreateInvitation(ctx, &store.Invitation{TenantID: tenant.TenantID(), InviterOID: "oid-erin", InviterUPN: "employee@contoso.example",
			Email: addr, Outcome: store.OutcomeCreated, GraphUserID: u.ID, UserType: "Guest", ExternalUserState: store.StateAccepted,
			ExternalUserStateChangedAt: &accepted, CreatedAt: accepted.Add(time.Duration(i) * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := tenant.AppAccessToken("User.Read.All", "User.ReadWrite.All")
	if err != nil {
		t.Fatal(err)
	}
	offset := &atomic.Int64{}
	rg := invite.NewReviewGraph(graph.NewClient(tenant.URL(), &http.Client{Timeout: time.Minute}))
	r := invite.NewReviews(invite.ReviewsConfig{Store: invite.NewReviewStore(db),
		Policy: invite.ReviewPolicy{Every: 180 * 24 * time.Hour, Grace: 14 * 24 * time.Hour, Action: invite.ReviewActionDisable},
		Graph:  rg, Sponsors: rg, Tokens: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}),
		Clock: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	tenant.ResetRequests()
	return tenant, r, db, offset
}

// 1,000 guests nobody reviewed: opening their reviews (Graph's sponsors) and disabling them after
// the grace take at most 0.2 Graph round trips per guest ($batch), each guest is disabled once,
// and a second sweep makes no Graph call.
func TestReviewsThousandGuestsGraphRequests(t *testing.T) {
	const n = 1000
	tenant, r, db, offset := reviewScale(t, n)
	ctx := context.Background()
	for range 3 { // at most 500 rounds per sweep: scheduled and opened over a few sweeps
		if _, err := r.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	open, _ := db.CountGuestReviews(ctx, store.GuestReviewFilter{States: []string{store.ReviewOpen}})
	opening := len(tenant.RoundTrips())
	must(t, open == n, "%d rounds open, want %d", open, n)
	offset.Store(int64(15 * 24 * time.Hour))
	tenant.ResetRequests()
	var acted int
	for range 3 {
		res, err := r.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		acted += res.Acted
	}
	acting := len(tenant.RoundTrips())
	perGuest := float64(opening+acting) / n
	t.Logf("%d guests: opening %d round trips, acting %d (%.3f per guest in all), %d Graph requests inside the last", n, opening, acting, perGuest, len(tenant.Requests()))
	must(t, acted == n, "acted on %d, want %d", acted, n)
	must(t, perGuest <= 0.2, "%.3f Graph round trips per guest, want at most 0.2", perGuest)
	disabled := 0
	for _, u := range tenant.Users() {
		if u.UserType == "Guest" && !u.AccountEnabled {
			disabled++
		}
	}
	must(t, disabled == n, "%d guests disabled in devtenant, want %d", disabled, n)
	removed, _ := db.CountGuestReviews(ctx, store.GuestReviewFilter{States: []string{store.ReviewRemoved}})
	must(t, removed == n, "%d rounds removed", removed)
	tenant.ResetRequests()
	res, err := r.Sweep(ctx)
	must(t, err == nil && res.Acted == 0 && len(tenant.RoundTrips()) == 0, "second sweep: %+v %v, %d round trips", res, err, len(tenant.RoundTrips()))
}
