package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/oauth2"

	"portico/invite"
)

// The inviter's journeys of issue 14 through the real router: the quota on the form, the
// "already invited" answer, Reveal answered with POST-redirect-GET, and My invitations paged by
// position with a capped count.

func page(t *testing.T, body string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFormShowsQuotaLeft(t *testing.T) {
	reset := time.Date(2026, 5, 1, 9, 20, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		d    invite.QuotaDecision
		err  error
		line string
	}{
		{"no quota", invite.QuotaDecision{Allowed: true}, nil, ""},
		{"hour tightest", invite.QuotaDecision{Limited: true, Allowed: true,
			Hour: invite.QuotaWindow{Length: time.Hour, Limit: 5, Used: 2, Remaining: 3, ResetAt: reset},
			Day:  invite.QuotaWindow{Length: 24 * time.Hour, Limit: 100, Used: 2, Remaining: 98, ResetAt: reset}}, nil, "3 of 5 invitations left this hour."},
		{"day tightest", invite.QuotaDecision{Limited: true, Allowed: true,
			Hour: invite.QuotaWindow{Length: time.Hour, Limit: 5, Used: 1, Remaining: 4, ResetAt: reset},
			Day:  invite.QuotaWindow{Length: 24 * time.Hour, Limit: 10, Used: 9, Remaining: 1, ResetAt: reset}}, nil, "1 of 10 invitations left in 24 hours."},
		{"count failed: the form still shows", invite.QuotaDecision{}, errors.New("store: busy"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			en := newEnv(t)
			en.inv.QuotaFn = func(_ context.Context, inv invite.Inviter) (invite.QuotaDecision, error) {
				if inv.ObjectID != ann.ObjectID {
					t.Errorf("Quota asked for %q", inv.ObjectID)
				}
				return tt.d, tt.err
			}
			rec := en.signIn(ann).get("/")
			want(t, rec, http.StatusOK, `data-testid="invite-form"`)
			if got := strings.Join(strings.Fields(page(t, rec.Body.String()).Find(`[data-testid="quota"]`).Text()), " "); got != tt.line {
				t.Errorf("quota line %q, want %q", got, tt.line)
			}
		})
	}
}

// TestQuotaReachedKeepsEverything: over the quota, the form comes back (429) with every value,
// one message naming the limit and the reset time as <time>, and no second alert.
func TestQuotaReachedKeepsEverything(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	reset := time.Date(2026, 5, 1, 9, 20, 0, 0, time.UTC)
	d := invite.QuotaDecision{Limited: true, RetryAfter: 20 * time.Minute,
		Hour: invite.QuotaWindow{Length: time.Hour, Limit: 2, Used: 2, ResetAt: reset},
		Day:  invite.QuotaWindow{Length: 24 * time.Hour, Limit: 10, Used: 2, Remaining: 8, ResetAt: reset.Add(23 * time.Hour)}}
	en.inv.SendFn = func(context.Context, oauth2.TokenSource, invite.Inviter, invite.Request, invite.Meta) (*invite.Result, error) {
		return nil, &invite.QuotaError{Decision: d}
	}
	form := inviteForm("pat@fabrikam.example")
	form.Set(invite.FieldMessage, "Welcome to the project.")
	form.Set(invite.FieldCC, "me@contoso.example")
	rec := b.post("/invitations", form)
	want(t, rec, http.StatusTooManyRequests)
	doc := page(t, rec.Body.String())
	box := doc.Find(`[data-testid="quota-reached"]`)
	text := strings.Join(strings.Fields(box.Text()), " ")
	for _, s := range []string{"the 2 invitations Portico allows per hour", "You can send the next one after 1 May 2026, 09:20 UTC"} {
		if !strings.Contains(text, s) {
			t.Errorf("limit message %q lacks %q", text, s)
		}
	}
	if box.Find(`time[datetime="2026-05-01T09:20:00Z"]`).Length() != 1 || doc.Find(`[role="alert"]`).Length() != 1 {
		t.Error("one alert, with the reset time as <time>")
	}
	for sel, v := range map[string]string{"#invitedUserEmailAddress": "pat@fabrikam.example", "#ccRecipient": "me@contoso.example", "#invitedUserDisplayName": "Pat"} {
		if got := doc.Find(sel).AttrOr("value", ""); got != v {
			t.Errorf("%s kept %q, want %q", sel, got, v)
		}
	}
	if doc.Find("#customizedMessageBody").Text() != "Welcome to the project." {
		t.Error("the message was not kept")
	}
}

func TestAlreadyInvitedAnswer(t *testing.T) {
	sentence := "This guest was invited already and has not accepted yet."
	for _, tt := range []struct {
		name    string
		visible bool
	}{{"the viewer's own invitation", true}, {"someone else's invitation", false}} {
		t.Run(tt.name, func(t *testing.T) {
			en := newEnv(t)
			b := en.signIn(ann)
			id := newID()
			en.inv.SendFn = func(context.Context, oauth2.TokenSource, invite.Inviter, invite.Request, invite.Meta) (*invite.Result, error) {
				return nil, &invite.RefusedError{Preflight: &invite.Preflight{Verdict: invite.VerdictPendingGuest, InvitationID: id, Message: sentence}, ResendOffered: true}
			}
			en.inv.GetFn = func(_ context.Context, _ invite.Inviter, got string) (*invitation, error) {
				if tt.visible {
					return created(got), nil
				}
				return nil, invite.ErrNotFound
			}
			rec := b.post("/invitations", inviteForm("pat@fabrikam.example"))
			want(t, rec, http.StatusConflict, "Already invited")
			doc := page(t, rec.Body.String())
			if n := strings.Count(doc.Find("main").Text(), sentence); n != 1 {
				t.Errorf("the sentence is said %d times, want once", n)
			}
			primary := doc.Find(`main button[type="submit"]:not(.secondary)`)
			if primary.Length() != 1 || strings.TrimSpace(primary.Text()) != "Send again" {
				t.Errorf("%d primary buttons; want one, Send again", primary.Length())
			}
			link := doc.Find(`a[data-testid="existing-invitation"]`)
			if tt.visible != (link.AttrOr("href", "") == "/invitations/"+id) {
				t.Errorf("link to the existing invitation: %q (visible %v)", link.AttrOr("href", ""), tt.visible)
			}
			if !tt.visible && strings.Contains(rec.Body.String(), "/invitations/"+id) {
				t.Error("someone else's invitation id reached the page")
			}
		})
	}
}

// TestRevealIsPostRedirectGet: Reveal answers 303 to the invitation page, which shows the link
// once; a reload shows why it is hidden and offers Reveal again, without revealing by itself.
func TestRevealIsPostRedirectGet(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	id := newID()
	rec := created(id)
	rec.SendEmail = false
	reveals := 0
	en.inv.RevealRedeemURLFn = func(_ context.Context, _ invite.Inviter, got string, _ invite.Meta) (string, error) {
		if got != id {
			t.Errorf("RevealRedeemURL(%q)", got)
		}
		reveals++
		return "https://login.microsoftonline.com/redeem?rd=revealed-once", nil
	}
	en.inv.GetFn = func(context.Context, invite.Inviter, string) (*invitation, error) { return rec, nil }
	en.inv.JoinURLFn = func(context.Context, invite.Inviter, string) (string, *joinLink, error) {
		return "http://portico.test/join/tok", &joinLink{ExpiresAt: en.now.Add(time.Hour)}, nil
	}

	res := b.post("/invitations/"+id+"/reveal", nil)
	want(t, res, http.StatusSeeOther)
	if loc := res.Header().Get("Location"); loc != "/invitations/"+id {
		t.Fatalf("went to %q", loc)
	}
	shown := b.get("/invitations/" + id)
	want(t, shown, http.StatusOK, "rd=revealed-once", "This reveal is recorded in the audit trail")
	if shown.Header().Get("Cache-Control") != "no-store" {
		t.Error("the revealed link may be cached")
	}
	again := b.get("/invitations/" + id)
	want(t, again, http.StatusOK, "shown once", `action="/invitations/`+id+`/reveal"`)
	if strings.Contains(again.Body.String(), "revealed-once") {
		t.Error("a reload showed the link again")
	}
	if reveals != 1 {
		t.Errorf("%d reveals; want 1", reveals)
	}
}

func TestListPagesByPosition(t *testing.T) {
	en := newEnv(t)
	var got []invite.ListFilter
	en.inv.ListFn = func(_ context.Context, _ invite.Inviter, f invite.ListFilter) (*invite.ListPage, error) {
		got = append(got, f)
		if f.Before == "bad" {
			return nil, invite.ErrBadCursor
		}
		return &invite.ListPage{Invitations: []invitation{*created(newID())}, Total: invite.ListCountCap, TotalMore: true,
			NewerCursor: "200.new", OlderCursor: "100.old"}, nil
	}
	b := en.signIn(admin)
	rec := b.get("/invitations?state=pending&scope=everyone&before=300.x")
	want(t, rec, http.StatusOK, "More than 1,000 invitations")
	if f := got[0]; f.Before != "300.x" || f.After != "" || f.State != invite.StatePending || !f.Everyone {
		t.Errorf("List(%+v)", f)
	}
	doc := page(t, rec.Body.String())
	base := "/invitations?state=pending&scope=everyone"
	for sel, href := range map[string]string{`a[rel="first"]`: base, `a[rel="prev"]`: base + "&after=" + url.QueryEscape("200.new"), `a[rel="next"]`: base + "&before=" + url.QueryEscape("100.old")} {
		if h := doc.Find(".pager "+sel).AttrOr("href", ""); h != href {
			t.Errorf("%s href %q, want %q", sel, h, href)
		}
	}
	want(t, b.get("/invitations?after=200.new"), http.StatusOK)
	if f := got[len(got)-1]; f.After != "200.new" || f.Before != "" {
		t.Errorf("List(%+v)", f)
	}
	want(t, b.get("/invitations?before=bad"), http.StatusBadRequest, "This page link is damaged")
}
