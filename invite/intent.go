package invite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/store"
)

// Send intents: no invitation lost, none sent twice.
//
// Before every Graph write the pipeline commits an intent (store.SendIntent) in its own
// transaction, together with the quota place it reserves and, for a new partner, the record itself
// in the "sending" state (so My invitations lists it at once). Then it calls Graph once, and
// settles the intent with Graph's answer in one transaction with the record, the join link, the
// history and the audit event. Settling is a compare-and-set on the intent's state, so the caller
// and the reconciler never both settle one intent. An intent left open (crash, kill -9, shutdown,
// a lost answer) is settled by Reconcile, which looks the guest up and never writes to Graph.

// MaxIdempotencyKey is the longest Request.IdempotencyKey, in characters.
const MaxIdempotencyKey = 200

// Defaults of the send's time budgets, applied by NewService when Config leaves them zero.
const (
	// DefaultSendWait is how long Send waits for Graph before it answers with the record still
	// sending (Result.Sending); the send goes on in the background and settles the record.
	DefaultSendWait = 10 * time.Second
	// DefaultSendBudget bounds the Graph call of one send, detached from the request.
	DefaultSendBudget = 45 * time.Second
	// DefaultReconcilePatience is how long the reconciler keeps looking up an intent's guest
	// (Graph's directory is eventually consistent) before it records the invitation as not sent.
	DefaultReconcilePatience = 10 * time.Minute
	// DefaultPreflightBudget bounds the checks before sending (the directory lookups): with
	// SendWait it keeps a submit well inside the server's 60 s write timeout (30 + 10 s). It
	// exceeds the graph client's 25 s attempt timeout, so a lookup Graph answers slowly (22 s,
	// as seen in production) still completes.
	DefaultPreflightBudget = 30 * time.Second
	// DefaultUncertainLookup bounds the lookup right after an uncertain answer.
	DefaultUncertainLookup = 5 * time.Second
)

// DefaultDirectLink is Microsoft's tenant-specific My Apps sign-in, through which an invited guest
// redeems just in time (learn.microsoft.com/entra/external-id/redemption-experience).
const DefaultDirectLink = "https://myapps.microsoft.com/?tenantid={tenant}"

// DefaultIntentLease is how long an intent belongs to the process that opened it without a sign of
// life; past it the reconciler may claim it. The process renews the leases of its intents whose
// Graph call is still running every DefaultIntentBeat (the heartbeat), so a slow call keeps its
// intent however long Graph takes, and the intents of a process that died (kill -9) become the
// reconciler's within one lease.
const DefaultIntentLease = 20 * time.Second

// DefaultIntentBeat is how often the heartbeat renews the leases: a quarter of the lease, so
// three beats in a row may fail (a slow database) before a live call's intent can be claimed.
const DefaultIntentBeat = DefaultIntentLease / 4

// renewBudget bounds one heartbeat's UPDATE.
const renewBudget = DefaultIntentBeat

// recentCollapse is how far back an attempt that collapsed onto a settled intent looks for the
// partner's record.
const recentCollapse = 4 * time.Minute

// reconcileLease is how long a reconciler's claim lasts (one lookup and its recording).
const reconcileLease = time.Minute

// ErrBusy means another invitation to the same partner is being sent right now by someone whose
// record the caller may not see; nothing was sent. Try again in a minute.
var ErrBusy = errors.New("invite: another invitation to this partner is being sent right now")

// errSettled: the intent was settled by someone else (the reconciler, or the original call).
var errSettled = errors.New("invite: intent already settled")

// intentPayload is what settling an intent needs, kept as the intent's JSON request: validated
// fields only, never the raw request.
type intentPayload struct {
	Action   string      `json:"action"`
	ResendOf string      `json:"resendOf,omitempty"`
	Actor    Inviter     `json:"actor"`
	Owner    Inviter     `json:"owner"`
	Meta     Meta        `json:"meta"`
	Valid    Valid       `json:"valid"`
	Base     auditDetail `json:"base"`
	// Access at invite time: the sponsors as found and the chosen groups, so that the reconciler
	// records them too.
	Sponsors []Sponsor `json:"sponsors,omitempty"`
	Groups   []string  `json:"groups,omitempty"`
}

