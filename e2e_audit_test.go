package main

// The audit trail end to end: one event per action, refusals, access, filters, paging and exports.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for creating test databases

	"portico/store"
)

// auditLine is one line of /admin/audit.jsonl.
type auditLine struct {
	Time      time.Time `json:"time"`
	ActorUPN  string    `json:"actor_upn"`
	ActorOID  string    `json:"actor_oid"`
	Action    string    `json:"action"`
	Target    string    `json:"target"`
	Outcome   string    `json:"outcome"`
	Detail    string    `json:"detail"`
	RequestID string    `json:"request_id"`
	raw       string
}

// auditLines reads the JSON lines export with an optional query ("action=…").
func auditLines(t *testing.T, admin *browser, query string) []auditLine {
	t.Helper()
	p := admin.get("/admin/audit.jsonl?" + query)
	must(t, p.Status == http.StatusOK, "audit export: %d %s", p.Status, p.Body)
	must(t, strings.HasPrefix(p.Header.Get("Content-Type"), "application/x-ndjson"), "content type %q", p.Header.Get("Content-Type"))
	var out []auditLine
	for line := range strings.SplitSeq(strings.TrimSpace(p.Body), "\n") {
		if line == "" {
			continue
		}
		ev := auditLine{raw: line}
		must(t, json.Unmarshal([]byte(line), &ev) == nil, "not JSON: %q", line)
		out = append(out, ev)
	}
	return out
}

// newEvents are the lines in after that were not in before (as a multiset of whole lines).
func newEvents(before, after []auditLine) []auditLine {
	seen := map[string]int{}
	for _, ev := range before {
		seen[ev.raw]++
	}
	var out []auditLine
	for _, ev := range after {
		if seen[ev.raw] > 0 {
			seen[ev.raw]--
			continue
		}
		out = append(out, ev)
	}
	return out
}

