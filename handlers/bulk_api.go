package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"portico/bulk"
	"portico/store"
)

// graphInvitationJSON is one invitation of the API's JSON array, shaped as Graph's invitation.
type graphInvitationJSON struct {
	InvitedUserEmailAddress string `json:"invitedUserEmailAddress"`
	InvitedUserDisplayName  string `json:"invitedUserDisplayName"`
	InviteRedirectURL       string `json:"inviteRedirectUrl"`
	InvitedUserType         string `json:"invitedUserType"`
	SendInvitationMessage   *bool  `json:"sendInvitationMessage"`
	InvitedUserMessageInfo  *struct {
		CustomizedMessageBody string `json:"customizedMessageBody"`
		MessageLanguage       string `json:"messageLanguage"`
		CCRecipients          []struct {
			EmailAddress struct {
				Address string `json:"address"`
			} `json:"emailAddress"`
		} `json:"ccRecipients"`
	} `json:"invitedUserMessageInfo"`
}

// bulkJSON is a bulk job as the API shows it.
type bulkJSON struct {
	ID              string         `json:"id"`
	URL             string         `json:"url"`
	Page            string         `json:"page"`
	State           string         `json:"state"`
	Source          string         `json:"source"`
	Owner           string         `json:"owner"`
	Note            string         `json:"note,omitempty"`
	Total           int            `json:"total"`
	Done            int            `json:"done"`
	Counts          map[string]int `json:"counts"`
	RatePerSecond   float64        `json:"ratePerSecond,omitempty"`
	TimeLeftSeconds int            `json:"timeLeftSeconds,omitempty"`
	CreatedAt       time.Time      `json:"createdDateTime"`
	FinishedAt      *time.Time     `json:"finishedDateTime,omitempty"`
	Rows            []bulkRowJSON  `json:"rows"`
	NextRows        string         `json:"nextRows,omitempty"`
}

type bulkRowJSON struct {
	Row          int    `json:"row"`
	Line         int    `json:"line"`
	Email        string `json:"email"`
	DisplayName  string `json:"displayName,omitempty"`
	Verdict      string `json:"verdict"`
	State        string `json:"state"`
	Reason       string `json:"reason,omitempty"`
	SendEmail    bool   `json:"sendInvitationMessage"`
	InvitationID string `json:"invitationId,omitempty"`
}

const bulkAPIRows = 1000

// apiBulkCreate takes a CSV body (text/csv or text/plain, the same files as the page) or a JSON
// array of Graph-shaped invitations, runs the dry run and, unless ?dryRun=true, confirms it:
// 202 with the job's URL in Location and the body.
func (s *Server) apiBulkCreate(c echo.Context) error {
	ctx := c.Request().Context()
	inv := s.inviter(c)
	q := c.QueryParams()
	d := bulk.Defaults{Message: q.Get("message"), RedirectURL: q.Get("inviteRedirectUrl"), Language: q.Get("messageLanguage"), Delivery: bulk.DeliveryEmail}
	if q.Get("sendInvitationMessage") == "false" {
		d.Delivery = bulk.DeliveryLink
	}
	if d.RedirectURL == "" {
		d.RedirectURL = s.Invites.Policy().DefaultRedirectURL
	}
	ct := strings.ToLower(c.Request().Header.Get(echo.HeaderContentType))
	var j *store.BulkJob
	var err error
	switch {
	case strings.HasPrefix(ct, echo.MIMEApplicationJSON):
		var rows []bulk.Row
		rows, err = s.readBulkJSON(c.Request().Body, d)
		if err == nil {
			j, err = s.Bulk.PrepareRows(ctx, s.graphTokens(c), inv, rows, "json", bulk.Source{Name: "api", Defaults: d, Claims: bulkClaims(c)}, meta(c))
		}
	case strings.HasPrefix(ct, "text/csv"), strings.HasPrefix(ct, "text/plain"):
		j, err = s.Bulk.Prepare(ctx, s.graphTokens(c), inv, c.Request().Body, bulk.Source{Name: "api", Defaults: d, Claims: bulkClaims(c)}, meta(c))
	default:
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Send a CSV file (Content-Type: text/csv) or a JSON array of invitations (Content-Type: application/json).")
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return s.tooLarge()
		}
		return err
	}
	if q.Get("dryRun") != "true" {
		if err := s.Bulk.Confirm(ctx, inv, j.ID, meta(c)); err != nil {
			return err
		}
		if j, err = s.Bulk.Job(ctx, inv, j.ID); err != nil {
			return err
		}
	}
	out, err := s.bulkJSONOf(c, j, 0)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, out.URL)
	return c.JSON(http.StatusAccepted, out)
}

