package invite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/store"
)

// Access at invite time: sponsors (Graph's invitedUserSponsors) and the groups a guest is added to.
//
// Sponsors: the inviter is always the first sponsor (in both Graph modes); up to MaxExtraSponsors
// more are typed by address and must be members of the tenant (looked up before anything is sent).
//
// Groups: the form offers the groups of Config.GuestGroups. A chosen group is recorded pending in
// the same transaction as the invitation record, so a restart before the add loses nothing. In
// delegated mode the add is made at once with the inviter's token (Graph decides whether the
// inviter may manage the group; its answer is shown); only a transient failure (throttled,
// unavailable, no answer) or a restart before the attempt leaves the row pending, and the background
// sweep retries it with Portico's application identity when one is configured. In application mode
// the add is a job (Config.GroupQueue) with the application token, and the same sweep is its safety
// net. "Already a member" counts as done.

// Form field names of sponsors (one field per sponsor: "sponsors.N" names the Nth in errors) and groups.
const (
	FieldSponsors = "sponsors"
	FieldGroups   = "groups"
)

// sponsorAddr is an extra sponsor as given and the field it came from: an address, or (id set,
// the JSON API's invitedUserSponsors) a directory object id.
type sponsorAddr struct {
	addr, field string
	id          bool
}

// MaxExtraSponsors is how many sponsors may be named besides the inviter (Graph allows 5 in all).
const MaxExtraSponsors = 4

// ActionGroupAdd is the audit action of one attempt to add a guest to a group.
const ActionGroupAdd = "invitation.group_add"

// groupLease is how long one worker holds a group assignment; groupMaxAttempts bounds its retries.
const (
	groupLease       = 2 * time.Minute
	groupMaxAttempts = 8
)

// AccessGraph is the part of the Graph client sponsors and groups use.
type AccessGraph interface {
	GetGroups(ctx context.Context, ts oauth2.TokenSource, ids []string) (map[string]*graph.Group, error)
	AddGroupMember(ctx context.Context, ts oauth2.TokenSource, groupID, memberID string) (string, error)
	SearchUsers(ctx context.Context, ts oauth2.TokenSource, term string, top int) ([]graph.User, error)
	Sponsors(ctx context.Context, ts oauth2.TokenSource, userIDs []string) (map[string][]graph.User, error)
}

