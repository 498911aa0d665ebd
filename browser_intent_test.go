package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/devtenant"
)

// A submit whose Graph POST is slow lands on the record's page saying "Still sending…": the page
// passes the quality checks (axe, light and dark) and reloads itself, with JavaScript and without
// it, until the invitation is settled.
func TestBrowserStillSending(t *testing.T) {
	c := newChrome(t)
	axeJS := axeSource(t)
	tenant := newTenant(t)
	h := start(t, tenant, map[string]string{"PORTICO_SEND_WAIT": "1s"})
	emp := c.newTab(t, h.URL)
	emp.signIn("employee@contoso.example")

	settled := func(b *tab, what string) {
		t.Helper()
		// Both at once: while the page reloads itself, the old page may be gone and the new one
		// not there yet (no "sending" element, no text either).
		deadline := time.Now().Add(30 * time.Second)
		for b.count(`[data-testid="sending"]`) != 0 || !strings.Contains(b.text("main"), "Pending acceptance") {
			must(t, time.Now().Before(deadline), "%s: the page did not update itself to the settled invitation: %q", what, b.text("main"))
			time.Sleep(200 * time.Millisecond)
		}
	}

	tenant.InjectFault(devtenant.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/invitations", Delay: 12 * time.Second, Times: 1})
	must(t, emp.invite("slow@fabrikam.example", "Slow Partner", true, false) == http.StatusOK, "the submit answers")
	must(t, strings.HasPrefix(emp.path(), "/invitations/") && emp.count(`[data-testid="sending"]`) == 1, "still sending at %s", emp.path())
	// Hold the reload while the page is checked.
	eval[bool](emp, `(() => { for (let i = 0; i < 10000; i++) clearTimeout(i); return true })()`)
	checkPage(t, emp, "invitation-sending", axeJS)
	emp.open(emp.path())
	settled(emp, "with JavaScript")

	// Without JavaScript the <noscript> meta refresh does the same.
	emp.scripts(false)
	emp.open("/")
	tenant.InjectFault(devtenant.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/invitations", Delay: 4 * time.Second, Times: 1})
	emp.invite("slow.nojs@fabrikam.example", "Slow Partner", true, false)
	must(t, emp.count(`[data-testid="sending"]`) == 1, "still sending without JavaScript at %s", emp.path())
	settled(emp, "without JavaScript")
	emp.scripts(true)
}
