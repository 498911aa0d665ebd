package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"portico/auth"
	"portico/invite"
	"portico/views"
)

// inviter is the signed-in user as the domain sees them; roles are decided by invite.NewInviter
// from the verified token on every request.
func (s *Server) inviter(c echo.Context) invite.Inviter { return s.inviterOf(currentUser(c)) }

func (s *Server) inviterOf(u *auth.Identity) invite.Inviter {
	if u == nil {
		return invite.Inviter{}
	}
	pol := invite.InviterPolicy{AdminRoles: s.Config.AdminRoles, Inviters: s.Config.Inviters, RefuseGuests: s.Config.Application(),
		Approvers: s.Config.Approvers}
	return pol.Inviter(claimsOf(u))
}

// claimsOf is the verified sign-in identity as the policy reads it.
func claimsOf(u *auth.Identity) invite.Claims {
	return invite.Claims{TenantID: u.TenantID, ObjectID: u.ObjectID, UPN: u.UPN, Name: u.Name,
		Email: u.Email, Wids: u.Wids, AppRoles: u.Roles, Groups: u.Groups, Acct: u.Acct, IDP: u.IDP}
}

func meta(c echo.Context) invite.Meta {
	return invite.HTTPMeta(requestID(c), c.RealIP())
}

// showInviteForm renders the empty invitation form.
func (s *Server) showInviteForm(c echo.Context) error {
	if may := s.inviter(c).MayInvite(); !may.Allowed {
		return may.Err()
	}
	s.Invites.Warm(c.Request().Context(), s.graphTokens(c), s.inviter(c).TenantID)
	m := s.inviteForm(c, views.InviteValues{SendEmail: true, RedirectURL: s.Invites.Policy().DefaultRedirectURL})
	if err := s.takeFlash(c, &m.Page); err != nil {
		return err
	}
	return render(c, http.StatusOK, views.InviteFormPage(m))
}

func (s *Server) inviteForm(c echo.Context, v views.InviteValues) views.InviteForm {
	p := s.page(c, "Invite a partner")
	p.Nav = "invite"
	inv := s.inviter(c)
	m := views.InviteForm{Page: p, Values: v, ShowUserType: inv.CanInviteMember(),
		MaxMessage: s.Invites.Policy().MaxMessageRunes, Languages: s.languages}
	s.accessForm(c, &m)
	if !m.ShowUserType && inv.MayInvite().Allowed && s.approvalsOn() {
		// A Member invitation by an employee goes to an approver: offer the choice, say so.
		m.ShowUserType = s.Approvals.Policy().Covers(invite.ApprovalForMember)
		m.MemberNeedsApproval = m.ShowUserType
	}
	// "N of M left this hour": a failed count must not cost the inviter the form; sending counts again.
	if d, err := s.Invites.Quota(c.Request().Context(), inv); err != nil {
		s.Logger.Warn("quota not shown", "request_id", requestID(c), "err", err)
	} else {
		m.Quota = quotaVM(d)
	}
	return m
}

// graphInvitationBody is the JSON API's request: Graph's own invitation shape, nothing more.
type graphInvitationBody struct {
	InvitedUserDisplayName  string `json:"invitedUserDisplayName"`
	InvitedUserEmailAddress string `json:"invitedUserEmailAddress"`
	InviteRedirectURL       string `json:"inviteRedirectUrl"`
	InvitedUserType         string `json:"invitedUserType"`
	SendInvitationMessage   *bool  `json:"sendInvitationMessage"`
	InvitedUserMessageInfo  *struct {
		CustomizedMessageBody string `json:"customizedMessageBody"`
		MessageLanguage       string `json:"messageLanguage"`
		CCRecipients          []struct {
			EmailAddress struct {
				Address string `json:"address"`
				Name    string `json:"name"`
			} `json:"emailAddress"`
		} `json:"ccRecipients"`
	} `json:"invitedUserMessageInfo"`
	Resend bool `json:"resend"`
}