// AccessStore is the persistence of sponsors and group assignments; the StoreAdapter (and the
// Store its Tx hands out) implements it.
type AccessStore interface {
	SetInvitationSponsors(ctx context.Context, invitationID string, sponsors []store.InvitationSponsor) error
	InvitationSponsors(ctx context.Context, invitationIDs ...string) ([]store.InvitationSponsor, error)
	AddInvitationGroups(ctx context.Context, invitationID string, groups []store.InvitationGroup, at time.Time) error
	InvitationGroups(ctx context.Context, invitationIDs ...string) ([]store.InvitationGroup, error)
	ClaimGroupAssignments(ctx context.Context, invitationID string, now time.Time, lease time.Duration, limit int) ([]store.InvitationGroup, error)
	FinishGroupAssignment(ctx context.Context, g *store.InvitationGroup, retryAt, now time.Time) (bool, error)
	PendingGroupInvitations(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// Sponsor is a person named as a guest's sponsor.
type Sponsor struct {
	ObjectID    string
	DisplayName string
	Address     string // mail or user principal name
}

// GuestGroup is a group guests may be added to, with its name as Graph gives it.
type GuestGroup struct {
	ID   string
	Name string // "" when Graph could not be asked
	Team bool
}

// DirectoryPerson is one answer of the people picker: a member of the tenant.
type DirectoryPerson struct {
	ObjectID    string
	DisplayName string
	Address     string
}

type groupCache struct {
	mu      sync.Mutex
	groups  map[string]GuestGroup
	fetched time.Time
}

func (s *Service) accessStore(st Store) (AccessStore, error) {
	as, ok := st.(AccessStore)
	if !ok {
		return nil, errors.New("invite: the store cannot record sponsors and groups")
	}
	return as, nil
}

// GuestGroupIDs are the groups guests may be added to (PORTICO_GUEST_GROUPS).
func (s *Service) GuestGroupIDs() []string { return slices.Clone(s.guestGroups) }

// GuestGroups returns the configured groups with their names, read from Graph with ts and cached
// for an hour; a group Graph could not name keeps its id only.
func (s *Service) GuestGroups(ctx context.Context, ts oauth2.TokenSource) []GuestGroup {
	if len(s.guestGroups) == 0 {
		return nil
	}
	c := &s.groupNames
	c.mu.Lock()
	fresh := c.groups != nil && s.now().Sub(c.fetched) < s.orgTTL
	c.mu.Unlock()
	if !fresh && s.access != nil && ts != nil {
		got, err := s.access.GetGroups(ctx, ts, s.guestGroups)
		if err != nil {
			s.log.WarnContext(ctx, "invite: reading the guest groups' names", "err", err)
		}
		if len(got) > 0 {
			m := map[string]GuestGroup{}
			for id, g := range got {
				m[id] = GuestGroup{ID: id, Name: g.DisplayName, Team: g.IsTeam()}
			}
			c.mu.Lock()
			if err == nil {
				c.groups, c.fetched = m, s.now()
			} else if c.groups == nil {
				c.groups = m // partial: asked again next time
			}
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]GuestGroup, 0, len(s.guestGroups))
	for _, id := range s.guestGroups {
		g, ok := c.groups[id]
		if !ok {
			g = GuestGroup{ID: id}
		}
		out = append(out, g)
	}
	return out
}

// checkAccessFields validates the sponsors and groups of a request (no Graph call) into a; it adds
// its problems to fe and returns fe, nil when there are none.
func (s *Service) checkAccessFields(req Request, a *attempt, fe FieldErrors) FieldErrors {
	add := func(k, msg string) {
		if fe == nil {
			fe = FieldErrors{}
		}
		fe[k] = msg
	}
	// Each sponsor field may hold one address (the form) or several separated by commas (one
	// plain field); errors name the field they came from: "sponsors.N", N its index in req.Sponsors.
	seen := map[string]bool{}
	for i, raw := range req.Sponsors {
		key := fmt.Sprintf("%s.%d", FieldSponsors, i)
		var bad []string
		for _, part := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' }) {
			ad := strings.TrimSpace(part)
			if ad == "" {
				continue
			}
			if isObjectID(ad) {
				k := strings.ToLower(ad)
				if seen[k] || k == strings.ToLower(a.actor.ObjectID) {
					continue
				}
				seen[k] = true
				a.sponsorAddrs = append(a.sponsorAddrs, sponsorAddr{addr: k, field: key, id: true})
				continue
			}
			e, err := ValidateEmail(ad)
			if err != nil {
				bad = append(bad, ad)
				continue
			}
			k := strings.ToLower(e)
			if seen[k] || strings.EqualFold(k, a.actor.UPN) {
				continue // the inviter is a sponsor anyway; a repeat counts once
			}
			seen[k] = true
			a.sponsorAddrs = append(a.sponsorAddrs, sponsorAddr{addr: e, field: key})
		}
		if len(bad) > 0 {
			add(key, "Not an email address: "+clip(strings.Join(bad, ", "), 200)+".")
		}
	}
	if len(a.sponsorAddrs) > MaxExtraSponsors {
		add(FieldSponsors, fmt.Sprintf("Name at most %d sponsors besides you (a guest can have 5 in all).", MaxExtraSponsors))
	}
	for _, g := range req.Groups {
		g = strings.TrimSpace(g)
		if g == "" || slices.Contains(a.groups, g) {
			continue
		}
		if !slices.Contains(s.guestGroups, g) {
			add(FieldGroups, "Choose only groups from the list.")
			break
		}
		a.groups = append(a.groups, g)
	}
	return fe
}

// resolveSponsors looks every extra sponsor up in the directory (at once): each must be a member of
// the tenant, not a guest. Unknown or guest addresses are a *ValidationError; a failed lookup a
// *GraphError (nothing is sent).
func (s *Service) resolveSponsors(ctx context.Context, ts oauth2.TokenSource, a *attempt) error {
	// The employee who asked comes first: the actor, or for an approved request the requester
	// (the record's owner), with the approver added last when there is room (addApprover).
	first := a.actor
	if a.approval != nil {
		first = a.owner
	}
	a.sponsors = []Sponsor{{ObjectID: first.ObjectID, DisplayName: first.Name, Address: first.UPN}}
	defer a.addApprover()
	if len(a.sponsorAddrs) == 0 {
		return nil
	}
	type answer struct {
		users []graph.User
		err   error
	}
	answers := make([]answer, len(a.sponsorAddrs))
	var wg sync.WaitGroup
	for i, sa := range a.sponsorAddrs {
		wg.Go(func() {
			if !sa.id {
				answers[i].users, answers[i].err = s.graph.FindUsersByAddress(ctx, ts, sa.addr)
				return
			}
			got, err := s.graph.GetUsers(ctx, ts, []string{sa.addr})
			if u := got[sa.addr]; u != nil {
				answers[i].users = []graph.User{*u}
			} else if api := graphErrorOf(err); api == nil || api.Status != 404 {
				answers[i].err = err // a 404 is "not in your organization", anything else a failed lookup
			}
		})
	}
	wg.Wait()
	fe := FieldErrors{}
	for i, sa := range a.sponsorAddrs {
		if err := answers[i].err; err != nil {
			ge := describeGraphError(err, true)
			ge.Message = "Portico could not look the sponsors up in your directory, so it sent nothing. Try again in a minute."
			return ge
		}
		var member *graph.User
		isGuest := false
		for j := range answers[i].users {
			u := &answers[i].users[j]
			if strings.EqualFold(u.UserType, "Guest") {
				isGuest = true
				continue
			}
			member = u
			break
		}
		switch {
		case member != nil:
			if member.ID == first.ObjectID || slices.ContainsFunc(a.sponsors, func(sp Sponsor) bool { return sp.ObjectID == member.ID }) {
				continue
			}
			addr := sa.addr
			if sa.id {
				if addr = member.Mail; addr == "" {
					addr = member.UserPrincipalName
				}
			}
			a.sponsors = append(a.sponsors, Sponsor{ObjectID: member.ID, DisplayName: member.DisplayName, Address: addr})
		case isGuest:
			fe[sa.field] = strings.TrimSpace(fe[sa.field] + " " + sa.addr + " is a guest; guests cannot be sponsors.")
		default:
			fe[sa.field] = strings.TrimSpace(fe[sa.field] + " " + sa.addr + " is not in your organization.")
		}
	}
	if len(fe) > 0 {
		return &ValidationError{Fields: fe}
	}
	return nil
}

// isObjectID reports whether s is a directory object id (a GUID), as Graph's invitedUserSponsors names sponsors.
func isObjectID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}

