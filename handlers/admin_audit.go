package handlers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"portico/store"
	"portico/views"
)

const (
	auditPageSize = 50
	maxAuditPage  = 1_000_000
)

// auditFilter reads the shared filter of the audit page and its exports.
func auditFilter(c echo.Context) (store.AuditFilter, views.AuditFilter, error) {
	q := c.QueryParams()
	vf := views.AuditFilter{
		Actor: strings.TrimSpace(q.Get("actor")), Target: strings.TrimSpace(q.Get("target")),
		Action: strings.TrimSpace(q.Get("action")), Outcome: strings.TrimSpace(q.Get("outcome")),
		Since: strings.TrimSpace(q.Get("since")), Until: strings.TrimSpace(q.Get("until")),
	}
	f := store.AuditFilter{Actor: vf.Actor, Target: vf.Target, Action: vf.Action, Outcome: vf.Outcome}
	for _, d := range []struct {
		val  string
		dst  **time.Time
		name string
		end  bool
	}{{vf.Since, &f.Since, "since", false}, {vf.Until, &f.Until, "until", true}} {
		if d.val == "" {
			continue
		}
		t, err := parseDay(d.val, d.end)
		if err != nil {
			return f, vf, echo.NewHTTPError(http.StatusBadRequest, "The "+d.name+" date must look like 2026-11-23.")
		}
		*d.dst = &t
	}
	return f, vf, nil
}

// parseDay reads a date (or an RFC 3339 time); an end date covers the whole day.
func parseDay(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return t, err
	}
	if end {
		t = t.Add(24*time.Hour - time.Nanosecond)
	}
	return t, nil
}

// auditPage shows the audit trail to admins, filtered and paged.
func (s *Server) auditPage(c echo.Context) error {
	f, vf, err := auditFilter(c)
	if err != nil {
		return err
	}
	pageNum, _ := strconv.Atoi(c.QueryParam("page"))
	// Bounded so the offset cannot overflow into a negative one that shows the first page again.
	pageNum = min(max(pageNum, 1), maxAuditPage)
	f.Limit, f.Offset = auditPageSize+1, (pageNum-1)*auditPageSize
	events, err := s.Audit.ListAudit(c.Request().Context(), f)
	if err != nil {
		return err
	}
	m := views.Audit{Page: s.page(c, "Audit trail"), Filter: vf, PageNum: pageNum, HasNext: len(events) > auditPageSize}
	m.Nav = "audit"
	if m.HasNext {
		events = events[:auditPageSize]
	}
	for _, ev := range events {
		m.Events = append(m.Events, views.AuditRow{Time: ev.Time, Actor: actorLabel(ev), Action: ev.Action, Target: ev.Target,
			Outcome: ev.Outcome, Detail: ev.Detail, GraphRequestID: ev.GraphRequestID, ClientIP: ev.ClientIP})
	}
	qs := filterQuery(vf)
	m.ExportCSV, m.ExportJSON = "/admin/audit.csv"+qs, "/admin/audit.jsonl"+qs
	m.PageQuery = qs
	return render(c, http.StatusOK, views.AuditPage(m))
}

func filterQuery(f views.AuditFilter) string {
	v := url.Values{}
	for k, val := range map[string]string{"actor": f.Actor, "target": f.Target, "action": f.Action, "outcome": f.Outcome, "since": f.Since, "until": f.Until} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

func actorLabel(ev store.AuditEvent) string {
	if ev.ActorUPN != "" {
		return ev.ActorUPN
	}
	return ev.ActorOID
}

var auditCSVHeader = []string{"time", "actor_upn", "actor_oid", "actor_tid", "action", "target", "outcome", "detail", "graph_request_id", "client_ip", "request_id"}

// auditCSV streams the filtered audit trail as CSV, neutralising spreadsheet formulas.
func (s *Server) auditCSV(c echo.Context) error {
	f, _, err := auditFilter(c)
	if err != nil {
		return err
	}
	longWrite(c)
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="portico-audit.csv"`)
	// csv.Writer buffers, so a failure before the first few kilobytes still becomes an error page.
	w := csv.NewWriter(c.Response())
	err = w.Write(auditCSVHeader)
	if err == nil {
		err = s.Audit.EachAudit(c.Request().Context(), f, func(ev *store.AuditEvent) error {
			return w.Write(csvRow(ev))
		})
	}
	if err == nil {
		w.Flush()
		err = w.Error()
	}
	return s.exportFailed(c, err)
}

// exportFailed ends an export that could not be completed. Before anything was sent it is an
// ordinary error; once rows went out, the connection is aborted so the download fails visibly
// instead of ending in a truncated file that looks complete.
func (s *Server) exportFailed(c echo.Context, err error) error {
	if err == nil {
		return nil
	}
	if !c.Response().Committed {
		c.Response().Header().Del(echo.HeaderContentDisposition)
		return err
	}
	s.Logger.Error("audit export interrupted", "request_id", requestID(c), "err", err)
	panic(http.ErrAbortHandler)
}

// longWrite lifts the server's write timeout for a streamed export, which may run longer than a page.
func longWrite(c echo.Context) {
	_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Time{})
}

func csvRow(ev *store.AuditEvent) []string {
	row := []string{ev.Time.UTC().Format(time.RFC3339Nano), ev.ActorUPN, ev.ActorOID, ev.ActorTID, ev.Action, ev.Target,
		ev.Outcome, ev.Detail, ev.GraphRequestID, ev.ClientIP, ev.RequestID}
	for i := range row {
		row[i] = CSVSafe(row[i])
	}
	return row
}

// CSVSafe prefixes a cell that a spreadsheet would run as a formula with a single quote.
func CSVSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

type auditJSON struct {
	Time           time.Time `json:"time"`
	ActorUPN       string    `json:"actor_upn,omitempty"`
	ActorOID       string    `json:"actor_oid,omitempty"`
	ActorTID       string    `json:"actor_tid,omitempty"`
	Action         string    `json:"action"`
	Target         string    `json:"target,omitempty"`
	Outcome        string    `json:"outcome,omitempty"`
	Detail         string    `json:"detail,omitempty"`
	GraphRequestID string    `json:"graph_request_id,omitempty"`
	ClientIP       string    `json:"client_ip,omitempty"`
	RequestID      string    `json:"request_id,omitempty"`
}

// auditJSONL streams the filtered audit trail as JSON lines.
func (s *Server) auditJSONL(c echo.Context) error {
	f, _, err := auditFilter(c)
	if err != nil {
		return err
	}
	longWrite(c)
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/x-ndjson")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="portico-audit.jsonl"`)
	bw := bufio.NewWriter(c.Response())
	enc := json.NewEncoder(bw)
	err = s.Audit.EachAudit(c.Request().Context(), f, func(ev *store.AuditEvent) error {
		return enc.Encode(auditJSON{ev.Time.UTC(), ev.ActorUPN, ev.ActorOID, ev.ActorTID, ev.Action, ev.Target, ev.Outcome, ev.Detail, ev.GraphRequestID, ev.ClientIP, ev.RequestID})
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && !c.Response().Committed {
		c.Response().WriteHeader(http.StatusOK) // an empty export
	}
	return s.exportFailed(c, err)
}
