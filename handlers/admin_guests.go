package handlers

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"portico/invite"
	"portico/views"
)

// GuestLifecycle is the guest lifecycle as /admin/guests uses it (app adapts invite.Lifecycle and
// the job queue). Every method that changes something checks that admin is an administrator.
type GuestLifecycle interface {
	Guests(ctx context.Context) ([]invite.GuestLife, error)
	Guest(ctx context.Context, invitationID string) (*invite.GuestLife, error)
	Activities(ctx context.Context, gs []invite.GuestLife) map[string]invite.Activity
	Sponsors(ctx context.Context, invitationIDs []string) map[string]string // one batched read per page
	Policy() invite.LifecyclePolicy
	ExpiryEffect() (effect, why string)
	SignInActivity() bool
	CanResetRedemption() (bool, string)
	Run(ctx context.Context, meta invite.Meta, dryRun bool) (*invite.RunResult, error)
	RunNow(ctx context.Context, admin invite.Inviter, meta invite.Meta) error
	SetExempt(ctx context.Context, admin invite.Inviter, meta invite.Meta, invitationID string, exempt bool, note string) error
	ActNow(ctx context.Context, admin invite.Inviter, meta invite.Meta, invitationID string) (string, error)
	Restore(ctx context.Context, admin invite.Inviter, meta invite.Meta, invitationID string) error
	ResetRedemption(ctx context.Context, admin invite.Inviter, meta invite.Meta, invitationID, email string) error
}

var guestStateLabels = map[string]string{
	invite.GuestPending:  "Pending",
	invite.GuestReminded: "Reminded",
	invite.GuestExpiring: "Expiring soon",
	invite.GuestExpired:  "Expired (reported)",
	invite.GuestDisabled: "Disabled",
	invite.GuestDeleted:  "Deleted",
	invite.GuestExempt:   "Exempt",
	invite.GuestAccepted: "Accepted",
}

var guestStates = []string{invite.GuestPending, invite.GuestReminded, invite.GuestExpiring, invite.GuestExpired,
	invite.GuestDisabled, invite.GuestDeleted, invite.GuestExempt}

var plannedLabels = map[string]string{
	invite.LifecycleRemind: "Reminder",
	invite.LifecycleWarn:   "Warn the inviter",
	invite.LifecycleReport: "Report as expired",
}

func plannedLabel(p *invite.Planned) string {
	switch p.Action {
	case invite.LifecycleRemind:
		return "Reminder " + itoa(p.Step)
	case invite.LifecycleExpire:
		return strings.ToUpper(p.Effect[:1]) + p.Effect[1:]
	}
	return plannedLabels[p.Action]
}

func itoa(n int) string { return strconv.Itoa(n) }

func formatInt(n int) string { return strconv.Itoa(n) }

// guestFilter reads the table's filter; an unknown state is a 400.
func guestFilter(c echo.Context) (views.GuestFilter, error) {
	f := views.GuestFilter{State: c.QueryParam("state"), Inviter: strings.TrimSpace(c.QueryParam("inviter"))}
	if f.State != "" && guestStateLabels[f.State] == "" {
		return f, echo.NewHTTPError(http.StatusBadRequest, "Unknown state: choose one of the list.")
	}
	if len(f.Inviter) > 200 {
		return f, echo.NewHTTPError(http.StatusBadRequest, "The inviter filter is too long (200 characters at most).")
	}
	return f, nil
}

func (s *Server) lifecycleOff(c echo.Context) error {
	return echo.NewHTTPError(http.StatusNotFound, "The guest lifecycle is off: set PORTICO_REMIND_AFTER or PORTICO_PENDING_EXPIRY.")
}

