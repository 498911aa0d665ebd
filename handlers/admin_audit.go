package handlers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"portico/invite"
	"portico/store"
	"portico/views"
)

const auditPageSize = 50

// auditActions are the actions Portico records, with the labels the audit page shows for them.
var auditActions = []views.Option{
	{Value: invite.ActionInvitationCreate, Label: "Invitation created"},
	{Value: invite.ActionInvitationResend, Label: "Invitation sent again"},
	{Value: invite.ActionInvitationReveal, Label: "Redemption link revealed"},
	{Value: invite.ActionJoinLinkCreate, Label: "Join link created"},
	{Value: invite.ActionJoinLinkRevoke, Label: "Join link revoked"},
	{Value: invite.ActionJoinLinkAccept, Label: "Join link accepted"},
	{Value: invite.ActionGroupAdd, Label: "Guest added to a group"},
	{Value: invite.ActionApprovalRequest, Label: "Approval requested"},
	{Value: invite.ActionApprovalApprove, Label: "Request approved"},
	{Value: invite.ActionApprovalDeny, Label: "Request denied"},
	{Value: invite.ActionApprovalCancel, Label: "Request cancelled"},
	{Value: invite.ActionApprovalExpire, Label: "Request expired"},
	{Value: invite.ActionApprovalRelease, Label: "Interrupted approval given back"},
	{Value: "signin", Label: "Signed in"},
	{Value: "signout", Label: "Signed out"},
	{Value: "job.cancel", Label: "Background job cancelled"}, // app.ActionJobCancel
	{Value: invite.ActionLifecycleRemind, Label: "Guest reminded (lifecycle)"},
	{Value: invite.ActionLifecycleWarn, Label: "Inviter warned before expiry"},
	{Value: invite.ActionLifecycleReport, Label: "Expired guest reported"},
	{Value: invite.ActionLifecycleDisable, Label: "Guest disabled (lifecycle)"},
	{Value: invite.ActionLifecycleDelete, Label: "Guest deleted (lifecycle)"},
	{Value: invite.ActionLifecycleRestore, Label: "Guest restored"},
	{Value: invite.ActionLifecycleExempt, Label: "Guest exempted from the lifecycle"},
	{Value: invite.ActionLifecycleReset, Label: "Redemption reset"},
	{Value: "lifecycle.run", Label: "Lifecycle run requested"}, // app.ActionLifecycleRun
}

// auditOutcomes are the outcomes Portico records, with their labels.
var auditOutcomes = []views.Option{
	{Value: string(invite.OutcomeSuccess), Label: "Success"},
	{Value: string(invite.OutcomeCreated), Label: "Created"},
	{Value: string(invite.OutcomeDenied), Label: "Denied by policy"},
	{Value: string(invite.OutcomeRejected), Label: "Rejected by Microsoft"},
	{Value: string(invite.OutcomeThrottled), Label: "Limit reached"},
	{Value: string(invite.OutcomeFailed), Label: "Failed"},
	{Value: string(invite.OutcomePending), Label: "Waiting for approval"},
	{Value: string(invite.OutcomeExpired), Label: "Expired"},
}

// optionLabel is the label of value among opts, or value itself for one Portico does not know
// (recorded by another version, say).
func optionLabel(opts []views.Option, value string) string {
	for _, o := range opts {
		if o.Value == value {
			return o.Label
		}
	}
	return value
}

// choices are opts, plus the current value when it is not one of them, so a link to a filter on
// an unlisted value still shows what it filters on.
func choices(opts []views.Option, current string) []views.Option {
	if current == "" || optionLabel(opts, current) != current {
		return opts
	}
	return append(slices.Clone(opts), views.Option{Value: current, Label: current})
}

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

// auditFilterLabels name the filter fields in messages as the form labels them.
var auditFilterLabels = map[string]string{"actor": "Who", "target": "About", "action": "Action", "outcome": "Outcome"}