// intentKind is the store's kind for an attempt.
func (a *attempt) intentKind() string {
	if a.existing != nil {
		return store.IntentResend
	}
	return store.IntentInvite
}

// openIntent commits the attempt's intent before Graph is called: in one transaction it takes the
// actor's quota lock, counts and reserves a place, checks that a resent record did not change
// since it was read, inserts the intent (one open intent per tenant and address) and, for a new
// record, the record in the "sending" state. A non-nil Result means the attempt collapsed onto
// another one (same partner, same key, or a resend that already happened): nothing is sent.
func (a *attempt) openIntent(ctx context.Context) (*Result, error) {
	s := a.s
	now := s.now().UTC()
	payload, err := json.Marshal(intentPayload{Action: a.action, ResendOf: a.resendOf, Actor: a.actor, Owner: a.owner,
		Meta: a.meta, Valid: a.v, Base: a.base, Sponsors: a.sponsors, Groups: a.groups})
	if err != nil {
		return nil, fmt.Errorf("invite: intent: %w", err)
	}
	in := &store.SendIntent{ID: store.NewID(), TenantID: a.owner.TenantID, Address: a.v.Key, Kind: a.intentKind(),
		InvitationID: a.rec.ID, ActorOID: a.actor.ObjectID, OwnerOID: a.owner.ObjectID, Request: payload,
		IdempotencyKey: a.idemKey, OpenedAt: now, LeaseUntil: now.Add(s.intentLease)}
	var changed *Invitation
	var quota *QuotaError
	err = s.store.Tx(ctx, func(tx Store) error {
		// An approved request was the approver's decision, not a use of a quota.
		if a.approval == nil && (s.quota.PerHour > 0 || s.quota.PerDay > 0) {
			if err := tx.LockQuota(ctx, a.actor.TenantID, a.actor.ObjectID, now); err != nil {
				return err
			}
			d, err := s.quotaOf(ctx, tx, a.actor)
			if err != nil {
				return err
			}
			if !d.Allowed {
				quota = &QuotaError{Decision: d}
				return quota
			}
		}
		if a.existing != nil {
			cur, err := tx.GetInvitation(ctx, a.existing.ID)
			if err != nil {
				return err
			}
			if !cur.SentAt.Equal(a.existing.SentAt) || cur.Outcome != a.existing.Outcome {
				changed = cur
				return errSettled
			}
		}
		if err := tx.OpenIntent(ctx, in); err != nil {
			return err
		}
		if a.existing == nil {
			rec := *a.rec
			rec.Outcome = OutcomeSending
			if err := tx.CreateInvitation(ctx, &rec); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err == nil:
		a.intent = in
		return nil, nil
	case quota != nil:
		_ = s.audit(ctx, s.event(a.actor, a.meta, a.action, a.v.Key, OutcomeThrottled, "", auditDetail{Note: "quota"}))
		a.log.WarnContext(ctx, "invite: quota reached", "actor_oid", a.actor.ObjectID, "retry_after", quota.Decision.RetryAfter.Round(time.Second))
		return nil, quota
	case changed != nil:
		// Another "Send again" of this record happened since it was read: its result is this one's.
		a.log.InfoContext(ctx, "invite: resend collapsed onto a newer send", "invitation", changed.ID)
		return &Result{Invitation: changed, Sending: changed.Sending()}, nil
	case errors.Is(err, store.ErrIdempotencyKeyUsed):
		other, gerr := s.store.IntentByKey(ctx, a.owner.TenantID, a.idemKey)
		if gerr != nil {
			return nil, fmt.Errorf("invite: reading the intent of the idempotency key: %w", gerr)
		}
		return s.intentResult(ctx, a.actor, other, s.sendWait)
	case errors.Is(err, store.ErrIntentBusy):
		other, gerr := s.store.OpenIntentFor(ctx, a.owner.TenantID, a.v.Key)
		if errors.Is(gerr, store.ErrNotFound) {
			// Settled in between: this attempt's checks are stale (sending now could invite the
			// partner twice), so the caller is shown the partner's newest record instead.
			return s.recentRecord(ctx, a.actor, a.owner.TenantID, a.v.Key)
		}
		if gerr != nil {
			return nil, fmt.Errorf("invite: reading the open intent of the address: %w", gerr)
		}
		a.log.InfoContext(ctx, "invite: send collapsed onto an open intent", "intent", other.ID)
		return s.intentResult(ctx, a.actor, other, s.sendWait)
	}
	return nil, fmt.Errorf("invite: opening the intent: %w", err)
}

// intentResult waits up to wait for an intent to settle and returns what the viewer may see of
// it: the record (Sending while the intent is open), or ErrBusy when the record is not theirs.
// A failed intent returns a GraphError with the record.
func (s *Service) intentResult(ctx context.Context, viewer Inviter, in *store.SendIntent, wait time.Duration) (*Result, error) {
	deadline := time.Now().Add(wait)
	for in.State == store.IntentOpen && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			deadline = time.Time{}
		case <-time.After(100 * time.Millisecond):
		}
		cur, err := s.store.GetIntent(ctx, in.ID)
		if err != nil {
			break
		}
		in = cur
	}
	rec, err := s.store.GetInvitation(context.WithoutCancel(ctx), in.InvitationID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !canSee(viewer, rec) {
		return nil, ErrBusy
	}
	if err != nil {
		return nil, fmt.Errorf("invite: reading the intent's record: %w", err)
	}
	switch in.State {
	case store.IntentOpen:
		return &Result{Invitation: rec, Sending: true, IntentID: in.ID}, nil
	case store.IntentFailed:
		return nil, &GraphError{Outcome: OutcomeFailed, Invitation: rec,
			Message: "This invitation was not sent: " + orString(in.Error, "Microsoft Graph did not create it."), Err: errors.New(in.Error)}
	}
	return &Result{Invitation: rec, IntentID: in.ID, ConfirmedByLookup: strings.Contains(in.Error, "lookup")}, nil
}

// recentRecord is the newest record of an address made in the last minutes that viewer may see,
// as the result of an attempt that collapsed onto it; ErrBusy when there is none.
func (s *Service) recentRecord(ctx context.Context, viewer Inviter, tenantID, key string) (*Result, error) {
	invs, err := s.store.LatestInvitationsByEmail(ctx, tenantID, key, s.now().UTC().Add(-recentCollapse))
	if err != nil {
		return nil, fmt.Errorf("invite: reading the partner's records: %w", err)
	}
	for i := range invs { // newest first
		if r := &invs[i]; canSee(viewer, r) {
			return &Result{Invitation: r, Sending: r.Sending()}, nil
		}
	}
	return nil, ErrBusy
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sendOutcome is what the detached Graph work hands back to Send.
type sendOutcome struct {
	res *Result
	err error
}

// run makes the single Graph write of the attempt, detached from the request with its own budget,
// and waits at most s.sendWait for it: past that the caller gets the record as still sending (the
// work goes on and settles it; if the process dies, the reconciler does).
func (a *attempt) run(ctx context.Context, ts oauth2.TokenSource, gi *graph.Invitation) (*Result, error) {
	// What the caller sees if Graph is slow, taken before the send goroutine may change a.rec.
	pending := a.sendingResult()
	done := make(chan sendOutcome, 1)
	a.s.inflight.Add(1)
	// The intent's lease is renewed while the call runs: the reconciler never settles a live
	// call's intent under its feet, however slow Graph is.
	a.s.beat.track(a.s, a.intent.ID)
	go func() {
		defer a.s.inflight.Done()
		defer a.s.beat.untrack(a.intent.ID)
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.s.sendBudget)
		defer cancel()
		res, err := a.post(bctx, ts, gi)
		done <- sendOutcome{res, err}
	}()
	timer := time.NewTimer(a.s.sendWait)
	defer timer.Stop()
	select {
	case o := <-done:
		return o.res, o.err
	case <-timer.C:
	case <-ctx.Done():
	}
	a.log.InfoContext(ctx, "invite: Graph is slow; answering with the invitation still sending", "invitation", pending.Invitation.ID, "intent", pending.IntentID)
	return pending, nil
}

// Drain waits, until ctx ends, for the sends still talking to Graph to settle their intents (a
// graceful shutdown calls it before closing the database), and then stops the heartbeat: the
// leases of sends it leaves behind are renewed no more, so they lapse within DefaultIntentLease
// and the reconciler (of another instance, or of this one after its restart) settles them by
// lookup. Nothing is lost either way. Call it once, when the service stops sending.
func (s *Service) Drain(ctx context.Context) error {
	defer s.beat.stop()
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("invite: sends still in flight at shutdown are left to the reconciler: %w", ctx.Err())
	}
}

