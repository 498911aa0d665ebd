package handlers

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"

	"portico/config"
	"portico/invite"
	"portico/store"
	"portico/store/storetest"
)

// auditLogFake streams its events and, when err is set, fails after failAfter of them.
type auditLogFake struct {
	events    []store.AuditEvent
	failAfter int
	err       error
}

func (f *auditLogFake) AppendAudit(context.Context, *store.AuditEvent) error {
	return errors.New("fake: read only")
}

func (f *auditLogFake) ListAudit(ctx context.Context, flt store.AuditFilter) ([]store.AuditEvent, error) {
	var out []store.AuditEvent
	err := f.EachAudit(ctx, flt, func(ev *store.AuditEvent) error { out = append(out, *ev); return nil })
	return out, err
}

func (f *auditLogFake) EachAudit(_ context.Context, _ store.AuditFilter, fn func(*store.AuditEvent) error) error {
	for i := range f.events {
		if f.err != nil && i == f.failAfter {
			return f.err
		}
		ev := f.events[i]
		if err := fn(&ev); err != nil {
			return err
		}
	}
	if f.err != nil {
		return f.err
	}
	return nil
}

// auditExportServer serves the two export handlers alone, with the real error handler.
func auditExportServer(t *testing.T, fake *auditLogFake) *httptest.Server {
	t.Helper()
	s := &Server{Deps: Deps{Config: &config.Config{}, Logger: slog.New(slog.DiscardHandler), Audit: fake, Clock: time.Now}}
	e := echo.New()
	e.HTTPErrorHandler = s.handleError
	e.GET("/audit.csv", s.auditCSV)
	e.GET("/audit.jsonl", s.auditJSONL)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

func manyEvents(n int) []store.AuditEvent {
	evs := make([]store.AuditEvent, n)
	for i := range evs {
		evs[i] = store.AuditEvent{ID: int64(i + 1), Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Action: "invitation.create",
			Target: fmt.Sprintf("partner%04d@fabrikam.example", i), Outcome: "created", Detail: `{"displayName":"A, \"B\""}`}
	}
	return evs
}

func TestAuditCSVNeutralisesEveryColumn(t *testing.T) {
	payloads := []string{"=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1",
		"\n=1+1", " =1+1", "  +1", "\r\n@SUM(A1)", "\n -2", " \t=HYPERLINK(\"http://evil.example\")"}
	var evs []store.AuditEvent
	for _, p := range payloads {
		evs = append(evs, store.AuditEvent{Time: time.Unix(0, 0), ActorUPN: p, ActorOID: p, ActorTID: p, Action: p, Target: p,
			Outcome: p, Detail: p, GraphRequestID: p, ClientIP: p, RequestID: p})
	}
	srv := auditExportServer(t, &auditLogFake{events: evs})
	resp, err := http.Get(srv.URL + "/audit.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	recs, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+len(payloads) || strings.Join(recs[0], ",") != strings.Join(auditCSVHeader, ",") {
		t.Fatalf("header %q and %d records", recs[0], len(recs))
	}
	for i, rec := range recs[1:] {
		for j, cell := range rec[1:] { // column 0 is the time
			if !strings.HasPrefix(cell, "'") {
				t.Errorf("row %d column %s = %q: a formula-leading cell must start with a quote", i, auditCSVHeader[j+1], cell)
			}
		}
	}
}

func TestAuditExportFailures(t *testing.T) {
	boom := errors.New("database went away")
	tests := []struct {
		name      string
		path      string
		fake      *auditLogFake
		wantAbort bool // rows already went out: the download must fail, not look complete
		wantCode  int
	}{
		{"csv fails at once", "/audit.csv", &auditLogFake{err: boom}, false, http.StatusInternalServerError},
		{"jsonl fails at once", "/audit.jsonl", &auditLogFake{err: boom}, false, http.StatusInternalServerError},
		{"csv fails midway", "/audit.csv", &auditLogFake{events: manyEvents(500), failAfter: 400, err: boom}, true, 0},
		{"jsonl fails midway", "/audit.jsonl", &auditLogFake{events: manyEvents(500), failAfter: 400, err: boom}, true, 0},
		{"csv complete", "/audit.csv", &auditLogFake{events: manyEvents(500)}, false, http.StatusOK},
		{"jsonl complete", "/audit.jsonl", &auditLogFake{events: manyEvents(500)}, false, http.StatusOK},
		{"csv empty", "/audit.csv", &auditLogFake{}, false, http.StatusOK},
		{"jsonl empty", "/audit.jsonl", &auditLogFake{}, false, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := auditExportServer(t, tt.fake)
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				if tt.wantAbort {
					return // aborted before the status line reached the client: also a visible failure
				}
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, rerr := io.ReadAll(resp.Body)
			if tt.wantAbort {
				if rerr == nil {
					t.Fatalf("a truncated export of %d bytes was delivered as complete", len(body))
				}
				return
			}
			if rerr != nil {
				t.Fatalf("read: %v", rerr)
			}
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if tt.wantCode != http.StatusOK {
				if resp.Header.Get("Content-Disposition") != "" {
					t.Error("an error page must not be offered as the export file")
				}
				return
			}
			lines := strings.Count(string(body), "\n")
			want := len(tt.fake.events)
			if strings.HasSuffix(tt.path, ".csv") {
				want++ // the header
			}
			if lines != want {
				t.Errorf("%d lines, want %d", lines, want)
			}
		})
	}
}

