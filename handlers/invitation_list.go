package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"portico/invite"
	"portico/views"
)

// listInvitations is "My invitations" (admins may switch to everyone's), with live states.
func (s *Server) listInvitations(c echo.Context) error {
	ctx := c.Request().Context()
	inv := s.inviter(c)
	state := invite.State(c.QueryParam("state"))
	switch state {
	case "", invite.StateAll, invite.StatePending, invite.StateAccepted:
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "The filter must be all, pending or accepted.")
	}
	if state == "" {
		state = invite.StateAll
	}
	everyone := c.QueryParam("scope") == "everyone"
	pageNum, _ := strconv.Atoi(c.QueryParam("page"))
	lp, err := s.Invites.List(ctx, inv, invite.ListFilter{Everyone: everyone, State: state, Page: pageNum})
	if err != nil {
		return err
	}
	ts := s.graphTokens(c)
	items := s.Invites.RefreshStates(ctx, ts, lp.Invitations, s.stateRefresh())

	p := s.page(c, "My invitations")
	if everyone {
		p.Title = "Everyone's invitations"
	}
	p.Nav = "invitations"
	m := views.InvitationList{Page: p, State: string(state), Everyone: everyone, CanSeeEveryone: inv.SeesAll(),
		PageNum: lp.Page, PageCount: lp.Pages, Total: lp.Total}
	links, err := s.Invites.JoinActivity(ctx, inv, items)
	if err != nil {
		return err
	}
	for i := range items {
		vm := s.invitationVM(inv, &items[i])
		s.setJoinLink(&vm, links[items[i].ID], "")
		m.Items = append(m.Items, vm)
	}
	return render(c, http.StatusOK, views.InvitationListPage(m))
}

// checkAddress answers the form's live address check with a small HTML fragment.
func (s *Server) checkAddress(c echo.Context) error {
	ctx := c.Request().Context()
	ts := s.graphTokens(c)
	res := s.Invites.Check(ctx, ts, s.inviter(c), c.QueryParam("email"))
	kind := "error"
	switch {
	case res.OK && res.Resend:
		kind = "warn"
	case res.OK:
		kind = "ok"
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, http.StatusOK, views.CheckFragment(views.Check{Kind: kind, Text: res.Message}))
}
