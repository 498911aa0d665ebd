package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/devtenant"
	"portico/graph"
	"portico/invite"
	"portico/keyring"
	"portico/store"
)

// lifecycleScale sets up n pending guests Portico invited 31 days ago, in devtenant and in
// Portico's store, and a lifecycle that disables them at 30 days.
func lifecycleScale(t testing.TB, n int) (*devtenant.Tenant, *invite.Lifecycle, *store.DB) {
	tenant := newTenant(t)
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	created := time.Now().Add(-31 * 24 * time.Hour)
	for i := range n {
		addr := fmt.Sprintf("guest%04d@fabrikam.example", i)
		changed := created
		tenant.AddUser(devtenant.User{Mail: addr, UserPrincipalName: "guest" + fmt.Sprint(i) + "_fabrikam.example#EXT#@contoso.onmicrosoft.com",
			DisplayName: addr, UserType: "Guest", CreationType: "Invitation", ExternalUserState: "PendingAcceptance",
			ExternalUserStateChangeDateTime: &changed, AccountEnabled: true})
		u, _ := tenant.UserByMail(addr)
		if err := db.CreateInvitation(ctx, &store.Invitation{TenantID: tenant.TenantID(), InviterOID: "oid-erin", InviterUPN: "employee@contoso.example",
			Email: addr, Outcome: store.OutcomeCreated, GraphUserID: u.ID, ExternalUserState: "PendingAcceptance", CreatedAt: created.Add(time.Duration(i) * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := tenant.AppAccessToken("User.Read.All", "User.ReadWrite.All")
	if err != nil {
		t.Fatal(err)
	}
	gc := graph.NewClient(tenant.URL(), &http.Client{Timeout: time.Minute})
	keys, _ := keyring.New(bytes.Repeat([]byte{5}, keyring.KeySize))
	svc := invite.NewService(invite.Config{Graph: gc, Store: invite.NewStoreAdapter(db), Keys: keys, JoinTTL: time.Hour,
		PublicURL: "https://portico.example", Logger: slog.New(slog.DiscardHandler)})
	l, err := svc.NewLifecycle(invite.LifecycleConfig{Policy: invite.LifecyclePolicy{PendingExpiry: 30 * 24 * time.Hour, ExpiryAction: invite.EffectDisable},
		Graph: gc, Tokens: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}), TenantID: tenant.TenantID(),
		Granted: []string{"User.Read.All", "User.ReadWrite.All"}})
	if err != nil {
		t.Fatal(err)
	}
	tenant.ResetRequests()
	return tenant, l, db
}

// 1,000 never-accepted guests are disabled at expiry with at most 0.2 Graph round trips per guest
// ($batch: 20 reads, then 20 writes, per request), each guest once; a second run makes no write.
func TestLifecycleThousandGuestsGraphRequests(t *testing.T) {
	const n = 1000
	tenant, l, _ := lifecycleScale(t, n)
	res, err := l.Run(context.Background(), invite.JobMeta("bench"), false)
	if err != nil {
		t.Fatal(err)
	}
	rts := len(tenant.RoundTrips())
	perGuest := float64(rts) / n
	t.Logf("%d guests: %d Graph round trips (%.3f per guest), %d Graph requests inside them", n, rts, perGuest, len(tenant.Requests()))
	must(t, res.Disabled == n && res.Failed == 0, "run: %+v", res)
	must(t, perGuest <= 0.2, "%.3f Graph round trips per guest, want at most 0.2", perGuest)
	disabled := 0
	for _, u := range tenant.Users() {
		if u.UserType == "Guest" && u.CreationType == "Invitation" && !u.AccountEnabled {
			disabled++
		}
	}
	must(t, disabled == n, "%d guests disabled in devtenant, want %d", disabled, n)
	tenant.ResetRequests()
	res, err = l.Run(context.Background(), invite.JobMeta("bench-2"), false)
	must(t, err == nil && res.Disabled == 0 && len(tenant.RoundTrips()) == 0, "second run: %+v %v, %d round trips", res, err, len(tenant.RoundTrips()))
}

// BenchmarkLifecycle1000 runs the expiry of 1,000 guests and reports Graph round trips per guest.
func BenchmarkLifecycle1000(b *testing.B) {
	for range b.N {
		b.StopTimer()
		tenant, l, _ := lifecycleScale(b, 1000)
		b.StartTimer()
		if _, err := l.Run(context.Background(), invite.JobMeta("bench"), false); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(tenant.RoundTrips()))/1000, "graph-requests/guest")
	}
}
