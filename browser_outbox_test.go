package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The demo's outbox (devtenant's /outbox): linked from the demo home page, it lists the notice an
// inviter got when the partner accepted; axe finds no WCAG violation in light or dark mode, and it
// needs no script (devtenant's pages have none).
func TestBrowserDemoOutbox(t *testing.T) {
	c := newChrome(t)
	axe := axeSource(t)
	in := launch(t, nil, map[string]string{"PORTICO_LOG_LEVEL": "warn"}, "-demo", "-graph-mode", "application")
	in.await(t)
	emp := in.browser()
	emp.signIn("employee@contoso.example")
	acceptByLink(t, in, emp, "morgan@fabrikam.example")
	deadline := time.Now().Add(10 * time.Second)
	for len(noticesTo(in.App.Tenant, "employee@contoso.example")) == 0 {
		must(t, time.Now().Before(deadline), "no notice sent\n%s", in.Logs)
		time.Sleep(100 * time.Millisecond)
	}

	home := c.newTab(t, in.URL)
	must(t, home.open("/") == http.StatusOK, "demo home")
	href := eval[string](home, `(function(){var e=document.querySelector("[data-testid=demo-outbox]");return e?e.href:""})()`)
	must(t, href == in.App.Tenant.URL()+"/outbox", "the demo home page links to the outbox: %q", href)

	box := c.newTab(t, in.App.Tenant.URL())
	must(t, box.open("/outbox") == http.StatusOK, "outbox page")
	must(t, box.count(`[data-testid="outbox-item"]`) >= 1, "the notice is listed")
	must(t, strings.Contains(box.text("main"), "accepted the invitation"), "the notice's subject shows: %q", box.text("main"))
	for _, dark := range []bool{false, true} {
		box.desktop(dark)
		axeClean(t, box, axe, map[bool]string{false: "outbox, light", true: "outbox, dark"}[dark])
	}
}
