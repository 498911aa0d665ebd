package invite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/notify"
	"portico/store"
	"portico/webhooks"
)

// The lifecycle (issue 19): what Portico does after an invitation to guests it invited that never
// accepted: reminders (the invitation resent through the send pipeline), a warning to the inviter,
// and at expiry a report, a disable or a delete, as the policy says and the granted application
// permissions allow. Each (invitation, action, step) is claimed once in the store's lifecycle log,
// so a run repeated, on any instance, acts once; a Graph failure leaves the claim failed and the
// guest as it was, and a later run tries again.

// Expiry effects (PORTICO_PENDING_EXPIRY_ACTION) and the other effects the log records.
const (
	EffectReport  = "report"
	EffectDisable = "disable"
	EffectDelete  = "delete"
	EffectRemind  = "remind"
	EffectNotice  = "notice"
	EffectRestore = "restore"
)

// Lifecycle actions: the log's action column.
const (
	LifecycleRemind = "remind" // step n: the n-th reminder
	LifecycleWarn   = "warn"   // the inviter is told before the expiry action
	LifecycleExpire = "expire" // the expiry action (disable or delete), step 0
	LifecycleReport = "report" // the expiry reported only (policy report, or a missing permission)
	// LifecycleReset is an administrator's reset of redemption; step n: the n-th reset. It is
	// claimed before Graph is called, so a double click or a second administrator cannot send a
	// second invitation while one is in flight.
	LifecycleReset = "reset_redemption"
)

// Audit actions of the lifecycle.
const (
	ActionLifecycleRemind  = "lifecycle.remind"
	ActionLifecycleWarn    = "lifecycle.warn"
	ActionLifecycleReport  = "lifecycle.report"
	ActionLifecycleDisable = "lifecycle.disable"
	ActionLifecycleDelete  = "lifecycle.delete"
	ActionLifecycleRestore = "lifecycle.restore"
	ActionLifecycleExempt  = "lifecycle.exempt"
	ActionLifecycleReset   = "lifecycle.reset_redemption"
)

// Permissions the lifecycle's writes need as an application (least privileged first).
var (
	permDisable = []string{"User.ReadWrite.All", "Directory.ReadWrite.All", "User.EnableDisableAccount.All"}
	permDelete  = []string{"User.ReadWrite.All", "User.DeleteRestore.All"}
	permSignIn  = []string{"AuditLog.Read.All"}
	permReset   = []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}
)

// LifecyclePolicy is the configured lifecycle (config.Lifecycle).
type LifecyclePolicy struct {
	RemindAfter   []time.Duration // ages of a pending invitation at which it is resent
	PendingExpiry time.Duration   // age at which a never-accepted guest expires; 0: never
	ExpiryAction  string          // EffectReport (default), EffectDisable or EffectDelete
	WarnBefore    time.Duration   // the inviter is warned this long before a disable or delete
}

// Enabled reports whether any rule is configured.
func (p LifecyclePolicy) Enabled() bool { return len(p.RemindAfter) > 0 || p.PendingExpiry > 0 }

