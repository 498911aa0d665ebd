package views

import (
	"strings"
	"testing"
	"time"
)

// The inviter's journeys of issue 14: quota, "already invited", link mode, message limit,
// language note, member notices and list paging, as the pages render them.

func TestInviteFormQuota(t *testing.T) {
	reset := time.Date(2026, 11, 28, 10, 15, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		q         *Quota
		line      string // the "N of M left" line, "" when absent
		reached   []string
		noReached bool
	}{
		{name: "no quota", q: nil, noReached: true},
		{name: "places left this hour", q: &Quota{Limit: 5, Remaining: 3, ResetAt: reset}, line: "3 of 5 invitations left this hour.", noReached: true},
		{name: "places left in a day", q: &Quota{Limit: 20, Remaining: 1, Day: true}, line: "1 of 20 invitations left in 24 hours.", noReached: true},
		{name: "hour used up", q: &Quota{Limit: 5, Remaining: 0, ResetAt: reset},
			reached: []string{"Invitation limit reached", "the 5 invitations Portico allows per hour", "next one after 28 Nov 2026, 10:15 UTC", "what you entered is kept"}},
		{name: "day used up", q: &Quota{Limit: 1, Remaining: 0, Day: true, ResetAt: reset},
			reached: []string{"the 1 invitation Portico allows per day"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := InviteForm{Page: benchPage(), Values: InviteValues{Email: "kept@fabrikam.example", Message: "Hello", SendEmail: true}, Quota: tc.q,
				Alert: &Alert{Kind: "warning", Title: "Generic alert", Text: "generic text"}}
			d, _ := doc(t, InviteFormPage(m))
			if got := text(d, `[data-testid="quota"]`); got != tc.line {
				t.Errorf("quota line %q; want %q", got, tc.line)
			}
			box := d.Find(`[data-testid="quota-reached"]`)
			if tc.noReached {
				if box.Length() != 0 {
					t.Error("limit-reached message while places are left")
				}
				if text(d, `[data-testid="alert"]`) == "" {
					t.Error("the handler's alert is shown")
				}
				return
			}
			got := strings.Join(strings.Fields(box.Text()), " ")
			for _, want := range tc.reached {
				if !strings.Contains(got, want) {
					t.Errorf("limit message %q lacks %q", got, want)
				}
			}
			if box.AttrOr("role", "") != "alert" || box.Find(`time[datetime="2026-11-28T10:15:00Z"]`).Length() != 1 {
				t.Error("the limit message is an alert with the reset time as <time>")
			}
			if d.Find(`[data-testid="alert"]`).Length() != 0 {
				t.Error("one message about the limit, not two")
			}
			if d.Find("#invitedUserEmailAddress").AttrOr("value", "") != "kept@fabrikam.example" || text(d, "#customizedMessageBody") != "Hello" {
				t.Error("the form keeps what was entered")
			}
		})
	}
}

func TestInviteFormAlreadyInvited(t *testing.T) {
	sentence := "This guest was invited already and has not accepted yet."
	for _, tc := range []struct {
		name    string
		offerID string
	}{{"visible to the viewer", "inv-1"}, {"someone else's", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			m := InviteForm{Page: benchPage(), Values: InviteValues{Email: "p@fabrikam.example", SendEmail: true},
				Alert:       &Alert{Kind: "warning", Title: "Already invited", Text: sentence},
				ResendOffer: &ResendOffer{InvitationID: tc.offerID, Text: sentence}}
			d, _ := doc(t, InviteFormPage(m))
			if n := strings.Count(d.Find("main").Text(), sentence); n != 1 {
				t.Errorf("the sentence appears %d times; want once", n)
			}
			primary := d.Find(`main button[type="submit"]:not(.secondary)`)
			if primary.Length() != 1 || strings.TrimSpace(primary.Text()) != "Send again" {
				t.Errorf("%d primary buttons (%q); want one: Send again", primary.Length(), primary.Text())
			}
			link := d.Find(`[data-testid="resend-offer"] a[data-testid="existing-invitation"]`)
			if tc.offerID != "" {
				if link.AttrOr("href", "") != "/invitations/inv-1" {
					t.Error("a link to the existing invitation")
				}
				if d.Find(`form[action="/invitations/inv-1/resend"] [data-testid="resend"]`).Length() != 1 {
					t.Error("Send again resends the existing invitation")
				}
			} else {
				if link.Length() != 0 {
					t.Error("no link to an invitation the viewer may not see")
				}
				if d.Find(`[data-testid="resend-offer"] form[action="/invitations"] input[name="resend"][value="1"]`).Length() != 1 {
					t.Error("Send again re-posts the form with resend=1")
				}
			}
		})
	}
}

