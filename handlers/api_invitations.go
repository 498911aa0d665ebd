package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"portico/invite"
)

// apiInvitation is one of Portico's invitation records in the API, in Graph's vocabulary where
// Graph has a word for it.
type apiInvitation struct {
	ID                      string          `json:"id"`
	InvitedUserEmailAddress string          `json:"invitedUserEmailAddress"`
	InvitedUserDisplayName  string          `json:"invitedUserDisplayName,omitempty"`
	InvitedUserType         string          `json:"invitedUserType"`
	InviteRedirectURL       string          `json:"inviteRedirectUrl"`
	SendInvitationMessage   bool            `json:"sendInvitationMessage"`
	Status                  string          `json:"status,omitempty"`            // Graph's invitation status
	State                   string          `json:"state"`                       // Portico's: pending, accepted, sending, failed, …
	ExternalUserState       string          `json:"externalUserState,omitempty"` // PendingAcceptance or Accepted, as last read
	InvitedUser             *apiDirectoryID `json:"invitedUser,omitempty"`
	InvitedBy               apiInviterRef   `json:"invitedBy"`
	GraphInvitationID       string          `json:"graphInvitationId,omitempty"`
	CreatedDateTime         time.Time       `json:"createdDateTime"`
	SentDateTime            time.Time       `json:"sentDateTime"`
}

type apiDirectoryID struct {
	ID string `json:"id"`
}

type apiInviterRef struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	DisplayName       string `json:"displayName,omitempty"`
}

func apiRecord(r *invite.Invitation) apiInvitation {
	out := apiInvitation{ID: r.ID, InvitedUserEmailAddress: r.Email, InvitedUserDisplayName: r.DisplayName, InvitedUserType: r.UserType,
		InviteRedirectURL: r.RedirectURL, SendInvitationMessage: r.SendEmail, Status: r.GraphStatus, State: string(r.State()),
		ExternalUserState: r.ExternalUserState, GraphInvitationID: r.GraphInvitationID, CreatedDateTime: r.CreatedAt, SentDateTime: r.SentAt,
		InvitedBy: apiInviterRef{ID: r.InviterOID, UserPrincipalName: r.InviterUPN, DisplayName: r.InviterName}}
	if r.GraphUserID != "" {
		out.InvitedUser = &apiDirectoryID{ID: r.GraphUserID}
	}
	return out
}

// apiCreateInvitation is POST /api/invitations: Graph's invitation body, the form's checks and
// policy, and Idempotency-Key (scoped to the caller): a retry returns the first answer and sends nothing.
func (s *Server) apiCreateInvitation(c echo.Context) error {
	if !wantsJSONBody(c) {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Send the invitation as application/json.")
	}
	req, err := bindInvitationJSON(c.Request().Body)
	if err != nil {
		return err
	}
	if req.IdempotencyKey, err = apiIdempotencyKey(c); err != nil {
		return err
	}
	if s.approvalsOn() {
		// As for the form's JSON: a request the policy sends to an approver is submitted for
		// approval (202 with the request), never sent directly.
		need, err := s.Approvals.Need(c.Request().Context(), s.apiInviter(c), req)
		switch {
		case err != nil:
			return err
		case need.Needed && len(need.Fields) > 0:
			return &invite.ValidationError{Fields: need.Fields}
		case need.Needed:
			r, err := s.Approvals.Submit(c.Request().Context(), apiGraph(c), s.apiInviter(c), req, meta(c))
			if err != nil {
				return err
			}
			return s.approvalSubmitted(c, r)
		}
	}
	res, err := s.Invites.Send(c.Request().Context(), apiGraph(c), s.apiInviter(c), req, meta(c))
	if err != nil {
		return err
	}
	return apiSent(c, res)
}

// apiSent answers a sent invitation: 201 with the record (and Graph's redemption URL when Portico
// may hand it out), or 202 while the send is still in flight (GET the Location for the outcome).
func apiSent(c echo.Context, res *invite.Result) error {
	c.Response().Header().Set(echo.HeaderLocation, "/api/invitations/"+res.Invitation.ID)
	if res.Sending {
		return c.JSON(http.StatusAccepted, invitationJSON(res))
	}
	return c.JSON(http.StatusCreated, invitationJSON(res))
}

