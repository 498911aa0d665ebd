package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"portico/auth"
	"portico/bulk"
	"portico/invite"
	"portico/views"
)

// statusClientClosed is logged for a request whose client went away before the answer (nginx's 499).
const statusClientClosed = 499

// apiError is Portico's JSON error body, shaped like Graph's envelope so API clients handle both alike.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	Details    map[string]string `json:"details,omitempty"`
	InnerError map[string]string `json:"innerError,omitempty"`
}

// problem is how one error is answered: a status, words for people, and what Graph said.
type problem struct {
	Status         int
	Code           string // Graph-style code for the JSON envelope
	Kind           string // alert kind on the invitation form: error or warning
	Title, Text    string
	Fields         invite.FieldErrors
	GraphRequestID string
	RetryAfter     time.Duration
	Form           bool // the error is about the invitation the user is writing: answer on the form
}

// badJSONError explains a request body that cannot be used.
type badJSONError struct{ msg string }

func (e *badJSONError) Error() string { return e.msg }

// signInProviderError is an error the identity provider ended a (state-matched) sign-in with.
type signInProviderError struct{ code string }

func (e *signInProviderError) Error() string { return "handlers: identity provider answered " + e.code }

// errTooManyRefusals is the answer once a user's refused actions on invitations exceed the limit.
var errTooManyRefusals = echo.NewHTTPError(http.StatusTooManyRequests,
	"Portico refused several of your requests in a row and is pausing them. Wait a minute, then open the invitation from My invitations.")

var errNotFound = echo.NewHTTPError(http.StatusNotFound)