// sponsorAddresses are the extra sponsors found by resolveSponsors (the inviter left out), by
// the address typed, in order: what an approval request keeps.
func (a *attempt) sponsorAddresses() []string {
	var out []string
	for _, sp := range a.sponsors {
		if sp.ObjectID != a.owner.ObjectID && sp.ObjectID != a.actor.ObjectID {
			out = append(out, sp.Address)
		}
	}
	return out
}

// sponsorRefs is Graph's invitedUserSponsors: the inviter first, then the extra sponsors.
func (a *attempt) sponsorRefs() []graph.DirectoryObject {
	if len(a.sponsors) == 0 {
		return []graph.DirectoryObject{{ID: a.actor.ObjectID}}
	}
	out := make([]graph.DirectoryObject, 0, len(a.sponsors))
	for _, sp := range a.sponsors {
		out = append(out, graph.DirectoryObject{ID: sp.ObjectID})
	}
	return out
}

// addApprover adds the approver of an approved request as the last sponsor, when Graph's limit of
// 5 leaves room for them after the requester and the sponsors the requester named.
func (a *attempt) addApprover() {
	if a.approval == nil || a.actor.ObjectID == a.owner.ObjectID || len(a.sponsors) >= MaxExtraSponsors+1 ||
		slices.ContainsFunc(a.sponsors, func(sp Sponsor) bool { return sp.ObjectID == a.actor.ObjectID }) {
		return
	}
	a.sponsors = append(a.sponsors, Sponsor{ObjectID: a.actor.ObjectID, DisplayName: a.actor.Name, Address: a.actor.UPN})
}