// guestRows are the filtered guests with their activity.
func (s *Server) guestRows(c echo.Context, f views.GuestFilter) ([]views.GuestRow, []invite.GuestLife, error) {
	ctx := c.Request().Context()
	all, err := s.Lifecycle.Guests(ctx)
	if err != nil {
		return nil, nil, err
	}
	var gs []invite.GuestLife
	for _, g := range all {
		if f.State != "" && g.State != f.State && !(f.State == invite.GuestPending && (g.State == invite.GuestReminded || g.State == invite.GuestExpiring)) {
			continue
		}
		if f.Inviter != "" && !strings.Contains(strings.ToLower(g.Invitation.InviterUPN+" "+g.Invitation.InviterName), strings.ToLower(f.Inviter)) {
			continue
		}
		gs = append(gs, g)
	}
	acts := s.Lifecycle.Activities(ctx, gs)
	ids := make([]string, len(gs))
	for i, g := range gs {
		ids[i] = g.Invitation.ID
	}
	sponsors := s.Lifecycle.Sponsors(ctx, ids)
	rows := make([]views.GuestRow, 0, len(gs))
	for _, g := range gs {
		rows = append(rows, guestRow(g, acts[g.Invitation.ID], sponsors[g.Invitation.ID], s.Lifecycle.Policy()))
	}
	return rows, all, nil
}

func guestRow(g invite.GuestLife, a invite.Activity, sponsors string, pol invite.LifecyclePolicy) views.GuestRow {
	inv := g.Invitation
	name := inv.DisplayName
	if name == "" {
		name = inv.Email
	}
	inviter := inv.InviterName
	if inviter == "" {
		inviter = inv.InviterUPN
	}
	r := views.GuestRow{ID: inv.ID, Name: name, Email: inv.Email, Inviter: inviter, Sponsors: sponsors,
		State: g.State, StateLabel: guestStateLabels[g.State], Reminders: g.Reminders,
		AcceptedAt: a.AcceptedAt, LastJoinOpen: a.LastJoinOpen, LastSignIn: a.LastSignIn,
		Exempt:     g.State == invite.GuestExempt || g.Flags != nil && g.Flags.Exempt,
		CanRestore: g.State == invite.GuestDisabled || g.State == invite.GuestDeleted,
		CanAct: g.State != invite.GuestDisabled && g.State != invite.GuestDeleted && g.State != invite.GuestAccepted &&
			pol.PendingExpiry > 0}
	if r.Sponsors == "" {
		r.Sponsors = "none recorded"
	}
	if g.Next != nil {
		r.Next = plannedLabel(g.Next)
		due := g.Next.Due
		r.NextDue = &due
	}
	return r
}

func (s *Server) policyLines() []views.PolicyLine {
	p := s.Lifecycle.Policy()
	var out []views.PolicyLine
	rem := "off"
	if len(p.RemindAfter) > 0 {
		parts := make([]string, len(p.RemindAfter))
		for i, d := range p.RemindAfter {
			parts[i] = invite.Days(d)
		}
		rem = strings.Join(parts, ",")
	}
	out = append(out, views.PolicyLine{Name: "PORTICO_REMIND_AFTER", Value: rem, Meaning: "ages of a pending invitation at which it is sent again"})
	exp := "off"
	if p.PendingExpiry > 0 {
		exp = invite.Days(p.PendingExpiry)
	}
	out = append(out, views.PolicyLine{Name: "PORTICO_PENDING_EXPIRY", Value: exp, Meaning: "age at which a never-accepted guest expires"})
	action := p.ExpiryAction
	if action == "" {
		action = invite.EffectReport
	}
	out = append(out, views.PolicyLine{Name: "PORTICO_PENDING_EXPIRY_ACTION", Value: action, Meaning: "what expiry does: report, disable or delete"})
	warn := "off"
	if p.WarnBefore > 0 {
		warn = invite.Days(p.WarnBefore)
	}
	out = append(out, views.PolicyLine{Name: "PORTICO_WARN_BEFORE", Value: warn, Meaning: "the inviter is told this long before a disable or delete"})
	return out
}