// heartbeat renews the leases of the intents whose Graph call runs in this process: one UPDATE
// per beat for all of them (store.RenewIntents). Its goroutine runs only while there is something
// to renew, and never again once stopped (Drain).
type heartbeat struct {
	mu      sync.Mutex
	ids     map[string]struct{}
	running bool
	stopped bool
	quit    chan struct{} // closed by stop
	// renewing is held across a beat's UPDATE, so that an intent untracked (settled, or handed
	// to the reconciler) is not renewed by a beat that read it just before.
	renewing sync.Mutex
}

// track adds an intent whose Graph call starts now, and starts the beats if they are not running.
func (h *heartbeat) track(s *Service, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	if h.ids == nil {
		h.ids, h.quit = map[string]struct{}{}, make(chan struct{})
	}
	h.ids[id] = struct{}{}
	if !h.running {
		h.running = true
		go s.beatLoop()
	}
}

// untrack removes an intent whose call ended (settled, or handed to the reconciler); it waits for
// a beat under way, so its lease is not moved after this returns.
func (h *heartbeat) untrack(id string) {
	h.renewing.Lock()
	defer h.renewing.Unlock()
	h.mu.Lock()
	delete(h.ids, id)
	h.mu.Unlock()
}

// stop ends the beats for good.
func (h *heartbeat) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	h.stopped = true
	if h.quit != nil {
		close(h.quit)
	}
}