func TestInviteFormSubmitLabelAndNotes(t *testing.T) {
	m := InviteForm{Page: benchPage(), Values: InviteValues{SendEmail: false}, MaxMessage: 2000,
		Languages: []Option{{Value: "fr-FR", Label: "French"}}}
	d, _ := doc(t, InviteFormPage(m))
	b := d.Find(`[data-testid="submit"]`)
	if strings.TrimSpace(b.Text()) != "Invite partner" || b.AttrOr("data-label-email", "") != "Send invitation" || b.AttrOr("data-label-link", "") != "Create link" {
		t.Errorf("submit %q: a neutral label without script, email and link labels for the script", b.Text())
	}
	hint := text(d, "#messageLanguage-hint")
	if !strings.Contains(hint, "only for an email without a personal message") || !strings.Contains(d.Find("#messageLanguage").AttrOr("aria-describedby", ""), "messageLanguage-hint") {
		t.Errorf("the language says Microsoft ignores it with a message: %q", hint)
	}
	if _, hidden := d.Find("[data-language-ignored]").Attr("hidden"); !hidden {
		t.Error("the script's note starts hidden")
	}
	if !strings.Contains(text(d, "#customizedMessageBody-hint"), "At most 2000 characters.") {
		t.Error("the message hint says the limit")
	}
}

func TestResultAndDetailLinkMode(t *testing.T) {
	inv := Invitation{ID: "abc", Email: "p@fabrikam.example", UserType: "Member", Outcome: "created", SendEmail: false,
		RedeemURL: "https://login.example/redeem?x", JoinURL: "https://p.example/join/t", CanReveal: true}
	d, _ := doc(t, ResultPage(Result{Page: benchPage(), Inv: inv, JustCreated: true}))
	if got := text(d, `[data-testid="result-link"] h1`); got != "Link created for p@fabrikam.example" {
		t.Errorf("result heading %q", got)
	}
	if strings.Contains(d.Find("main").Text(), "Invitation sent") || d.Find(`[data-testid="result-sent"]`).Length() != 0 {
		t.Error("link mode never says sent")
	}
	if !d.Find(`[data-testid="member-note"]`).HasClass("warning") {
		t.Error("the member notice is a caution")
	}

	// A reload: the link is no longer held by the page; say why and offer Reveal.
	inv.RedeemURL = ""
	d, _ = doc(t, InvitationDetailPage(InvitationPage{Page: benchPage(), Inv: inv}))
	once := d.Find(`[data-testid="redeem-once"]`)
	if !strings.Contains(once.Text(), "shown once") || !strings.Contains(once.Text(), "recorded in the audit trail") ||
		once.Find(`form[method="post"][action="/invitations/abc/reveal"] [data-testid="reveal"]`).Length() != 1 {
		t.Errorf("reload explains the hidden link and offers Reveal: %q", once.Text())
	}
	if d.Find(`[data-testid="reveal"]`).Length() != 1 {
		t.Error("one Reveal button")
	}
	if d.Find(`dt:contains("Link created")`).Length() != 1 || d.Find(`dt:contains("Sent")`).Length() != 0 {
		t.Error("a link-mode invitation's date is when the link was created, not 'Sent'")
	}
	if !d.Find(`[data-testid="member-note"]`).HasClass("warning") {
		t.Error("the member notice is a caution on the detail page too")
	}

	// Someone who may not reveal is told why, without a button.
	inv.CanReveal, inv.RevealReason = false, "Portico does not hold this invitation's redemption URL, so it has no link to share."
	d, _ = doc(t, InvitationDetailPage(InvitationPage{Page: benchPage(), Inv: inv}))
	if d.Find(`[data-testid="reveal"]`).Length() != 0 || !strings.Contains(text(d, `[data-testid="redeem-once"]`), "does not hold") {
		t.Error("no Reveal, the reason instead")
	}

	// Just revealed: shown once, and the page says the reveal was recorded.
	inv.CanReveal, inv.RedeemURL, inv.Revealed = true, "https://login.example/redeem?x", true
	d, _ = doc(t, InvitationDetailPage(InvitationPage{Page: benchPage(), Inv: inv}))
	if d.Find(`[data-testid="redeem-url"]`).AttrOr("value", "") != inv.RedeemURL || !strings.Contains(text(d, "#redeem-url-hint"), "This reveal is recorded") {
		t.Error("the revealed link with its note")
	}
	if d.Find(`[data-testid="redeem-once"]`).Length() != 0 {
		t.Error("no hidden-link notice while the link is shown")
	}
}

func TestInvitationListCount(t *testing.T) {
	for _, tc := range []struct {
		total int
		more  bool
		want  string
	}{{1, false, "1 invitation"}, {25, false, "25 invitations"}, {1000, true, "More than 1,000 invitations"}} {
		m := InvitationList{Page: benchPage(), Items: sampleInvitations(1), State: "all", Total: tc.total, TotalMore: tc.more}
		d, _ := doc(t, InvitationListPage(m))
		if got := text(d, `[data-testid="count"]`); got != tc.want {
			t.Errorf("count %q; want %q", got, tc.want)
		}
		if d.Find(".pager").Length() != 0 {
			t.Error("no pager without neighbouring pages")
		}
	}
	if got := thousands(1234567); got != "1,234,567" {
		t.Errorf("thousands %q", got)
	}
}