// auditStores are real stores for the audit handlers: SQLite, and PostgreSQL when configured.
func auditStores(t *testing.T) map[string]func(t *testing.T) *store.DB {
	open := func(t *testing.T, dsn string) *store.DB {
		db, err := store.Open(t.Context(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	return map[string]func(t *testing.T) *store.DB{
		"sqlite":   func(t *testing.T) *store.DB { return open(t, filepath.Join(t.TempDir(), "audit.db")) },
		"postgres": func(t *testing.T) *store.DB { return open(t, storetest.FreshPostgres(t)) },
	}
}

// auditServer serves the audit page and its exports on a real store, with the real error handler.
func auditServer(t *testing.T, audit AuditLog) *httptest.Server {
	t.Helper()
	s := &Server{Deps: Deps{Config: &config.Config{OrgName: "Contoso"}, Logger: slog.New(slog.DiscardHandler), Audit: audit, Clock: time.Now}}
	e := echo.New()
	e.HTTPErrorHandler = s.handleError
	e.GET("/admin/audit", s.auditPage)
	e.GET("/admin/audit.csv", s.auditCSV)
	e.GET("/admin/audit.jsonl", s.auditJSONL)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestAuditFiltersRefuseBadBytes is issue 14, item 3, as an attacker: filter text that is not UTF-8
// or holds NUL answered 500 on PostgreSQL ("invalid byte sequence for encoding UTF8"); on both
// engines it must be a 400 that names the field, on the page and on both exports.
func TestAuditFiltersRefuseBadBytes(t *testing.T) {
	for engine, open := range auditStores(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t)
			if err := db.AppendAudit(t.Context(), &store.AuditEvent{Action: invite.ActionInvitationCreate, Target: "g@fabrikam.example", Outcome: "created"}); err != nil {
				t.Fatal(err)
			}
			srv := auditServer(t, db)
			for _, path := range []string{"/admin/audit", "/admin/audit.csv", "/admin/audit.jsonl"} {
				if code, _ := getBody(t, srv.URL+path+"?target=g@fabrikam.example"); code != http.StatusOK {
					t.Fatalf("%s with a good filter: %d", path, code)
				}
				for _, tc := range []struct{ query, label string }{
					{"actor=%ff", "Who"}, {"actor=ann%00@contoso.example", "Who"}, {"target=%00", "About"},
					{"target=%c0%af", "About"}, {"target=%e0%80%af", "About"}, {"action=%ed%a0%80", "Action"},
					{"outcome=created%00", "Outcome"}, {"outcome=%ff%fe", "Outcome"},
				} {
					code, body := getBody(t, srv.URL+path+"?"+tc.query)
					if code != http.StatusBadRequest || !strings.Contains(body, "“"+tc.label+"” filter") {
						t.Errorf("%s?%s = %d, want 400 naming the %s filter:\n%.300s", path, tc.query, code, tc.label, body)
					}
				}
			}
			for _, q := range []string{"before=x", "after=1.x", "before=1.1&after=1.2"} {
				if code, _ := getBody(t, srv.URL+"/admin/audit?"+q); code != http.StatusBadRequest {
					t.Errorf("%s = %d, want 400", q, code)
				}
			}
		})
	}
}

// TestAuditPageNewerOlder walks a real trail with the page's own links: Older to the end, Newer back
// to the first page, every event once, the filter kept; readable labels, select lists, Clear filters.
func TestAuditPageNewerOlder(t *testing.T) {
	for engine, open := range auditStores(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t)
			base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
			const n = 2*auditPageSize + 20
			for i := range n {
				// Pairs share a time, so the paging must break ties by id.
				ev := &store.AuditEvent{Time: base.Add(time.Duration(i/2) * time.Minute), Action: invite.ActionJoinLinkCreate,
					Target: fmt.Sprintf("e%03d", i), Outcome: string(invite.OutcomeSuccess)}
				if err := db.AppendAudit(t.Context(), ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.AppendAudit(t.Context(), &store.AuditEvent{Time: base, Action: "signin", Outcome: "success"}); err != nil {
				t.Fatal(err)
			}
			srv := auditServer(t, db)
			page := func(path string) (*goquery.Document, []string) {
				t.Helper()
				code, body := getBody(t, srv.URL+path)
				if code != http.StatusOK {
					t.Fatalf("%s: %d", path, code)
				}
				d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				var targets []string
				d.Find(`[data-testid="audit-row"] td[data-label="About"]`).Each(func(_ int, s *goquery.Selection) { targets = append(targets, s.Text()) })
				return d, targets
			}
			d, first := page("/admin/audit?action=joinlink.create")
			if len(first) != auditPageSize || first[0] != fmt.Sprintf("e%03d", n-1) {
				t.Fatalf("first page: %d rows from %v", len(first), first[:1])
			}
			if d.Find(`a[rel="prev"]`).Length() != 0 || d.Find(`a[rel="first"]`).Length() != 0 {
				t.Error("no Newer link on the newest page")
			}
			if got := d.Find(`td[data-label="Action"]`).First().Text(); got != "Join link created" {
				t.Errorf("action label %q", got)
			}
			if got := d.Find(`td[data-label="Outcome"]`).First().Text(); got != "Success" {
				t.Errorf("outcome label %q", got)
			}
			if d.Find(`select[name="action"] option[value="joinlink.create"][selected]`).Text() != "Join link created" ||
				d.Find(`select[name="outcome"] option[value="failed"]`).Length() != 1 {
				t.Error("action and outcome are select lists of the known values, the current one selected")
			}
			if d.Find(`a[data-testid="clear-filters"][href="/admin/audit"]`).Length() != 1 {
				t.Error("Clear filters")
			}
			seen := map[string]bool{}
			var pages [][]string
			rows := first
			for {
				pages = append(pages, rows)
				for _, r := range rows {
					if seen[r] {
						t.Fatalf("%s on two pages", r)
					}
					seen[r] = true
				}
				older, ok := d.Find(`a[rel="next"]`).Attr("href")
				if !ok {
					break
				}
				if u, _ := url.Parse(older); u.Query().Get("action") != "joinlink.create" || u.Query().Get("page") != "" {
					t.Fatalf("Older link %q must keep the filter and page by position", older)
				}
				d, rows = page(older)
			}
			if len(seen) != n || len(pages) != 3 || len(pages[2]) != 20 {
				t.Fatalf("walked %d pages covering %d events, want 3 pages covering %d", len(pages), len(seen), n)
			}
			for i := len(pages) - 2; i >= 0; i-- {
				newer, ok := d.Find(`a[rel="prev"]`).Attr("href")
				if !ok {
					t.Fatalf("no Newer link back to page %d", i+1)
				}
				d, rows = page(newer)
				if strings.Join(rows, ",") != strings.Join(pages[i], ",") {
					t.Fatalf("Newer went to %v…, want page %d %v…", rows[:1], i+1, pages[i][:1])
				}
			}
			// Fewer than a page newer than the cursor: the newest page, in full.
			_, rows = page("/admin/audit?action=joinlink.create&after=" + url.QueryEscape(store.AuditCursor{Time: base.Add(59 * time.Minute), ID: 1}.String()))
			if len(rows) != auditPageSize || rows[0] != first[0] {
				t.Errorf("after the newest cursor: %d rows from %v", len(rows), rows[:min(1, len(rows))])
			}
			// An action Portico does not list still shows, selected, in the list.
			d, _ = page("/admin/audit?action=legacy.thing")
			if d.Find(`select[name="action"] option[value="legacy.thing"][selected]`).Length() != 1 {
				t.Error("an unlisted action in the URL is kept as a choice")
			}
		})
	}
}
