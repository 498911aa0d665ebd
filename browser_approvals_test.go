package main

import (
	"net/http"
	"strings"
	"testing"
)

// axeBoth checks the tab's page with axe in the light and the dark colour scheme. axe runs as a
// script: scripts are switched on for it (the page, loaded without them, is not reloaded) and off
// again after.
func axeBoth(t *testing.T, b *tab, src, what string) {
	t.Helper()
	b.scripts(true)
	defer b.scripts(false)
	b.scheme(false)
	axeClean(t, b, src, what+", light")
	b.scheme(true)
	axeClean(t, b, src, what+", dark")
	b.scheme(false)
}

// TestBrowserApprovals walks approvals in Chromium with JavaScript off: the form's offer, the
// request's page, My invitations, the inbox, a denial without a reason and an approval, each
// checked by axe in both colour schemes.
func TestBrowserApprovals(t *testing.T) {
	c := newChrome(t)
	axe := axeSource(t)
	h := startApprovals(t, nil)

	emp := c.newTab(t, h.URL)
	emp.scripts(false)
	emp.signIn("employee@contoso.example")
	status := emp.invite("partner@northwind.example", "Pat Partner", true, false)
	must(t, status == http.StatusOK && emp.count(`[data-testid="approval-offer"]`) == 1, "the form offers approval: %d", status)
	must(t, strings.Contains(emp.text(`[data-testid="approval-offer"]`), "not on your organization's list of allowed domains"), "says why: %q", emp.text(`[data-testid="approval-offer"]`))
	axeBoth(t, emp, axe, "form offering approval")
	must(t, emp.click(`[data-testid="ask-approval"]`) == http.StatusOK && strings.HasPrefix(emp.path(), "/approvals/"), "asked: at %s", emp.path())
	req := emp.path()
	must(t, emp.text(`[data-testid="approval-state"]`) == "Waiting for approval", "state: %q", emp.text(`[data-testid="approval-state"]`))
	axeBoth(t, emp, axe, "request page, requester")
	emp.open("/invitations")
	must(t, emp.count(`[data-testid="my-approvals"] [data-testid="approval-row"]`) == 1, "My invitations lists the request")
	axeBoth(t, emp, axe, "My invitations with a request")

	// A second request, to deny.
	emp.open("/")
	emp.invite("sam@northwind.example", "", true, false)
	emp.click(`[data-testid="ask-approval"]`)
	deny := emp.path()

	adm := c.newTab(t, h.URL)
	adm.scripts(false)
	adm.signIn("admin@contoso.example")
	must(t, strings.HasPrefix(adm.text(`[data-testid="approvals-link"]`), "Approvals"), "header link: %q", adm.text(`[data-testid="approvals-link"]`))
	adm.open("/approvals")
	must(t, adm.count(`[data-testid="approval-row"]`) == 2, "inbox rows: %d", adm.count(`[data-testid="approval-row"]`))
	axeBoth(t, adm, axe, "approvals inbox")
	adm.open(deny)
	must(t, adm.click(`[data-testid="deny"]`) == http.StatusBadRequest && adm.count("#reason-error") == 1, "deny without a reason is refused on the page")
	axeBoth(t, adm, axe, "deny without a reason")
	adm.fill("#reason", "Northwind is not a supplier.")
	must(t, adm.click(`[data-testid="deny"]`) == http.StatusOK && adm.text(`[data-testid="approval-state"]`) == "Denied", "denied")
	axeBoth(t, adm, axe, "denied request")

	adm.open(req)
	must(t, adm.count(`[data-testid="check"]`) == 1, "the verdict checked now is shown")
	axeBoth(t, adm, axe, "request page, approver")
	must(t, adm.click(`[data-testid="approve"]`) == http.StatusOK && adm.text(`[data-testid="approval-state"]`) == "Approved", "approved: %q", adm.text("main"))
	axeBoth(t, adm, axe, "approved request")
	adm.open("/approvals?state=decided")
	must(t, adm.count(`[data-testid="approval-row"]`) == 2, "decided tab")
	axeBoth(t, adm, axe, "decided requests")
	_, ok := h.tenant.UserByMail("partner@northwind.example")
	must(t, ok, "devtenant has the guest")
}
