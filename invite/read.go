package invite

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/store"
)

// visible loads an invitation the inviter may see: their own, or any of the tenant's for an
// administrator. Everything else, including ids that do not exist, is ErrNotFound.
func (s *Service) visible(ctx context.Context, inv Inviter, id string) (*Invitation, error) {
	if id == "" {
		return nil, ErrNotFound
	}
	rec, err := s.store.GetInvitation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("invite: reading invitation: %w", err)
	}
	if !canSee(inv, rec) {
		return nil, ErrNotFound
	}
	return rec, nil
}

// canSee reports whether the inviter may see rec: their own, or any of the tenant's for an administrator.
func canSee(inv Inviter, rec *Invitation) bool {
	return rec.TenantID == inv.TenantID && (inv.SeesAll() || rec.InviterOID == inv.ObjectID)
}

// JoinActivity returns the active join link (opens, expiry) of each given invitation the inviter
// may see, keyed by invitation id, for lists that show activity but not the link itself: no token
// is decrypted. Invitations without an active link are absent from the map.
func (s *Service) JoinActivity(ctx context.Context, inv Inviter, recs []Invitation) (map[string]*JoinLink, error) {
	out := make(map[string]*JoinLink, len(recs))
	for i := range recs {
		rec := &recs[i]
		if rec.Outcome != OutcomeCreated || !canSee(inv, rec) {
			continue
		}
		l, err := s.store.ActiveJoinLink(ctx, rec.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("invite: reading join links: %w", err)
		}
		out[rec.ID] = l
	}
	return out, nil
}

// Get returns one invitation to its inviter or to an administrator of the same tenant; anyone else
// gets ErrNotFound.
func (s *Service) Get(ctx context.Context, inv Inviter, id string) (*Invitation, error) {
	return s.visible(ctx, inv, id)
}

// StateAll is the list filter that selects invitations in every state.
const StateAll State = "all"

// Page sizes of List, and the number up to which it counts exactly.
const (
	DefaultPageSize = 25
	MaxPageSize     = 100
	ListCountCap    = 1000
)

// ErrBadCursor means a list page link's position is damaged (or not one List wrote).
var ErrBadCursor = errors.New("invite: damaged page position")

// ListFilter selects a page of invitations. Pages are keyset positions (Before, After: the
// cursors of a ListPage), which stay as fast deep in a long list as on its first page.
type ListFilter struct {
	Everyone bool // everyone's invitations in the tenant; administrators only
	// Sponsored: the invitations that name the inviter as a sponsor (invitation_sponsors).
	Sponsored bool
	State     State  // StateAll, StatePending or StateAccepted ("" = all)
	Before    string // the page of invitations older than this cursor (ListPage.OlderCursor)
	After     string // the page of invitations newer than this cursor (ListPage.NewerCursor)
	PageSize  int
}

// ListPage is one page of invitations, newest first.
type ListPage struct {
	Invitations []Invitation
	Total       int  // invitations matching the filter, at most ListCountCap
	TotalMore   bool // more than ListCountCap match (Total is then ListCountCap)
	PageSize    int
	// Cursors for the neighbouring pages, "" when there is none: NewerCursor goes in
	// ListFilter.After, OlderCursor in ListFilter.Before.
	NewerCursor, OlderCursor string
}