// auditError turns the store's refusal of filter text it cannot search for (invalid UTF-8, NUL)
// into a 400 that names the field; other errors pass unchanged.
func auditError(err error) error {
	var ie *store.InputError
	if errors.As(err, &ie) {
		label := auditFilterLabels[ie.Field]
		if label == "" {
			label = ie.Field
		}
		return echo.NewHTTPError(http.StatusBadRequest, "The “"+label+"” filter contains bytes that are not text (invalid UTF-8 or a NUL character). Remove them and try again.")
	}
	return err
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

// auditPage shows the audit trail to admins, filtered, newest first, paged by position: "Older"
// continues before the page's last event and "Newer" after its first (keyset paging, which stays
// as fast on page 10,000 as on page 1), plain links that work without JavaScript.
func (s *Server) auditPage(c echo.Context) error {
	f, vf, err := auditFilter(c)
	if err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		dst  **store.AuditCursor
	}{{"before", &f.Before}, {"after", &f.After}} {
		v := c.QueryParam(p.name)
		if v == "" {
			continue
		}
		cur, err := store.ParseAuditCursor(v)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "This page link is damaged: go back to the newest events.")
		}
		*p.dst = &cur
	}
	if f.Before != nil && f.After != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "A page link can go older or newer, not both: go back to the newest events.")
	}
	f.Limit = auditPageSize + 1
	events, err := s.Audit.ListAudit(c.Request().Context(), f)
	if err != nil {
		return auditError(err)
	}
	more := len(events) > auditPageSize
	hasOlder, hasNewer := f.Before != nil || f.After != nil, f.Before != nil
	switch {
	case f.After != nil && more:
		events, hasNewer = events[1:], true // the extra one is the newest
	case f.After != nil:
		hasNewer = false
	case more:
		events, hasOlder = events[:auditPageSize], true
	default:
		hasOlder = false
	}
	if f.After != nil && len(events) < auditPageSize {
		// Fewer than a page newer than the cursor: that is the first page, shown in full.
		return c.Redirect(http.StatusSeeOther, "/admin/audit"+filterQuery(vf))
	}
	m := views.Audit{Page: s.page(c, "Audit trail"), Filter: vf,
		Actions: choices(auditActions, vf.Action), Outcomes: choices(auditOutcomes, vf.Outcome)}
	m.Nav = "audit"
	for _, ev := range events {
		m.Events = append(m.Events, views.AuditRow{Time: ev.Time, Actor: actorLabel(ev), Action: optionLabel(auditActions, ev.Action),
			ActionKey: ev.Action, Target: ev.Target, Outcome: optionLabel(auditOutcomes, ev.Outcome), Detail: ev.Detail,
			GraphRequestID: ev.GraphRequestID, ClientIP: ev.ClientIP})
	}
	qs := filterQuery(vf)
	m.ExportCSV, m.ExportJSON = "/admin/audit.csv"+qs, "/admin/audit.jsonl"+qs
	m.Filtered = qs != ""
	if len(events) > 0 {
		if hasNewer {
			m.NewerURL = auditLink(vf, "after", events[0].Cursor())
			m.NewestURL = "/admin/audit" + qs
		}
		if hasOlder {
			m.OlderURL = auditLink(vf, "before", events[len(events)-1].Cursor())
		}
	}
	return render(c, http.StatusOK, views.AuditPage(m))
}

func auditLink(f views.AuditFilter, dir string, cur store.AuditCursor) string {
	v := filterValues(f)
	v.Set(dir, cur.String())
	return "/admin/audit?" + v.Encode()
}

func filterValues(f views.AuditFilter) url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"actor": f.Actor, "target": f.Target, "action": f.Action, "outcome": f.Outcome, "since": f.Since, "until": f.Until} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

func filterQuery(f views.AuditFilter) string {
	v := filterValues(f)
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
		err = auditError(s.Audit.EachAudit(c.Request().Context(), f, func(ev *store.AuditEvent) error {
			return w.Write(csvRow(ev))
		}))
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

// CSVSafe makes a cell inert in spreadsheets, following OWASP's CSV-injection guidance: a cell that
// starts with =, +, -, @, tab, carriage return or line feed, or with whitespace and then one of
// those formula characters (spreadsheets skip leading blanks and line breaks before a formula), is
// prefixed with a single quote, so it is shown as text. csv.Writer quotes and doubles any '"'.
func CSVSafe(v string) string {
	if v == "" {
		return v
	}
	if strings.ContainsRune("=+-@\t\r\n", rune(v[0])) {
		return "'" + v
	}
	if rest := strings.TrimLeftFunc(v, unicode.IsSpace); rest != v && rest != "" && strings.ContainsRune("=+-@", rune(rest[0])) {
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
	err = auditError(s.Audit.EachAudit(c.Request().Context(), f, func(ev *store.AuditEvent) error {
		return enc.Encode(auditJSON{ev.Time.UTC(), ev.ActorUPN, ev.ActorOID, ev.ActorTID, ev.Action, ev.Target, ev.Outcome, ev.Detail, ev.GraphRequestID, ev.ClientIP, ev.RequestID})
	}))
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && !c.Response().Committed {
		c.Response().WriteHeader(http.StatusOK) // an empty export
	}
	return s.exportFailed(c, err)
}
