package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"portico/internal/skipreport"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser journeys in Debian's headless Chromium, driven with chromedp against Portico started
// through run and a devtenant the test owns. Chromium missing: skipped, except under CI=true.

const browserTimeout = 20 * time.Second

// chromiumPath finds Chromium or skips the test; under CI=true a missing browser fails it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("PORTICO_CHROMIUM"), "/usr/bin/chromium"}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "browser tests need Chromium at /usr/bin/chromium (apt-get install chromium) or PORTICO_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so a missing browser fails the run")
	}
	skipreport.Note("browser tests (Chromium)", msg)
	t.Skip(msg + "; skipping")
	return ""
}

// chrome is one headless Chromium for a test; every tab opened on it has its own cookies.
type chrome struct {
	t     *testing.T
	ctx   context.Context
	shots *shotDir
}

func newChrome(t *testing.T) *chrome {
	t.Helper()
	path := chromiumPath(t)
	dir, err := os.MkdirTemp("", "portico-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's helper processes can still write for a moment after the browser exits.
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("lang", "en-GB"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &chrome{t: t, ctx: ctx, shots: newShotDir(t)}
}

// tab is one person's browser: a fresh browser context (no cookies) with one page.
type tab struct {
	t    testing.TB
	ctx  context.Context
	base string // Portico's URL
	rec  *recorder
	c    *chrome
}

// recorder keeps what a tab's pages asked for and complained about.
type recorder struct {
	mu        sync.Mutex
	requests  []seenRequest
	problems  []string
	documents map[network.RequestID]bool
}

type seenRequest struct{ url, document, kind string }

func (r *recorder) listen(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		r.requests = append(r.requests, seenRequest{url: ev.Request.URL, document: ev.DocumentURL, kind: string(ev.Type)})
		if ev.Type == network.ResourceTypeDocument {
			if r.documents == nil {
				r.documents = map[network.RequestID]bool{}
			}
			r.documents[ev.RequestID] = true
		}
	case *log.EventEntryAdded:
		e := ev.Entry
		// An error page's own status (404, or 400 for a form with errors) is intended, not a problem.
		if e.Level == log.EntryLevelError && !(e.Source == log.EntrySourceNetwork && r.documents[e.NetworkRequestID]) {
			r.problems = append(r.problems, fmt.Sprintf("console %s: %s %s", e.Source, e.Text, e.URL))
		}
	case *runtime.EventExceptionThrown:
		r.problems = append(r.problems, "exception: "+ev.ExceptionDetails.Text+" "+ev.ExceptionDetails.URL)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			r.problems = append(r.problems, "console.error called")
		}
	}
}

// take returns and forgets what was recorded so far.
func (r *recorder) take() ([]seenRequest, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs, probs := r.requests, r.problems
	r.requests, r.problems = nil, nil
	return reqs, probs
}

// newTab opens a tab in a fresh browser context for the test t; it closes when t ends.
func (c *chrome) newTab(t testing.TB, base string) *tab {
	t.Helper()
	rec := &recorder{}
	ctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(rec.listen))
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open a browser tab: %v", err)
	}
	t.Cleanup(cancel)
	b := &tab{t: t, ctx: ctx, base: base, rec: rec, c: c}
	b.desktop(false)
	return b
}

// as returns the same tab reporting to another (sub)test.
func (b *tab) as(t testing.TB) *tab {
	c := *b
	c.t = t
	return &c
}

func (b *tab) abs(path string) string {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path
	}
	return b.base + path
}

// do runs actions in the tab, failing the test with the current address on error.
func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser at %s: %v", b.location(), err)
	}
}

// location is the address of the page the tab shows.
func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// path is the location's path, without Portico's origin.
func (b *tab) path() string {
	return strings.TrimPrefix(b.location(), b.base)
}

// open navigates to path and returns the document's HTTP status.
func (b *tab) open(path string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.abs(path)))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	return resp.Status
}

// click clicks the element and waits for the page the click leads to; it returns its status.
func (b *tab) click(sel string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("click %s at %s: %v", sel, b.location(), err)
	}
	if resp == nil {
		b.t.Fatalf("click %s at %s loaded no page", sel, b.location())
	}
	return resp.Status
}