// due lists the tracked intents, or reports false (and the loop ends) when there are none or the
// heartbeat was stopped.
func (h *heartbeat) due() ([]string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped || len(h.ids) == 0 {
		h.running = false
		return nil, false
	}
	ids := make([]string, 0, len(h.ids))
	for id := range h.ids {
		ids = append(ids, id)
	}
	return ids, true
}

// beatLoop renews the tracked intents' leases every intentBeat until none is left or Drain stops
// it. A failed beat is logged; the next one tries again well before the leases end.
func (s *Service) beatLoop() {
	t := time.NewTicker(s.intentBeat)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.beat.quit:
		}
		if !s.renewLeases() {
			return
		}
	}
}

// renewLeases is one beat; false when the loop should end.
func (s *Service) renewLeases() bool {
	s.beat.renewing.Lock()
	defer s.beat.renewing.Unlock()
	ids, ok := s.beat.due()
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), renewBudget)
	defer cancel()
	until := s.now().UTC().Add(s.intentLease)
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), store.MaxRenewIntents)]
		ids = ids[len(chunk):]
		if _, err := s.store.RenewIntents(ctx, chunk, until); err != nil {
			s.log.WarnContext(ctx, "invite: renewing the leases of sends in flight failed; the next beat tries again", "intents", len(chunk), "err", err)
		}
	}
	return true
}

// sendingResult is the record as the caller sees it while its intent is open.
func (a *attempt) sendingResult() *Result {
	rec := *a.rec
	if a.existing != nil {
		rec = *a.existing
	} else {
		rec.Outcome = OutcomeSending
	}
	return &Result{Invitation: &rec, Sending: true, IntentID: a.intent.ID}
}

