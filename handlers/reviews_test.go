package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"portico/invite"
	"portico/store"
)

// newReviewEnv is the real review service on an in-memory database: Ann invited Pat (sponsored
// by Sam), Bob invited Lee; both accepted 181 days ago, so both are due for review.
func newReviewEnv(t *testing.T) (*env, *store.DB, map[string]string) {
	t.Helper()
	en := newEnv(t)
	db, err := store.Open(context.Background(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	now := time.Now()
	accepted := now.Add(-181 * 24 * time.Hour)
	for _, inv := range []store.Invitation{
		{ID: newID(), TenantID: testIssuerTenant, InviterOID: ann.ObjectID, InviterUPN: ann.UPN, InviterName: ann.Name, Email: "pat@fabrikam.example",
			DisplayName: "Pat <Partner>", Outcome: store.OutcomeCreated, GraphUserID: "guest-pat", UserType: "Guest", ExternalUserState: store.StateAccepted,
			ExternalUserStateChangedAt: &accepted, CreatedAt: accepted},
		{ID: newID(), TenantID: testIssuerTenant, InviterOID: "oid-bob", InviterUPN: "bob@contoso.example", InviterName: "Bob", Email: "lee@fabrikam.example",
			Outcome: store.OutcomeCreated, GraphUserID: "guest-lee", UserType: "Guest", ExternalUserState: store.StateAccepted,
			ExternalUserStateChangedAt: &accepted, CreatedAt: accepted},
	} {
		if err := db.CreateInvitation(ctx, &inv); err != nil {
			t.Fatal(err)
		}
	}
	rv := invite.NewReviews(invite.ReviewsConfig{Store: invite.NewReviewStore(db),
		Policy: invite.ReviewPolicy{Every: 180 * 24 * time.Hour, Grace: 14 * 24 * time.Hour, WarnBefore: 7 * 24 * time.Hour, Action: invite.ReviewActionDisable}})
	for range 2 { // schedule, then open
		if _, err := rv.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rounds, err := db.ListGuestReviews(ctx, store.GuestReviewFilter{States: []string{store.ReviewOpen}})
	if err != nil || len(rounds) != 2 {
		t.Fatalf("open rounds: %v %v", rounds, err)
	}
	ids := map[string]string{}
	for _, r := range rounds {
		ids[r.GuestOID] = r.ID
	}
	en.e = New(Deps{Config: en.cfg, Logger: slog.New(slog.NewTextHandler(en.logs, nil)), Sessions: en.sessions, RP: en.rp,
		Tokens: en.tokens, Invites: en.inv, Audit: en.audit, DB: en.db, Clock: func() time.Time { return en.now }, Reviews: rv})
	return en, db, ids
}

func TestReviewsPageListsOnlyYourGuests(t *testing.T) {
	en, _, _ := newReviewEnv(t)
	rec := en.signIn(ann).get("/reviews")
	want(t, rec, http.StatusOK, "pat@fabrikam.example", "Pat &lt;Partner&gt;", `data-testid="reviews-count">1<`, `name="_csrf"`, "Why remove", "reported to the administrators")
	if strings.Contains(rec.Body.String(), "lee@fabrikam.example") {
		t.Fatal("Ann sees Bob's guest")
	}
	// The degraded policy (no application identity) is said on the page.
	if !strings.Contains(rec.Body.String(), "reported instead") {
		t.Fatalf("no degraded note: %.3000s", rec.Body.String())
	}
	want(t, en.anon().get("/reviews"), http.StatusFound)
}

func TestReviewsAttackerCannotDecideSomeoneElsesGuest(t *testing.T) {
	en, db, ids := newReviewEnv(t)
	b := en.signIn(ann)
	// Ann is not Lee's inviter or sponsor: 403 for keep and remove, the round stays open.
	want(t, b.post("/reviews/"+ids["guest-lee"]+"/remove", url.Values{"reason": {"take over"}}), http.StatusForbidden, "Not your guest to review")
	want(t, b.post("/reviews/"+ids["guest-lee"]+"/keep", nil), http.StatusForbidden)
	// Forged requests never reach the domain.
	want(t, b.post("/reviews/"+ids["guest-pat"]+"/keep", url.Values{"_csrf": {"wrong"}}), http.StatusForbidden)
	want(t, b.post("/reviews/"+ids["guest-pat"]+"/keep", nil, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	want(t, b.post("/reviews/NOT-AN-ID/keep", nil), http.StatusNotFound)
	want(t, b.post("/reviews/"+newID()+"/keep", nil), http.StatusNotFound)
	for _, id := range ids {
		r, err := db.GetGuestReview(context.Background(), id)
		if err != nil || r.State != store.ReviewOpen || r.Decision != "" {
			t.Fatalf("round %s changed: %+v %v", id, r, err)
		}
	}
}

func TestReviewsKeepAndRemoveForms(t *testing.T) {
	en, db, ids := newReviewEnv(t)
	b := en.signIn(ann)
	// Remove without a reason: 400, the form again with the message, nothing recorded.
	rec := b.post("/reviews/"+ids["guest-pat"]+"/remove", url.Values{"reason": {"   "}})
	want(t, rec, http.StatusBadRequest, "Say why this guest should be removed.", `aria-invalid="true"`)
	rec = b.post("/reviews/"+ids["guest-pat"]+"/keep", nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/reviews" {
		t.Fatalf("keep: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	r, _ := db.GetGuestReview(context.Background(), ids["guest-pat"])
	if r.State != store.ReviewKept || r.DecidedByOID != ann.ObjectID {
		t.Fatalf("kept: %+v", r)
	}
	// Deciding again (another tab, another sponsor): 409.
	want(t, b.post("/reviews/"+ids["guest-pat"]+"/remove", url.Values{"reason": {"changed my mind"}}), http.StatusConflict, "Already decided")
	// The kept guest is no longer listed.
	rec = b.get("/reviews")
	want(t, rec, http.StatusOK, "No guest of yours is due for review.")
}