// guestsPage is the admin lifecycle page: counts, policy, the filterable table; dry-run adds
// what the next run would do.
func (s *Server) guestsPage(c echo.Context) error {
	if s.Lifecycle == nil {
		return s.lifecycleOff(c)
	}
	f, err := guestFilter(c)
	if err != nil {
		return err
	}
	p, err := s.flashPage(c, "Guests")
	if err != nil {
		return err
	}
	p.Nav = "guests"
	rows, all, err := s.guestRows(c, f)
	if err != nil {
		return err
	}
	n := invite.Count(all)
	m := views.Guests{Page: p, Rows: rows, Filter: f, Policy: s.policyLines(), SignIn: s.Lifecycle.SignInActivity(),
		Counts: views.GuestCounts{Pending: n.Pending, Reminded: n.Reminded, Expiring: n.Expiring, Expired: n.Expired,
			DueForReview: n.DueForReview, Disabled: n.Disabled, Deleted: n.Deleted, Exempt: n.Exempt},
		CSVURL: "/admin/guests.csv?" + c.QueryString(), CanRun: true}
	_, m.Degraded = s.Lifecycle.ExpiryEffect()
	if err := s.addReviews(c.Request().Context(), &m); err != nil {
		return err
	}
	if !m.SignIn {
		m.SignInNote = "Sign-in activity (signInActivity) is not shown: it needs the application permission AuditLog.Read.All and an Entra ID P1 licence. Last activity comes from Portico's own records."
	}
	for _, st := range guestStates {
		m.States = append(m.States, views.Option{Value: st, Label: guestStateLabels[st]})
	}
	if c.Path() == "/admin/guests/dry-run" {
		m.ShowDryRun = true
		res, err := s.Lifecycle.Run(c.Request().Context(), meta(c), true)
		if err != nil {
			return err
		}
		for _, pl := range res.Planned {
			name := pl.Invitation.DisplayName
			if name == "" {
				name = pl.Invitation.Email
			}
			m.DryRun = append(m.DryRun, views.DryRunItem{Guest: name, Email: pl.Invitation.Email, Action: plannedLabel(&pl),
				Policy: pl.Policy, Note: pl.Note})
		}
	}
	return render(c, http.StatusOK, views.GuestsPage(m))
}

var guestCSVHeader = []string{"invitation_id", "guest", "email", "inviter", "sponsors", "state", "reminders", "accepted_at",
	"last_join_open", "last_sign_in", "next_action", "next_due"}

