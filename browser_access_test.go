package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The form's sponsors and groups, the invitation page's "Sponsors and access" and "Guests you
// sponsor": axe-clean in both themes, usable without JavaScript, and the people picker with it.
func TestBrowserSponsorsAndGroups(t *testing.T) {
	c := newChrome(t)
	axeJS := axeSource(t)
	tenant := newTenant(t)
	h := start(t, tenant, map[string]string{"PORTICO_GUEST_GROUPS": demoGroups})

	emp := c.newTab(t, h.URL)
	emp.signIn("employee@contoso.example")
	must(t, emp.count(`input[name="sponsors"]`) == 4 && emp.count(`input[name="groups"]`) == 3, "sponsor fields and group checkboxes on the form")
	checkPage(t, emp, "form with sponsors and groups", axeJS)

	// The people picker: typing a name offers members by address.
	emp.fill("#sponsor-0", "meg")
	deadline := time.Now().Add(5 * time.Second)
	for emp.count(`#people-list option[value="megan@contoso.example"]`) != 1 {
		must(t, time.Now().Before(deadline), "the picker offered no one: %q", eval[string](emp, `document.getElementById("people-list").innerHTML`))
		time.Sleep(100 * time.Millisecond)
	}
	must(t, emp.count(`#people-list option[value*="fabrikam"]`) == 0, "guests are not offered")

	// Per-field errors: a guest as the second sponsor.
	emp.fill("#invitedUserEmailAddress", "blake@fabrikam.example")
	emp.fill("#sponsor-0", "megan@contoso.example")
	emp.fill("#sponsor-1", "pending.guest@fabrikam.example")
	status := emp.click(`[data-testid="submit"]`)
	must(t, status >= 400 && status < 500, "refused: %d", status)
	must(t, strings.Contains(emp.text(`[data-testid="error-summary"]`), "Sponsor 3"), "summary names the field: %q", emp.text(`[data-testid="error-summary"]`))
	must(t, emp.count(`a[href="#sponsor-1"]`) == 1, "the summary links to the field")
	must(t, eval[string](emp, `document.getElementById("sponsor-1").getAttribute("aria-describedby")`) == "sponsors.1-error", "error tied to the field")
	must(t, emp.value("#sponsor-0") == "megan@contoso.example", "values kept")
	checkPage(t, emp, "form with a sponsor error", axeJS)

	// Without JavaScript: plain address fields and checkboxes.
	emp.scripts(false)
	must(t, emp.open("/") == http.StatusOK, "form")
	emp.fill("#invitedUserEmailAddress", "blake@fabrikam.example")
	emp.fill("#sponsor-0", "megan@contoso.example")
	emp.setChecked("#group-0", true)
	emp.setChecked("#group-1", true)
	status = emp.click(`[data-testid="submit"]`)
	must(t, status == http.StatusOK && emp.count(`[data-testid="access"]`) == 1, "result page with access: %d", status)
	emp.scripts(true)
	must(t, strings.Contains(emp.text(`[data-testid="sponsors"]`), "Megan Bowen"), "sponsors: %q", emp.text(`[data-testid="sponsors"]`))
	must(t, emp.count(`[data-testid="group"][data-status="added"]`) == 1 && emp.count(`[data-testid="group"][data-status="failed"]`) == 1,
		"one group added, one refused: %q", emp.text(`[data-testid="groups"]`))
	checkPage(t, emp, "result with sponsors and groups", axeJS)
	emp.click(`a[href^="/invitations/"]`)
	checkPage(t, emp, "invitation with sponsors and groups", axeJS)

	megan := c.newTab(t, h.URL)
	megan.signIn("megan@contoso.example")
	must(t, megan.open("/invitations?scope=sponsored") == http.StatusOK, "sponsored list")
	must(t, strings.Contains(megan.text("main"), "blake@fabrikam.example"), "Megan sees the guest she sponsors")
	checkPage(t, megan, "guests you sponsor", axeJS)
}