// post calls Graph once and settles the intent with the answer.
func (a *attempt) post(ctx context.Context, ts oauth2.TokenSource, gi *graph.Invitation) (*Result, error) {
	created, err := a.s.graph.CreateInvitation(highPriority(ctx), ts, gi)
	// What Graph did is recorded even when the Graph budget ran out.
	wctx, cancel := a.s.detach(ctx)
	defer cancel()
	var res *Result
	switch {
	case err == nil:
		res, err = a.recordCreated(wctx, created)
		if err == nil {
			a.startGroups(wctx, ts, res)
		}
	case isUncertain(err):
		res, err = a.confirmUncertain(wctx, ts, err)
		if err == nil && res != nil && !res.Sending {
			a.startGroups(wctx, ts, res)
		}
	default:
		err = a.recordFailure(wctx, err)
	}
	if errors.Is(err, errSettled) {
		cur, gerr := a.s.store.GetIntent(wctx, a.intent.ID)
		if gerr != nil {
			return nil, fmt.Errorf("invite: reading the settled intent: %w", gerr)
		}
		return a.s.intentResult(wctx, a.actor, cur, 0)
	}
	return res, err
}

// settleIn settles the attempt's intent inside tx; errSettled when someone else did.
func (a *attempt) settleIn(ctx context.Context, tx Store, state, outcome, note string) error {
	if a.intent == nil {
		return nil
	}
	ok, err := tx.SettleIntent(ctx, a.intent.ID, state, outcome, note, a.s.now().UTC())
	if err != nil {
		return err
	}
	if !ok {
		return errSettled
	}
	return nil
}

// ReconcileResult counts what one Reconcile did.
type ReconcileResult struct {
	Claimed   int // open intents past their lease
	Confirmed int // settled: the guest was found
	NotSent   int // settled: not found within the patience, recorded as not sent
	Waiting   int // still open: looked up again later
}

// Reconcile settles the send intents left open past their lease (a crash, kill -9, shutdown,
// timeout or lost answer): it claims up to limit of them (one instance per intent: SKIP LOCKED on
// PostgreSQL, the write lock on SQLite, and the lease either way) and looks each guest up by
// address (creationType Invitation), with ts (Portico's own identity). Found: the intent is
// completed as confirmed by lookup, with the record, history and audit event. Not found: it is
// looked up again later, with a growing pause, for the reconcile patience (Graph's directory is
// eventually consistent); then the record is marked not sent, with an audit event. It never
// writes to Graph.
func (s *Service) Reconcile(ctx context.Context, ts oauth2.TokenSource, limit int) (ReconcileResult, error) {
	var r ReconcileResult
	claimed, err := s.store.ClaimIntents(ctx, s.now().UTC(), reconcileLease, limit)
	if err != nil {
		return r, fmt.Errorf("invite: claiming open intents: %w", err)
	}
	r.Claimed = len(claimed)
	var errs []error
	for i := range claimed {
		outcome, err := s.reconcileOne(ctx, ts, &claimed[i])
		if err != nil {
			errs = append(errs, err)
		}
		switch outcome {
		case store.IntentDone:
			r.Confirmed++
		case store.IntentFailed:
			r.NotSent++
		default:
			r.Waiting++
		}
	}
	return r, errors.Join(errs...)
}

// ReconcileDue reports whether Reconcile has work now: an open intent past its lease. An error
// says "perhaps" (true).
func (s *Service) ReconcileDue(ctx context.Context) bool {
	due, err := s.store.HasDueIntents(ctx, s.now().UTC())
	return due || err != nil
}