// List returns the inviter's invitations (or, for an administrator asking for Everyone, the
// tenant's), one page at a time. A page asked for with After that would be shorter than a full page
// is the first page.
func (s *Service) List(ctx context.Context, inv Inviter, f ListFilter) (*ListPage, error) {
	if f.Everyone && !inv.SeesAll() {
		return nil, ErrForbidden
	}
	// One line per partner: records of earlier builds that a resend replaced are left out.
	sf := store.InvitationFilter{TenantID: inv.TenantID, Current: true}
	switch {
	case f.Sponsored:
		sf.SponsorOID = inv.ObjectID
	case !f.Everyone:
		sf.InviterOID = inv.ObjectID
	}
	switch State(strings.ToLower(string(f.State))) {
	case StatePending, State(strings.ToLower(statePending)):
		sf.State = statePending
	case StateAccepted, State(strings.ToLower(stateAccepted)):
		sf.State = stateAccepted
	}
	if f.Before != "" && f.After != "" {
		return nil, fmt.Errorf("%w: both older and newer", ErrBadCursor)
	}
	for _, c := range []struct {
		raw string
		dst **store.InvitationCursor
	}{{f.Before, &sf.Before}, {f.After, &sf.After}} {
		if c.raw == "" {
			continue
		}
		cur, err := store.ParseInvitationCursor(c.raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrBadCursor, c.raw)
		}
		*c.dst = &cur
	}
	size := f.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	total, more, err := s.store.CountInvitationsCapped(ctx, sf, ListCountCap)
	if err != nil {
		return nil, fmt.Errorf("invite: counting invitations: %w", err)
	}
	sf.Limit = size + 1 // one more tells whether there is a further page
	items, err := s.store.ListInvitations(ctx, sf)
	if err != nil {
		return nil, fmt.Errorf("invite: listing invitations: %w", err)
	}
	if sf.After != nil && len(items) < size {
		return s.List(ctx, inv, ListFilter{Everyone: f.Everyone, State: f.State, PageSize: size})
	}
	extra := len(items) > size
	hasOlder, hasNewer := sf.Before != nil || sf.After != nil, sf.Before != nil
	switch {
	case sf.After != nil && extra:
		items, hasNewer = items[1:], true // the extra one is the newest
	case sf.After != nil:
		hasNewer = false
	case extra:
		items, hasOlder = items[:size], true
	default:
		hasOlder = false
	}
	p := &ListPage{Invitations: items, Total: total, TotalMore: more, PageSize: size}
	if len(items) > 0 {
		if hasNewer {
			p.NewerCursor = cursorOf(&items[0])
		}
		if hasOlder {
			p.OlderCursor = cursorOf(&items[len(items)-1])
		}
	}
	return p, nil
}

func cursorOf(r *Invitation) string {
	return store.InvitationCursor{CreatedAt: r.CreatedAt, ID: r.ID}.String()
}

// RefreshStates reads the current externalUserState from Graph for created invitations whose
// state was last read more than maxAge ago, all in one round trip (JSON batches sent at once)
// under a short overall deadline, persists what changed and returns updated copies. Invitations
// Graph did not answer for in time keep their stored values (and StateCheckedAt, so callers can
// show their age). With SetBackgroundSync(true) it reads nothing and returns copies of invs.
func (s *Service) RefreshStates(ctx context.Context, ts oauth2.TokenSource, invs []Invitation, maxAge time.Duration) []Invitation {
	out := slices.Clone(invs)
	if s.BackgroundSync() {
		return out // the background state sync keeps them current
	}
	now := s.now().UTC()
	byUser := map[string][]int{}
	for i, r := range out {
		if r.Outcome != OutcomeCreated || r.GraphUserID == "" {
			continue
		}
		if r.StateCheckedAt != nil && now.Sub(*r.StateCheckedAt) < maxAge {
			continue
		}
		byUser[r.GraphUserID] = append(byUser[r.GraphUserID], i)
	}
	if len(byUser) == 0 {
		return out
	}

	rctx, cancel := context.WithTimeout(ctx, s.refreshTimeout)
	defer cancel()
	ids := slices.Sorted(maps.Keys(byUser))
	answer := make(chan map[string]*graph.User, 1) // buffered: a late answer never blocks
	go func() {
		users, err := s.graph.GetUsers(rctx, ts, ids)
		if err != nil {
			s.log.DebugContext(ctx, "invite: state refresh failed", "users", len(ids), "answered", len(users), "err", err)
		}
		answer <- users
	}()
	// The page must not wait for a slow Graph: stop at the deadline even if the call still runs.
	var users map[string]*graph.User
	select {
	case users = <-answer:
	case <-rctx.Done():
		return out
	}
	for _, id := range ids {
		u := users[id]
		if u == nil {
			continue
		}
		for _, i := range byUser[id] {
			r := &out[i]
			was := *r
			checked := now
			r.ExternalUserState = u.ExternalUserState
			r.ExternalUserStateChangedAt = u.ExternalUserStateChangeDateTime
			r.StateCheckedAt = &checked
			if err := s.saveState(ctx, &was, r.ExternalUserState, r.ExternalUserStateChangedAt, checked); err != nil {
				s.log.WarnContext(ctx, "invite: state not saved", "invitation", r.ID, "err", err)
			}
		}
	}
	return out
}