// guestsCSV exports the filtered table, every cell formula-safe.
func (s *Server) guestsCSV(c echo.Context) error {
	if s.Lifecycle == nil {
		return s.lifecycleOff(c)
	}
	f, err := guestFilter(c)
	if err != nil {
		return err
	}
	rows, _, err := s.guestRows(c, f)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="portico-guests.csv"`)
	w := csv.NewWriter(c.Response())
	if err := w.Write(guestCSVHeader); err != nil {
		return err
	}
	t := func(v *time.Time) string {
		if v == nil {
			return ""
		}
		return v.UTC().Format(time.RFC3339)
	}
	for _, r := range rows {
		row := []string{r.ID, r.Name, r.Email, r.Inviter, r.Sponsors, r.State, formatInt(r.Reminders), t(r.AcceptedAt),
			t(r.LastJoinOpen), t(r.LastSignIn), r.Next, t(r.NextDue)}
		for i := range row {
			row[i] = CSVSafe(row[i])
		}
		if err := w.Write(row); err != nil {
			return s.exportFailed(c, err)
		}
	}
	w.Flush()
	return s.exportFailed(c, w.Error())
}

// guestPage is one guest's lifecycle page with the admin's actions.
func (s *Server) guestPage(c echo.Context) error {
	if s.Lifecycle == nil {
		return s.lifecycleOff(c)
	}
	ctx := c.Request().Context()
	g, err := s.Lifecycle.Guest(ctx, c.Param("id"))
	if errors.Is(err, invite.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such guest among those Portico invited.")
	} else if err != nil {
		return err
	}
	p, err := s.flashPage(c, "Guest")
	if err != nil {
		return err
	}
	p.Nav = "guests"
	acts := s.Lifecycle.Activities(ctx, []invite.GuestLife{*g})
	id := g.Invitation.ID
	m := views.GuestDetail{Page: p, Row: guestRow(*g, acts[id], s.Lifecycle.Sponsors(ctx, []string{id})[id], s.Lifecycle.Policy()),
		Email: g.Invitation.Email}
	m.ActNow, _ = s.Lifecycle.ExpiryEffect()
	m.CanReset, m.ResetNote = s.Lifecycle.CanResetRedemption()
	if !m.CanReset {
		m.ResetNote = "Not available: " + m.ResetNote
	}
	for _, e := range g.Log {
		m.Log = append(m.Log, views.GuestLogEntry{Time: e.UpdatedAt, Action: e.Action + " " + formatInt(e.Step), State: e.State,
			Policy: e.Policy, Detail: e.Detail + " " + e.LastError, Actor: e.Actor})
	}
	return render(c, http.StatusOK, views.GuestPage(m))
}

func (s *Server) guestAction(c echo.Context, fn func(ctx context.Context, admin invite.Inviter, id string) (string, error)) error {
	if s.Lifecycle == nil {
		return s.lifecycleOff(c)
	}
	id := c.Param("id")
	msg, err := fn(c.Request().Context(), s.inviter(c), id)
	if err != nil {
		return err
	}
	return s.flashRedirect(c, "/admin/guests/"+id, msg)
}

func (s *Server) guestExempt(c echo.Context) error {
	return s.guestAction(c, func(ctx context.Context, admin invite.Inviter, id string) (string, error) {
		on := c.FormValue("exempt")
		if on != "on" && on != "off" {
			return "", echo.NewHTTPError(http.StatusBadRequest, "Choose whether to exempt the guest.")
		}
		note := strings.TrimSpace(c.FormValue("note"))
		if len(note) > 300 {
			return "", echo.NewHTTPError(http.StatusBadRequest, "The reason is too long (300 characters at most).")
		}
		if err := s.Lifecycle.SetExempt(ctx, admin, meta(c), id, on == "on", note); err != nil {
			return "", err
		}
		if on == "on" {
			return "The guest is exempt from the lifecycle rules.", nil
		}
		return "The exemption was lifted.", nil
	})
}

func (s *Server) guestActNow(c echo.Context) error {
	return s.guestAction(c, func(ctx context.Context, admin invite.Inviter, id string) (string, error) {
		effect, err := s.Lifecycle.ActNow(ctx, admin, meta(c), id)
		if err != nil {
			return "", err
		}
		switch effect {
		case invite.EffectDisable:
			return "The guest was disabled.", nil
		case invite.EffectDelete:
			return "The guest was deleted (restorable for 30 days).", nil
		}
		return "The guest was reported as expired; nothing was changed.", nil
	})
}

func (s *Server) guestRestore(c echo.Context) error {
	return s.guestAction(c, func(ctx context.Context, admin invite.Inviter, id string) (string, error) {
		if err := s.Lifecycle.Restore(ctx, admin, meta(c), id); err != nil {
			return "", err
		}
		return "The guest was restored and is exempt from the rules.", nil
	})
}

func (s *Server) guestResetRedemption(c echo.Context) error {
	return s.guestAction(c, func(ctx context.Context, admin invite.Inviter, id string) (string, error) {
		if err := s.Lifecycle.ResetRedemption(ctx, admin, meta(c), id, strings.TrimSpace(c.FormValue("email"))); err != nil {
			return "", err
		}
		return "The guest was invited again with reset redemption.", nil
	})
}

// guestsRun queues a lifecycle run now (it also runs daily).
func (s *Server) guestsRun(c echo.Context) error {
	if s.Lifecycle == nil {
		return s.lifecycleOff(c)
	}
	if err := s.Lifecycle.RunNow(c.Request().Context(), s.inviter(c), meta(c)); err != nil {
		return err
	}
	return s.flashRedirect(c, "/admin/guests", "A lifecycle run was queued; reload in a moment to see what it did.")
}
