package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"portico/invite"
	"portico/store"
	"portico/views"
)

// Reviews is what the handlers need of sponsor reviews (invite.Reviews satisfies it).
type Reviews interface {
	Policy() invite.ReviewPolicy
	Inbox(ctx context.Context, reviewerOID string) ([]invite.ReviewItem, error)
	Decide(ctx context.Context, by invite.Person, id string, keep bool, reason string) (*store.GuestReview, error)
	DueFor(ctx context.Context, reviewerOID string) (int, error)
	// For /admin/guests: how many guests are due, and each guest's latest round.
	DueCount(ctx context.Context) (int, error)
	Overview(ctx context.Context, limit int) ([]invite.ReviewItem, error)
}

var _ Reviews = (*invite.Reviews)(nil)

func (s *Server) reviewsOn() bool { return s.Reviews != nil && s.Reviews.Policy().Enabled() }

// reviewerHeader shows the header's Reviews link, with a count, to whoever has guests due for review.
func (s *Server) reviewerHeader(c echo.Context, u *views.User, inv invite.Inviter) {
	if !s.reviewsOn() {
		return
	}
	n, err := s.Reviews.DueFor(c.Request().Context(), inv.ObjectID)
	if err != nil {
		s.Logger.Warn("reviews count not shown", "request_id", requestID(c), "err", err)
	}
	u.DueReviews = n
}

// listReviews is /reviews: the viewer's guests due for review.
func (s *Server) listReviews(c echo.Context) error {
	return s.renderReviews(c, http.StatusOK, "", "", "")
}

func (s *Server) renderReviews(c echo.Context, status int, failedID, fieldErr, typed string) error {
	if !s.reviewsOn() {
		return errNotFound
	}
	inv := s.inviter(c)
	items, err := s.Reviews.Inbox(c.Request().Context(), inv.ObjectID)
	if err != nil {
		return err
	}
	p, err := s.flashPage(c, "Guest reviews")
	if err != nil {
		return err
	}
	p.Nav = "reviews"
	pol := s.Reviews.Policy()
	m := views.ReviewInbox{Page: p, Every: daysText(pol.Every)}
	switch pol.Action {
	case invite.ReviewActionDisable:
		m.Consequence = "disabled (it can be enabled again by an administrator)"
	case invite.ReviewActionDelete:
		m.Consequence = "deleted (an administrator can restore it within 30 days)"
	default:
		m.Consequence = "reported to the administrators; nothing is changed automatically"
	}
	if pol.Degraded != "" {
		m.Degraded = "The policy says " + pol.Configured + ", but " + pol.Degraded + "; guests are reported instead."
	}
	for _, it := range items {
		row := views.ReviewRow{ID: it.ID, Partner: it.Partner, Email: it.Email, Inviter: it.Inviter, Reviewers: strings.Join(it.Reviewers, ", "),
			Round: it.Round, Due: it.DueAt, AnswerBy: it.GraceUntil, Invited: it.InvitedAt, Accepted: it.AcceptedAt,
			LastJoinOpen: it.LastJoinOpen, LastSignIn: it.LastSignIn, SignInKnown: it.SignInKnown}
		if it.ID == failedID {
			row.Error, row.Reason = fieldErr, typed
		}
		m.Rows = append(m.Rows, row)
	}
	return render(c, status, views.ReviewsPage(m))
}

// keepGuest and removeGuest record a reviewer's decision.
func (s *Server) keepGuest(c echo.Context) error   { return s.decideReview(c, true) }
func (s *Server) removeGuest(c echo.Context) error { return s.decideReview(c, false) }

