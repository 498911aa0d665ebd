package handlers

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"portico/invite"
	"portico/store"
	"portico/views"
)

// Access is what the handlers need for sponsors and groups (invite.Service satisfies it).
type Access interface {
	GuestGroups(ctx context.Context, ts oauth2.TokenSource) []invite.GuestGroup
	SearchPeople(ctx context.Context, ts oauth2.TokenSource, term string) ([]invite.DirectoryPerson, error)
	InvitationAccess(ctx context.Context, invitationID string) ([]store.InvitationSponsor, []store.InvitationGroup, error)
	GuestSponsors(ctx context.Context, ts oauth2.TokenSource, guestIDs []string) (map[string][]invite.DirectoryPerson, error)
}

var _ Access = (*invite.Service)(nil)

// accessForm adds the sponsors and groups to the form: the groups with their names, and the
// chosen values kept.
func (s *Server) accessForm(c echo.Context, m *views.InviteForm) {
	if s.Access == nil {
		return
	}
	m.SponsorsEnabled = true
	sponsors, groups := m.Values.Sponsors, m.Values.Groups
	m.Values.Sponsors = make([]string, invite.MaxExtraSponsors)
	copy(m.Values.Sponsors, sponsors)
	for _, g := range s.Access.GuestGroups(c.Request().Context(), s.graphTokens(c)) {
		name := g.Name
		if name == "" {
			name = "Group " + g.ID
		}
		m.Groups = append(m.Groups, views.GroupOption{ID: g.ID, Name: name, Team: g.Team, Checked: slices.Contains(groups, g.ID)})
	}
}

// people answers the sponsors picker: members of the tenant whose name or address starts with q,
// as JSON [{name, address}] (at most 10). Graph is asked with the employee's token (delegated) or
// Portico's (application).
func (s *Server) people(c echo.Context) error {
	if s.Access == nil {
		return echo.NewHTTPError(http.StatusNotFound, "The people picker is not available.")
	}
	// The picker serves the invitation form: only those who may invite search the directory (in
	// application mode with Portico's own token).
	if may := s.inviter(c).MayInvite(); !may.Allowed {
		return may.Err()
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	if len([]rune(q)) > 64 {
		return echo.NewHTTPError(http.StatusBadRequest, "The search term is too long.")
	}
	type person struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	}
	out := []person{}
	found, err := s.Access.SearchPeople(c.Request().Context(), s.graphTokens(c), q)
	if err != nil {
		return err
	}
	for _, p := range found {
		if p.Address != "" {
			out = append(out, person{Name: p.DisplayName, Address: p.Address})
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// accessVM adds the guest's sponsors as Graph has them and the group assignments to vm. Sponsors
// this record did not name (another employee who invited the partner earlier) are counted, not
// named, except to administrators: a record shows nothing of other employees' invitations.
func (s *Server) accessVM(c echo.Context, rec *invite.Invitation, vm *views.Invitation) error {
	if s.Access == nil || rec.Outcome != invite.OutcomeCreated {
		return nil
	}
	ctx := c.Request().Context()
	sponsors, groups, err := s.Access.InvitationAccess(ctx, rec.ID)
	if err != nil {
		return err
	}
	for _, g := range groups {
		name := g.GroupName
		if name == "" {
			name = "Group " + g.GroupID
		}
		vm.Groups = append(vm.Groups, views.GroupStatus{Name: name, Status: g.Status, Attempts: g.Attempts,
			Error: g.ErrorMessage, Code: g.ErrorCode, RequestID: g.GraphRequestID, Updated: g.UpdatedAt})
	}
	vm.AccessShown = true
	if rec.GraphUserID == "" {
		for _, sp := range sponsors {
			vm.Sponsors = append(vm.Sponsors, views.Person{Name: sp.DisplayName, Address: sp.Address})
		}
		vm.SponsorsNote = "As recorded when the invitation was sent."
		return nil
	}
	got, err := s.Access.GuestSponsors(ctx, s.graphTokens(c), []string{rec.GraphUserID})
	list, ok := got[rec.GraphUserID]
	if err != nil || !ok {
		s.Logger.Warn("sponsors not read from Graph", "request_id", requestID(c), "err", err)
		for _, sp := range sponsors {
			vm.Sponsors = append(vm.Sponsors, views.Person{Name: sp.DisplayName, Address: sp.Address})
		}
		vm.SponsorsNote = "Microsoft Graph did not answer; these are the sponsors named when the invitation was sent."
		return nil
	}
	viewer := s.inviter(c)
	known := map[string]bool{rec.InviterOID: true, viewer.ObjectID: true}
	for _, sp := range sponsors {
		known[sp.SponsorOID] = true
	}
	others := 0
	for _, p := range list {
		if !known[p.ObjectID] && !viewer.SeesAll() {
			others++
			continue
		}
		vm.Sponsors = append(vm.Sponsors, views.Person{Name: p.DisplayName, Address: p.Address})
	}
	switch others {
	case 0:
	case 1:
		vm.SponsorsNote = "Also sponsored by one other person in your organization."
	default:
		vm.SponsorsNote = "Also sponsored by " + strconv.Itoa(others) + " other people in your organization."
	}
	return nil
}
