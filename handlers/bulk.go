package handlers

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"portico/bulk"
	"portico/invite"
	"portico/store"
	"portico/views"
)

// Bulk is the bulk invitation as the handlers use it (bulk.Service satisfies it).
type Bulk interface {
	Prepare(ctx context.Context, ts oauth2.TokenSource, actor invite.Inviter, r io.Reader, src bulk.Source, meta invite.Meta) (*store.BulkJob, error)
	PrepareRows(ctx context.Context, ts oauth2.TokenSource, actor invite.Inviter, rows []bulk.Row, format string, src bulk.Source, meta invite.Meta) (*store.BulkJob, error)
	MaxRows() int
	Job(ctx context.Context, actor invite.Inviter, id string) (*store.BulkJob, error)
	Jobs(ctx context.Context, actor invite.Inviter, limit int) ([]store.BulkJob, error)
	Rows(ctx context.Context, actor invite.Inviter, id string, afterN, limit int) ([]store.BulkRow, error)
	Progress(ctx context.Context, j *store.BulkJob) (bulk.Progress, error)
	Exclude(ctx context.Context, actor invite.Inviter, id string, shown, excluded []int) error
	Confirm(ctx context.Context, actor invite.Inviter, id string, meta invite.Meta) error
	Cancel(ctx context.Context, actor invite.Inviter, id string, meta invite.Meta) error
	JoinURL(ctx context.Context, actor invite.Inviter, invitationID string) string
	AuditDownload(ctx context.Context, actor invite.Inviter, j *store.BulkJob, meta invite.Meta, what string)
	SendingOn() bool
}

var _ Bulk = (*bulk.Service)(nil)

// bulkPageRows is how many rows the review and progress tables show at a time.
const bulkPageRows = 200

// mayBulk reports whether the signed-in employee may use bulk invitations: administrators, and
// holders of a role or group in PORTICO_BULK_INVITERS, who may also invite.
func (s *Server) mayBulk(c echo.Context) bool {
	u := currentUser(c)
	if u == nil {
		return false
	}
	return bulk.MayUse(s.inviterOf(u), claimsOf(u), s.Config.BulkInviters)
}

// bulkClaims are the signed-in employee's claims, kept with a bulk job for the re-check at each run.
func bulkClaims(c echo.Context) *invite.Claims {
	u := currentUser(c)
	if u == nil {
		return nil
	}
	cl := claimsOf(u)
	return &cl
}

// requireBulk lets through only those who may use bulk invitations (and only when bulk is built).
func (s *Server) requireBulk(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.Bulk == nil || !s.mayBulk(c) {
			return echo.NewHTTPError(http.StatusForbidden, "Bulk invitations are for administrators and the roles or groups in PORTICO_BULK_INVITERS. Invite partners one at a time from the Invite page, or ask an administrator.")
		}
		if c.Param("id") != "" && !wellFormedID(c.Param("id")) {
			return errNotFound
		}
		return next(c)
	}
}

// bulkBodyLimit bounds a bulk upload's body: PORTICO_BULK_MAX_BYTES plus room for the form
// around the file. A body announced larger is refused before it is read, with a message naming
// the limit; one that turns out larger stops being read there.
func (s *Server) bulkBodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	limit := s.Config.BulkMaxBytes + 256<<10
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > limit {
			return s.tooLarge()
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
		return next(c)
	}
}

// parseUpload reads a multipart upload before the CSRF check looks for its token, keeping at
// most 1 MB in memory (the rest of the file waits in a temporary file), and turns a body over the
// limit into a message naming the limit.
func (s *Server) parseUpload(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if strings.HasPrefix(r.Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
			if err := r.ParseMultipartForm(1 << 20); err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return s.tooLarge()
				}
				return echo.NewHTTPError(http.StatusBadRequest, "The upload could not be read. Choose the file again and retry.")
			}
			defer func() { _ = r.MultipartForm.RemoveAll() }()
		}
		return next(c)
	}
}

func (s *Server) tooLarge() error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
		"The file is larger than "+bulk.SizeText(s.Config.BulkMaxBytes)+", the most one bulk invitation takes (PORTICO_BULK_MAX_BYTES). Split it and upload the parts one by one.")
}

// bulkForm shows /bulk: upload or paste, the defaults, earlier bulk invitations.
func (s *Server) bulkForm(c echo.Context) error {
	return s.renderBulkForm(c, http.StatusOK, views.BulkValues{RedirectURL: s.Invites.Policy().DefaultRedirectURL, Delivery: "email"}, "")
}