// problemOf is the one mapping from domain, sign-in and HTTP errors to answers. Unknown errors are
// internal failures: 500 with a generic text, never err.Error().
func problemOf(err error) problem {
	var (
		he  *echo.HTTPError
		ve  *invite.ValidationError
		re  *invite.RefusedError
		ge  *invite.GraphError
		bad *badJSONError
		sp  *signInProviderError
		qe  *invite.QuotaError
		ni  *invite.NotInviterError
		le  *invite.LifecycleError
		fe  *bulk.FileError
	)
	p := problem{Status: http.StatusInternalServerError, Kind: "error"}
	switch {
	case errors.As(err, &ve):
		p = problem{Status: http.StatusBadRequest, Kind: "error", Title: "Check the highlighted fields", Fields: ve.Fields, Form: true}
	case errors.As(err, &bad):
		p = problem{Status: http.StatusBadRequest, Kind: "error", Title: "The request could not be read", Text: bad.msg, Form: true}
	case errors.As(err, &ni):
		p = problem{Status: http.StatusForbidden, Kind: "error", Title: "You can't invite partners here", Text: ni.Reason}
	case errors.Is(err, invite.ErrSelfApproval):
		p = problem{Status: http.StatusForbidden, Title: "You can't decide your own request",
			Text: "You asked for this invitation, so someone else must approve or deny it."}
	case errors.Is(err, invite.ErrNotApprover):
		p = problem{Status: http.StatusForbidden, Title: "Not allowed", Text: "You are not among those who can decide this request."}
	case errors.Is(err, invite.ErrApprovalClosed):
		p = problem{Status: http.StatusConflict, Title: "Already decided",
			Text: "This request is no longer waiting: it was decided, cancelled or expired, or another approver is sending it right now."}
	case errors.Is(err, invite.ErrNotReviewer):
		p = problem{Status: http.StatusForbidden, Title: "Not your guest to review",
			Text: "Only the people who invited or sponsor this guest review them."}
	case errors.Is(err, invite.ErrReviewClosed):
		p = problem{Status: http.StatusConflict, Title: "Already decided",
			Text: "This review was decided already, by another sponsor or in another tab."}
	case errors.Is(err, invite.ErrMemberNotAllowed):
		p = problem{Status: http.StatusForbidden, Kind: "error", Title: "Only admins can invite members",
			Text: "Invite this partner as a guest, or ask an admin to invite them as a member.", Form: true}
	case errors.As(err, &re):
		p = problem{Status: http.StatusConflict, Kind: "warning", Title: "Not sent", Text: re.Message(), Form: true}
		if re.Preflight.Verdict == invite.VerdictOwnDomain || re.Preflight.Verdict == invite.VerdictPolicyBlocked {
			p.Status = http.StatusUnprocessableEntity
		}
		if re.ResendOffered {
			p.Title = "Already invited"
		}
	case errors.As(err, &qe):
		p = problem{Status: http.StatusTooManyRequests, Kind: "warning", Title: "Invitation limit reached",
			Text: quotaText(qe.Decision), RetryAfter: qe.Decision.RetryAfter, Form: true}
	case errors.As(err, &ge):
		p = problem{Status: graphStatus(ge), Code: ge.Code, Kind: "error", Title: "Microsoft Graph did not send the invitation",
			Text: ge.Message, GraphRequestID: ge.RequestID, Form: true}
		if ge.Throttled() {
			p.RetryAfter = ge.RetryAfter
		}
		if ge.Blocked {
			p.Title, p.Code = "Invitations are blocked for your organization", "InvitationsBlocked"
		}
	case errors.As(err, &le):
		p = problem{Status: http.StatusConflict, Kind: "warning", Title: "Not done", Text: le.Reason}
	case errors.Is(err, invite.ErrBusy):
		p = problem{Status: http.StatusConflict, Kind: "warning", Title: "Already being sent",
			Text: "An invitation to this partner is being sent right now. Look at My invitations in a minute.", Form: true}
	case errors.Is(err, invite.ErrNotFound), errors.Is(err, bulk.ErrNotFound):
		p.Status = http.StatusNotFound
	case errors.As(err, &fe):
		p = problem{Status: http.StatusUnprocessableEntity, Kind: "error", Title: "This file cannot be used", Text: fileProblem(fe)}
	case errors.Is(err, bulk.ErrState):
		p = problem{Status: http.StatusConflict, Title: "Already done", Text: "This bulk invitation was already confirmed, cancelled or finished. Reload the page to see where it is."}
	case errors.Is(err, bulk.ErrSendingOff):
		p = problem{Status: http.StatusServiceUnavailable, Title: "Sending is off",
			Text: "Portico has no background identity, so it cannot send bulk invitations. An administrator turns it on with application credentials and PORTICO_BACKGROUND=on."}
	case errors.Is(err, invite.ErrBadCursor):
		p = problem{Status: http.StatusBadRequest, Text: "This page link is damaged: go back to the newest invitations."}
	case errors.Is(err, invite.ErrForbidden):
		p = problem{Status: http.StatusForbidden, Title: "Not allowed", Text: "Only admins can see everyone's invitations."}
	case errors.Is(err, invite.ErrNotPending):
		p = problem{Status: http.StatusConflict, Text: "Only pending invitations can be sent again."}
	case errors.Is(err, invite.ErrNoRedeemURL):
		p = problem{Status: http.StatusConflict, Text: "Portico no longer holds a usable redemption link for this invitation. Use Send again to get a new one."}
	case errors.Is(err, invite.ErrJoinGone):
		p.Status = http.StatusNotFound
	case errors.Is(err, auth.ErrBadState):
		p = problem{Status: http.StatusForbidden, Title: "Sign-in link expired",
			Text: "This sign-in attempt has expired or was already used. Start again from the sign-in button."}
	case errors.As(err, &sp):
		// Named only because it looks like an OAuth error code (see oauthCode): a forged link
		// cannot put words on a Portico page.
		p = problem{Status: http.StatusForbidden, Title: "Sign-in did not complete",
			Text: "The identity provider ended the sign-in (" + sp.code + "). Try again, or ask your IT team if it keeps happening."}
	case errors.Is(err, auth.ErrWrongTenant):
		p = problem{Status: http.StatusForbidden, Title: "Account not accepted",
			Text: "This account belongs to another organization. Sign in with your work account."}
	case errors.Is(err, auth.ErrTokenInvalid):
		p = problem{Status: http.StatusForbidden, Title: "Sign-in refused",
			Text: "Portico could not verify the sign-in. Start again from the sign-in button."}
	case errors.Is(err, auth.ErrBearerInvalid):
		p = problem{Status: http.StatusUnauthorized, Title: "Access token refused", Text: bearerReason(err)}
	case errors.Is(err, auth.ErrBearerForbidden):
		p = problem{Status: http.StatusForbidden, Title: "Not allowed", Text: bearerReason(err)}
	case errors.Is(err, auth.ErrNotReady):
		p = problem{Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable",
			Text: "Sign-in is unavailable: Portico cannot reach the identity provider. Try again in a minute."}
	case errors.As(err, &he):
		p.Status = he.Code
		if m, ok := he.Message.(string); ok {
			p.Text = m
		}
	}
	if p.Code == "" {
		p.Code = codeFor(p.Status)
	}
	title, text := statusText(p.Status, p.Text)
	if p.Status >= 500 && ge == nil {
		p.Title, p.Text = title, text // an internal failure's own words are never shown
	}
	if p.Title == "" {
		p.Title = title
	}
	if p.Text == "" && !p.Form {
		p.Text = text
	}
	return p
}