// apiCheckAddress is GET /api/invitations/check?email=…: the preflight the form runs live.
func (s *Server) apiCheckAddress(c echo.Context) error {
	res := s.Invites.Check(c.Request().Context(), apiGraph(c), s.apiInviter(c), c.QueryParam("email"))
	return c.JSON(http.StatusOK, map[string]any{"verdict": string(res.Verdict), "ok": res.OK, "resend": res.Resend, "message": res.Message})
}

// apiStates maps the state filter: Graph's externalUserState values (the seed's
// UserState eq 'PendingAcceptance') and Portico's own words.
var apiStates = map[string]invite.State{
	"": invite.StateAll, "all": invite.StateAll,
	"pendingacceptance": invite.StatePending, "pending": invite.StatePending,
	"accepted": invite.StateAccepted,
}

// apiListInvitations is GET /api/invitations: the caller's invitations (an administrator's
// ?scope=everyone: the tenant's), newest first, filtered by ?state=, with @odata.nextLink.
func (s *Server) apiListInvitations(c echo.Context) error {
	ctx := c.Request().Context()
	state, ok := apiStates[strings.ToLower(c.QueryParam("state"))]
	if !ok {
		return echo.NewHTTPError(http.StatusBadRequest, "The state filter must be PendingAcceptance, Accepted or all.")
	}
	scope := c.QueryParam("scope")
	if scope != "" && scope != "everyone" && scope != "mine" {
		return echo.NewHTTPError(http.StatusBadRequest, "The scope must be mine or everyone.")
	}
	inv := s.apiInviter(c)
	lp, err := s.Invites.List(ctx, inv, invite.ListFilter{Everyone: scope == "everyone", State: state, Before: c.QueryParam("$skiptoken")})
	if err != nil {
		return err
	}
	items := s.Invites.RefreshStates(ctx, apiGraph(c), lp.Invitations, s.stateRefresh())
	out := struct {
		Value    []apiInvitation `json:"value"`
		Count    int             `json:"@odata.count"`
		NextLink string          `json:"@odata.nextLink,omitempty"`
	}{Value: []apiInvitation{}, Count: lp.Total}
	for i := range items {
		out.Value = append(out.Value, apiRecord(&items[i]))
	}
	if lp.OlderCursor != "" {
		q := url.Values{"$skiptoken": {lp.OlderCursor}}
		if p := c.QueryParam("state"); p != "" {
			q.Set("state", p)
		}
		if scope != "" {
			q.Set("scope", scope)
		}
		out.NextLink = s.Config.PublicPath("/api/invitations") + "?" + q.Encode()
	}
	return c.JSON(http.StatusOK, out)
}

// apiGetInvitation is GET /api/invitations/{id}; a send left open past its lease is settled by a
// lookup first, as the record's page does.
func (s *Server) apiGetInvitation(c echo.Context) error {
	ctx := c.Request().Context()
	inv := s.apiInviter(c)
	rec, err := s.Invites.Get(ctx, inv, c.Param("id"))
	if err != nil {
		return err
	}
	if settled, err := s.Invites.SettleSending(ctx, apiGraph(c), inv, rec.ID); err == nil && settled && rec.Sending() {
		if rec, err = s.Invites.Get(ctx, inv, rec.ID); err != nil {
			return err
		}
	}
	if fresh := s.Invites.RefreshStates(ctx, apiGraph(c), []invite.Invitation{*rec}, s.stateRefresh()); len(fresh) == 1 {
		rec = &fresh[0]
	}
	return c.JSON(http.StatusOK, apiRecord(rec))
}

// apiResendInvitation is POST /api/invitations/{id}/resend.
func (s *Server) apiResendInvitation(c echo.Context) error {
	res, err := s.Invites.Resend(c.Request().Context(), apiGraph(c), s.apiInviter(c), c.Param("id"), meta(c))
	if err != nil {
		return err
	}
	return apiSent(c, res)
}

// apiNewJoinLink is POST /api/invitations/{id}/link: a new join link (the old one stops working).
func (s *Server) apiNewJoinLink(c echo.Context) error {
	u, l, err := s.Invites.NewJoinLink(c.Request().Context(), s.apiInviter(c), c.Param("id"), meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"joinUrl": u, "expiresDateTime": l.ExpiresAt.UTC()})
}

// apiRevokeJoinLink is DELETE /api/invitations/{id}/link.
func (s *Server) apiRevokeJoinLink(c echo.Context) error {
	if err := s.Invites.RevokeJoinLink(c.Request().Context(), s.apiInviter(c), c.Param("id"), meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