func (s *Server) renderBulkForm(c echo.Context, status int, v views.BulkValues, problem string) error {
	p, err := s.flashPage(c, "Bulk invite")
	if err != nil {
		return err
	}
	p.Nav = "bulk"
	inv := s.inviter(c)
	m := views.BulkForm{Page: p, Error: problem, Values: v, Languages: s.languages, MaxRows: s.Config.BulkMaxRows,
		MaxSize: bulk.SizeText(s.Config.BulkMaxBytes), MaxMessage: s.Invites.Policy().MaxMessageRunes, SendingOn: s.Bulk.SendingOn()}
	jobs, err := s.Bulk.Jobs(c.Request().Context(), inv, 20)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		m.Jobs = append(m.Jobs, views.BulkJobItem{ID: j.ID, Source: j.Source, State: j.State, StateLabel: bulkStateLabel(j.State),
			Owner: orDash(j.OwnerName, j.OwnerUPN), Rows: j.RowsTotal, Created: j.CreatedAt})
	}
	return render(c, status, views.BulkFormPage(m))
}

// bulkTemplate downloads Portico's template.
func (s *Server) bulkTemplate(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="portico-bulk-template.csv"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", bulk.PorticoTemplate())
}

// bulkUpload checks an uploaded file or a pasted list (the dry run) and shows the review.
func (s *Server) bulkUpload(c echo.Context) error {
	v := views.BulkValues{Message: c.FormValue("message"), RedirectURL: strings.TrimSpace(c.FormValue("redirect")),
		Language: c.FormValue("language"), Delivery: c.FormValue("delivery"), Paste: c.FormValue("paste")}
	d := bulk.Defaults{Message: v.Message, RedirectURL: v.RedirectURL, Language: v.Language, Delivery: bulk.DeliveryEmail}
	if v.Delivery == "link" {
		d.Delivery = bulk.DeliveryLink
	}
	var src io.Reader
	name := "pasted list"
	if fh, err := c.FormFile("file"); err == nil && fh.Size > 0 {
		f, err := fh.Open()
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		src, name = f, cleanFileName(fh.Filename)
	} else if strings.TrimSpace(v.Paste) != "" {
		src = strings.NewReader(v.Paste)
	} else {
		return s.renderBulkForm(c, http.StatusBadRequest, v, "Choose a CSV file or paste addresses, one per line.")
	}
	j, err := s.Bulk.Prepare(c.Request().Context(), s.graphTokens(c), s.inviter(c), src, bulk.Source{Name: name, Defaults: d, Claims: bulkClaims(c)}, meta(c))
	var fe *bulk.FileError
	if errors.As(err, &fe) {
		return s.renderBulkForm(c, http.StatusUnprocessableEntity, v, fileProblem(fe))
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/bulk/"+j.ID)
}

// fileProblem is a FileError as one sentence for people.
func fileProblem(fe *bulk.FileError) string {
	p := fe.Problem
	if p != "" {
		p = strings.ToUpper(p[:1]) + p[1:]
	}
	if fe.Line > 0 {
		return "Line " + strconv.Itoa(fe.Line) + ": " + p + "."
	}
	return p + "."
}

// cleanFileName keeps the base name of an uploaded file, for display only.
func cleanFileName(n string) string {
	if i := strings.LastIndexAny(n, `/\`); i >= 0 {
		n = n[i+1:]
	}
	n = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, n)
	if len([]rune(n)) > 80 {
		n = string([]rune(n)[:80])
	}
	if n == "" {
		return "uploaded file"
	}
	return n
}

// bulkShow is the review of a draft or the progress of a confirmed job.
func (s *Server) bulkShow(c echo.Context) error {
	ctx := c.Request().Context()
	inv := s.inviter(c)
	j, err := s.Bulk.Job(ctx, inv, c.Param("id"))
	if err != nil {
		return err
	}
	after := 0
	if v := c.QueryParam("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "This page link is damaged: go back to the first rows.")
		}
		after = n
	}
	rows, err := s.Bulk.Rows(ctx, inv, j.ID, after, bulkPageRows+1)
	if err != nil {
		return err
	}
	prog, err := s.Bulk.Progress(ctx, j)
	if err != nil {
		return err
	}
	p, err := s.flashPage(c, "Bulk invitation")
	if err != nil {
		return err
	}
	p.Nav = "bulk"
	m := views.BulkJob{Page: p, ID: j.ID, Source: j.Source, State: j.State, StateLabel: bulkStateLabel(j.State), Note: j.Note,
		Owner: orDash(j.OwnerName, j.OwnerUPN), Draft: j.State == store.BulkDraft, Blocked: j.State == store.BulkBlocked,
		Active: j.State == store.BulkQueued || j.State == store.BulkRunning, IsOwner: j.OwnerOID == inv.ObjectID,
		SendingOn: s.Bulk.SendingOn(), Total: prog.Total, Done: prog.Done}
	m.CanCancel = m.Active
	if m.Active {
		// The page updates itself without JavaScript through the HTTP Refresh header, and says
		// so with a control that turns it off (WCAG 2.2.1: timing the user can turn off).
		m.Live = c.QueryParam("live") != "off"
		if m.Live {
			c.Response().Header().Set("Refresh", "5")
		}
	}
	if prog.Rate > 0 {
		m.Rate = fmt.Sprintf("%.1f invitations per second", prog.Rate)
	}
	if prog.TimeLeft > 0 {
		m.TimeLeft = "about " + roundDuration(prog.TimeLeft)
	}
	for _, k := range bulkCountOrder {
		if n := prog.Counts[k]; n > 0 || (k == store.RowPending && (m.Draft || m.Active)) {
			m.Counts = append(m.Counts, views.BulkCount{Key: k, Label: bulkRowLabel(k, m.Draft), N: n})
		}
	}
	if len(rows) > bulkPageRows {
		rows = rows[:bulkPageRows]
		m.NextURL = "/bulk/" + j.ID + "?after=" + strconv.Itoa(rows[len(rows)-1].N)
	}
	if after > 0 {
		m.PrevURL = "/bulk/" + j.ID + "?after=" + strconv.Itoa(max(0, after-bulkPageRows))
		m.PageQuery = "?after=" + strconv.Itoa(after)
	}
	var shown []string
	for _, r := range rows {
		m.Rows = append(m.Rows, bulkRowView(r, m.Draft))
		shown = append(shown, strconv.Itoa(r.N))
	}
	if len(rows) > 0 {
		m.From, m.To = rows[0].N, rows[len(rows)-1].N
	}
	m.PageRows = strings.Join(shown, ",")
	return render(c, http.StatusOK, views.BulkJobPage(m))
}

var bulkCountOrder = []string{store.RowPending, store.RowExcluded, store.RowSending, store.RowInvited, store.RowResent,
	store.RowSkipped, store.RowFailed, store.RowNotSent}

func bulkRowView(r store.BulkRow, draft bool) views.BulkRowView {
	v := views.BulkRowView{N: r.N, Line: r.Line, Email: r.Email, Name: r.DisplayName, Verdict: r.Verdict, State: r.State,
		StateLabel: bulkRowLabel(r.State, draft), Reason: r.Reason, Excluded: r.State == store.RowExcluded,
		Excludable: draft && (r.State == store.RowPending || r.State == store.RowExcluded), Delivery: "by email"}
	if !r.SendEmail {
		v.Delivery = "join link"
	}
	switch r.Verdict {
	case store.VerdictInvite:
		v.VerdictLabel = "Will invite"
	case store.VerdictResend:
		v.VerdictLabel = "Will resend"
	default:
		v.VerdictLabel, v.Delivery = "Skipped", ""
	}
	if r.InvitationID != "" && wellFormedID(r.InvitationID) {
		v.InvitationURL = "/invitations/" + r.InvitationID
	}
	return v
}

func bulkStateLabel(s string) string {
	switch s {
	case store.BulkDraft:
		return "checked, not confirmed"
	case store.BulkQueued:
		return "waiting to start"
	case store.BulkRunning:
		return "sending"
	case store.BulkDone:
		return "finished"
	case store.BulkCancelled:
		return "cancelled"
	case store.BulkBlocked:
		return "stopped: blocked by Microsoft"
	}
	return s
}

func bulkRowLabel(s string, draft bool) string {
	switch s {
	case store.RowPending:
		if draft {
			return "To send"
		}
		return "Waiting"
	case store.RowExcluded:
		return "Left out"
	case store.RowSending:
		return "Sending"
	case store.RowInvited:
		return "Invited"
	case store.RowResent:
		return "Sent again"
	case store.RowSkipped:
		return "Skipped"
	case store.RowFailed:
		return "Failed"
	case store.RowNotSent:
		return "Not sent"
	}
	return s
}

func roundDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(max(1, int(d.Seconds()+0.5))) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes()+0.5)) + " min"
	}
	return fmt.Sprintf("%.1f h", d.Hours())
}

func orDash(a, b string) string {
	if a != "" {
		return a
	}
	if b != "" {
		return b
	}
	return "—"
}

// bulkConfirm saves the exclusions of the page shown and, when asked, confirms the job.
func (s *Server) bulkConfirm(c echo.Context) error {
	ctx := c.Request().Context()
	inv := s.inviter(c)
	id := c.Param("id")
	shown, err := intList(strings.Split(c.FormValue("rows"), ","))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The review form is damaged: reload the page and try again.")
	}
	params, err := c.FormParams()
	if err != nil {
		return err
	}
	excluded, err := intList(params["exclude"])
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The review form is damaged: reload the page and try again.")
	}
	if err := s.Bulk.Exclude(ctx, inv, id, shown, excluded); err != nil {
		return err
	}
	if c.FormValue("action") != "send" {
		return s.flashRedirect(c, "/bulk/"+id+pageQuery(c), "Your choices are saved. Nothing has been sent.")
	}
	if err := s.Bulk.Confirm(ctx, inv, id, meta(c)); err != nil {
		return err
	}
	return s.flashRedirect(c, "/bulk/"+id, "Sending started. This page shows the progress; you can leave it.")
}

func pageQuery(c echo.Context) string {
	if a := c.QueryParam("after"); a != "" {
		if _, err := strconv.Atoi(a); err == nil {
			return "?after=" + a
		}
	}
	return ""
}

func intList(ss []string) ([]int, error) {
	var out []int
	for _, s := range ss {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1_000_000 {
			return nil, fmt.Errorf("handlers: bad row number %q", s)
		}
		out = append(out, n)
		if len(out) > 100_000 {
			return nil, errors.New("handlers: too many row numbers")
		}
	}
	return out, nil
}

// bulkCancel stops a queued or running job.
func (s *Server) bulkCancel(c echo.Context) error {
	if err := s.Bulk.Cancel(c.Request().Context(), s.inviter(c), c.Param("id"), meta(c)); err != nil {
		return err
	}
	return s.flashRedirect(c, "/bulk/"+c.Param("id"), "Sending cancelled. Rows not sent yet are marked \"not sent\".")
}

var bulkCSVHeader = []string{"row", "line", "email", "display name", "check", "state", "reason", "send", "invitation", "join link"}

// bulkCSV downloads a job's rows: the dry run's checks of a draft (verdicts.csv) or the results
// (results.csv), with the join links of link-mode rows. Only the job's owner and administrators
// may (Bulk.Job decides), and each download is audited.
func (s *Server) bulkCSV(what string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		inv := s.inviter(c)
		j, err := s.Bulk.Job(ctx, inv, c.Param("id"))
		if err != nil {
			return err
		}
		s.Bulk.AuditDownload(ctx, inv, j, meta(c), what)
		longWrite(c)
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		h.Set(echo.HeaderContentDisposition, `attachment; filename="portico-bulk-`+what+`.csv"`)
		h.Set("Cache-Control", "no-store")
		w := csv.NewWriter(c.Response())
		err = w.Write(bulkCSVHeader)
		after := 0
		for err == nil {
			var rows []store.BulkRow
			rows, err = s.Bulk.Rows(ctx, inv, j.ID, after, 500)
			if err != nil || len(rows) == 0 {
				break
			}
			for _, r := range rows {
				v := bulkRowView(r, j.State == store.BulkDraft)
				link := ""
				if what == "results" && !r.SendEmail && (r.State == store.RowInvited || r.State == store.RowResent) {
					link = s.Bulk.JoinURL(ctx, inv, r.InvitationID)
				}
				send := "email"
				if !r.SendEmail {
					send = "link"
				}
				rec := []string{strconv.Itoa(r.N), strconv.Itoa(r.Line), r.Email, r.DisplayName, v.VerdictLabel, v.StateLabel, r.Reason, send, r.InvitationID, link}
				for i := range rec {
					rec[i] = CSVSafe(rec[i])
				}
				if err = w.Write(rec); err != nil {
					break
				}
			}
			after = rows[len(rows)-1].N
		}
		if err == nil {
			w.Flush()
			err = w.Error()
		}
		return s.exportFailed(c, err)
	}
}
