package main

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The inviter's journeys of issue 14 ("Journeys that dead-end") in Chromium, each page checked
// with axe-core: the quota on the form, the "already invited" answer, link mode and Reveal, the
// message limit and the landing page's loopback exception, the language note, the member notice,
// one date format, and My invitations paged by position.

// revealRedeemURL posts Reveal on an invitation's page and follows its POST-redirect-GET answer.
func revealRedeemURL(t testing.TB, b *browser, path string) *page {
	t.Helper()
	p := b.post(path+"/reveal", nil)
	must(t, p.Status == http.StatusSeeOther && p.Header.Get("Location") == path, "reveal answers 303 to %s: %d %q", path, p.Status, p.Header.Get("Location"))
	return b.get(path)
}

// axeClean fails the test when axe-core finds a WCAG violation on the tab's page.
func axeClean(t *testing.T, b *tab, src, what string) {
	t.Helper()
	if src == "" {
		return // axeSource said why
	}
	wcag, _ := b.axe(src)
	if len(wcag) > 0 {
		var sb strings.Builder
		for _, v := range wcag {
			sb.WriteString("\n  " + v.String())
		}
		t.Fatalf("%s (%s): %d WCAG violations:%s", what, b.path(), len(wcag), sb.String())
	}
}

// dateText is the one date format: "28 Nov 2026, 09:31 UTC" (the zone as the reader's).
var dateText = regexp.MustCompile(`^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} \S+`)

