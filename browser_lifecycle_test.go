package main

import (
	"net/http"
	"strings"
	"testing"

	"portico/devtenant"
)

// The lifecycle pages pass the page-quality checks (axe light and dark, focus, no overflow) and
// work without JavaScript (plain links and forms).
func TestBrowserLifecyclePages(t *testing.T) {
	c := newChrome(t)
	axeJS := axeSource(t)
	tenant := tenantWith(t, func(o *devtenant.Options) {
		o.AppRoles = append(devtenant.DefaultAppRoles(), "User.ReadWrite.All", "AuditLog.Read.All")
	})
	h := start(t, tenant, map[string]string{"PORTICO_GRAPH_MODE": "application", "PORTICO_LOG_LEVEL": "warn",
		"PORTICO_REMIND_AFTER": "7d,14d", "PORTICO_PENDING_EXPIRY": "30d", "PORTICO_PENDING_EXPIRY_ACTION": "disable", "PORTICO_WARN_BEFORE": "7d"})
	emp := c.newTab(t, h.URL)
	emp.signIn("employee@contoso.example")
	emp.invite("taylor@fabrikam.example", "Taylor Partner", true, false)
	must(t, emp.open("/admin/guests") == http.StatusForbidden, "employees may not open /admin/guests")

	admin := c.newTab(t, h.URL)
	admin.signIn("admin@contoso.example")
	must(t, admin.open("/admin/guests") == http.StatusOK, "guests page")
	must(t, admin.count(`[data-testid="guest-row"]`) == 1 && admin.count(`[data-testid="policy"]`) == 1, "one guest and the policy")
	checkPage(t, admin, "admin-guests", axeJS)
	must(t, admin.open("/admin/guests/dry-run") == http.StatusOK && admin.count(`[data-testid="dry-run"]`) == 1, "dry run")
	checkPage(t, admin, "admin-guests-dry-run", axeJS)
	id := eval[string](admin, `document.querySelector('[data-testid="guest-row"]').dataset.id`)
	must(t, admin.open("/admin/guests/"+id) == http.StatusOK && admin.count(`[data-testid="exempt"]`) == 1, "guest page")
	checkPage(t, admin, "admin-guest", axeJS)
	admin.click(`[data-testid="exempt"]`)
	must(t, strings.Contains(eval[string](admin, `document.querySelector('[data-testid="guest-state"]').textContent`), "Exempt"), "exempted")
	checkPage(t, admin, "admin-guest-exempt", axeJS)
}