// recordAccess writes the sponsors and the pending group assignments of a created invitation in
// the record's transaction.
func (a *attempt) recordAccess(ctx context.Context, tx Store) error {
	// The inviter alone is the default sponsor, and their own list shows the record already:
	// sponsors are written when someone else was named too.
	if !a.rec.Created() || len(a.sponsors) < 2 && len(a.groups) == 0 {
		return nil
	}
	as, err := a.s.accessStore(tx)
	if err != nil {
		return err
	}
	if len(a.sponsors) > 0 {
		rows := make([]store.InvitationSponsor, 0, len(a.sponsors))
		for _, sp := range a.sponsors {
			rows = append(rows, store.InvitationSponsor{SponsorOID: sp.ObjectID, DisplayName: sp.DisplayName, Address: sp.Address})
		}
		if err := as.SetInvitationSponsors(ctx, a.rec.ID, rows); err != nil {
			return err
		}
	}
	if len(a.groups) > 0 {
		names := map[string]string{}
		a.s.groupNames.mu.Lock()
		for id, g := range a.s.groupNames.groups {
			names[id] = g.Name
		}
		a.s.groupNames.mu.Unlock()
		rows := make([]store.InvitationGroup, 0, len(a.groups))
		for _, id := range a.groups {
			rows = append(rows, store.InvitationGroup{GroupID: id, GroupName: names[id]})
		}
		// Delegated, the inviter's request tries first with the inviter's own token: the sweep (the
		// application's token) only takes what the request did not finish, a lease later.
		due := a.s.now().UTC()
		if !a.s.appOnly {
			due = due.Add(groupLease)
		}
		if err := as.AddInvitationGroups(ctx, a.rec.ID, rows, due); err != nil {
			return err
		}
	}
	return nil
}

// startGroups begins the group assignments of a recorded invitation: a job in application mode
// (or in-request when no queue is set), at once with the inviter's token in delegated mode.
func (a *attempt) startGroups(ctx context.Context, ts oauth2.TokenSource, res *Result) {
	if len(a.groups) == 0 || res == nil || res.Invitation == nil {
		return
	}
	s := a.s
	if s.appOnly && s.groupQueue != nil {
		err := s.groupQueue(ctx, res.Invitation.ID)
		if err == nil {
			return
		}
		s.log.WarnContext(ctx, "invite: queueing the group assignments failed; adding now", "invitation", res.Invitation.ID, "err", err)
	}
	identity := "delegated"
	if s.appOnly {
		identity = "application"
	}
	var re *GroupRetryError
	if _, err := s.assignGroups(ctx, ts, res.Invitation.ID, identity, a.meta); errors.As(err, &re) {
		s.log.InfoContext(ctx, "invite: group assignments left for the background sweep", "invitation", res.Invitation.ID, "retry_at", re.At)
	} else if err != nil {
		s.log.WarnContext(ctx, "invite: group assignments", "invitation", res.Invitation.ID, "err", err)
	}
}