// text is the visible text of the first element matching sel ("" when there is none).
func (b *tab) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(eval[string](b, `(function(){var e=document.querySelector(`+jsString(sel)+`);return e?e.innerText:""})()`))
}

// count is the number of elements matching sel.
func (b *tab) count(sel string) int {
	b.t.Helper()
	return eval[int](b, `document.querySelectorAll(`+jsString(sel)+`).length`)
}

// value is the value of the form field matching sel.
func (b *tab) value(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("value of %s at %s: %v", sel, b.location(), err)
	}
	return v
}

// fill types v into the field matching sel, replacing what it held.
func (b *tab) fill(sel, v string) {
	b.t.Helper()
	eval[bool](b, `(function(){var e=document.querySelector(`+jsString(sel)+`);e.value="";return true})()`)
	b.do(chromedp.SendKeys(chromedp.CSS(sel), v))
}

// setChecked clicks a checkbox or radio until it has the wanted state.
func (b *tab) setChecked(sel string, want bool) {
	b.t.Helper()
	if eval[bool](b, `document.querySelector(`+jsString(sel)+`).checked`) != want {
		b.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	}
	must(b.t, eval[bool](b, `document.querySelector(`+jsString(sel)+`).checked`) == want, "%s checked=%t", sel, want)
}

// eval evaluates a JavaScript expression in the page (DevTools, so the page's CSP does not apply).
func eval[T any](b *tab, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.t.Fatalf("evaluate at %s: %v\n%.200s", b.location(), err, expr)
	}
	return v
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// scripts switches the page's JavaScript off or on; it stays so across navigations.
func (b *tab) scripts(on bool) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	}))
}

// scheme emulates prefers-color-scheme: dark or light.
func (b *tab) scheme(dark bool) {
	b.t.Helper()
	v := "light"
	if dark {
		v = "dark"
	}
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}},
		})
		return err
	}))
}