// bindInvitation reads the form (or Graph-shaped JSON) into the domain request. Only the named
// fields are read: anything else a client posts is ignored (form) or refused (JSON).
func bindInvitation(c echo.Context) (invite.Request, error) {
	if wantsJSONBody(c) {
		req, err := bindInvitationJSON(c.Request().Body)
		// API clients name one send with an Idempotency-Key header: a retry of the same request
		// returns the first one's result and never invites twice (invite.Request.IdempotencyKey).
		req.IdempotencyKey = c.Request().Header.Get("Idempotency-Key")
		return req, err
	}
	f, err := c.FormParams()
	if err != nil {
		return invite.Request{}, &badJSONError{"The form could not be read."}
	}
	return invite.Request{
		DisplayName: f.Get(invite.FieldDisplayName),
		Email:       f.Get(invite.FieldEmail),
		Message:     f.Get(invite.FieldMessage),
		CC:          f.Get(invite.FieldCC),
		RedirectURL: f.Get(invite.FieldRedirectURL),
		Language:    f.Get(invite.FieldLanguage),
		UserType:    f.Get(invite.FieldUserType),
		SendEmail:   checkbox(f.Get(invite.FieldSendEmail)),
		Resend:      f.Get("resend") == "1",
		Sponsors:    f[invite.FieldSponsors],
		Groups:      f[invite.FieldGroups],
	}, nil
}

// askApproval reports whether the form confirms that a request needing approval is to be sent for it.
func askApproval(c echo.Context) bool {
	return !wantsJSONBody(c) && c.FormValue("ask_approval") == "1"
}

// bindInvitationJSON reads Graph's invitation shape, refusing unknown fields and trailing data.
func bindInvitationJSON(r io.Reader) (invite.Request, error) {
	var b graphInvitationBody
	dec := json.NewDecoder(io.LimitReader(r, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		msg := "The body must be one JSON invitation object."
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			msg = "The field " + ute.Field + " has the wrong type."
		} else if strings.HasPrefix(err.Error(), "json: unknown field ") {
			msg = "Portico does not accept the field " + strings.TrimPrefix(err.Error(), "json: unknown field ") + "."
		}
		return invite.Request{}, &badJSONError{msg}
	}
	if _, err := dec.Token(); err != io.EOF {
		return invite.Request{}, &badJSONError{"The body must hold exactly one JSON object."}
	}
	req := invite.Request{
		DisplayName: b.InvitedUserDisplayName,
		Email:       b.InvitedUserEmailAddress,
		RedirectURL: b.InviteRedirectURL,
		UserType:    b.InvitedUserType,
		Resend:      b.Resend,
	}
	if b.SendInvitationMessage != nil {
		req.SendEmail = *b.SendInvitationMessage
	}
	if mi := b.InvitedUserMessageInfo; mi != nil {
		req.Message, req.Language = mi.CustomizedMessageBody, mi.MessageLanguage
		switch len(mi.CCRecipients) {
		case 0:
		case 1:
			req.CC = mi.CCRecipients[0].EmailAddress.Address
		default:
			// Graph honours only one cc recipient; say so rather than drop the others silently.
			return req, &invite.ValidationError{Fields: invite.FieldErrors{invite.FieldCC: "Only one cc recipient is supported."}}
		}
	}
	return req, nil
}

func checkbox(v string) bool {
	switch strings.ToLower(v) {
	case "on", "true", "1", "yes":
		return true
	}
	return false
}

func wantsJSONBody(c echo.Context) bool {
	return strings.HasPrefix(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEApplicationJSON)
}

// createInvitation validates, checks and sends one invitation (form or JSON API).
func (s *Server) createInvitation(c echo.Context) error {
	req, err := bindInvitation(c)
	if err == nil && s.approvalsOn() {
		// Policy may send this request to an approver instead of refusing it: the form says so
		// and asks; JSON clients get the request at once (202).
		need, nerr := s.Approvals.Need(c.Request().Context(), s.inviter(c), req)
		switch {
		case nerr != nil:
			return nerr
		case need.Needed && len(need.Fields) > 0:
			return s.invitationFailed(c, req, &invite.ValidationError{Fields: need.Fields})
		case need.Needed && (askApproval(c) || wantsJSONBody(c)):
			r, serr := s.Approvals.Submit(c.Request().Context(), s.graphTokens(c), s.inviter(c), req, meta(c))
			if serr == nil {
				return s.approvalSubmitted(c, r)
			}
			return s.invitationFailed(c, req, serr)
		case need.Needed:
			return s.offerApproval(c, req, need)
		}
	}
	if err == nil {
		var res *invite.Result
		ts := s.graphTokens(c)
		res, err = s.Invites.Send(c.Request().Context(), ts, s.inviter(c), req, meta(c))
		if err == nil {
			return s.invitationCreated(c, res)
		}
	}
	return s.invitationFailed(c, req, err)
}