// GroupRetryError says that group assignments of the invitation wait for another attempt at At
// (a transient failure); a job retries then.
type GroupRetryError struct{ At time.Time }

func (e *GroupRetryError) Error() string {
	return "invite: group assignments wait for another attempt at " + e.At.UTC().Format(time.RFC3339)
}

// AssignGroups adds guests to their pending groups with ts: those of one invitation, or (id "")
// every due one, at most 50. identity ("delegated" or "application") is recorded with each add.
// Each assignment ends added, failed (Graph's answer kept), or pending for a later attempt when the
// failure was transient and a retry is possible. It returns how many assignments it finished and,
// for one invitation with an assignment left pending, a *GroupRetryError.
func (s *Service) AssignGroups(ctx context.Context, ts oauth2.TokenSource, invitationID, identity string) (int, error) {
	return s.assignGroups(ctx, ts, invitationID, identity, Meta{Via: ViaJob})
}

// assignGroups is AssignGroups with the audit metadata of who runs it (the inviter's request, or a job).
func (s *Service) assignGroups(ctx context.Context, ts oauth2.TokenSource, invitationID, identity string, meta Meta) (int, error) {
	if s.access == nil {
		return 0, errors.New("invite: group assignments need the Graph client's group calls")
	}
	as, err := s.accessStore(s.store)
	if err != nil {
		return 0, err
	}
	claimed, err := as.ClaimGroupAssignments(ctx, invitationID, s.now().UTC(), groupLease, 50)
	if err != nil {
		return 0, err
	}
	// Retries after this attempt: by the sweep with the application identity, when there is one.
	canRetry := identity == "application" || s.backgroundGroups.Load()
	done := 0
	var retry time.Time
	invs := map[string]*Invitation{}
	for i := range claimed {
		g := &claimed[i]
		inv := invs[g.InvitationID]
		if inv == nil {
			if inv, err = s.store.GetInvitation(ctx, g.InvitationID); err != nil {
				return done, fmt.Errorf("invite: group assignment of %s: %w", g.InvitationID, err)
			}
			invs[g.InvitationID] = inv
		}
		if s.finishGroup(ctx, as, ts, inv, g, identity, canRetry, meta) {
			done++
		} else if g.Status == store.GroupPending && (retry.IsZero() || g.NextAttemptAt.Before(retry)) {
			retry = g.NextAttemptAt
		}
	}
	if invitationID != "" && !retry.IsZero() {
		return done, &GroupRetryError{At: retry}
	}
	return done, nil
}