// quotaText says which limit was reached and when the next invitation is possible.
func quotaText(d invite.QuotaDecision) string {
	w := quotaWindow(d)
	per := "hour"
	if w.Length >= 24*time.Hour {
		per = "day"
	}
	if w.Limit == 0 || w.ResetAt.IsZero() {
		return "You have sent as many invitations as Portico allows for now. Try again later."
	}
	// The same date format as the pages' (views' human).
	return fmt.Sprintf("You have sent the %d invitations Portico allows per %s. You can send the next one after %s.",
		w.Limit, per, w.ResetAt.UTC().Format("2 Jan 2006, 15:04 UTC"))
}

// quotaWindow is the window to tell the inviter about: when the quota is used up, the used-up
// window that frees a place last; otherwise the one with the fewest places left.
func quotaWindow(d invite.QuotaDecision) invite.QuotaWindow {
	w := d.Hour
	if d.Day.Limit > 0 && d.Day.Remaining == 0 && (w.Limit == 0 || w.Remaining > 0 || d.Day.ResetAt.After(w.ResetAt)) {
		w = d.Day
	}
	if w.Limit > 0 && w.Remaining == 0 {
		return w
	}
	return d.Tightest()
}

// quotaVM is the form's quota line (nil when no quota is configured).
func quotaVM(d invite.QuotaDecision) *views.Quota {
	if !d.Limited {
		return nil
	}
	w := quotaWindow(d)
	return &views.Quota{Limit: w.Limit, Remaining: w.Remaining, Day: w.Length >= 24*time.Hour, ResetAt: w.ResetAt}
}

// handleError is echo's error handler and the one place errors become responses: 5xx are logged
// at error and shown generically; 4xx carry their own safe message.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if c.Request().Context().Err() != nil {
		// The client went away (closed the tab, cancelled): nobody reads an answer, and it is not
		// Portico's failure.
		s.Logger.Info("client gone", "request_id", requestID(c), "path", logPath(c), "err", err)
		c.Response().WriteHeader(statusClientClosed)
		return
	}
	if errors.Is(err, auth.ErrReauthRequired) {
		s.reauth(c)
		return
	}
	p := problemOf(err)
	var he *echo.HTTPError
	switch {
	case p.Status >= 500:
		s.Logger.Error("request failed", "request_id", requestID(c), "path", logPath(c), "err", err)
	case !errors.As(err, &he):
		s.Logger.Warn("request refused", "request_id", requestID(c), "path", logPath(c), "status", p.Status, "err", err)
	}
	setRetryAfter(c, p.RetryAfter)
	if wantsJSON(c) {
		s.jsonProblem(c, p)
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	if errors.Is(err, invite.ErrJoinGone) {
		err = s.joinGone(c)
	} else {
		err = s.errorPage(c, p)
	}
	if err != nil {
		s.Logger.Error("render error page", "request_id", requestID(c), "err", err)
		_ = c.String(p.Status, p.Title)
	}
}

// setRetryAfter sets Retry-After in whole seconds, rounded up, when d > 0.
func setRetryAfter(c echo.Context, d time.Duration) {
	if d > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
}

// jsonProblem answers in Graph's error envelope.
func (s *Server) jsonProblem(c echo.Context, p problem) {
	body := apiErrorBody{Code: p.Code, Message: p.Title, Details: jsonFields(p.Fields), InnerError: map[string]string{"request-id": requestID(c)}}
	if p.Text != "" && p.Text != p.Title {
		body.Message = p.Title + ": " + p.Text
	}
	if p.GraphRequestID != "" {
		body.InnerError["graph-request-id"] = p.GraphRequestID
	}
	if err := c.JSON(p.Status, apiError{Error: body}); err != nil {
		s.Logger.Warn("write error answer", "request_id", requestID(c), "err", err)
	}
}

