package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"portico/internal/skipreport"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Page quality: every page is checked in Chromium with axe-core (WCAG 2.1 A and AA, light and
// dark), for a visible focus indicator, requests that leave Portico's origin, console errors and
// overflow at 320 and 1280 px, and screenshotted; TestPageWeight sums what each page costs on the
// wire, without a browser.

// wcagTags are the axe-core rule tags that must report no violation.
var wcagTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

const pageBudget = 30 << 10 // bytes on the wire per page: HTML + CSS + JS + images

// axeSource reads axe.min.js from PORTICO_AXE_JS (or the npm cache .ci/run fills); without it the
// axe checks are skipped with a message, except under CI=true, where that fails the test.
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("PORTICO_AXE_JS")
	if path == "" {
		if home, err := os.UserHomeDir(); err == nil {
			def := filepath.Join(home, ".cache", "portico-npm", "node_modules", "axe-core", "axe.min.js")
			if _, err := os.Stat(def); err == nil {
				path = def
			}
		}
	}
	if path == "" {
		msg := "axe-core not found: set PORTICO_AXE_JS to axe.min.js (npm install --prefix ~/.cache/portico-npm axe-core@4)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this fails the run")
		}
		skipreport.Note("accessibility checks (axe-core)", msg)
		t.Log(msg + "; the accessibility checks are skipped")
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("PORTICO_AXE_JS: %v", err)
	}
	return string(b)
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Tags   []string `json:"tags"`
	Nodes  []struct {
		Target  string `json:"target"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

func (v axeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for i, n := range v.Nodes {
		if i == 4 {
			fmt.Fprintf(&b, "\n      … and %d more", len(v.Nodes)-i)
			break
		}
		fmt.Fprintf(&b, "\n      %s: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
	}
	return b.String()
}

// axe injects axe-core through DevTools (so the page's CSP does not block it) and runs the WCAG
// rules plus best practices; it returns the WCAG violations and, separately, the others.
func (b *tab) axe(src string) (wcag, other []axeViolation) {
	b.t.Helper()
	if !eval[bool](b, `typeof window.axe === "object"`) {
		eval[bool](b, src+";\ntrue")
	}
	tags := append(slices.Clone(wcagTags), "best-practice")
	res := eval[[]axeViolation](b, `axe.run(document, {runOnly: {type: "tag", values: `+jsList(tags)+`}, resultTypes: ["violations"]})
		.then(function (r) { return r.violations.map(function (v) { return {id: v.id, impact: v.impact || "", help: v.help, tags: v.tags,
			nodes: v.nodes.map(function (n) { return {target: n.target.join(" "), summary: n.failureSummary || ""}; })}; }); })`,
		chromedp.EvalAwaitPromise)
	for _, v := range res {
		if slices.ContainsFunc(v.Tags, func(tag string) bool { return slices.Contains(wcagTags, tag) }) {
			wcag = append(wcag, v)
		} else {
			other = append(other, v)
		}
	}
	return wcag, other
}

func jsList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = jsString(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// overflow reports when the page is wider than width CSS pixels, naming the elements that stick out.
func overflow(b *tab, width int) string {
	b.t.Helper()
	if w := eval[int](b, `document.documentElement.scrollWidth`); w <= width {
		return ""
	}
	return eval[string](b, fmt.Sprintf(`Array.from(document.querySelectorAll("body *")).filter(function (e) { return e.getBoundingClientRect().right > %d.5; })
		.slice(-6).map(function (e) { return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + String(e.className).split(" ").join(".") : "") +
		" (" + Math.round(e.getBoundingClientRect().right) + " px)"; }).join(", ")`, width))
}

// focusStep is what one press of Tab reached.
type focusStep struct {
	Where   string `json:"where"`
	Visible bool   `json:"visible"`
}

// unfocused presses Tab through the page (wrapping around once) and returns the elements that show
// no focus indicator when the keyboard reaches them.
func unfocused(b *tab) []string {
	b.t.Helper()
	var bad []string
	first := ""
	for range 60 {
		b.do(chromedp.KeyEvent(kb.Tab))
		st := eval[focusStep](b, `(function () {
			var e = document.activeElement;
			if (!e || e === document.body || e === document.documentElement) return {where: "", visible: true};
			var s = getComputedStyle(e);
			var ring = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2;
			var where = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.getAttribute("href") ? "[href=" + e.getAttribute("href") + "]" : "") +
				(e.name ? "[name=" + e.name + "]" : "") + " " + (e.innerText || e.value || "").trim().slice(0, 30);
			return {where: where, visible: ring || s.boxShadow !== "none"};
		})()`)
		if st.Where == "" {
			continue
		}
		if st.Where == first {
			break
		}
		if first == "" {
			first = st.Where
		}
		if !st.Visible {
			bad = append(bad, st.Where)
		}
	}
	return bad
}

// checkPage runs every page-quality check on what the tab shows now, as a subtest named after it.
func checkPage(t *testing.T, b *tab, name string, axeJS string) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		b := b.as(t)
		origin := b.base
		at := b.location()
		must(t, strings.HasPrefix(at, origin), "%s is not on Portico (%s)", at, origin)

		title := eval[string](b, `document.title`)
		if name == "welcome" || strings.HasPrefix(name, "join") {
			// The partner's pages carry the organization's name only (issue 14).
			must(t, strings.HasSuffix(title, " — Contoso") && !strings.Contains(title, "Portico"), "partner page title says where you are: %q", title)
		} else {
			must(t, strings.HasSuffix(title, "Portico") && len(title) > len("Portico"), "title says where you are: %q", title)
		}
		must(t, b.count("h1") == 1, "one h1, found %d", b.count("h1"))
		must(t, eval[string](b, `document.documentElement.lang`) != "", "html has a lang")

		requests, problems := b.rec.take()
		for _, r := range requests {
			if strings.HasPrefix(r.url, "data:") || (r.kind == "Document" && r.document == r.url) {
				continue // navigations (sign-in goes through the tenant) are not page requests
			}
			must(t, strings.HasPrefix(r.url, origin+"/"), "request leaves Portico's origin: %s %s (from %s)", r.kind, r.url, r.document)
		}
		must(t, len(problems) == 0, "console problems:\n  %s", strings.Join(problems, "\n  "))

		b.screenshots(name)
		if o := overflow(b, 1280); o != "" {
			t.Errorf("wider than a 1280 px screen: %s", o)
		}
		b.phone(320, 640, false)
		if o := overflow(b, 320); o != "" {
			t.Errorf("wider than a 320 px phone: %s", o)
		}

		b.desktop(false)
		if bad := unfocused(b); len(bad) > 0 {
			t.Errorf("no visible focus indicator on: %s", strings.Join(bad, "; "))
		}

		if axeJS == "" {
			t.Skip("axe-core not available; accessibility checks skipped")
		}
		for _, dark := range []bool{false, true} {
			b.desktop(dark)
			wcag, other := b.axe(axeJS)
			theme := map[bool]string{false: "light", true: "dark"}[dark]
			for _, v := range other {
				t.Logf("axe best practice (%s, not a WCAG failure): %s", theme, v)
			}
			if len(wcag) > 0 {
				var lines []string
				for _, v := range wcag {
					lines = append(lines, v.String())
				}
				t.Errorf("axe: %d WCAG 2.1 AA violation(s) on %s in %s:\n  %s", len(wcag), at, theme, strings.Join(lines, "\n  "))
			}
		}
		b.desktop(false)
	})
}

// TestBrowserPages visits every page (signed out, as an employee, as an admin, as a partner) and
// checks each with checkPage.
func TestBrowserPages(t *testing.T) {
	c := newChrome(t)
	axeJS := axeSource(t)
	h := start(t, nil, nil)
	demo := startDemo(t)

	visitor := c.newTab(t, demo)
	must(t, visitor.open("/") == http.StatusOK, "demo home")
	must(t, visitor.count(`[data-testid="demo-account"]`) >= 3, "demo account buttons")
	checkPage(t, visitor, "home-demo", axeJS)
	visitor.click(`[data-testid="demo-account"]`)
	must(t, visitor.path() == "/" && visitor.count(`[data-testid="user-name"]`) == 1, "the demo button signs in: %s", visitor.location())

	anon := c.newTab(t, h.URL)
	if axeJS != "" {
		// The checker itself: an image without a text alternative must be reported.
		anon.open("/")
		eval[bool](anon, `document.querySelector("main").appendChild(document.createElement("img")) && true`)
		wcag, _ := anon.axe(axeJS)
		must(t, len(wcag) == 1 && wcag[0].ID == "image-alt", "axe finds a planted image without alt: %v", wcag)
	}
	for _, p := range []struct {
		path, name string
		status     int64
	}{
		{"/", "home", http.StatusOK},
		{"/welcome", "welcome", http.StatusOK},
		{"/signed-out", "signed-out", http.StatusOK},
		{"/join/this-link-does-not-exist", "join-gone", http.StatusNotFound},
	} {
		must(t, anon.open(p.path) == p.status, "%s: want %d", p.path, p.status)
		checkPage(t, anon, p.name, axeJS)
	}

	emp := c.newTab(t, h.URL)
	emp.signIn("employee@contoso.example")
	checkPage(t, emp, "form", axeJS)
	emp.invite("not-an-address", "", true, false)
	checkPage(t, emp, "form-errors", axeJS)
	emp.open("/invitations")
	checkPage(t, emp, "invitations-empty", axeJS)
	emp.open("/")
	// In French, so the join page is checked in another language than the layout around it.
	emp.invite("casey@fabrikam.example", "Casey Partner", false, false, chromedp.SetValue(chromedp.CSS("#messageLanguage"), "fr-FR"))
	must(t, strings.HasPrefix(emp.path(), "/invitations/"), "result page: %s", emp.path())
	join := emp.value("#join-url")
	invPath := emp.path()
	checkPage(t, emp, "result-link", axeJS)
	emp.open("/")
	emp.invite("taylor@fabrikam.example", "Taylor Partner", true, false)
	checkPage(t, emp, "result-sent", axeJS)

	must(t, anon.open(join) == http.StatusOK, "join page")
	must(t, eval[string](anon, `document.documentElement.lang`) == "fr", "the join page speaks the invitation's language")
	checkPage(t, anon, "join", axeJS)

	emp.open("/invitations")
	checkPage(t, emp, "invitations", axeJS)
	emp.open(invPath)
	checkPage(t, emp, "invitation", axeJS)
	must(t, emp.open("/no-such-page") == http.StatusNotFound, "unknown page")
	checkPage(t, emp, "error-404", axeJS)
	must(t, emp.open("/admin/audit") == http.StatusForbidden, "employees may not read the audit trail")
	checkPage(t, emp, "error-403", axeJS)

	// A revoked link says so and names the inviter to contact (unknown ones: join-gone above).
	emp.open(invPath)
	emp.click(`[data-testid="revoke-link"]`)
	must(t, anon.open(join) == http.StatusGone && anon.count(`[data-testid="join-contact"]`) == 1 && anon.count(`[data-testid="join-accept"]`) == 0,
		"a revoked join link no longer works and says whom to contact")
	checkPage(t, anon, "join-revoked", axeJS)

	admin := c.newTab(t, h.URL)
	admin.signIn("admin@contoso.example")
	checkPage(t, admin, "form-admin", axeJS)
	admin.invite("morgan@fabrikam.example", "Morgan Member", true, true)
	checkPage(t, admin, "result-member", axeJS)
	admin.open("/invitations?state=all&scope=everyone")
	checkPage(t, admin, "invitations-everyone", axeJS)
	admin.open("/admin/audit")
	checkPage(t, admin, "audit", axeJS)
}

// weighed is what one page costs on the wire.
type weighed struct {
	html, htmlGzip int      // the HTML as served, and gzipped (what a compressing proxy sends)
	assets         int      // CSS, JS and images as served with Accept-Encoding: gzip
	external       []string // subresources that are not on Portico's origin
}

// weigh fetches a page (GET, or POST when form is set) and every subresource it loads.
func weigh(t *testing.T, b *browser, path string, form url.Values) (*page, weighed) {
	t.Helper()
	var req *http.Request
	if form == nil {
		req, _ = http.NewRequest(http.MethodGet, b.abs(path), nil)
	} else {
		if _, ok := form["_csrf"]; !ok {
			form.Set("_csrf", b.csrf())
		}
		req, _ = http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.h.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport then leaves the body compressed
	status, wire, body := fetchRaw(t, b.c, req)
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	w := weighed{html: wire, htmlGzip: gzipLen(body)}
	base, _ := url.Parse(b.h.URL)
	seen := map[string]bool{}
	doc.Find(`link[href], script[src], img[src], source[src], iframe[src], video[src], audio[src], object[data], embed[src]`).Each(func(_ int, s *goquery.Selection) {
		if s.Is("link") && !slices.ContainsFunc(strings.Fields(s.AttrOr("rel", "")), func(r string) bool {
			return r == "stylesheet" || r == "icon" || r == "preload" || r == "modulepreload" || r == "manifest"
		}) {
			return
		}
		ref := s.AttrOr("href", s.AttrOr("src", s.AttrOr("data", "")))
		u, err := req.URL.Parse(ref)
		if err != nil || u.Scheme == "data" {
			return
		}
		if u.Scheme != base.Scheme || u.Host != base.Host {
			w.external = append(w.external, u.String())
			return
		}
		if seen[u.String()] {
			return
		}
		seen[u.String()] = true
		areq, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		areq.Header.Set("Accept-Encoding", "gzip")
		_, n, _ := fetchRaw(t, b.c, areq)
		w.assets += n
	})
	b.last = doc
	return &page{Status: status, URL: req.URL, Body: string(body), Doc: doc}, w
}

// fetchRaw follows redirects by hand and returns the final status and body, its length as sent
// and the body decoded.
func fetchRaw(t *testing.T, c *http.Client, req *http.Request) (status, wire int, body []byte) {
	t.Helper()
	for range 5 {
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "" {
			next, _ := req.URL.Parse(resp.Header.Get("Location"))
			req, _ = http.NewRequest(http.MethodGet, next.String(), nil)
			req.Header.Set("Accept-Encoding", "gzip")
			continue
		}
		body = raw
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s: bad gzip: %v", req.URL, err)
			}
			body, _ = io.ReadAll(zr)
		}
		return resp.StatusCode, len(raw), body
	}
	t.Fatalf("%s: too many redirects", req.URL)
	return 0, 0, nil
}

func gzipLen(b []byte) int {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Len()
}

// TestPageWeight keeps every page under 30 KB on the wire (compressed HTML + CSS + JS + images,
// and also with the HTML as Portico serves it, uncompressed) and loading nothing from another origin.
func TestPageWeight(t *testing.T) {
	h := start(t, nil, nil)
	anon, emp, admin := h.browser(), h.browser(), h.browser()
	emp.signIn("employee@contoso.example")
	admin.signIn("admin@contoso.example")

	check := func(name string, p *page, w weighed, wantStatus int) {
		t.Helper()
		must(t, p.Status/100 == wantStatus/100, "%s: status %d, want %d", name, p.Status, wantStatus)
		t.Logf("%-12s HTML %5d B as served, %5d B gzipped; CSS+JS+images %5d B gzipped; total %5d B (%5d B as served)",
			name, w.html, w.htmlGzip, w.assets, w.htmlGzip+w.assets, w.html+w.assets)
		if total := w.htmlGzip + w.assets; total >= pageBudget {
			t.Errorf("%s weighs %d bytes compressed, over the %d byte budget", name, total, pageBudget)
		}
		if total := w.html + w.assets; total >= pageBudget {
			t.Errorf("%s weighs %d bytes as served, over the %d byte budget", name, total, pageBudget)
		}
		if len(w.external) > 0 {
			t.Errorf("%s loads from other origins: %v", name, w.external)
		}
	}
	visit := func(name string, b *browser, path string, form url.Values, wantStatus int) {
		t.Helper()
		p, w := weigh(t, b, path, form)
		check(name, p, w, wantStatus)
	}

	visit("home", anon, "/", nil, http.StatusOK)
	visit("welcome", anon, "/welcome", nil, http.StatusOK)
	visit("signed-out", anon, "/signed-out", nil, http.StatusOK)
	visit("join-gone", anon, "/join/this-link-does-not-exist", nil, http.StatusNotFound)
	visit("form", emp, "/", nil, http.StatusOK)
	visit("error-404", emp, "/no-such-page", nil, http.StatusNotFound)
	visit("form-errors", emp, "/invitations", inviteForm("not-an-address"), http.StatusBadRequest)
	// The result page right after an invitation carries the join link and its QR code.
	p, w := weigh(t, emp, "/invitations", inviteForm("sam@fabrikam.example", func(v url.Values) { v.Del("sendInvitationMessage") }))
	must(t, p.Doc.Find("#join-url").Length() == 1, "the result page shows the join link")
	check("result", p, w, http.StatusOK)
	invPath, join := inviteByLink(t, emp, "casey@fabrikam.example")
	visit("invitations", emp, "/invitations", nil, http.StatusOK)
	visit("invitation", emp, invPath, nil, http.StatusOK)
	visit("join", anon, join, nil, http.StatusOK)
	visit("audit", admin, "/admin/audit", nil, http.StatusOK)
	visit("form-admin", admin, "/", nil, http.StatusOK)
}