// Days writes d as Portico's settings do: "7d" for whole days, else Go's duration.
func Days(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

func (p LifecyclePolicy) remindSetting() string {
	parts := make([]string, len(p.RemindAfter))
	for i, d := range p.RemindAfter {
		parts[i] = Days(d)
	}
	return "PORTICO_REMIND_AFTER=" + strings.Join(parts, ",")
}

func (p LifecyclePolicy) expirySetting() string {
	return "PORTICO_PENDING_EXPIRY=" + Days(p.PendingExpiry) + " PORTICO_PENDING_EXPIRY_ACTION=" + p.action()
}

func (p LifecyclePolicy) action() string {
	if p.ExpiryAction == "" {
		return EffectReport
	}
	return p.ExpiryAction
}

// LifecycleGraph is what the lifecycle calls in Graph (graph.Client has it).
type LifecycleGraph interface {
	GuestStatuses(ctx context.Context, ts oauth2.TokenSource, ids []string, withSignIn bool) (map[string]*graph.GuestStatus, []string, error)
	SetAccountsEnabled(ctx context.Context, ts oauth2.TokenSource, ids []string, enabled bool) map[string]graph.WriteResult
	DeleteUsers(ctx context.Context, ts oauth2.TokenSource, ids []string) map[string]graph.WriteResult
	SetAccountEnabled(ctx context.Context, ts oauth2.TokenSource, userID string, enabled bool) (string, error)
	ListDeletedUsers(ctx context.Context, ts oauth2.TokenSource) ([]graph.DeletedUser, error)
	RestoreDeletedUser(ctx context.Context, ts oauth2.TokenSource, userID string) (string, error)
	ResetRedemption(ctx context.Context, ts oauth2.TokenSource, in *graph.Invitation, userID string) (*graph.Invitation, error)
}

var _ LifecycleGraph = (*graph.Client)(nil)

// LifecycleStore is the lifecycle's persistence (StoreAdapter has it).
type LifecycleStore interface {
	ClaimLifecycleAction(ctx context.Context, a *store.LifecycleAction, now time.Time, lease time.Duration) (bool, error)
	FinishLifecycleAction(ctx context.Context, id, state, detail, errText, graphRequestID string, at time.Time) (bool, error)
	ListLifecycleActions(ctx context.Context, f store.LifecycleFilter) ([]store.LifecycleAction, error)
	LifecycleGuest(ctx context.Context, tenantID, guestID string) (*store.LifecycleGuest, error)
	LifecycleGuests(ctx context.Context, tenantID string) ([]store.LifecycleGuest, error)
	SetGuestFlags(ctx context.Context, tenantID, guestID, invitationID string, exempt, optedIn bool, note, by string, at time.Time) error
	SetGuestAccountState(ctx context.Context, tenantID, guestID, invitationID, state string, signIn *time.Time, at time.Time) error
	PendingCandidates(ctx context.Context, tenantID string, after *store.InvitationCursor, limit int) ([]Invitation, error)
	// LifecycleTx runs fn in one transaction: an account state Portico set and its guest.disabled
	// or guest.deleted.
	LifecycleTx(ctx context.Context, fn func(LifecycleStore) error) error
	webhooks.Outbox
}

var _ LifecycleStore = (*StoreAdapter)(nil)

// LifecycleTx runs fn in one database transaction; a nested one joins it.
func (a *StoreAdapter) LifecycleTx(ctx context.Context, fn func(LifecycleStore) error) error {
	return a.Tx(ctx, func(s Store) error { return fn(s.(*StoreAdapter)) })
}

// ClaimLifecycleAction claims one log entry (see store.Queries.ClaimLifecycleAction).
func (a *StoreAdapter) ClaimLifecycleAction(ctx context.Context, x *store.LifecycleAction, now time.Time, lease time.Duration) (bool, error) {
	return a.q.ClaimLifecycleAction(ctx, x, now, lease)
}

// FinishLifecycleAction settles a claimed log entry.
func (a *StoreAdapter) FinishLifecycleAction(ctx context.Context, id, state, detail, errText, rid string, at time.Time) (bool, error) {
	return a.q.FinishLifecycleAction(ctx, id, state, detail, errText, rid, at)
}

// ListLifecycleActions lists log entries, newest first.
func (a *StoreAdapter) ListLifecycleActions(ctx context.Context, f store.LifecycleFilter) ([]store.LifecycleAction, error) {
	return a.q.ListLifecycleActions(ctx, f)
}

// LifecycleGuest reads one guest's flags and account state.
func (a *StoreAdapter) LifecycleGuest(ctx context.Context, tenantID, guestID string) (*store.LifecycleGuest, error) {
	return a.q.LifecycleGuest(ctx, tenantID, guestID)
}

// LifecycleGuests lists the guests with lifecycle data.
func (a *StoreAdapter) LifecycleGuests(ctx context.Context, tenantID string) ([]store.LifecycleGuest, error) {
	return a.q.LifecycleGuests(ctx, tenantID)
}

// SetGuestFlags records an admin's exemption or opt-in.
func (a *StoreAdapter) SetGuestFlags(ctx context.Context, tenantID, guestID, invitationID string, exempt, optedIn bool, note, by string, at time.Time) error {
	return a.q.SetGuestFlags(ctx, tenantID, guestID, invitationID, exempt, optedIn, note, by, at)
}

// SetGuestAccountState records the account state Portico set or saw.
func (a *StoreAdapter) SetGuestAccountState(ctx context.Context, tenantID, guestID, invitationID, state string, signIn *time.Time, at time.Time) error {
	return a.q.SetGuestAccountState(ctx, tenantID, guestID, invitationID, state, signIn, at)
}

// PendingCandidates lists sent, not accepted invitation records, oldest first.
func (a *StoreAdapter) PendingCandidates(ctx context.Context, tenantID string, after *store.InvitationCursor, limit int) ([]Invitation, error) {
	return invitationsFromRows(a.q.PendingCandidates(ctx, tenantID, after, limit))
}

// LifecycleConfig configures Service.NewLifecycle.
type LifecycleConfig struct {
	Policy   LifecyclePolicy
	Graph    LifecycleGraph
	Tokens   oauth2.TokenSource // Portico's application token; nil: nothing can be sent or changed (report only)
	TenantID string
	// Granted are the application permissions the token carries, as read at start (for deciding
	// what to attempt and explaining it; Graph remains the judge); nil: not known.
	Granted []string
	Lease   time.Duration // how long a claim holds (default 5 minutes)
	Page    int           // candidates read per page (default 200: ten $batch requests of 20)
}

// Lifecycle runs the lifecycle rules; one per Portico, shared by the job and the admin page.
type Lifecycle struct {
	s      *Service
	st     LifecycleStore
	g      LifecycleGraph
	ts     oauth2.TokenSource
	policy LifecyclePolicy
	tenant string
	lease  time.Duration
	page   int
	log    *slog.Logger

	mu      sync.Mutex
	granted []string
	known   bool
	refused map[string]string // effect → why Graph refused it (403), learned at run time
}

// NewLifecycle builds the lifecycle on the service's store (which must be a LifecycleStore).
func (s *Service) NewLifecycle(cfg LifecycleConfig) (*Lifecycle, error) {
	st, ok := s.store.(LifecycleStore)
	if !ok {
		return nil, errors.New("invite: the store cannot keep the lifecycle log")
	}
	if cfg.Graph == nil || cfg.TenantID == "" {
		return nil, errors.New("invite: the lifecycle needs Graph and the tenant id")
	}
	l := &Lifecycle{s: s, st: st, g: cfg.Graph, ts: cfg.Tokens, policy: cfg.Policy, tenant: cfg.TenantID,
		lease: orDuration(cfg.Lease, 5*time.Minute), page: cfg.Page, log: s.log.With("component", "lifecycle"),
		refused: map[string]string{}}
	if l.page <= 0 {
		l.page = 200
	}
	if cfg.Granted != nil {
		l.granted, l.known = slices.Clone(cfg.Granted), true
	}
	return l, nil
}

// Policy is the configured policy.
func (l *Lifecycle) Policy() LifecyclePolicy { return l.policy }

// SetGranted records the application permissions the token carries (nil: unknown).
func (l *Lifecycle) SetGranted(perms []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.granted, l.known = slices.Clone(perms), perms != nil
}

func (l *Lifecycle) has(perms []string) bool {
	return slices.ContainsFunc(l.granted, func(g string) bool {
		return slices.ContainsFunc(perms, func(p string) bool { return strings.EqualFold(p, g) })
	})
}

// ExpiryEffect is what expiry does now: the policy's action, or EffectReport with the reason when
// the application token or its permission is missing (known at start, or learned from Graph's 403).
func (l *Lifecycle) ExpiryEffect() (effect, why string) {
	want := l.policy.action()
	if want == EffectReport {
		return EffectReport, ""
	}
	if l.ts == nil {
		return EffectReport, "Portico has no background identity (application credentials, with PORTICO_BACKGROUND=on in delegated mode), so it cannot " + want + " guests: expired guests are reported only."
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	perms := permDisable
	if want == EffectDelete {
		perms = permDelete
	}
	if l.known && !l.has(perms) {
		return EffectReport, "The application permission User.ReadWrite.All is not granted to Portico, so it cannot " + want + " guests: expired guests are reported only. Grant it (with admin consent) to let the policy act."
	}
	if why := l.refused[want]; why != "" {
		return EffectReport, why
	}
	return want, ""
}

// SignInActivity reports whether signInActivity is read (AuditLog.Read.All granted and not refused).
func (l *Lifecycle) SignInActivity() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ts != nil && l.known && l.has(permSignIn) && l.refused["signin"] == ""
}

// CanResetRedemption reports whether resetting redemption may work (User.ReadWrite.All) and why not.
func (l *Lifecycle) CanResetRedemption() (bool, string) {
	if l.ts == nil {
		return false, "Portico has no application credentials."
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.known && !l.has(permReset) {
		return false, "The application permission User.ReadWrite.All is not granted to Portico."
	}
	return true, ""
}

func (l *Lifecycle) refuse(effect, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refused[effect] = why
}

// Planned is one action a run would take (or takes) on one guest.
type Planned struct {
	Invitation Invitation
	GuestID    string
	Action     string // LifecycleRemind, LifecycleWarn, LifecycleExpire, LifecycleReport
	Step       int
	Effect     string
	Policy     string
	Due        time.Time
	Note       string // why it is reported only, when it is
}

// Subject is the log's subject of a planned action.
func (p *Planned) Subject() string { return p.Invitation.ID }

// Guest states on the admin page.
const (
	GuestPending  = "pending"
	GuestReminded = "reminded"
	GuestExpiring = "expiring" // the expiry (or its warning) is due within WarnBefore (or 7 days)
	GuestExpired  = "expired"  // reported expired, nothing changed
	GuestDisabled = "disabled"
	GuestDeleted  = "deleted"
	GuestExempt   = "exempt"
	GuestAccepted = "accepted" // only on a guest's own page (the lifecycle's pending rules no longer apply)
)

// GuestLife is one guest as the lifecycle sees it.
type GuestLife struct {
	Invitation Invitation
	GuestID    string
	State      string
	Flags      *store.LifecycleGuest // nil: no admin decision or account change recorded
	Log        []store.LifecycleAction
	Reminders  int
	Next       *Planned // the next scheduled action, due or not; nil: none
	Due        []Planned
}

// expiringWindow is how far ahead a guest counts as "expiring soon" when no warning is configured.
const expiringWindow = 7 * 24 * time.Hour

// plan decides what is due for one pending guest from Portico's own records.
func (l *Lifecycle) plan(inv Invitation, flags *store.LifecycleGuest, log []store.LifecycleAction, now time.Time) GuestLife {
	gl := GuestLife{Invitation: inv, GuestID: inv.GraphUserID, Flags: flags, Log: log, State: GuestPending}
	done := map[string]bool{}
	for _, a := range log {
		if a.State == store.LifecycleDone || a.State == store.LifecycleSkipped {
			done[fmt.Sprintf("%s/%d", a.Action, a.Step)] = true
			if a.Action == LifecycleRemind && a.State == store.LifecycleDone {
				gl.Reminders++
			}
			if a.Action == LifecycleReport {
				gl.State = GuestExpired
			}
		}
	}
	if gl.Reminders > 0 && gl.State == GuestPending {
		gl.State = GuestReminded
	}
	if flags != nil {
		switch flags.AccountState {
		case store.GuestDisabled:
			gl.State = GuestDisabled
			return gl
		case store.GuestDeleted:
			gl.State = GuestDeleted
			return gl
		}
		if flags.Exempt {
			gl.State = GuestExempt
			return gl
		}
	}
	start := inv.CreatedAt
	var sched []Planned
	expireDue := l.policy.PendingExpiry > 0 && !now.Before(start.Add(l.policy.PendingExpiry))
	if !expireDue {
		for i, d := range l.policy.RemindAfter {
			if done[fmt.Sprintf("%s/%d", LifecycleRemind, i+1)] {
				continue
			}
			sched = append(sched, Planned{Action: LifecycleRemind, Step: i + 1, Effect: EffectRemind, Due: start.Add(d),
				Policy: fmt.Sprintf("%s (reminder %d of %d)", l.policy.remindSetting(), i+1, len(l.policy.RemindAfter))})
			break // one reminder at a time: the next waits for this one
		}
	}
	if l.policy.PendingExpiry > 0 {
		effect, why := l.ExpiryEffect()
		expireAt := start.Add(l.policy.PendingExpiry)
		if l.policy.WarnBefore > 0 && effect != EffectReport && !expireDue && !done[LifecycleWarn+"/0"] {
			sched = append(sched, Planned{Action: LifecycleWarn, Effect: EffectNotice, Due: expireAt.Add(-l.policy.WarnBefore),
				Policy: "PORTICO_WARN_BEFORE=" + Days(l.policy.WarnBefore) + " before " + l.policy.expirySetting()})
		}
		action := LifecycleExpire
		if effect == EffectReport {
			action = LifecycleReport
		}
		if !done[action+"/0"] {
			sched = append(sched, Planned{Action: action, Effect: effect, Due: expireAt, Policy: l.policy.expirySetting(), Note: why})
		}
		window := max(l.policy.WarnBefore, expiringWindow)
		if gl.State != GuestExpired && !now.Before(expireAt.Add(-window)) {
			gl.State = GuestExpiring
		}
	}
	slices.SortStableFunc(sched, func(a, b Planned) int { return a.Due.Compare(b.Due) })
	for i := range sched {
		sched[i].Invitation, sched[i].GuestID = inv, inv.GraphUserID
		if !now.Before(sched[i].Due) {
			gl.Due = append(gl.Due, sched[i])
		} else if gl.Next == nil {
			n := sched[i]
			gl.Next = &n
		}
	}
	if gl.Next == nil && len(gl.Due) > 0 {
		n := gl.Due[0]
		gl.Next = &n
	}
	return gl
}

// Guests lists the pending guests Portico invited with their lifecycle state, from Portico's own
// records only (no Graph call), oldest invitation first.
func (l *Lifecycle) Guests(ctx context.Context) ([]GuestLife, error) {
	now := l.s.now()
	flags, err := l.flags(ctx)
	if err != nil {
		return nil, err
	}
	var out []GuestLife
	var after *store.InvitationCursor
	for {
		page, err := l.st.PendingCandidates(ctx, l.tenant, after, l.page)
		if err != nil {
			return nil, fmt.Errorf("invite: lifecycle candidates: %w", err)
		}
		if len(page) == 0 {
			return out, nil
		}
		logs, err := l.logs(ctx, page)
		if err != nil {
			return nil, err
		}
		for _, inv := range page {
			out = append(out, l.plan(inv, flags[inv.GraphUserID], logs[inv.ID], now))
		}
		c := store.InvitationCursor{CreatedAt: page[len(page)-1].CreatedAt, ID: page[len(page)-1].ID}
		after = &c
		if len(page) < l.page {
			return out, nil
		}
	}
}

func (l *Lifecycle) flags(ctx context.Context) (map[string]*store.LifecycleGuest, error) {
	gs, err := l.st.LifecycleGuests(ctx, l.tenant)
	if err != nil {
		return nil, fmt.Errorf("invite: lifecycle guests: %w", err)
	}
	out := make(map[string]*store.LifecycleGuest, len(gs))
	for i := range gs {
		out[gs[i].GuestID] = &gs[i]
	}
	return out, nil
}

func (l *Lifecycle) logs(ctx context.Context, page []Invitation) (map[string][]store.LifecycleAction, error) {
	ids := make([]string, len(page))
	for i, inv := range page {
		ids[i] = inv.ID
	}
	acts, err := l.st.ListLifecycleActions(ctx, store.LifecycleFilter{TenantID: l.tenant, Subjects: ids, Limit: 20 * len(ids)})
	if err != nil {
		return nil, fmt.Errorf("invite: lifecycle log: %w", err)
	}
	out := map[string][]store.LifecycleAction{}
	for _, a := range acts {
		out[a.Subject] = append(out[a.Subject], a)
	}
	return out, nil
}

// RunResult counts what a run did.
type RunResult struct {
	Checked   int       // pending guests looked at
	Planned   []Planned // what was due (DryRun: what would be done)
	Reminded  int
	Warned    int
	Reported  int
	Disabled  int
	Deleted   int
	Skipped   int // due but not needed (accepted meanwhile, not a guest, already done elsewhere)
	Failed    int // left as they were; a later run tries again
	NotGuests int // directory objects that are not invited guests: never touched
}

// Run applies the lifecycle once: every pending guest Portico invited is checked against the
// policy; due reminders, warnings and expiry actions are carried out (dryRun: only planned).
// Graph's view of each guest with a due action is read first ($batch), so a guest that accepted,
// is not an invited guest, or was removed is never acted on. meta names the job or request.
func (l *Lifecycle) Run(ctx context.Context, meta Meta, dryRun bool) (*RunResult, error) {
	res := &RunResult{}
	if !l.policy.Enabled() {
		return res, nil
	}
	guests, err := l.Guests(ctx)
	if err != nil {
		return nil, err
	}
	var due []Planned
	for _, g := range guests {
		res.Checked++
		due = append(due, g.Due...)
	}
	if len(due) == 0 {
		return res, nil
	}
	// Chunks of l.page guests: Graph's view of each chunk in $batch requests sent together, then
	// the chunk's actions (writes in $batch too), so a large run is paced chunk by chunk.
	for start := 0; start < len(due); start += l.page {
		l.runChunk(ctx, meta, dryRun, due[start:min(start+l.page, len(due))], res)
	}
	if !dryRun {
		l.s.NoticesQueued(ctx)
	}
	return res, nil
}

// runChunk acts on one chunk of due actions.
func (l *Lifecycle) runChunk(ctx context.Context, meta Meta, dryRun bool, due []Planned, res *RunResult) {
	ids := make([]string, 0, len(due))
	for _, p := range due {
		ids = append(ids, p.GuestID)
	}
	statuses, gone, gerr := l.statuses(ctx, ids)
	now := l.s.now()
	var toDisable, toDelete []Planned
	for _, p := range due {
		st := statuses[p.GuestID]
		switch {
		case slices.Contains(gone, p.GuestID):
			if !dryRun {
				l.skipGone(ctx, meta, p, now)
			}
			res.Skipped++
			continue
		case st == nil && l.ts == nil && p.Effect == EffectReport:
			// Without a background identity Graph cannot be read: a report changes nothing in the
			// directory, so it is recorded from Portico's own records alone.
			res.Planned = append(res.Planned, p)
			if !dryRun && l.report(ctx, meta, p) {
				res.Reported++
			}
			continue
		case st == nil:
			if gerr != nil {
				l.log.WarnContext(ctx, "lifecycle: guest not read; retried next run", "guest", p.GuestID, "err", gerr)
			}
			res.Failed++
			continue
		case !strings.EqualFold(st.UserType, "Guest") || !strings.EqualFold(st.CreationType, "Invitation"):
			// Members, and accounts Portico did not create by invitation, are never touched.
			res.NotGuests++
			continue
		case strings.EqualFold(st.ExternalUserState, stateAccepted):
			if !dryRun {
				inv := p.Invitation
				if err := l.s.saveState(ctx, &inv, stateAccepted, st.ExternalUserStateChangeDateTime, now); err != nil {
					l.log.WarnContext(ctx, "lifecycle: saving the accepted state", "invitation", inv.ID, "err", err)
				}
			}
			res.Skipped++
			continue
		}
		res.Planned = append(res.Planned, p)
		if dryRun {
			continue
		}
		switch p.Effect {
		case EffectDisable:
			if st.AccountEnabled != nil && !*st.AccountEnabled {
				p.Note = "already disabled in the directory"
			}
			toDisable = append(toDisable, p)
		case EffectDelete:
			toDelete = append(toDelete, p)
		case EffectRemind:
			if l.remind(ctx, meta, p) {
				res.Reminded++
			} else {
				res.Failed++
			}
		case EffectNotice:
			if l.warn(ctx, meta, p) {
				res.Warned++
			}
		case EffectReport:
			if l.report(ctx, meta, p) {
				res.Reported++
			}
		}
	}
	if !dryRun {
		ok, failed := l.write(ctx, meta, toDisable, EffectDisable)
		res.Disabled += ok
		res.Failed += failed
		ok, failed = l.write(ctx, meta, toDelete, EffectDelete)
		res.Deleted += ok
		res.Failed += failed
	}
}

func (l *Lifecycle) statuses(ctx context.Context, ids []string) (map[string]*graph.GuestStatus, []string, error) {
	if l.ts == nil {
		return nil, nil, errors.New("invite: lifecycle: no application token to read guests")
	}
	ctx = graph.WithPriority(ctx, "low")
	found, gone, err := l.g.GuestStatuses(ctx, l.ts, ids, false)
	return found, gone, err
}

// claim claims p in the log for actor; false when it is done, skipped or held elsewhere.
func (l *Lifecycle) claim(ctx context.Context, p Planned, actor string) (*store.LifecycleAction, bool) {
	a := &store.LifecycleAction{TenantID: l.tenant, Subject: p.Subject(), GuestID: p.GuestID, Action: p.Action, Step: p.Step,
		Effect: p.Effect, Policy: p.Policy, Actor: actor}
	ok, err := l.st.ClaimLifecycleAction(ctx, a, l.s.now(), l.lease)
	if err != nil {
		l.log.ErrorContext(ctx, "lifecycle: claim failed", "invitation", p.Subject(), "action", p.Action, "err", err)
		return nil, false
	}
	return a, ok
}

func (l *Lifecycle) finish(ctx context.Context, a *store.LifecycleAction, state, detail, errText, rid string) {
	wctx, cancel := l.s.detach(ctx)
	defer cancel()
	if ok, err := l.st.FinishLifecycleAction(wctx, a.ID, state, detail, errText, rid, l.s.now()); err != nil || !ok {
		l.log.ErrorContext(ctx, "lifecycle: action not settled; its lease will run out and a later run will look again",
			"action", a.Action, "step", a.Step, "invitation", a.Subject, "err", err)
	}
}

var lifecycleActor = Inviter{UPN: "portico:lifecycle", Name: "Portico (lifecycle policy)"}

func (l *Lifecycle) policyActor() Inviter {
	a := lifecycleActor
	a.TenantID = l.tenant
	return a
}

func (l *Lifecycle) auditAction(ctx context.Context, actor Inviter, meta Meta, action string, p Planned, outcome Outcome, rid, note string) {
	d := auditDetail{InvitationID: p.Invitation.ID, GraphUserID: p.GuestID, Policy: p.Policy, Note: note}
	_ = l.s.audit(ctx, l.s.event(actor, meta, action, p.Invitation.Email, outcome, rid, d))
}

// RemindKey is the idempotency key of reminder n of an invitation: a reminder is one send, ever.
func RemindKey(invitationID string, n int) string {
	return fmt.Sprintf("remind:%s:%d", invitationID, n)
}

// remind resends the invitation through the send pipeline (same message, options and record; a
// new join link when Graph returns a redemption URL) and tells the inviter.
func (l *Lifecycle) remind(ctx context.Context, meta Meta, p Planned) bool {
	a, ok := l.claim(ctx, p, "policy")
	if !ok {
		return false
	}
	orig := p.Invitation
	req := Request{DisplayName: orig.DisplayName, Email: orig.Email, Message: orig.Message, CC: orig.CCAddress,
		RedirectURL: orig.RedirectURL, Language: orig.Language, UserType: orig.UserType, SendEmail: orig.SendEmail,
		Resend: true, IdempotencyKey: RemindKey(orig.ID, p.Step)}
	owner := orig.owner()
	att := &attempt{s: l.s, actor: owner, owner: owner, meta: meta, action: ActionInvitationResend, resendOf: orig.ID,
		existing: &orig, policy: p.Policy}
	res, err := l.s.send(ctx, l.ts, att, req)
	if err != nil {
		l.finish(ctx, a, store.LifecycleFailed, "", err.Error(), "")
		l.auditAction(ctx, l.policyActor(), meta, ActionLifecycleRemind, p, OutcomeFailed, "", "reminder not sent: "+err.Error())
		return false
	}
	rid := ""
	if res.Invitation != nil {
		rid = res.Invitation.GraphRequestID
	}
	detail := fmt.Sprintf("reminder %d sent", p.Step)
	if res.Sending {
		detail = fmt.Sprintf("reminder %d handed to Graph; the reconciler settles it", p.Step)
	}
	l.finish(ctx, a, store.LifecycleDone, detail, "", rid)
	l.auditAction(ctx, l.policyActor(), meta, ActionLifecycleRemind, p, OutcomeSuccess, rid, detail)
	partner := orig.DisplayName
	if partner == "" {
		partner = orig.Email
	}
	n := notify.Notice{Kind: notify.KindInvitationReminded, EventKey: notify.EventKey(notify.KindInvitationReminded, fmt.Sprintf("%s:%d", orig.ID, p.Step)),
		To: []notify.Recipient{{Address: inviterAddress(&orig), Name: orig.InviterName}}, Link: l.s.invitationLink(orig.ID),
		Data: map[string]string{notify.DataPartner: partner, notify.DataPartnerEmail: orig.Email,
			notify.DataReason: remindReason(orig.SendEmail, p.Step, len(l.policy.RemindAfter))}}
	if _, err := l.s.Notify(ctx, l.s.store, n); err != nil {
		l.log.WarnContext(ctx, "lifecycle: reminder notice not written", "invitation", orig.ID, "err", err)
	}
	return true
}

// remindReason is the notice's line about the reminder. Without Microsoft's email the partner
// gets nothing by themselves: the inviter shares the new join link (from the invitation's page; a
// notice never carries a join link or redemption URL).
func remindReason(emailed bool, n, of int) string {
	if emailed {
		return fmt.Sprintf("Reminder %d of %d.", n, of)
	}
	return fmt.Sprintf("Reminder %d of %d: the invitation was renewed with a new join link; open the invitation in Portico and share the new link with them (the old one no longer works).", n, of)
}

// warn tells the inviter that the guest will be disabled or deleted.
func (l *Lifecycle) warn(ctx context.Context, meta Meta, p Planned) bool {
	a, ok := l.claim(ctx, p, "policy")
	if !ok {
		return false
	}
	inv := p.Invitation
	partner := inv.DisplayName
	if partner == "" {
		partner = inv.Email
	}
	when := inv.CreatedAt.Add(l.policy.PendingExpiry).UTC().Format("2006-01-02")
	effect, _ := l.ExpiryEffect()
	n := notify.Notice{Kind: notify.KindGuestExpiring, EventKey: notify.EventKey(notify.KindGuestExpiring, inv.ID),
		To: []notify.Recipient{{Address: inviterAddress(&inv), Name: inv.InviterName}}, Link: l.s.invitationLink(inv.ID),
		Data: map[string]string{notify.DataPartner: partner, notify.DataPartnerEmail: inv.Email,
			notify.DataReason: fmt.Sprintf("The guest account will be %sd on %s (%s).", effect, when, l.policy.expirySetting())}}
	if _, err := l.s.Notify(ctx, l.s.store, n); err != nil {
		l.finish(ctx, a, store.LifecycleFailed, "", err.Error(), "")
		return false
	}
	l.finish(ctx, a, store.LifecycleDone, "inviter warned: "+effect+" on "+when, "", "")
	l.auditAction(ctx, l.policyActor(), meta, ActionLifecycleWarn, p, OutcomeSuccess, "", "inviter warned: "+effect+" on "+when)
	return true
}

// report records an expiry that changes nothing (policy report, or the permission missing).
func (l *Lifecycle) report(ctx context.Context, meta Meta, p Planned) bool {
	a, ok := l.claim(ctx, p, "policy")
	if !ok {
		return false
	}
	note := "never accepted: reported, nothing changed"
	if p.Note != "" {
		note += " (" + p.Note + ")"
	}
	l.finish(ctx, a, store.LifecycleDone, note, "", "")
	l.auditAction(ctx, l.policyActor(), meta, ActionLifecycleReport, p, OutcomeSuccess, "", note)
	return true
}

func (l *Lifecycle) skipGone(ctx context.Context, meta Meta, p Planned, now time.Time) {
	if a, ok := l.claim(ctx, p, "policy"); ok {
		l.finish(ctx, a, store.LifecycleSkipped, "the guest is no longer in the directory", "", "")
	}
	if err := l.st.SetGuestAccountState(ctx, l.tenant, p.GuestID, p.Invitation.ID, store.GuestDeleted, nil, now); err != nil {
		l.log.WarnContext(ctx, "lifecycle: recording a removed guest", "guest", p.GuestID, "err", err)
	}
}

// write disables or deletes the claimed guests in $batch requests and settles each.
func (l *Lifecycle) write(ctx context.Context, meta Meta, ps []Planned, effect string) (ok, failed int) {
	return l.writeAs(ctx, l.policyActor(), "policy", meta, ps, effect)
}

func (l *Lifecycle) writeAs(ctx context.Context, actor Inviter, actorName string, meta Meta, ps []Planned, effect string) (ok, failed int) {
	if len(ps) == 0 {
		return 0, 0
	}
	claims := map[string]*store.LifecycleAction{}
	byGuest := map[string]Planned{}
	var ids []string
	for _, p := range ps {
		a, won := l.claim(ctx, p, actorName)
		if !won {
			continue
		}
		claims[p.GuestID], byGuest[p.GuestID] = a, p
		ids = append(ids, p.GuestID)
	}
	if len(ids) == 0 {
		return 0, 0
	}
	ctx = graph.WithPriority(ctx, "low")
	var results map[string]graph.WriteResult
	auditAction, state := ActionLifecycleDisable, store.GuestDisabled
	if effect == EffectDelete {
		results = l.g.DeleteUsers(ctx, l.ts, ids)
		auditAction, state = ActionLifecycleDelete, store.GuestDeleted
	} else {
		results = l.g.SetAccountsEnabled(ctx, l.ts, ids, false)
	}
	now := l.s.now()
	for _, id := range ids {
		p, a, r := byGuest[id], claims[id], results[id]
		switch {
		case r.Err == nil || effect == EffectDelete && graph.NotFound(r.Err):
			// A 404 to a DELETE is a delete that already happened (an answer lost, a repeat).
			detail := "guest " + effect + "d"
			if p.Note != "" {
				detail += " (" + p.Note + ")"
			}
			l.finish(ctx, a, store.LifecycleDone, detail, "", r.RequestID)
			if err := l.st.LifecycleTx(ctx, func(tx LifecycleStore) error {
				if err := tx.SetGuestAccountState(ctx, l.tenant, id, p.Invitation.ID, state, nil, now); err != nil {
					return err
				}
				return emitGuestChange(ctx, tx, effect, webhooks.GuestData{TenantID: l.tenant, GraphUserID: id, Email: p.Invitation.Email,
					Reason: lifecycleReason(p, actorName), ActorOID: actor.ObjectID}, now)
			}); err != nil {
				l.log.ErrorContext(ctx, "lifecycle: recording the account state", "guest", id, "err", err)
			}
			l.auditAction(ctx, actor, meta, auditAction, p, OutcomeSuccess, r.RequestID, detail)
			ok++
		case graph.Forbidden(r.Err):
			why := "Graph refused to " + effect + " guests (403 Authorization_RequestDenied): Portico's application needs the permission User.ReadWrite.All. Expired guests are reported only until it is granted."
			l.refuse(effect, why)
			l.finish(ctx, a, store.LifecycleFailed, "", r.Err.Error(), r.RequestID)
			l.auditAction(ctx, actor, meta, auditAction, p, OutcomeDenied, r.RequestID, why)
			failed++
		default:
			// The guest is as it was (or, for an answer lost, the same write is sent again later:
			// both writes are idempotent in effect).
			errText := "no answer"
			if r.Err != nil {
				errText = r.Err.Error()
			}
			l.finish(ctx, a, store.LifecycleFailed, "", errText, r.RequestID)
			l.auditAction(ctx, actor, meta, auditAction, p, OutcomeFailed, r.RequestID, "not "+effect+"d, retried by the next run: "+errText)
			failed++
		}
	}
	return ok, failed
}