func (s *Server) decideReview(c echo.Context, keep bool) error {
	if !s.reviewsOn() {
		return errNotFound
	}
	inv := s.inviter(c)
	id, reason := c.Param("id"), c.FormValue("reason")
	rv, err := s.Reviews.Decide(c.Request().Context(), invite.Person{ObjectID: inv.ObjectID, UPN: inv.UPN, Name: inv.Name, Email: inv.Email}, id, keep, reason)
	switch {
	case errors.Is(err, invite.ErrReasonRequired), errors.Is(err, invite.ErrReasonTooLong):
		msg := "Say why this guest should be removed."
		if errors.Is(err, invite.ErrReasonTooLong) {
			msg = "Keep the reason under 500 characters."
		}
		if wantsJSON(c) {
			return echo.NewHTTPError(http.StatusBadRequest, msg)
		}
		return s.renderReviews(c, http.StatusBadRequest, id, msg, reason)
	case err != nil:
		return err
	}
	if wantsJSON(c) {
		return c.JSON(http.StatusOK, map[string]any{"id": rv.ID, "state": rv.State, "decision": rv.Decision, "action": rv.Action})
	}
	msg := "Kept. The next review is in " + daysText(s.Reviews.Policy().Every) + "."
	if !keep {
		msg = "Removal recorded: the guest will be " + map[string]string{invite.ReviewActionDisable: "disabled", invite.ReviewActionDelete: "deleted"}[rv.Action] + " shortly."
		if rv.Action == invite.ReviewActionReport {
			msg = "Removal recorded and reported to the administrators; nothing is changed automatically."
		}
	}
	return s.flashRedirect(c, "/reviews", msg)
}

// daysText says a duration in days ("180 days").
func daysText(d time.Duration) string {
	return strconv.FormatFloat(d.Hours()/24, 'f', -1, 64) + " days"
}

// Words for the review states on /admin/guests.
var reviewStateLabels = map[string]string{
	store.ReviewScheduled: "Scheduled",
	store.ReviewOpen:      "Due for review",
	store.ReviewKept:      "Kept",
	store.ReviewRemoving:  "Being removed",
	store.ReviewRemoved:   "Removed by review",
	store.ReviewReported:  "Removal reported",
	store.ReviewFailed:    "Removal failed",
}

var decisionLabels = map[string]string{store.DecisionKeep: "keep", store.DecisionRemove: "remove", store.DecisionNoAnswer: "no answer"}

// addReviews fills /admin/guests' review count, policy lines and section (when reviews are on).
func (s *Server) addReviews(ctx context.Context, m *views.Guests) error {
	m.Policy = append(m.Policy, s.reviewPolicyLines()...)
	if !s.reviewsOn() {
		return nil
	}
	n, err := s.Reviews.DueCount(ctx)
	if err != nil {
		return err
	}
	m.Counts.DueForReview = n
	items, err := s.Reviews.Overview(ctx, 500)
	if err != nil {
		return err
	}
	m.Reviews = &views.GuestReviews{}
	for _, it := range items {
		m.Reviews.Rows = append(m.Reviews.Rows, views.GuestReviewRow{InvitationID: it.InvitationID, Partner: it.Partner, Email: it.Email,
			Reviewers: strings.Join(it.Reviewers, ", "), Round: it.Round, State: it.State, StateLabel: reviewStateLabels[it.State],
			Due: it.DueAt, AnswerBy: it.GraceUntil, Decision: decisionLabels[it.Decision], DecidedBy: it.DecidedBy, Reason: it.Reason,
			Action: it.Action, Note: it.Note})
	}
	return nil
}

// reviewPolicyLines are the review settings for /admin/guests' policy table.
func (s *Server) reviewPolicyLines() []views.PolicyLine {
	if !s.reviewsOn() {
		return []views.PolicyLine{{Name: "PORTICO_REVIEW_EVERY", Value: "off", Meaning: "how often sponsors confirm each guest"}}
	}
	p := s.Reviews.Policy()
	action := p.Action
	if p.Degraded != "" {
		action += " (configured " + p.Configured + "; " + p.Degraded + ")"
	}
	return []views.PolicyLine{
		{Name: "PORTICO_REVIEW_EVERY", Value: daysText(p.Every), Meaning: "how often the inviter and sponsors confirm each guest (/reviews)"},
		{Name: "PORTICO_REVIEW_GRACE", Value: daysText(p.Grace), Meaning: "how long a due review waits for an answer"},
		{Name: "PORTICO_REVIEW_ACTION", Value: action, Meaning: "what \"remove\" and no answer do: report, disable or delete"},
	}
}