// readBulkJSON reads a JSON array of invitations one element at a time, up to the row limit.
func (s *Server) readBulkJSON(r io.Reader, d bulk.Defaults) ([]bulk.Row, error) {
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, &badJSONError{msg: "The body must be a JSON array of invitations, such as [{\"invitedUserEmailAddress\": \"ann@fabrikam.example\"}]."}
	}
	var rows []bulk.Row
	for dec.More() {
		var g graphInvitationJSON
		if err := dec.Decode(&g); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, &badJSONError{msg: fmt.Sprintf("Invitation %d of the array cannot be read: %v.", len(rows)+1, err)}
		}
		if len(rows) >= s.Bulk.MaxRows() {
			return nil, &bulk.FileError{Problem: fmt.Sprintf("the array has more than %d invitations, the most one bulk invitation takes (PORTICO_BULK_MAX_ROWS): split it", s.Bulk.MaxRows())}
		}
		row := bulk.Row{Email: strings.TrimSpace(g.InvitedUserEmailAddress), DisplayName: g.InvitedUserDisplayName,
			RedirectURL: g.InviteRedirectURL, UserType: g.InvitedUserType}
		if g.SendInvitationMessage != nil {
			row.Delivery = bulk.DeliveryLink
			if *g.SendInvitationMessage {
				row.Delivery = bulk.DeliveryEmail
			}
		}
		if mi := g.InvitedUserMessageInfo; mi != nil {
			row.Message, row.Language = mi.CustomizedMessageBody, mi.MessageLanguage
			switch len(mi.CCRecipients) {
			case 0:
			case 1:
				row.CC = mi.CCRecipients[0].EmailAddress.Address
			default:
				row.Problem = "Graph honours only one ccRecipient"
			}
		}
		rows = append(rows, row)
	}
	if _, err := dec.Token(); err != nil {
		return nil, &badJSONError{msg: "The JSON array is not closed."}
	}
	return rows, nil
}

// apiBulkShow is a job's progress and rows as JSON; ?after=N pages through the rows.
func (s *Server) apiBulkShow(c echo.Context) error {
	inv := s.inviter(c)
	j, err := s.Bulk.Job(c.Request().Context(), inv, c.Param("id"))
	if err != nil {
		return err
	}
	after, err := strconv.Atoi(orString(c.QueryParam("after"), "0"))
	if err != nil || after < 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "after must be a row number.")
	}
	out, err := s.bulkJSONOf(c, j, after)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func orString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (s *Server) bulkJSONOf(c echo.Context, j *store.BulkJob, after int) (*bulkJSON, error) {
	ctx := c.Request().Context()
	prog, err := s.Bulk.Progress(ctx, j)
	if err != nil {
		return nil, err
	}
	rows, err := s.Bulk.Rows(ctx, s.inviter(c), j.ID, after, bulkAPIRows+1)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(s.Config.PublicURL.String(), "/")
	out := &bulkJSON{ID: j.ID, URL: base + "/api/bulk/" + j.ID, Page: base + "/bulk/" + j.ID, State: j.State, Source: j.Source,
		Owner: orDash(j.OwnerUPN, j.OwnerName), Note: j.Note, Total: prog.Total, Done: prog.Done, Counts: prog.Counts,
		RatePerSecond: prog.Rate, TimeLeftSeconds: int(prog.TimeLeft.Seconds()), CreatedAt: j.CreatedAt, FinishedAt: j.FinishedAt,
		Rows: []bulkRowJSON{}}
	if len(rows) > bulkAPIRows {
		rows = rows[:bulkAPIRows]
		out.NextRows = out.URL + "?after=" + strconv.Itoa(rows[len(rows)-1].N)
	}
	for _, r := range rows {
		out.Rows = append(out.Rows, bulkRowJSON{Row: r.N, Line: r.Line, Email: r.Email, DisplayName: r.DisplayName, Verdict: r.Verdict,
			State: r.State, Reason: r.Reason, SendEmail: r.SendEmail, InvitationID: r.InvitationID})
	}
	return out, nil
}