// reconcileOne settles one claimed intent, or leaves it open for a later lookup ("").
func (s *Service) reconcileOne(ctx context.Context, ts oauth2.TokenSource, in *store.SendIntent) (string, error) {
	var p intentPayload
	if err := json.Unmarshal(in.Request, &p); err != nil {
		return "", fmt.Errorf("invite: intent %s: unreadable request: %w", in.ID, err)
	}
	rec, err := s.store.GetInvitation(ctx, in.InvitationID)
	if err != nil {
		return "", fmt.Errorf("invite: intent %s: reading its record: %w", in.ID, err)
	}
	a := &attempt{s: s, actor: p.Actor, owner: p.Owner, meta: Meta{Via: ViaJob, RequestID: p.Meta.RequestID}, action: p.Action,
		resendOf: p.ResendOf, v: p.Valid, base: p.Base, intent: in, sponsors: p.Sponsors, groups: p.Groups}
	a.log = s.log.With("intent", in.ID, "invitation", in.InvitationID, "action", a.action)
	if in.Kind == store.IntentResend {
		a.existing = rec
		a.rec = a.resentRecord()
	} else {
		a.rec = rec
	}
	now := s.now().UTC()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	found, lerr := a.lookup(lctx, ts)
	cancel()
	if found != nil {
		_, err := a.recordConfirmed(ctx, found, "confirmed by lookup (reconciler)")
		if errors.Is(err, errSettled) {
			return store.IntentDone, nil
		}
		if err != nil {
			return "", err
		}
		// The chosen groups were recorded pending with the invitation: the group job (or its
		// periodic sweep) adds the guest with Portico's own identity.
		if len(a.groups) > 0 && s.groupQueue != nil {
			if qerr := s.groupQueue(ctx, in.InvitationID); qerr != nil {
				a.log.WarnContext(ctx, "invite: queueing the group assignments failed; the sweep retries", "err", qerr)
			}
		}
		return store.IntentDone, nil
	}
	if now.Sub(in.OpenedAt) < s.patience {
		// Not (yet) in the directory: look again later, with a pause growing to a minute.
		pause := min(time.Duration(in.Attempts)*15*time.Second, time.Minute)
		if _, err := s.store.ExtendIntent(ctx, in.ID, now.Add(pause)); err != nil {
			return "", err
		}
		a.log.InfoContext(ctx, "invite: open intent not confirmed yet; looking again later", "attempts", in.Attempts, "lookup_err", lerr)
		return "", nil
	}
	err = a.recordNotSent(ctx, lerr)
	if errors.Is(err, errSettled) {
		return store.IntentDone, nil
	}
	if err != nil {
		return "", err
	}
	return store.IntentFailed, nil
}

// lookup looks the attempt's guest up by address: an invited user (creationType Invitation) whose
// invitation is pending or accepted.
func (a *attempt) lookup(ctx context.Context, ts oauth2.TokenSource) (*graph.User, error) {
	users, err := a.s.graph.FindUsersByAddress(ctx, ts, a.v.Email)
	for i := range users {
		u := &users[i]
		if u.CreationType != "" && !strings.EqualFold(u.CreationType, "Invitation") {
			continue
		}
		if strings.EqualFold(u.ExternalUserState, statePending) || strings.EqualFold(u.ExternalUserState, stateAccepted) {
			return u, nil
		}
	}
	return nil, err
}

// recordNotSent settles an intent whose guest was never found: the record is marked failed (a
// resend leaves its record as it was), with the history and audit events.
func (a *attempt) recordNotSent(ctx context.Context, lerr error) error {
	rec, d := a.rec, a.detail()
	rec.Outcome = OutcomeFailed
	rec.ErrorCode = "NotSent"
	rec.ErrorMessage = "Graph's answer was lost and the guest was not found in the directory; the invitation was not sent"
	d.ErrorCode, d.Note = rec.ErrorCode, fmt.Sprintf("not found by lookup within %s; not sent", a.s.patience)
	if lerr != nil {
		d.Note = "lookups failed; not confirmed, not sent: " + clip(lerr.Error(), 200)
	}
	if err := a.record(ctx, nil, d); err != nil {
		return err
	}
	a.log.WarnContext(ctx, "invite: open intent settled as not sent", "lookup_err", lerr)
	return nil
}

// SettleSending settles, with the viewer's own token, the open intent behind a record that is
// still "Sending…" once its lease has passed: for deployments without a background identity, the
// record's page does the reconciler's lookup when its inviter (or an administrator) opens it. It
// reports whether the intent is settled now. It never writes to Graph.
func (s *Service) SettleSending(ctx context.Context, ts oauth2.TokenSource, viewer Inviter, invitationID string) (bool, error) {
	rec, err := s.visible(ctx, viewer, invitationID)
	if err != nil {
		return false, err
	}
	in, err := s.store.OpenIntentOfInvitation(ctx, rec.ID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if s.now().UTC().Before(in.LeaseUntil) || s.backgroundSync.Load() {
		return false, nil // the send itself, or the reconciler, is on it
	}
	if ok, err := s.store.ExtendIntent(ctx, in.ID, s.now().UTC().Add(reconcileLease)); err != nil || !ok {
		return err == nil, err
	}
	in.Attempts++
	state, err := s.reconcileOne(ctx, ts, in)
	return state != "", err
}
