package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The bulk journey in Chromium with JavaScript off (the pages must not need it): upload Entra's
// template, review, leave a row out, send, watch the page refresh itself until done, download the
// results; axe-core finds no WCAG violation on each page, light and dark.
func TestBrowserBulkJourney(t *testing.T) {
	c := newChrome(t)
	axe := axeSource(t)
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t), "PORTICO_BULK_RATE": "5"}, bulkTokens(t, tenant))
	admin := c.newTab(t, h.URL)
	admin.signIn("admin@contoso.example")
	noJS := false
	both := func(what string) {
		t.Helper()
		if noJS {
			admin.scripts(true) // axe runs in the page; the page itself runs no script
			defer admin.scripts(false)
		}
		for _, dark := range []bool{false, true} {
			admin.scheme(dark)
			axeClean(t, admin, axe, what)
		}
		admin.scheme(false)
	}

	must(t, admin.click(`nav.main a[href="/bulk"]`) == http.StatusOK, "the header's Bulk invite link")
	both("bulk form")
	admin.screenshots("bulk-form")
	admin.scripts(false)
	noJS = true

	file := filepath.Join(t.TempDir(), "entra.csv")
	if err := os.WriteFile(file, entraBulkFile("ann@fabrikam.example", "bob@fabrikam.example", "cleo@fabrikam.example", "pending.guest@fabrikam.example", "megan@contoso.example"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin.do(chromedp.SetUploadFiles(chromedp.CSS(`#file`), []string{file}))
	must(t, admin.click(`[data-testid="bulk-check"]`) == http.StatusOK && strings.HasPrefix(admin.path(), "/bulk/"), "the review page: %s", admin.path())
	job := admin.path()
	must(t, admin.count(`[data-testid="bulk-row"]`) == 5, "5 rows to review")
	must(t, admin.count(`[data-testid="bulk-row"][data-verdict="skip"]`) == 1, "the own-domain row is skipped")
	both("bulk review")
	admin.screenshots("bulk-review")

	admin.setChecked(`#ex-2`, true)
	must(t, admin.click(`[data-testid="bulk-confirm"]`) == http.StatusOK && admin.path() == job, "sent, back on the job page: %s", admin.path())
	deadline := time.Now().Add(30 * time.Second)
	for admin.count(`[data-testid="bulk-live"]`) > 0 {
		must(t, time.Now().Before(deadline), "the job did not finish\n%s", h.Logs)
		both("bulk progress")
		time.Sleep(time.Second)
		admin.open(job)
	}
	must(t, admin.text(`[data-testid="count-invited"]`) == "2" && admin.text(`[data-testid="count-resent"]`) == "1" &&
		admin.text(`[data-testid="count-excluded"]`) == "1", "final counts: %q", admin.text(`[data-testid="bulk-progress"]`))
	both("bulk finished")
	admin.screenshots("bulk-finished")

	admin.scripts(true)
	noJS = false
	csv := eval[string](admin, `fetch(document.querySelector('[data-testid="bulk-results-csv"]').href).then(function (r) { return r.text(); })`, chromedp.EvalAwaitPromise)
	must(t, strings.HasPrefix(csv, "row,line,email") && strings.Contains(csv, "ann@fabrikam.example") && strings.Contains(csv, "Left out"), "results CSV: %q", csv)
}
