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
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"portico/config"
	"portico/store"
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
	payloads := []string{"=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"}
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
