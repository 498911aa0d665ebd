package handlers

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

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
	sponsored := c.QueryParam("scope") == "sponsored"
	lp, err := s.Invites.List(ctx, inv, invite.ListFilter{Everyone: everyone, Sponsored: sponsored, State: state,
		Before: c.QueryParam("before"), After: c.QueryParam("after")})
	if err != nil {
		return err
	}
	ts := s.graphTokens(c)
	s.settleListed(c, ts, inv, lp.Invitations)
	items := s.Invites.RefreshStates(ctx, ts, lp.Invitations, s.stateRefresh())

	p := s.page(c, "My invitations")
	if everyone {
		p.Title = "Everyone's invitations"
	}
	if sponsored {
		p.Title = "Guests you sponsor"
	}
	p.Nav = "invitations"
	m := views.InvitationList{Page: p, State: string(state), Everyone: everyone, Sponsored: sponsored, CanSeeEveryone: inv.SeesAll(),
		Total: lp.Total, TotalMore: lp.TotalMore}
	// Newer and Older are positions in the list (keyset paging), plain links that keep the filters.
	first := invitationListURL(state, everyone)
	if sponsored {
		first = "/invitations?state=" + url.QueryEscape(string(state)) + "&scope=sponsored"
	}
	if lp.NewerCursor != "" {
		m.NewestURL, m.NewerURL = first, first+"&after="+url.QueryEscape(lp.NewerCursor)
	}
	if lp.OlderCursor != "" {
		m.OlderURL = first + "&before=" + url.QueryEscape(lp.OlderCursor)
	}
	if s.approvalsOn() && c.QueryParam("before") == "" && c.QueryParam("after") == "" {
		mine, err := s.Approvals.Mine(ctx, inv, 20)
		if err != nil {
			return err
		}
		for i := range mine {
			// Waiting requests, and decisions of the last week the requester should see.
			if r := &mine[i]; r.State.Open() || r.DecidedAt == nil || s.Clock().Sub(*r.DecidedAt) < 7*24*time.Hour {
				m.Approvals = append(m.Approvals, s.approvalRow(inv, r))
			}
		}
	}
	links, err := s.Invites.JoinActivity(ctx, inv, items)
	if err != nil {
		return err
	}
	for i := range items {
		vm := s.invitationVM(inv, &items[i])
		s.setJoinLink(&vm, links[items[i].ID], "")
		// A sponsor sees the guests they sponsor listed, not the other inviter's invitation page.
		vm.NoLink = sponsored && items[i].InviterOID != inv.ObjectID && !inv.SeesAll()
		m.Items = append(m.Items, vm)
	}
	return render(c, http.StatusOK, views.InvitationListPage(m))
}

// invitationListURL is the first page of the list with its filters.
func invitationListURL(state invite.State, everyone bool) string {
	u := "/invitations?state=" + url.QueryEscape(string(state))
	if everyone {
		u += "&scope=everyone"
	}
	return u
}

// checkAddress answers the form's live address check with a small HTML fragment.
func (s *Server) checkAddress(c echo.Context) error {
	ctx := c.Request().Context()
	ts := s.graphTokens(c)
	inv := s.inviter(c)
	res := s.Invites.Check(ctx, ts, inv, c.QueryParam("email"))
	kind := "error"
	switch {
	case res.OK && res.Resend:
		kind = "warn"
	case res.OK:
		kind = "ok"
	}
	if s.approvalsOn() && (res.OK || res.Verdict == invite.VerdictPolicyBlocked) {
		need, err := s.Approvals.Need(ctx, inv, invite.Request{Email: c.QueryParam("email")})
		if err == nil && need.Needed {
			kind, res.Message = "warn", "Needs approval: "+need.Reasons[0].Text+" Nothing is sent until "+need.Approvers+" approves it."
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, http.StatusOK, views.CheckFragment(views.Check{Kind: kind, Text: res.Message}))
}

// listSettleMax is how many of a page's "Sending…" records one render may settle by lookup.
const listSettleMax = 5

// settleListed settles the page's records still "Sending…" whose send was left open past its
// lease (a restart without a background reconciler), at most listSettleMax per render, and puts
// the settled records in their place.
func (s *Server) settleListed(c echo.Context, ts oauth2.TokenSource, inv invite.Inviter, recs []invite.Invitation) {
	ctx := c.Request().Context()
	n := 0
	for i := range recs {
		if !recs[i].Sending() || n == listSettleMax {
			continue
		}
		n++
		settled, err := s.Invites.SettleSending(ctx, ts, inv, recs[i].ID)
		if err != nil || !settled {
			continue
		}
		if fresh, err := s.Invites.Get(ctx, inv, recs[i].ID); err == nil {
			recs[i] = *fresh
		}
	}
}