func TestAuditOneEventPerAction(t *testing.T) {
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": dsn(t)})
			admin := h.browser()
			admin.signIn("admin@contoso.example")
			stranger := h.browser()
			stranger.signIn("inviter@contoso.example")
			emp := h.browser()
			const empUPN = "employee@contoso.example"
			var path, join string
			steps := []struct {
				name                   string
				do                     func(t *testing.T)
				actor, action, outcome string
				target                 func() string
			}{
				{"sign-in", func(t *testing.T) { emp.signIn(empUPN) },
					empUPN, "signin", "success", func() string { return empUPN }},
				{"invitation attempt", func(t *testing.T) { path, _ = inviteByLink(t, emp, "audit.partner@fabrikam.example") },
					empUPN, "invitation.create", "created", func() string { return "audit.partner@fabrikam.example" }},
				{"refusal: member by employee", func(t *testing.T) {
					p := emp.post("/invitations", inviteForm("member.try@fabrikam.example", func(v url.Values) { v.Set("invitedUserType", "Member") }))
					must(t, p.Status == http.StatusForbidden, "member by employee: %d", p.Status)
				}, empUPN, "invitation.create", "denied", func() string { return "member.try@fabrikam.example" }},
				{"refusal: preflight", func(t *testing.T) {
					p := emp.post("/invitations", inviteForm("accepted.guest@fabrikam.example"))
					must(t, p.Status >= 400 && p.Status < 500, "already a guest: %d", p.Status)
				}, empUPN, "invitation.create", "rejected", func() string { return "accepted.guest@fabrikam.example" }},
				{"resend", func(t *testing.T) {
					emp.get(path)
					p := emp.post(path+"/resend", nil)
					must(t, p.Status == http.StatusSeeOther, "resend: %d %s", p.Status, p.Body)
				}, empUPN, "invitation.resend", "created", func() string { return "audit.partner@fabrikam.example" }},
				{"reveal", func(t *testing.T) {
					emp.get(path)
					p := revealRedeemURL(t, emp, path)
					must(t, p.Status == http.StatusOK && p.Doc.Find("#redeem-url").Length() == 1, "reveal: %d", p.Status)
				}, empUPN, "invitation.reveal", "success", func() string { return "audit.partner@fabrikam.example" }},
				{"reveal refused to a stranger", func(t *testing.T) {
					stranger.get("/")
					p := stranger.post(path+"/reveal", nil)
					must(t, p.Status == http.StatusNotFound, "stranger reveal: %d", p.Status)
				}, "inviter@contoso.example", "invitation.reveal", "denied", func() string { return strings.TrimPrefix(path, "/invitations/") }},
				{"new join link", func(t *testing.T) {
					emp.get(path)
					p := emp.post(path+"/link", nil)
					must(t, p.Status == http.StatusSeeOther, "new link: %d", p.Status)
					join, _ = emp.get(path).Doc.Find("#join-url").Attr("value")
					must(t, join != "", "a join link is shown")
				}, empUPN, "joinlink.create", "success", func() string { return "audit.partner@fabrikam.example" }},
				{"join accept", func(t *testing.T) {
					partner := h.browser()
					must(t, partner.get(join).Status == http.StatusOK, "join page")
					p := partner.post(strings.TrimPrefix(join, h.URL)+"/accept", url.Values{"_csrf": {""}})
					must(t, p.Status == http.StatusFound, "accept: %d", p.Status)
				}, "", "joinlink.accept", "success", func() string { return "audit.partner@fabrikam.example" }},
				{"join-link revoke", func(t *testing.T) {
					emp.get(path)
					p := emp.post(path+"/link/revoke", nil)
					must(t, p.Status == http.StatusSeeOther, "revoke: %d", p.Status)
				}, empUPN, "joinlink.revoke", "success", func() string { return "audit.partner@fabrikam.example" }},
				{"sign-out", func(t *testing.T) {
					emp.get("/")
					p := emp.post("/logout", nil)
					must(t, p.Status == http.StatusSeeOther, "logout: %d", p.Status)
				}, empUPN, "signout", "success", func() string { return empUPN }},
			}
			for _, st := range steps {
				t.Run(st.name, func(t *testing.T) {
					emp.t, stranger.t, admin.t = t, t, t
					before := auditLines(t, admin, "")
					byAction := len(auditLines(t, admin, "action="+url.QueryEscape(st.action)))
					st.do(t)
					got := newEvents(before, auditLines(t, admin, ""))
					must(t, len(got) == 1, "%s left %d events, want exactly 1: %+v", st.name, len(got), got)
					ev := got[0]
					must(t, ev.Action == st.action && ev.Outcome == st.outcome && ev.ActorUPN == st.actor && ev.Target == st.target(),
						"event %s/%s by %q about %q, want %s/%s by %q about %q", ev.Action, ev.Outcome, ev.ActorUPN, ev.Target, st.action, st.outcome, st.actor, st.target())
					must(t, ev.RequestID != "" && !ev.Time.IsZero(), "event has a time and request id: %s", ev.raw)
					must(t, len(auditLines(t, admin, "action="+url.QueryEscape(st.action))) == byAction+1, "filtered by action, one more %s", st.action)
					must(t, !strings.Contains(ev.raw, "ticket="), "no redemption URL in the audit trail: %s", ev.raw)
					if join != "" {
						token := join[strings.LastIndex(join, "/")+1:]
						must(t, !strings.Contains(ev.raw, token), "no join token in the audit trail")
					}
				})
			}
		})
	}
}

func TestAuditQuotaRefusalIsOneEvent(t *testing.T) {
	h := start(t, nil, map[string]string{"PORTICO_INVITE_QUOTA": "1/h,5/d"})
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	inviteByLink(t, emp, "quota.one@fabrikam.example")
	before := auditLines(t, admin, "")
	p := emp.post("/invitations", inviteForm("quota.two@fabrikam.example"))
	must(t, p.Status == http.StatusTooManyRequests, "over quota: %d", p.Status)
	got := newEvents(before, auditLines(t, admin, ""))
	must(t, len(got) == 1 && got[0].Action == "invitation.create" && got[0].Outcome == "throttled", "one throttled event: %+v", got)
}

// TestQuotaSharedAcrossInstances: the quota is counted from the shared audit trail, so a second
// instance on the same database refuses what the first already allowed.
func TestAuditIsForAdmins(t *testing.T) {
	h := start(t, nil, nil)
	emp := h.browser()
	anon := h.browser()
	emp.signIn("employee@contoso.example")
	for _, path := range []string{"/admin/audit", "/admin/audit.csv", "/admin/audit.jsonl"} {
		p := emp.get(path)
		must(t, p.Status == http.StatusForbidden, "%s for an employee: %d", path, p.Status)
		must(t, !strings.Contains(p.Body, "signin"), "%s leaks events to an employee", path)
		p = anon.get(path)
		must(t, p.Status == http.StatusFound && strings.HasPrefix(p.Header.Get("Location"), "/login"), "%s signed out: %d", path, p.Status)
	}
}