// offerApproval re-shows the form with what was entered, why this request needs approval and who
// decides, and a button that asks for it; nothing is recorded or sent yet.
func (s *Server) offerApproval(c echo.Context, req invite.Request, need invite.ApprovalNeed) error {
	m := s.inviteForm(c, views.InviteValues{DisplayName: req.DisplayName, Email: req.Email, Message: req.Message, CC: req.CC,
		RedirectURL: req.RedirectURL, Language: req.Language, UserType: req.UserType, SendEmail: req.SendEmail})
	m.ApprovalOffer = &views.ApprovalOffer{Approvers: need.Approvers}
	for _, r := range need.Reasons {
		m.ApprovalOffer.Reasons = append(m.ApprovalOffer.Reasons, r.Text)
	}
	return render(c, http.StatusOK, views.InviteFormPage(m))
}

// invitationCreated answers a sent (or re-sent) invitation: JSON clients get the record, browsers
// go to the result page, which shows the one-time details kept in the session.
//
// A send still in flight (Graph slower than the bounded wait, or its answer lost) is answered at
// once, never cut by the server's write timeout: JSON clients get 202 Accepted with the record and
// "status":"sending" (GET /invitations/{id} tells the outcome); browsers go to the record's page,
// which shows "Still sending…" and reloads itself until the send is settled.
func (s *Server) invitationCreated(c echo.Context, res *invite.Result) error {
	if res.Sending {
		if wantsJSON(c) {
			c.Response().Header().Set(echo.HeaderLocation, "/invitations/"+res.Invitation.ID)
			return c.JSON(http.StatusAccepted, invitationJSON(res))
		}
		return c.Redirect(http.StatusSeeOther, "/invitations/"+res.Invitation.ID)
	}
	if wantsJSON(c) {
		return c.JSON(http.StatusCreated, invitationJSON(res))
	}
	sess := sessionOf(c)
	sess.Data.JustCreated = &auth.Created{ID: res.Invitation.ID, RedeemURL: res.RedeemURL}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/invitations/"+res.Invitation.ID)
}

// invitationFailed re-renders the form (status 4xx, values kept, messages by the fields) or answers
// a Graph-like JSON error; errors not about the invitation go to the error handler.
func (s *Server) invitationFailed(c echo.Context, req invite.Request, err error) error {
	if errors.Is(err, auth.ErrReauthRequired) || c.Request().Context().Err() != nil {
		return err
	}
	p := problemOf(err)
	if !p.Form {
		return err
	}
	if wantsJSONBody(c) {
		return err // answered in Graph's envelope by handleError
	}
	setRetryAfter(c, p.RetryAfter)
	alert := &views.Alert{Kind: p.Kind, Title: p.Title, Text: p.Text, RequestID: p.GraphRequestID}
	var resend *views.ResendOffer
	var re *invite.RefusedError
	if errors.As(err, &re) && re.ResendOffered {
		resend = &views.ResendOffer{InvitationID: re.Preflight.InvitationID, Text: re.Message()}
		// Someone else's invitation cannot be resent through its page: re-post the form instead.
		if id := resend.InvitationID; id != "" {
			if _, err := s.Invites.Get(c.Request().Context(), s.inviter(c), id); err != nil {
				resend.InvitationID = ""
			}
		}
	}
	m := s.inviteForm(c, views.InviteValues{DisplayName: req.DisplayName, Email: req.Email, Message: req.Message, CC: req.CC,
		RedirectURL: req.RedirectURL, Language: req.Language, UserType: req.UserType, SendEmail: req.SendEmail,
		Sponsors: req.Sponsors, Groups: req.Groups})
	m.Errors, m.Alert, m.ResendOffer = p.Fields, alert, resend
	var qe *invite.QuotaError
	if errors.As(err, &qe) {
		m.Quota = quotaVM(qe.Decision) // the form says the limit and when it resets
	}
	return render(c, p.Status, views.InviteFormPage(m))
}
