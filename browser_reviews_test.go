package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/store"
)

// TestBrowserReviews walks /reviews in Chromium with JavaScript off: two guests due, a removal
// with a blank reason refused on the page, a removal with a reason, a keep; axe in both colour
// schemes at each step.
func TestBrowserReviews(t *testing.T) {
	c := newChrome(t)
	axe := axeSource(t)
	tenant := newTenant(t)
	dsn := sqliteFile(t)
	clock := &reviewClock{}
	h, a := startReviews(t, tenant, map[string]string{"PORTICO_DATABASE_URL": dsn, "PORTICO_REVIEW_EVERY": "180d",
		"PORTICO_REVIEW_ACTION": "disable"}, clock, "User.Read.All", "User.ReadWrite.All")
	db := openStore(t, dsn)
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	_, j1 := inviteByLink(t, emp, "kim@fabrikam.example")
	_, j2 := inviteByLink(t, emp, "rex@fabrikam.example")
	kim := acceptForReview(t, h, db, j1, "kim@fabrikam.example")
	rex := acceptForReview(t, h, db, j2, "rex@fabrikam.example")
	clock.advance(tenant, 181*24*time.Hour)
	if _, err := a.Reviews.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	rk := awaitReview(t, h, db, kim.ID, store.ReviewOpen)
	rr := awaitReview(t, h, db, rex.ID, store.ReviewOpen)

	tb := c.newTab(t, h.URL)
	tb.scripts(false)
	tb.signIn("employee@contoso.example")
	must(t, strings.HasPrefix(tb.text(`[data-testid="reviews-link"]`), "Reviews"), "header link: %q", tb.text(`[data-testid="reviews-link"]`))
	tb.open("/reviews")
	must(t, tb.count(`[data-testid="review-row"]`) == 2, "two rows: %d", tb.count(`[data-testid="review-row"]`))
	axeBoth(t, tb, axe, "reviews due")
	tb.fill("#reason-"+rr.ID, "   ")
	must(t, tb.click(`form[action="/reviews/`+rr.ID+`/remove"] button`) == http.StatusBadRequest && tb.count("#reason-error-"+rr.ID) == 1,
		"a blank reason is refused on the page")
	axeBoth(t, tb, axe, "removal without a reason")
	tb.fill("#reason-"+rr.ID, "The project ended.")
	must(t, tb.click(`form[action="/reviews/`+rr.ID+`/remove"] button`) == http.StatusOK && tb.count(`[data-testid="review-row"]`) == 1, "removed")
	axeBoth(t, tb, axe, "after a removal")
	must(t, tb.click(`form[action="/reviews/`+rk.ID+`/keep"] button`) == http.StatusOK && tb.count(`[data-testid="empty"]`) == 1, "kept")
	axeBoth(t, tb, axe, "nothing due")
	awaitReview(t, h, db, rex.ID, store.ReviewRemoved)

	adm := c.newTab(t, h.URL)
	adm.scripts(false)
	adm.signIn("admin@contoso.example")
	adm.open("/admin/guests")
	must(t, adm.count(`[data-testid="guest-review-row"]`) == 2, "the admins' list has both reviewed guests: %d", adm.count(`[data-testid="guest-review-row"]`))
	axeBoth(t, adm, axe, "admin guests with sponsor reviews")
}