// auditRows is the audit page's rows as [when, who, action, about, outcome] texts.
func auditRows(p *page) [][]string {
	var rows [][]string
	p.Doc.Find(`[data-testid="audit-row"]`).Each(func(_ int, r *goquery.Selection) {
		var row []string
		r.Find("td").Each(func(_ int, c *goquery.Selection) { row = append(row, strings.TrimSpace(c.Text())) })
		rows = append(rows, row)
	})
	return rows
}

// parsePageNum reads the number of a "page-042" target.
func parsePageNum(t *testing.T, target string) int {
	t.Helper()
	var n int
	_, err := fmt.Sscanf(target, "page-%03d", &n)
	must(t, err == nil, "target %q", target)
	return n
}

func TestAuditFiltersPagingAndExports(t *testing.T) {
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			db := dsn(t)
			h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": db})
			st, err := store.Open(t.Context(), db, nil)
			must(t, err == nil, "open store: %v", err)
			defer st.Close()
			appendEv := func(ev store.AuditEvent) {
				t.Helper()
				must(t, st.AppendAudit(t.Context(), &ev) == nil, "append %+v", ev)
			}
			day := func(d, hh, mm, ss int) time.Time { return time.Date(2025, 3, d, hh, mm, ss, 0, time.UTC) }

			base := day(10, 8, 0, 0)
			for i := range 120 {
				appendEv(store.AuditEvent{Time: base.Add(time.Duration(i) * time.Minute), Action: "test.page", Target: fmt.Sprintf("page-%03d", i), Outcome: "success"})
			}
			for _, ev := range []store.AuditEvent{
				{Time: day(1, 12, 0, 0), ActorUPN: "ana@contoso.example", ActorOID: "oid-ana", Target: "x@fabrikam.example", Outcome: "created"},
				{Time: day(2, 0, 0, 0), ActorUPN: "ana@contoso.example", ActorOID: "oid-ana", Target: "y@fabrikam.example", Outcome: "denied"},
				{Time: day(2, 23, 59, 59), ActorUPN: "bo@contoso.example", ActorOID: "oid-bo", Target: "X@Fabrikam.example", Outcome: "denied"},
				{Time: day(3, 0, 0, 0), ActorUPN: "bo@contoso.example", ActorOID: "oid-bo", Target: "z@fabrikam.example", Outcome: "created"},
			} {
				ev.Action = "test.filter"
				appendEv(ev)
			}
			hostile := []store.AuditEvent{
				{ActorUPN: "+1", Target: "=cmd|' /C calc'!A0", Outcome: "@SUM(A1)", Detail: "-1"},
				{ActorUPN: "\tTabbed", Target: `Comma, "Quote" Partner`, Detail: "line one\nline two, \"quoted\"", ClientIP: "\r=1+1"},
				{ActorUPN: "plain@contoso.example", Target: `=HYPERLINK("http://evil.example","x")`, Detail: "<script>alert(1)</script>", GraphRequestID: "-2+3"},
			}
			for i, ev := range hostile {
				ev.Time, ev.Action = day(20, 9, i, 0), "test.csv"
				appendEv(ev)
			}

			admin := h.browser()
			admin.signIn("admin@contoso.example")

			// Filters: actor (upn, case-insensitive, or oid), target (case-insensitive), action, outcome, since/until.
			for _, tc := range []struct {
				query   string
				targets []string
			}{
				{"action=test.filter", []string{"z@fabrikam.example", "X@Fabrikam.example", "y@fabrikam.example", "x@fabrikam.example"}},
				{"action=test.filter&actor=ANA@contoso.example", []string{"y@fabrikam.example", "x@fabrikam.example"}},
				{"action=test.filter&actor=oid-bo", []string{"z@fabrikam.example", "X@Fabrikam.example"}},
				{"action=test.filter&target=x@fabrikam.example", []string{"X@Fabrikam.example", "x@fabrikam.example"}},
				{"action=test.filter&outcome=denied", []string{"X@Fabrikam.example", "y@fabrikam.example"}},
				{"action=test.filter&since=2025-03-02&until=2025-03-02", []string{"X@Fabrikam.example", "y@fabrikam.example"}},
				{"action=test.filter&since=2025-03-02", []string{"z@fabrikam.example", "X@Fabrikam.example", "y@fabrikam.example"}},
				{"action=test.filter&until=2025-03-01", []string{"x@fabrikam.example"}},
				{"action=test.filter&since=2025-03-02T12:00:00Z&outcome=denied&actor=bo@contoso.example", []string{"X@Fabrikam.example"}},
				{"action=no.such.action", nil},
			} {
				p := admin.get("/admin/audit?" + tc.query)
				must(t, p.Status == http.StatusOK, "%s: %d", tc.query, p.Status)
				var got []string
				for _, r := range auditRows(p) {
					got = append(got, r[3])
				}
				must(t, slices.Equal(got, tc.targets), "page %s: targets %q, want %q", tc.query, got, tc.targets)
				var exported []string
				for _, ev := range auditLines(t, admin, tc.query) {
					exported = append(exported, ev.Target)
				}
				must(t, slices.Equal(exported, tc.targets), "jsonl %s: targets %q, want %q", tc.query, exported, tc.targets)
				c := admin.get("/admin/audit.csv?" + tc.query)
				recs, err := csv.NewReader(strings.NewReader(c.Body)).ReadAll()
				must(t, err == nil && len(recs) == len(tc.targets)+1, "csv %s: %d records, %v", tc.query, len(recs), err)
			}
			for _, bad := range []string{"since=yesterday", "until=2025-13-01", "since=03/02/2025"} {
				for _, path := range []string{"/admin/audit?", "/admin/audit.csv?", "/admin/audit.jsonl?"} {
					must(t, admin.get(path+bad).Status == http.StatusBadRequest, "%s%s must be refused", path, bad)
				}
			}

			// Paging by position (keyset): 50 per page, newest first, "Older" and "Newer" links that keep
			// the filter; walked by following the links, as a browser without JavaScript does.
			seen := map[string]bool{}
			path := "/admin/audit?action=test.page"
			for _, tc := range []struct {
				n                int
				first, last      string
				hasPrev, hasNext bool
			}{
				{50, "page-119", "page-070", false, true},
				{50, "page-069", "page-020", true, true},
				{20, "page-019", "page-000", true, false},
			} {
				p := admin.get(path)
				rows := auditRows(p)
				must(t, len(rows) == tc.n && rows[0][3] == tc.first && rows[len(rows)-1][3] == tc.last,
					"page %q: %d rows %s..%s", path, len(rows), rows[0][3], rows[len(rows)-1][3])
				for _, r := range rows {
					must(t, !seen[r[3]], "%s on two pages", r[3])
					seen[r[3]] = true
				}
				next, okNext := p.Doc.Find(`a[rel="next"]`).Attr("href")
				prev, okPrev := p.Doc.Find(`a[rel="prev"]`).Attr("href")
				must(t, okNext == tc.hasNext && okPrev == tc.hasPrev, "page %q: next %v prev %v", path, okNext, okPrev)
				if okPrev {
					back := auditRows(admin.get(prev))
					must(t, len(back) == 50 && back[len(back)-1][3] == fmt.Sprintf("page-%03d", parsePageNum(t, tc.first)+1), "Newer from %q ends just before it", path)
				}
				if okNext {
					q := mustURL(next).Query()
					must(t, q.Get("action") == "test.page" && q.Get("before") != "", "next link keeps the filter: %q", next)
					path = next
				}
			}
			must(t, len(seen) == 120, "the pages cover all %d events", len(seen))
			for _, pg := range []string{"0", "-3", "x", "4"} {
				rows := auditRows(admin.get("/admin/audit?action=test.page&page=" + pg))
				must(t, len(rows) == 50 && rows[0][3] == "page-119", "page=%s (no longer used) is the first page", pg)
			}
			for _, cur := range []string{"x", "1.x", "9223372036854775807.9223372036854775807x"} {
				must(t, admin.get("/admin/audit?action=test.page&before="+cur).Status == http.StatusBadRequest, "a damaged cursor %q is refused", cur)
			}

			// The page escapes what it shows.
			p := admin.get("/admin/audit?action=test.csv")
			must(t, !strings.Contains(p.Body, "<script>alert(1)</script>") && strings.Contains(p.Body, "&lt;script&gt;"), "the audit page escapes event text")
			csvLink, _ := p.Doc.Find(`[data-testid="export-csv"]`).Attr("href")
			jsonLink, _ := p.Doc.Find(`[data-testid="export-jsonl"]`).Attr("href")
			must(t, csvLink == "/admin/audit.csv?action=test.csv" && jsonLink == "/admin/audit.jsonl?action=test.csv", "export links keep the filter: %q %q", csvLink, jsonLink)

			// CSV: a header, encoding/csv quoting, formula-leading cells neutralised; JSON lines keep the text as is.
			c := admin.get(csvLink)
			must(t, c.Status == http.StatusOK && strings.HasPrefix(c.Header.Get("Content-Type"), "text/csv"), "csv: %d %q", c.Status, c.Header.Get("Content-Type"))
			must(t, strings.Contains(c.Header.Get("Content-Disposition"), "attachment") && c.Header.Get("Cache-Control") == "no-store", "csv headers: %v", c.Header)
			recs, err := csv.NewReader(strings.NewReader(c.Body)).ReadAll()
			must(t, err == nil, "csv parses: %v", err)
			header := []string{"time", "actor_upn", "actor_oid", "actor_tid", "action", "target", "outcome", "detail", "graph_request_id", "client_ip", "request_id"}
			must(t, len(recs) == 1+len(hostile) && slices.Equal(recs[0], header), "csv header %q and %d records", recs[0], len(recs))
			col := map[string]int{}
			for i, name := range header {
				col[name] = i
			}
			// Newest first: hostile[2], hostile[1], hostile[0].
			for i, want := range []map[string]string{
				{"actor_upn": "plain@contoso.example", "target": `'=HYPERLINK("http://evil.example","x")`, "detail": "<script>alert(1)</script>", "graph_request_id": "'-2+3"},
				// Stored cleaned (issue 14, item 1): line breaks and tabs became spaces.
				{"actor_upn": " Tabbed", "target": `Comma, "Quote" Partner`, "detail": "line one line two, \"quoted\"", "client_ip": "' =1+1"},
				{"actor_upn": "'+1", "target": "'=cmd|' /C calc'!A0", "outcome": "'@SUM(A1)", "detail": "'-1"},
			} {
				rec := recs[1+i]
				must(t, rec[col["action"]] == "test.csv" && rec[col["time"]] == day(20, 9, 2-i, 0).Format(time.RFC3339Nano), "csv row %d: %q", i, rec)
				for k, v := range want {
					// encoding/csv reads \r\n inside quotes as \n; compare what a spreadsheet would see.
					got := rec[col[k]]
					must(t, got == v || got == strings.ReplaceAll(v, "\r", "\n"), "csv row %d %s = %q, want %q", i, k, got, v)
				}
			}
			must(t, strings.Contains(c.Body, `"Comma, ""Quote"" Partner"`), "commas and quotes are escaped: %s", c.Body)
			full := admin.get("/admin/audit.csv")
			all, err := csv.NewReader(strings.NewReader(full.Body)).ReadAll()
			must(t, err == nil && len(all) > 120, "full export: %d records, %v", len(all), err)
			for _, rec := range all[1:] {
				for _, cell := range rec {
					rest := strings.TrimLeft(cell, " \t\r\n")
					formula := rest != "" && strings.ContainsAny(rest[:1], "=+-@") || cell != "" && strings.ContainsAny(cell[:1], "\t\r\n")
					must(t, !formula || cell[0] == '\'', "cell %q starts a formula", cell)
				}
			}
			lines := auditLines(t, admin, "action=test.csv")
			must(t, len(lines) == len(hostile), "jsonl lines: %d", len(lines))
			must(t, lines[2].Target == hostile[0].Target && lines[2].ActorUPN == "+1" && lines[1].Detail == "line one line two, \"quoted\"", "jsonl keeps values as stored: %+v", lines)
		})
	}
}