// reauth ends a session whose tokens can no longer be refreshed and asks the user to sign in again.
func (s *Server) reauth(c echo.Context) {
	if sess := sessionOf(c); sess != nil {
		_ = sess.Destroy(c.Request(), c.Response())
		sess.Data.Flash = "Your sign-in expired. Sign in again to continue."
		_ = sess.Save(c.Request(), c.Response())
	}
	if wantsJSON(c) {
		_ = c.JSON(http.StatusUnauthorized, apiError{Error: apiErrorBody{Code: "InvalidAuthenticationToken", Message: "Your sign-in expired. Sign in again.", InnerError: map[string]string{"request-id": requestID(c)}}})
		return
	}
	ret := "/"
	if c.Request().Method == http.MethodGet {
		ret = c.Request().URL.RequestURI()
	}
	_ = c.Redirect(http.StatusFound, "/login?return="+url.QueryEscape(auth.SafeReturnPath(ret)))
}

func statusText(status int, msg string) (string, string) {
	title, text := http.StatusText(status), msg
	switch status {
	case http.StatusNotFound:
		title = "Page not found"
		if text == "" || text == http.StatusText(status) {
			text = "There is nothing at this address. Check the link, or go back to the start page."
		}
	case http.StatusForbidden:
		title = "Not allowed"
		if text == "" || text == http.StatusText(status) {
			text = "You don't have permission to do that."
		}
	case http.StatusUnauthorized:
		title = "Sign in required"
		if text == "" || text == http.StatusText(status) {
			text = "Sign in to continue."
		}
	case http.StatusRequestEntityTooLarge:
		title = "Too much data"
		text = "What you sent is larger than Portico accepts."
	case http.StatusTooManyRequests:
		title = "Slow down"
		if text == "" || text == http.StatusText(status) {
			text = "Too many requests. Wait a moment and try again."
		}
	case http.StatusMethodNotAllowed:
		title = "Not allowed"
		text = "This address does not accept that kind of request."
	case http.StatusServiceUnavailable:
		title = "Temporarily unavailable"
		if text == "" || text == http.StatusText(status) {
			text = "Portico cannot reach a service it needs right now. Try again in a minute."
		}
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		title = "Something went wrong"
		text = "Portico could not complete the request. Try again; if it keeps happening, give your IT team the request id below."
	}
	if text == "" {
		text = http.StatusText(status)
	}
	return title, text
}

func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "BadRequest"
	case http.StatusUnauthorized:
		return "InvalidAuthenticationToken"
	case http.StatusForbidden:
		return "Authorization_RequestDenied"
	case http.StatusNotFound:
		return "Request_ResourceNotFound"
	case http.StatusConflict:
		return "Conflict"
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusRequestEntityTooLarge:
		return "RequestEntityTooLarge"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	}
	if status >= 500 {
		return "ServiceError"
	}
	return "BadRequest"
}

// graphStatus maps Graph's answer to Portico's: the user's own mistakes stay 4xx, Graph's failures 502/503.
func graphStatus(ge *invite.GraphError) int {
	switch {
	case ge.Throttled():
		return http.StatusTooManyRequests
	case ge.Status == http.StatusUnauthorized:
		return http.StatusUnauthorized
	case ge.Status == http.StatusForbidden:
		return http.StatusForbidden
	case ge.Status == http.StatusBadRequest || ge.Status == http.StatusNotFound || ge.Status == http.StatusConflict:
		return http.StatusBadRequest
	case ge.Status == 0:
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// jsonFields names the form's sponsors and groups fields as the JSON API's body does:
// "sponsors.N" → "invitedUserSponsors[N]", "sponsors" → "invitedUserSponsors", "groups" → "porticoGroups".
func jsonFields(fe invite.FieldErrors) map[string]string {
	if fe == nil {
		return nil
	}
	out := make(map[string]string, len(fe))
	for k, v := range fe {
		switch {
		case k == invite.FieldSponsors:
			k = "invitedUserSponsors"
		case strings.HasPrefix(k, invite.FieldSponsors+"."):
			k = "invitedUserSponsors[" + strings.TrimPrefix(k, invite.FieldSponsors+".") + "]"
		case k == invite.FieldGroups:
			k = "porticoGroups"
		}
		out[k] = v
	}
	return out
}

// bearerReason is the caller-safe reason of a refused access token.
func bearerReason(err error) string {
	var be *auth.BearerError
	if errors.As(err, &be) {
		return be.Reason
	}
	return ""
}
