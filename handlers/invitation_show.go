package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"portico/config"
	"portico/invite"
	"portico/views"
)

// stateRefresh is how old a stored externalUserState may be before a page re-reads it from Graph.
func (s *Server) stateRefresh() time.Duration {
	if s.Config.StateRefresh > 0 {
		return s.Config.StateRefresh
	}
	return config.DefaultStateRefresh
}

// showInvitation is one invitation: its state, join link and history. Right after sending it is
// the result page, showing the redemption URL once when no email was sent.
func (s *Server) showInvitation(c echo.Context) error {
	ctx := c.Request().Context()
	inv := s.inviter(c)
	rec, err := s.Invites.Get(ctx, inv, c.Param("id"))
	if err != nil {
		return err
	}
	ts := s.graphTokens(c)
	// A send still in flight: settled here by a lookup once its lease passed (deployments without
	// a background reconciler), else the page says so and reloads itself.
	sending := rec.Sending()
	if settled, err := s.Invites.SettleSending(ctx, ts, inv, rec.ID); err == nil {
		if settled && sending {
			if rec, err = s.Invites.Get(ctx, inv, rec.ID); err != nil {
				return err
			}
		}
		sending = !settled
	}
	if fresh := s.Invites.RefreshStates(ctx, ts, []invite.Invitation{*rec}, s.stateRefresh()); len(fresh) == 1 {
		rec = &fresh[0]
	}
	history, err := s.Invites.History(ctx, inv, rec.ID)
	if err != nil {
		return err
	}
	vm, err := s.detailVM(c, rec, inv)
	if err != nil {
		return err
	}
	for _, h := range history {
		vm.History = append(vm.History, historyItem(h))
	}
	if err := s.accessVM(c, rec, &vm); err != nil {
		return err
	}

	// One-time details (a new invitation's, or a reveal's) are shown once, then forgotten.
	sess := sessionOf(c)
	once := sess.Data.JustCreated
	justCreated, revealed := false, false
	if once != nil && once.ID == rec.ID {
		vm.RedeemURL = once.RedeemURL
		justCreated, revealed = !once.Revealed, once.Revealed
		vm.Revealed = revealed
		sess.Data.JustCreated = nil
		if err := sess.Save(c.Request(), c.Response()); err != nil {
			return err
		}
	}
	title := "Invitation for " + rec.Email
	if justCreated {
		title = "Invitation sent"
		if !rec.SendEmail {
			title = "Link created"
		}
	}
	p := s.page(c, title)
	p.Nav = "invitations"
	if sending {
		vm.Sending = true
		p.Refresh = sendingRefresh
	}
	if err := s.takeFlash(c, &p); err != nil {
		return err
	}
	// The page can show bearer links (join and redemption URLs): never cache it, never leak it onwards.
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	if justCreated {
		return render(c, http.StatusOK, views.ResultPage(views.Result{Page: p, Inv: vm, JustCreated: true}))
	}
	return render(c, http.StatusOK, views.InvitationDetailPage(views.InvitationPage{Page: p, Inv: vm}))
}

// sendingRefresh is how often, in seconds, the page of a send still in flight reloads itself.
const sendingRefresh = 3

// invitationVM turns a record into what the pages show, without any I/O; setJoinLink adds the link.
func (s *Server) invitationVM(inv invite.Inviter, rec *invite.Invitation) views.Invitation {
	vm := views.Invitation{
		ID: rec.ID, Email: rec.Email, DisplayName: rec.DisplayName, InviterName: rec.InviterName, InviterUPN: rec.InviterUPN,
		UserType: rec.UserType, Message: rec.Message, CC: rec.CCAddress, Language: rec.Language, RedirectURL: rec.RedirectURL,
		SendEmail: rec.SendEmail, Created: rec.CreatedAt, Outcome: string(rec.Outcome), ErrorText: rec.ErrorMessage, GraphRequestID: rec.GraphRequestID,
		StateChanged: rec.ExternalUserStateChangedAt, StateChecked: rec.StateCheckedAt,
	}
	vm.State, vm.StateLabel = rec.State().Kind(), rec.State().Label()
	vm.GuestPage = s.Lifecycle != nil && rec.Outcome == invite.OutcomeCreated && rec.GraphUserID != "" && inv.SeesAll()
	if rec.StateCheckedAt != nil && s.Clock().Sub(*rec.StateCheckedAt) > s.stateRefresh() {
		vm.StateStale = true
	}
	acts := s.Invites.Actions(inv, rec)
	vm.CanResend = acts.Resend.Allowed
	vm.CanReveal = acts.RevealRedeemURL.Allowed
	vm.RevealReason = acts.RevealRedeemURL.Reason
	vm.CanManageLink = acts.NewJoinLink.Allowed
	return vm
}