// phone and desktop set the viewport (and colour scheme) the tab emulates.
func (b *tab) phone(width, height int64, dark bool) {
	b.t.Helper()
	b.do(chromedp.EmulateViewport(width, height, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	b.scheme(dark)
}

func (b *tab) desktop(dark bool) {
	b.t.Helper()
	b.do(chromedp.EmulateViewport(1280, 800))
	b.scheme(dark)
}

// signIn runs the demo account flow: /login with a login hint, through devtenant, back to Portico.
func (b *tab) signIn(upn string) {
	b.t.Helper()
	status := b.open("/login?login_hint=" + url.QueryEscape(upn))
	must(b.t, status == http.StatusOK && b.path() == "/", "sign-in as %s ended at %s with %d", upn, b.location(), status)
	must(b.t, b.count(`[data-testid="user-name"]`) == 1, "signed in as %s: no user name in the header", upn)
}

// invite fills the invitation form (on the current page), runs the extra steps, and submits it.
func (b *tab) invite(email, name string, sendEmail bool, member bool, extra ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	b.fill("#invitedUserEmailAddress", email)
	if name != "" {
		b.fill("#invitedUserDisplayName", name)
	}
	b.fill("#customizedMessageBody", "Welcome to the Fabrikam project.")
	b.setChecked("#sendInvitationMessage", sendEmail)
	if member {
		b.setChecked("#invitedUserType-member", true)
	}
	b.do(extra...)
	return b.click(`[data-testid="submit"]`)
}

// shotDir holds a test's screenshots; they are copied somewhere kept only when the test fails,
// or always to $PORTICO_SCREENSHOTS when it is set.
type shotDir struct {
	dir string
}

func newShotDir(t *testing.T) *shotDir {
	s := &shotDir{dir: filepath.Join(t.TempDir(), "screenshots")}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		keep := os.Getenv("PORTICO_SCREENSHOTS")
		if keep == "" && !t.Failed() {
			return
		}
		if keep == "" {
			var err error
			if keep, err = os.MkdirTemp("", "portico-screenshots-"+safeName(t.Name())+"-"); err != nil {
				t.Logf("screenshots: %v", err)
				return
			}
		}
		if err := os.CopyFS(keep, os.DirFS(s.dir)); err != nil {
			t.Logf("screenshots: copy to %s: %v", keep, err)
			return
		}
		t.Logf("screenshots of this test are kept in %s", keep)
	})
	return s
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// screenshots saves the current page at 390×844 and 1280×800, light and dark, then returns the tab
// to a light desktop view.
func (b *tab) screenshots(name string) {
	b.t.Helper()
	for _, v := range []struct {
		label string
		w, h  int64
		phone bool
	}{{"390x844", 390, 844, true}, {"1280x800", 1280, 800, false}} {
		for _, dark := range []bool{false, true} {
			if v.phone {
				b.phone(v.w, v.h, dark)
			} else {
				b.desktop(dark)
			}
			ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			cancel()
			if err != nil {
				b.t.Fatalf("screenshot %s: %v", name, err)
			}
			theme := "light"
			if dark {
				theme = "dark"
			}
			file := filepath.Join(b.c.shots.dir, fmt.Sprintf("%s-%s-%s.png", safeName(name), v.label, theme))
			if err := os.WriteFile(file, png, 0o644); err != nil {
				b.t.Fatal(err)
			}
		}
	}
	b.desktop(false)
}

// startDemo runs Portico as `go run . -demo` does, with its own devtenant and demo accounts.
func startDemo(t *testing.T) string {
	t.Helper()
	in := launch(t, nil, map[string]string{"PORTICO_LOG_LEVEL": "warn"}, "-demo")
	in.await(t)
	return in.URL
}

// TestBrowserJourneys walks the journeys in Chromium: invite by link and accept as the
// partner, admin invites a member, an invalid address, and the same invite journey without JavaScript.
func TestBrowserJourneys(t *testing.T) {
	c := newChrome(t)
	h := start(t, nil, nil)

	t.Run("invite by link, partner accepts", func(t *testing.T) {
		emp := c.newTab(t, h.URL)
		emp.signIn("employee@contoso.example")
		status := emp.invite("casey@fabrikam.example", "Casey Partner", false, false)
		must(t, status == http.StatusOK && strings.HasPrefix(emp.path(), "/invitations/"), "result page: %d at %s", status, emp.path())
		must(t, emp.count(`[data-testid="result-link"]`) == 1, "result says no email was sent")
		invPath := emp.path()
		join := emp.value("#join-url")
		must(t, strings.HasPrefix(join, h.URL+"/join/"), "join link: %q", join)
		must(t, emp.count(`[data-copy="#join-url"]:not([hidden])`) == 1, "copy button shown when JavaScript runs")
		must(t, len(h.tenant.Outbox()) == 0, "no email sent")

		partner := c.newTab(t, h.URL) // a fresh browser context: no cookies
		must(t, partner.open(join) == http.StatusOK, "join page")
		must(t, strings.Contains(partner.text(`[data-testid="join-inviter"]`), "Erin Employee"), "join page names the inviter: %q", partner.text(`[data-testid="join-inviter"]`))
		must(t, partner.click(`[data-testid="join-accept"]`) == http.StatusOK, "redemption page")
		must(t, strings.HasPrefix(partner.location(), h.tenant.URL()+"/redeem"), "at devtenant's redemption page: %s", partner.location())
		must(t, partner.click(`[data-testid="accept"]`) == http.StatusOK, "welcome page")
		must(t, strings.HasPrefix(partner.path(), "/welcome?i="), "lands on /welcome with the invitation's reference: %s", partner.location())
		must(t, strings.Contains(partner.text("h1"), "all set"), "welcome heading: %q", partner.text("h1"))

		must(t, emp.open("/invitations") == http.StatusOK, "My invitations")
		must(t, emp.text(`[data-testid="invitation-row"] [data-testid="state"]`) == "Accepted", "list shows Accepted: %q", emp.text(`[data-testid="state"]`))
		emp.open(invPath)
		must(t, emp.text(`[data-testid="state"]`) == "Accepted", "invitation page shows Accepted")
	})

	t.Run("admin invites a member", func(t *testing.T) {
		admin := c.newTab(t, h.URL)
		admin.signIn("admin@contoso.example")
		status := admin.invite("morgan@fabrikam.example", "Morgan Member", true, true)
		must(t, status == http.StatusOK && admin.count(`[data-testid="member-note"]`) == 1, "result says member: %d at %s", status, admin.path())
		must(t, admin.count(`[data-testid="result-sent"]`) == 1, "result says the email was sent")
		u, ok := h.tenant.UserByMail("morgan@fabrikam.example")
		must(t, ok && u.UserType == "Member", "user created as Member: %+v", u)
	})

	t.Run("invalid address is announced and focused", func(t *testing.T) {
		emp := c.newTab(t, h.URL)
		emp.signIn("employee@contoso.example")
		status := emp.invite("not-an-address", "", true, false)
		must(t, status == http.StatusUnprocessableEntity || status == http.StatusBadRequest, "status %d", status)
		assertErrorSummary(t, emp)
		// The summary's link takes the reader to the field.
		emp.do(chromedp.Click(chromedp.CSS(`[data-testid="error-summary"] a[href="#invitedUserEmailAddress"]`)))
		must(t, eval[string](emp, `document.activeElement.id`) == "invitedUserEmailAddress", "the summary link focuses the field")
	})

	t.Run("without JavaScript", func(t *testing.T) {
		emp := c.newTab(t, h.URL)
		emp.scripts(false)
		emp.signIn("employee@contoso.example")
		status := emp.invite("not-an-address", "", false, false)
		must(t, status == http.StatusUnprocessableEntity || status == http.StatusBadRequest, "status %d", status)
		assertErrorSummary(t, emp)

		status = emp.invite("robin@fabrikam.example", "Robin Partner", false, false)
		must(t, status == http.StatusOK && strings.HasPrefix(emp.path(), "/invitations/"), "result page: %d at %s", status, emp.path())
		join := emp.value("#join-url")
		must(t, strings.HasPrefix(join, h.URL+"/join/"), "join link: %q", join)
		must(t, emp.count(`[data-copy="#join-url"][hidden]`) == 1, "the copy button stays hidden: JavaScript is really off")

		partner := c.newTab(t, h.URL)
		partner.scripts(false)
		must(t, partner.open(join) == http.StatusOK, "join page")
		must(t, partner.click(`[data-testid="join-accept"]`) == http.StatusOK, "redemption page")
		must(t, partner.click(`[data-testid="accept"]`) == http.StatusOK && strings.HasPrefix(partner.path(), "/welcome?i="), "welcome: %s", partner.location())

		emp.open("/invitations")
		state := eval[string](emp, `(function(){var r=Array.from(document.querySelectorAll('[data-testid="invitation-row"]')).find(function(r){return r.textContent.indexOf("robin@fabrikam.example")>=0});return r?r.querySelector('[data-testid="state"]').textContent.trim():"no row"})()`)
		must(t, state == "Accepted", "My invitations shows robin as %q", state)
		for _, p := range []*tab{emp, partner} {
			_, problems := p.rec.take()
			must(t, len(problems) == 0, "console problems: %v", problems)
		}
	})
}

// assertErrorSummary checks the form's error summary is an alert, has focus, and is tied to the field.
func assertErrorSummary(t *testing.T, b *tab) {
	t.Helper()
	must(t, b.count(`[role="alert"][data-testid="error-summary"]`) == 1, "error summary with role=alert")
	must(t, strings.Contains(b.text(`[data-testid="error-summary"]`), "Email address"), "summary names the field: %q", b.text(`[data-testid="error-summary"]`))
	must(t, eval[bool](b, `document.activeElement && document.activeElement.matches('[data-testid="error-summary"]')`), "the error summary has focus (active element: %s)",
		eval[string](b, `document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : "none"`))
	field := `#invitedUserEmailAddress`
	must(t, eval[string](b, `document.querySelector('`+field+`').getAttribute('aria-invalid')`) == "true", "field marked invalid")
	desc := eval[string](b, `document.querySelector('`+field+`').getAttribute('aria-describedby')`)
	must(t, strings.Contains(desc, "invitedUserEmailAddress-error") && b.count("#invitedUserEmailAddress-error") == 1, "error tied to the field: %q", desc)
}