// finishGroup makes one attempt and records its outcome with an audit event; it reports whether
// the assignment is now final.
func (s *Service) finishGroup(ctx context.Context, as AccessStore, ts oauth2.TokenSource, inv *Invitation, g *store.InvitationGroup,
	identity string, canRetry bool, meta Meta) bool {
	now := s.now().UTC()
	retryAt := now
	g.AddedBy = identity
	note := ""
	var err error
	if inv.GraphUserID == "" {
		err = errors.New("no guest user id is known for this invitation")
		g.Status, g.ErrorCode, g.ErrorMessage = store.GroupFailed, "NoGuestUser", "Graph gave no user id for the guest, so the guest could not be added."
	} else {
		var rid string
		rid, err = s.access.AddGroupMember(ctx, ts, g.GroupID, inv.GraphUserID)
		g.GraphRequestID = rid
		api := graphErrorOf(err)
		if api != nil {
			g.GraphRequestID = api.RequestID
		}
		switch {
		case err == nil:
			g.Status, g.ErrorCode, g.ErrorMessage = store.GroupAdded, "", ""
		case graph.AlreadyMember(err):
			g.Status, g.ErrorCode, g.ErrorMessage, note = store.GroupAdded, "", "", "already a member"
		case transientGroupError(err) && canRetry && g.Attempts < groupMaxAttempts:
			g.Status = store.GroupPending
			retryAt = now.Add(groupBackoff(g.Attempts, api))
			g.ErrorCode, g.ErrorMessage = "Transient", clip(err.Error(), 300)
			if api != nil {
				g.ErrorCode, g.ErrorMessage = api.Code, clip(api.Message, 300)
			}
		default:
			g.Status = store.GroupFailed
			g.ErrorCode, g.ErrorMessage = "Unreachable", "Portico could not reach Microsoft Graph."
			if api != nil {
				g.ErrorCode, g.ErrorMessage = api.Code, clip(api.Message, 300)
			}
		}
	}
	if g.Status == store.GroupPending && ctx.Err() != nil {
		retryAt = now // this instance is stopping: another may try at once
	}
	g.NextAttemptAt = retryAt
	// The outcome is recorded even when the job's context ends (shutdown), so the lease is let go.
	ctx, cancel := s.detach(ctx)
	defer cancel()
	ok, ferr := as.FinishGroupAssignment(ctx, g, retryAt, now)
	if ferr != nil || !ok {
		s.log.ErrorContext(ctx, "invite: group assignment not recorded", "invitation", inv.ID, "group", g.GroupID, "err", ferr)
		return false
	}
	outcome := OutcomeSuccess
	switch g.Status {
	case store.GroupFailed:
		outcome = OutcomeFailed
		if api := graphErrorOf(err); api != nil && api.Status == 403 {
			outcome = OutcomeDenied
		}
	case store.GroupPending:
		outcome = OutcomeThrottled
		note = "will retry"
	}
	actor := Inviter{TenantID: inv.TenantID, ObjectID: inv.InviterOID, UPN: inv.InviterUPN, Name: inv.InviterName}
	d := auditDetail{InvitationID: inv.ID, GraphUserID: inv.GraphUserID, ErrorCode: g.ErrorCode,
		Note: strings.TrimSpace("group " + g.GroupID + " " + quoteName(g.GroupName) + " " + note)}
	if identity == "application" {
		d.GraphIdentity = "application"
	}
	if api := graphErrorOf(err); api != nil && g.Status != store.GroupAdded {
		d.Status = api.Status
	}
	_ = s.audit(ctx, s.event(actor, meta, ActionGroupAdd, inv.Email, outcome, g.GraphRequestID, d))
	s.log.InfoContext(ctx, "invite: group assignment", "invitation", inv.ID, "group", g.GroupID, "status", g.Status,
		"attempt", g.Attempts, "graph_request_id", g.GraphRequestID, "code", g.ErrorCode)
	return g.Status != store.GroupPending
}

func quoteName(n string) string {
	if n == "" {
		return ""
	}
	return "(" + n + ")"
}

// transientGroupError is a failure worth another attempt: throttled, unavailable, or no answer.
func transientGroupError(err error) bool {
	api := graphErrorOf(err)
	if api == nil {
		return true
	}
	return api.Status == 429 || api.Status >= 500
}

// groupBackoff waits Graph's Retry-After, else 30 s doubling per attempt up to an hour.
func groupBackoff(attempt int, api *graph.Error) time.Duration {
	if api != nil && api.RetryAfter > 0 {
		return api.RetryAfter
	}
	return time.Duration(math.Min(float64(30*time.Second)*math.Pow(2, float64(max(attempt-1, 0))), float64(time.Hour)))
}

// SetGroupQueue sets how group assignments are queued as a job (application mode); call it before
// the service is used.
func (s *Service) SetGroupQueue(q func(ctx context.Context, invitationID string) error) {
	s.groupQueue = q
}

// SetBackgroundGroups says whether a background identity retries group assignments (the sweep):
// without one, a delegated add that failed transiently is final.
func (s *Service) SetBackgroundGroups(on bool) { s.backgroundGroups.Store(on) }

