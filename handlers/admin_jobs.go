package handlers

import (
	"context"
	"errors"
	"net/http"
	"portico/invite"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"portico/views"
)

// Jobs is the background job queue as the admin page sees it (app adapts jobs.Runner).
type Jobs interface {
	// List returns up to limit jobs, newest first, with ids below before (0: from the newest), and
	// the before of the next page (0: none).
	List(ctx context.Context, before int64, limit int) ([]JobInfo, int64, error)
	Features() []JobFeature
	// Cancel cancels job id for the admin by, recording it in the audit trail.
	Cancel(ctx context.Context, id int64, by invite.Inviter, meta invite.Meta) error
}

// JobInfo is one job.
type JobInfo struct {
	ID          int64
	Kind        string
	State       string
	Attempt     int
	MaxAttempts int
	LastError   string
	ScheduledAt time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
	Cancellable bool // the job queue's decision: not finished yet
}

// JobFeature is one background feature and whether it runs (Reason says why not).
type JobFeature struct {
	Name   string
	On     bool
	Reason string
}

// ErrJobNotFound is what Jobs.Cancel returns for an unknown job.
var ErrJobNotFound = errors.New("no such job")

const jobsPageSize = 50

// jobKinds are the labels of the job kinds Portico runs.
var jobKinds = map[string]string{
	"state_sync":       "Partner state sync",
	"state_refresh":    "Partner state refresh (landing)",
	"bulk_send":        "Bulk invitation sending",
	"webhook_dispatch": "Webhook events fanned out",
	"webhook_deliver":  "Webhook delivery",
	"guest_lifecycle":  "Guest lifecycle (reminders, expiry)",
}

// jobsPage lists the background jobs, newest first, a keyset page at a time.
func (s *Server) jobsPage(c echo.Context) error {
	p := s.page(c, "Background jobs")
	p.Nav = "jobs"
	m := views.Jobs{Page: p}
	if s.Jobs == nil {
		m.Features = []views.JobFeature{{Name: "Background jobs", Reason: "off: the job queue is not running"}}
		return render(c, http.StatusOK, views.JobsPage(m))
	}
	var before int64
	if v := c.QueryParam("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "This page link is damaged: go back to the newest jobs.")
		}
		before = n
		m.NewestURL = "/admin/jobs"
	}
	list, next, err := s.Jobs.List(c.Request().Context(), before, jobsPageSize)
	if err != nil {
		return err
	}
	for _, f := range s.Jobs.Features() {
		m.Features = append(m.Features, views.JobFeature{Name: f.Name, On: f.On, Reason: f.Reason})
	}
	for _, j := range list {
		kind := jobKinds[j.Kind]
		if kind == "" {
			kind = j.Kind
		}
		m.Jobs = append(m.Jobs, views.Job{
			ID: j.ID, Kind: kind, KindKey: j.Kind, State: j.State, Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
			LastError: j.LastError, ScheduledAt: j.ScheduledAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
			Cancellable: j.Cancellable,
		})
	}
	if next > 0 {
		m.OlderURL = "/admin/jobs?before=" + strconv.FormatInt(next, 10)
	}
	return render(c, http.StatusOK, views.JobsPage(m))
}

// cancelJob cancels one job: not yet running, it never runs; running, its context is cancelled.
func (s *Server) cancelJob(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 || s.Jobs == nil {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such job.")
	}
	if err := s.Jobs.Cancel(c.Request().Context(), id, s.inviter(c), meta(c)); err != nil {
		if errors.Is(err, ErrJobNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, "There is no such job.")
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/jobs")
}