// setJoinLink adds the invitation's active join link (nil: none) to vm; joinURL, when given, is
// shown with its QR code while the link is live.
func (s *Server) setJoinLink(vm *views.Invitation, link *invite.JoinLink, joinURL string) {
	if link == nil {
		// Links exist exactly when Portico holds a redemption URL, so none active means revoked.
		if vm.CanManageLink {
			vm.JoinStatus = "revoked"
		}
		return
	}
	vm.JoinExpires = &link.ExpiresAt
	vm.JoinFirstOpened, vm.JoinLastOpened, vm.JoinOpens = link.FirstOpenedAt, link.LastOpenedAt, link.OpenCount
	vm.JoinStatus = "active"
	if !s.Clock().Before(link.ExpiresAt) {
		vm.JoinStatus = "expired"
		return
	}
	if joinURL != "" {
		vm.JoinURL, vm.JoinQR = joinURL, qrFor(joinURL)
	}
}

// detailVM is invitationVM with the join link itself, for the pages about one invitation.
func (s *Server) detailVM(c echo.Context, rec *invite.Invitation, inv invite.Inviter) (views.Invitation, error) {
	vm := s.invitationVM(inv, rec)
	if rec.Outcome != invite.OutcomeCreated {
		return vm, nil
	}
	joinURL, link, err := s.Invites.JoinURL(c.Request().Context(), inv, rec.ID)
	if err != nil {
		return vm, err
	}
	s.setJoinLink(&vm, link, joinURL)
	return vm, nil
}

// historyItem is one history entry as the page shows it; entries about other employees'
// records carry no time.
func historyItem(h invite.HistoryEntry) views.HistoryItem {
	return views.HistoryItem{When: h.Time, Text: h.Text, RequestID: h.RequestID, Kind: string(h.Kind)}
}

// invitationResponse is the JSON API's answer: Portico's record in Graph's vocabulary.
type invitationResponse struct {
	ID                      string `json:"id"`
	InvitedUserEmailAddress string `json:"invitedUserEmailAddress"`
	InvitedUserDisplayName  string `json:"invitedUserDisplayName,omitempty"`
	InvitedUserType         string `json:"invitedUserType"`
	InviteRedirectURL       string `json:"inviteRedirectUrl"`
	SendInvitationMessage   bool   `json:"sendInvitationMessage"`
	// InviteRedeemURL is Graph's redemption URL when Portico may hand it out (no email sent), else
	// null. Redemption says why: "returned" (the URL is here), "emailed" (Graph emailed it; Portico
	// holds it sealed behind the join link), "held" (no email; returned only to the request that
	// sent it, revealed again on the record's page), "direct_link" (Graph's answer was lost and the
	// invitation was confirmed by a directory lookup: no redemption URL is known; joinUrl leads to
	// the tenant-specific sign-in, where the partner redeems just in time), "unknown" (the same
	// without a join link), "sending" (no answer yet: 202).
	InviteRedeemURL *string `json:"inviteRedeemUrl"`
	Redemption      string  `json:"redemption"`
	JoinURL         string  `json:"joinUrl,omitempty"`
	// Status is Graph's invitation status, or "sending" while the send is in flight (202).
	Status            string    `json:"status,omitempty"`
	GraphInvitationID string    `json:"graphInvitationId,omitempty"`
	InvitedUserID     string    `json:"invitedUserId,omitempty"`
	GraphRequestID    string    `json:"graphRequestId,omitempty"`
	CreatedDateTime   time.Time `json:"createdDateTime"`
}

func invitationJSON(res *invite.Result) invitationResponse {
	r := res.Invitation
	out := invitationResponse{
		ID: r.ID, InvitedUserEmailAddress: r.Email, InvitedUserDisplayName: r.DisplayName, InvitedUserType: r.UserType,
		InviteRedirectURL: r.RedirectURL, SendInvitationMessage: r.SendEmail, JoinURL: res.JoinURL,
		Status: r.GraphStatus, GraphInvitationID: r.GraphInvitationID, InvitedUserID: r.GraphUserID, GraphRequestID: r.GraphRequestID,
		CreatedDateTime: r.CreatedAt,
	}
	switch {
	case res.Sending:
		out.Status, out.Redemption = "sending", "sending"
	case res.RedeemURL != "":
		u := res.RedeemURL
		out.InviteRedeemURL, out.Redemption = &u, "returned"
	case res.DirectLink:
		out.Redemption = "direct_link"
	case res.ConfirmedByLookup || !r.HasRedeemURL():
		out.Redemption = "unknown"
	case r.SendEmail:
		out.Redemption = "emailed"
	default:
		out.Redemption = "held"
	}
	return out
}