func TestBrowserInviterJourneys(t *testing.T) {
	c := newChrome(t)
	axe := axeSource(t)

	t.Run("quota reached keeps the form and says when it resets", func(t *testing.T) {
		h := start(t, nil, map[string]string{"PORTICO_INVITE_QUOTA": "2/h"})
		emp := c.newTab(t, h.URL)
		emp.signIn("employee@contoso.example")
		must(t, emp.text(`[data-testid="quota"]`) == "2 of 2 invitations left this hour.", "quota line: %q", emp.text(`[data-testid="quota"]`))
		axeClean(t, emp, axe, "form with the quota line")
		for i, who := range []string{"quota.one@fabrikam.example", "quota.two@fabrikam.example"} {
			emp.open("/")
			status := emp.invite(who, "", false, false)
			must(t, status == http.StatusOK && strings.HasPrefix(emp.path(), "/invitations/"), "invitation %d: %d at %s", i+1, status, emp.path())
			if i == 0 {
				emp.open("/")
				must(t, emp.text(`[data-testid="quota"]`) == "1 of 2 invitations left this hour.", "quota line after one: %q", emp.text(`[data-testid="quota"]`))
			}
		}
		emp.open("/")
		emp.fill("#invitedUserDisplayName", "Quota Three")
		status := emp.invite("quota.three@fabrikam.example", "", true, false)
		must(t, status == http.StatusTooManyRequests, "over the quota: %d", status)
		msg := emp.text(`[data-testid="quota-reached"]`)
		must(t, strings.Contains(msg, "the 2 invitations Portico allows per hour") && strings.Contains(msg, "You can send the next one after"), "limit message: %q", msg)
		must(t, emp.count(`[data-testid="quota-reached"] time[datetime]`) == 1, "the reset time is a <time>")
		must(t, emp.value("#invitedUserEmailAddress") == "quota.three@fabrikam.example" && emp.value("#invitedUserDisplayName") == "Quota Three" &&
			emp.value("#customizedMessageBody") == "Welcome to the Fabrikam project.", "the form keeps every value")
		must(t, emp.count(`[role="alert"]`) == 1, "one message, not two")
		axeClean(t, emp, axe, "form over the quota")
	})

	h := start(t, nil, map[string]string{"PORTICO_INVITE_QUOTA": "off"})

	t.Run("already invited: one sentence, one primary action, a link to the invitation", func(t *testing.T) {
		emp := c.newTab(t, h.URL)
		emp.signIn("employee@contoso.example")
		must(t, emp.invite("dana@fabrikam.example", "Dana", true, false) == http.StatusOK, "first invitation")
		first := emp.path()
		emp.open("/")
		status := emp.invite("dana@fabrikam.example", "Dana", true, false)
		must(t, status == http.StatusConflict, "again: %d", status)
		offer := emp.text(`[data-testid="resend-offer"]`)
		must(t, strings.Contains(offer, "Already invited"), "the offer: %q", offer)
		sentence := "This guest was invited already and has not accepted yet."
		must(t, strings.Count(emp.text("main"), sentence) == 1, "the sentence once: %q", emp.text("main"))
		must(t, emp.count(`main button[type="submit"]:not(.secondary)`) == 1 &&
			emp.text(`main button[type="submit"]:not(.secondary)`) == "Send again", "one primary action, Send again")
		href := eval[string](emp, `document.querySelector('[data-testid="existing-invitation"]').getAttribute("href")`)
		must(t, href == first, "link to the existing invitation: %q, want %q", href, first)
		axeClean(t, emp, axe, "already invited")
		must(t, emp.click(`[data-testid="resend-offer"] [data-testid="resend"]`) == http.StatusOK && strings.HasPrefix(emp.path(), "/invitations/"), "Send again: %s", emp.path())
	})

	t.Run("own domain not in the directory needs an account, not a sign-in", func(t *testing.T) {
		emp := c.newTab(t, h.URL)
		emp.signIn("employee@contoso.example")
		status := emp.invite("nobody.here@contoso.example", "", true, false)
		must(t, status == http.StatusUnprocessableEntity, "own domain: %d", status)
		msg := emp.text(`[data-testid="alert"]`)
		must(t, strings.Contains(msg, "needs an account in your directory") && !strings.Contains(msg, "sign in already"), "own-domain message: %q", msg)
		axeClean(t, emp, axe, "own domain refused")
	})

	t.Run("link mode says link, a reload explains the hidden link, Reveal ends on a GET", func(t *testing.T) {
		emp := c.newTab(t, h.URL)
		emp.signIn("employee@contoso.example")
		must(t, emp.text(`[data-testid="submit"]`) == "Send invitation", "with email: %q", emp.text(`[data-testid="submit"]`))
		emp.setChecked("#sendInvitationMessage", false)
		must(t, emp.text(`[data-testid="submit"]`) == "Create link", "without email: %q", emp.text(`[data-testid="submit"]`))
		status := emp.invite("lee@fabrikam.example", "Lee", false, false)
		must(t, status == http.StatusOK, "result: %d", status)
		inv := emp.path()
		must(t, emp.text("h1") == "Link created for lee@fabrikam.example", "result heading: %q", emp.text("h1"))
		must(t, !strings.Contains(emp.text("main"), "Invitation sent") && emp.count(`[data-testid="redeem-url"]`) == 1, "never 'sent' in link mode")
		axeClean(t, emp, axe, "link created")

		emp.open(inv) // a reload
		must(t, emp.count(`[data-testid="redeem-url"]`) == 0, "the link is hidden after the first view")
		once := emp.text(`[data-testid="redeem-once"]`)
		must(t, strings.Contains(once, "shown once") && strings.Contains(once, "recorded in the audit trail"), "why it is hidden: %q", once)
		got := emp.text("main time")
		must(t, dateText.MatchString(got), "date %q is not in the one format", got)
		axeClean(t, emp, axe, "invitation after a reload")

		must(t, emp.click(`[data-testid="reveal"]`) == http.StatusOK, "reveal")
		must(t, emp.path() == inv, "after Reveal the browser is on %s, want %s", emp.path(), inv)
		must(t, strings.HasPrefix(emp.value("#redeem-url"), h.tenant.URL()+"/redeem?"), "the revealed link: %q", emp.value("#redeem-url"))
		must(t, strings.Contains(emp.text("#redeem-url-hint"), "This reveal is recorded"), "the reveal is said to be recorded")
		axeClean(t, emp, axe, "revealed link")
		emp.open(inv)
		must(t, emp.count(`[data-testid="redeem-url"]`) == 0 && emp.count(`[data-testid="reveal"]`) == 1, "a reload hides it again and offers Reveal")

		noJS := c.newTab(t, h.URL)
		noJS.scripts(false)
		noJS.signIn("employee@contoso.example")
		must(t, noJS.text(`[data-testid="submit"]`) == "Invite partner", "without JavaScript a neutral label: %q", noJS.text(`[data-testid="submit"]`))
	})

	t.Run("a long message is never cut; the landing page names the loopback exception", func(t *testing.T) {
		emp := c.newTab(t, h.URL)
		emp.signIn("employee@contoso.example")
		// A paste: the value arrives at once, as the browser would put it.
		eval[bool](emp, `(function(){var m=document.querySelector("#customizedMessageBody");m.value="a".repeat(10000);m.dispatchEvent(new Event("input"));return true})()`)
		must(t, eval[int](emp, `document.querySelector("#customizedMessageBody").value.length`) == 10000, "the browser kept all 10,000 characters")
		counter := emp.text("#message-count")
		must(t, strings.Contains(counter, "over the limit"), "the counter says so: %q", counter)
		must(t, emp.count("[data-language-ignored]:not([hidden])") == 1, "with a message, the language is said to be ignored")
		emp.fill("#invitedUserEmailAddress", "long.message@fabrikam.example")
		emp.fill("#inviteRedirectUrl", "http://example.com/welcome")
		status := emp.click(`[data-testid="submit"]`)
		must(t, status == http.StatusBadRequest, "over the limit: %d", status)
		must(t, strings.Contains(emp.text("#customizedMessageBody-error"), "too long"), "message error: %q", emp.text("#customizedMessageBody-error"))
		must(t, strings.Contains(emp.text("#inviteRedirectUrl-error"), "(http:// is allowed only for this machine, e.g. http://localhost)"), "landing page error: %q", emp.text("#inviteRedirectUrl-error"))
		must(t, eval[int](emp, `document.querySelector("#customizedMessageBody").value.length`) == 10000, "the message comes back whole")
		axeClean(t, emp, axe, "message too long")
		eval[bool](emp, `(function(){var m=document.querySelector("#customizedMessageBody");m.value="";m.dispatchEvent(new Event("input"));return true})()`)
		must(t, emp.count("[data-language-ignored][hidden]") == 1, "without a message, no note")
		must(t, strings.Contains(emp.text("#messageLanguage-hint"), "only for an email without a personal message"), "the hint is there without script too")
	})

	t.Run("a member notice is a caution", func(t *testing.T) {
		admin := c.newTab(t, h.URL)
		admin.signIn("admin@contoso.example")
		must(t, admin.invite("morgan.member@fabrikam.example", "Morgan", true, true) == http.StatusOK, "member invited")
		cls := eval[string](admin, `document.querySelector('[data-testid="member-note"]').className`)
		must(t, strings.Contains(cls, "warning") && !strings.Contains(cls, "success") && !strings.Contains(cls, "info"), "member note class %q", cls)
		axeClean(t, admin, axe, "member invited")
	})

	t.Run("My invitations pages by position, filters without JavaScript", func(t *testing.T) {
		seed := h.browser()
		seed.signIn("inviter@contoso.example")
		const n = 27
		for i := range n {
			p := seed.post("/invitations", inviteForm(fmt.Sprintf("page.%02d@fabrikam.example", i), func(v url.Values) { v.Del("sendInvitationMessage") }))
			must(t, p.Status == http.StatusSeeOther, "seed %d: %d", i, p.Status)
		}
		withJS := c.newTab(t, h.URL)
		withJS.signIn("inviter@contoso.example")
		must(t, withJS.open("/invitations") == http.StatusOK && withJS.count(`[data-testid="older"]`) == 1, "list with JavaScript")
		axeClean(t, withJS, axe, "My invitations")

		b := c.newTab(t, h.URL) // axe needs scripts; the paging must not
		b.scripts(false)
		b.signIn("inviter@contoso.example")
		must(t, b.open("/invitations?state=pending") == http.StatusOK, "list")
		must(t, b.count(`[data-testid="invitation-row"]`) == 25 && b.text(`[data-testid="count"]`) == "27 invitations", "first page: %d rows, %q",
			b.count(`[data-testid="invitation-row"]`), b.text(`[data-testid="count"]`))
		must(t, strings.Contains(b.text(`[data-testid="invitation-row"]`), "page.26@"), "newest first")
		must(t, b.count(`[data-testid="newer"]`) == 0, "no Newer on the first page")
		must(t, b.click(`[data-testid="older"]`) == http.StatusOK, "Older")
		must(t, strings.Contains(b.path(), "state=pending") && strings.Contains(b.path(), "before="), "Older keeps the filter: %s", b.path())
		must(t, b.count(`[data-testid="invitation-row"]`) == 2 && b.count(`[data-testid="older"]`) == 0, "last page: %d rows", b.count(`[data-testid="invitation-row"]`))
		must(t, strings.Contains(b.text(`[data-testid="invitation-row"]`), "page.01@"), "the oldest at the end")
		must(t, b.click(`[data-testid="newer"]`) == http.StatusOK, "Newer")
		must(t, b.count(`[data-testid="invitation-row"]`) == 25 && b.count(`[data-testid="newer"]`) == 0, "back on the first page: %d rows", b.count(`[data-testid="invitation-row"]`))
		must(t, b.click(`.tabs a[href="/invitations?state=all"]`) == http.StatusOK && b.count(`[data-testid="invitation-row"]`) == 25, "the All tab")
		must(t, b.open("/invitations?before=broken") == http.StatusBadRequest, "a damaged page link is a 400")
	})
}