// PendingGroupInvitations lists invitations whose group assignments are due, for the sweep.
func (s *Service) PendingGroupInvitations(ctx context.Context, limit int) ([]string, error) {
	as, err := s.accessStore(s.store)
	if err != nil {
		return nil, err
	}
	return as.PendingGroupInvitations(ctx, s.now().UTC(), limit)
}

// InvitationAccess returns the sponsors recorded with an invitation and its group assignments.
func (s *Service) InvitationAccess(ctx context.Context, invitationID string) ([]store.InvitationSponsor, []store.InvitationGroup, error) {
	as, err := s.accessStore(s.store)
	if err != nil {
		return nil, nil, err
	}
	sp, err := as.InvitationSponsors(ctx, invitationID)
	if err != nil {
		return nil, nil, err
	}
	gs, err := as.InvitationGroups(ctx, invitationID)
	return sp, gs, err
}

// SponsorNames returns each invitation's recorded sponsors as one display string ("Megan Bowen,
// adele@contoso.example"), read in batches: one query per sponsorNamesBatch invitations, not one
// per row of a list page. Invitations without recorded sponsors are missing from the map.
func (s *Service) SponsorNames(ctx context.Context, invitationIDs []string) (map[string]string, error) {
	as, err := s.accessStore(s.store)
	if err != nil {
		return nil, err
	}
	names := make(map[string][]string, len(invitationIDs))
	for start := 0; start < len(invitationIDs); start += sponsorNamesBatch {
		sp, err := as.InvitationSponsors(ctx, invitationIDs[start:min(start+sponsorNamesBatch, len(invitationIDs))]...)
		if err != nil {
			return nil, err
		}
		for _, x := range sp { // ordered by invitation and position
			n := x.DisplayName
			if n == "" {
				n = x.Address
			}
			names[x.InvitationID] = append(names[x.InvitationID], n)
		}
	}
	out := make(map[string]string, len(names))
	for id, ns := range names {
		out[id] = strings.Join(ns, ", ")
	}
	return out, nil
}

// sponsorNamesBatch keeps SponsorNames' IN lists well under the engines' bound-parameter limits.
var sponsorNamesBatch = 500

// GuestSponsors reads the sponsors Graph has for each guest (batched); guests whose read failed
// are missing from the map.
func (s *Service) GuestSponsors(ctx context.Context, ts oauth2.TokenSource, guestIDs []string) (map[string][]DirectoryPerson, error) {
	if s.access == nil || len(guestIDs) == 0 {
		return nil, nil
	}
	got, err := s.access.Sponsors(ctx, ts, guestIDs)
	out := make(map[string][]DirectoryPerson, len(got))
	for id, us := range got {
		for _, u := range us {
			addr := u.Mail
			if addr == "" {
				addr = u.UserPrincipalName
			}
			out[id] = append(out[id], DirectoryPerson{ObjectID: u.ID, DisplayName: u.DisplayName, Address: addr})
		}
	}
	return out, err
}

// SearchPeople finds members of the tenant whose name or address starts with term, for the
// sponsors picker (guests are left out: they cannot be sponsors).
func (s *Service) SearchPeople(ctx context.Context, ts oauth2.TokenSource, term string) ([]DirectoryPerson, error) {
	term = strings.TrimSpace(term)
	if s.access == nil || len([]rune(term)) < 2 {
		return nil, nil
	}
	users, err := s.access.SearchUsers(ctx, ts, clip(term, 64), 10)
	if err != nil {
		ge := describeGraphError(err, true)
		if ge.Status != 429 && ge.Status != 401 {
			ge.Message = "Portico could not search your directory just now; type the whole address instead."
		}
		return nil, ge
	}
	var out []DirectoryPerson
	for _, u := range users {
		if strings.EqualFold(u.UserType, "Guest") {
			continue
		}
		addr := u.Mail
		if addr == "" {
			addr = u.UserPrincipalName
		}
		out = append(out, DirectoryPerson{ObjectID: u.ID, DisplayName: u.DisplayName, Address: addr})
	}
	return out, nil
}
