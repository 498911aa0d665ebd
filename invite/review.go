package invite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"portico/notify"
	"portico/store"
	"portico/webhooks"
)

// Audit actions of sponsor reviews. Each event's detail names the policy that caused it.
const (
	ActionReviewOpen     = "review.open"      // a round became due; the reviewers were told
	ActionReviewKeep     = "review.keep"      // a reviewer kept the guest (reason optional)
	ActionReviewRemove   = "review.remove"    // a reviewer asked to remove the guest (reason required)
	ActionReviewNoAnswer = "review.no_answer" // nobody answered within the grace
	ActionReviewReport   = "review.report"    // the action was "report": nothing changed in the directory
	ActionReviewDisable  = "review.disable"   // the guest's account was disabled
	ActionReviewDelete   = "review.delete"    // the guest was deleted (restorable for 30 days)
)

// Review actions (PORTICO_REVIEW_ACTION).
const (
	ReviewActionReport  = "report"
	ReviewActionDisable = "disable"
	ReviewActionDelete  = "delete"
)

// Errors of reviews.
var (
	// ErrNotReviewer: the signed-in person is not a reviewer of this guest (403).
	ErrNotReviewer = errors.New("invite: only the guest's inviter and sponsors review this guest")
	// ErrReviewClosed: the round was decided already (by someone else, or in another tab) (409).
	ErrReviewClosed = errors.New("invite: this review was decided already")
	// ErrReasonRequired: "remove" needs a reason (400).
	ErrReasonRequired = errors.New("invite: say why the guest should be removed")
	// ErrReasonTooLong: reasons are at most MaxReviewReason characters (400).
	ErrReasonTooLong = errors.New("invite: the reason is too long")
)

// MaxReviewReason is the longest reason a reviewer may give, in characters.
const MaxReviewReason = 500

// ReviewPolicy is what PORTICO_REVIEW_* say, after the permission check.
type ReviewPolicy struct {
	Every      time.Duration // 0: reviews are off
	Grace      time.Duration
	WarnBefore time.Duration
	// Action is what "remove" and no answer do: report, disable or delete. It is report when the
	// configuration said disable or delete but Portico lacks the permission; Degraded says why.
	Action     string
	Configured string // what PORTICO_REVIEW_ACTION said
	Degraded   string
}

// Enabled reports whether reviews are on.
func (p ReviewPolicy) Enabled() bool { return p.Every > 0 }

// String names the policy for audit events.
func (p ReviewPolicy) String() string {
	s := fmt.Sprintf("review every %s, grace %s, action %s", days(p.Every), days(p.Grace), p.Action)
	if p.Degraded != "" {
		s += " (configured " + p.Configured + ": " + p.Degraded + ")"
	}
	return s
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// ReviewStore is the persistence reviews use; ReviewTx runs fn in one transaction.
type ReviewStore interface {
	ReviewTx(ctx context.Context, fn func(ReviewStore) error) error
	ReviewCandidates(ctx context.Context, limit int) ([]store.ReviewCandidate, error)
	CreateGuestReview(ctx context.Context, r *store.GuestReview, reviewers []store.GuestReviewer) (bool, error)
	AddGuestReviewers(ctx context.Context, reviewID string, reviewers []store.GuestReviewer) error
	GuestReviewers(ctx context.Context, reviewIDs ...string) ([]store.GuestReviewer, error)
	GetGuestReview(ctx context.Context, id string) (*store.GuestReview, error)
	ListGuestReviews(ctx context.Context, f store.GuestReviewFilter) ([]store.GuestReview, error)
	CountGuestReviews(ctx context.Context, f store.GuestReviewFilter) (int, error)
	DueGuestReviews(ctx context.Context, now, warnBy time.Time, limit int) ([]store.GuestReview, error)
	ChangeGuestReview(ctx context.Context, id string, ch store.GuestReviewChange) (bool, error)
	GetInvitation(ctx context.Context, id string) (*store.Invitation, error)
	InvitationSponsors(ctx context.Context, invitationIDs ...string) ([]store.InvitationSponsor, error)
	ActiveJoinLink(ctx context.Context, invitationID string) (*store.JoinLink, error)
	// The lifecycle's per-guest record (an admin's exemption; the account state Portico set) and
	// its log, which the admins' guest list reads.
	LifecycleGuest(ctx context.Context, tenantID, guestID string) (*store.LifecycleGuest, error)
	SetGuestAccountState(ctx context.Context, tenantID, guestID, invitationID, state string, signIn *time.Time, at time.Time) error
	ClaimLifecycleAction(ctx context.Context, a *store.LifecycleAction, now time.Time, lease time.Duration) (bool, error)
	FinishLifecycleAction(ctx context.Context, id, state, detail, errText, graphRequestID string, at time.Time) (bool, error)
	AppendAudit(ctx context.Context, e *store.AuditEvent) error
	noticeQueue
	webhooks.Outbox // guest.disabled or guest.deleted, in the transaction that records the removal
}

// ReviewGraph is the Graph calls of the review actions, with Portico's application identity.
type ReviewGraph interface {
	// UserTypes reads the users' userType as the directory has it now ($batch): gone are those
	// Graph answered 404 for; users whose read failed are in neither, with the errors joined.
	UserTypes(ctx context.Context, ts oauth2.TokenSource, userIDs []string) (types map[string]string, gone []string, err error)
	// DisableUsers sets accountEnabled false, DeleteUsers deletes ($batch); one result per user.
	DisableUsers(ctx context.Context, ts oauth2.TokenSource, userIDs []string) map[string]ReviewWrite
	DeleteUsers(ctx context.Context, ts oauth2.TokenSource, userIDs []string) map[string]ReviewWrite
}

// ReviewWrite is Graph's answer to one write of a batch.
type ReviewWrite struct {
	RequestID string
	Err       error
}

// GuestSponsors reads guests' sponsors as Graph has them (GET /users/{id}/sponsors).
type GuestSponsors interface {
	GuestSponsors(ctx context.Context, ts oauth2.TokenSource, userIDs []string) (map[string][]Person, error)
}

// SignIns reads users' last sign-ins (signInActivity; needs AuditLog.Read.All), in one $batch
// per 20 users; users Graph does not know are missing from the map.
type SignIns interface {
	LastSignIns(ctx context.Context, ts oauth2.TokenSource, userIDs []string) (map[string]*time.Time, error)
}

// ReviewsConfig is everything Reviews need; Store and Policy are required.
type ReviewsConfig struct {
	Store    ReviewStore
	Policy   ReviewPolicy
	Graph    ReviewGraph        // nil: actions degrade to report
	Tokens   oauth2.TokenSource // Portico's application identity; nil: actions degrade to report
	Sponsors GuestSponsors      // nil: sponsors are the inviter and those named with the invitation
	SignIns  SignIns            // nil: no signInActivity (AuditLog.Read.All not granted)
	Clock    func() time.Time
	Log      *slog.Logger
	// PublicURL is where notices link to (/reviews); NoticeOn says which notice kinds are on.
	PublicURL string
	NoticeOn  func(notify.Kind) bool
	// NoticesQueued, when set, is called after a transaction wrote notices (the job queue sends them).
	NoticesQueued func(ctx context.Context)
	// Kick, when set, is called after a "remove" committed, to run the action soon (a job).
	Kick func(ctx context.Context, reviewID string)
}

// Reviews runs sponsor reviews: rounds per guest, the reviewers' decisions, and the actions.
type Reviews struct {
	cfg ReviewsConfig
	now func() time.Time
	log *slog.Logger
}

// actionLease is how long one worker holds a round's action; Graph's write takes at most 30 s.
const actionLease = 2 * time.Minute

// maxActionAttempts ends an action failed after this many transient failures.
const maxActionAttempts = 10

// NewReviews builds Reviews.
func NewReviews(cfg ReviewsConfig) *Reviews {
	if cfg.Store == nil {
		panic("invite: NewReviews needs a Store")
	}
	r := &Reviews{cfg: cfg, now: cfg.Clock, log: cfg.Log}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("component", "reviews")
	if r.cfg.Policy.Action == "" {
		r.cfg.Policy.Action = ReviewActionReport
	}
	if (cfg.Graph == nil || cfg.Tokens == nil) && r.cfg.Policy.Action != ReviewActionReport {
		r.cfg.Policy.Configured, r.cfg.Policy.Action = r.cfg.Policy.Action, ReviewActionReport
		r.cfg.Policy.Degraded = "Portico has no application identity to change users with"
	}
	return r
}

// Policy is the review policy in force.
func (r *Reviews) Policy() ReviewPolicy { return r.cfg.Policy }

// SweepResult counts what one Sweep did.
type SweepResult struct {
	Scheduled, Opened, Warned, NoAnswer, Acted int
}

// Sweep does what is due: schedules the next round of every guest that needs one, opens due rounds
// (telling the reviewers), warns before an action, ends rounds past their grace (no answer) and
// carries out pending actions. It is idempotent: every step is a compare-and-set or a unique
// insert, so two sweeps, on any instance, do each thing once.
func (r *Reviews) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	if !r.cfg.Policy.Enabled() {
		return res, nil
	}
	p := r.cfg.Policy
	cands, err := r.cfg.Store.ReviewCandidates(ctx, 500)
	if err != nil {
		return res, err
	}
	for _, c := range cands {
		inv := c.Invitation
		due := c.Since.Add(p.Every)
		reviewers, err := r.reviewersOf(ctx, &inv)
		if err != nil {
			return res, err
		}
		ok, err := r.cfg.Store.CreateGuestReview(ctx, &store.GuestReview{TenantID: inv.TenantID, InvitationID: inv.ID,
			GuestOID: inv.GraphUserID, Round: c.LastRound + 1, DueAt: due, GraceUntil: due.Add(p.Grace), CreatedAt: r.now()}, reviewers)
		if err != nil {
			return res, err
		}
		if ok {
			res.Scheduled++
		}
	}
	now := r.now()
	due, err := r.cfg.Store.DueGuestReviews(ctx, now, now.Add(p.WarnBefore), 500)
	if err != nil {
		return res, err
	}
	var errs []error
	var toAct, opening []string
	for i := range due {
		if due[i].State == store.ReviewScheduled {
			opening = append(opening, due[i].GuestOID)
		}
	}
	sponsors := r.graphSponsors(ctx, opening)
	for i := range due {
		rv := &due[i]
		switch {
		case rv.State == store.ReviewScheduled:
			if ok, err := r.open(ctx, rv, sponsors[rv.GuestOID]); err != nil {
				errs = append(errs, err)
			} else if ok {
				res.Opened++
			}
		case rv.State == store.ReviewOpen && !rv.GraceUntil.After(now) && rv.WarnedAt == nil && r.warns():
			// The warning's time passed unseen (Portico was down, or the clock jumped): warn
			// now and act WarnBefore later, never without a warning.
			if ok, err := r.warn(ctx, rv, true); err != nil {
				errs = append(errs, err)
			} else if ok {
				res.Warned++
			}
		case rv.State == store.ReviewOpen && !rv.GraceUntil.After(now):
			ok, err := r.noAnswer(ctx, rv)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if ok {
				res.NoAnswer++
				toAct = append(toAct, rv.ID)
			}
		case rv.State == store.ReviewOpen:
			if ok, err := r.warn(ctx, rv, false); err != nil {
				errs = append(errs, err)
			} else if ok {
				res.Warned++
			}
		case rv.State == store.ReviewRemoving:
			toAct = append(toAct, rv.ID)
		}
	}
	// The actions together: Graph's reads and writes travel in $batch.
	acted, err := r.actMany(ctx, toAct)
	res.Acted += acted
	if err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// reviewersOf are the guest's inviter and the sponsors named with the invitation.
func (r *Reviews) reviewersOf(ctx context.Context, inv *store.Invitation) ([]store.GuestReviewer, error) {
	out := []store.GuestReviewer{{ReviewerOID: inv.InviterOID, DisplayName: inv.InviterName, Address: inv.InviterUPN}}
	sp, err := r.cfg.Store.InvitationSponsors(ctx, inv.ID)
	if err != nil {
		return nil, err
	}
	for _, s := range sp {
		if s.SponsorOID != inv.InviterOID {
			out = append(out, store.GuestReviewer{ReviewerOID: s.SponsorOID, DisplayName: s.DisplayName, Address: s.Address})
		}
	}
	return out, nil
}

// graphSponsors reads the guests' sponsors as Graph has them (one call, $batch), as reviewers; a
// failure is logged and the rounds open with the sponsors Portico recorded.
func (r *Reviews) graphSponsors(ctx context.Context, guests []string) map[string][]store.GuestReviewer {
	out := map[string][]store.GuestReviewer{}
	if r.cfg.Sponsors == nil || r.cfg.Tokens == nil || len(guests) == 0 {
		return out
	}
	m, err := r.cfg.Sponsors.GuestSponsors(ctx, r.cfg.Tokens, guests)
	if err != nil {
		r.log.WarnContext(ctx, "reviews: reading guests' sponsors from Graph failed; the rounds open with the sponsors Portico recorded", "err", err)
	}
	for id, ps := range m {
		for _, p := range ps {
			addr := p.Email
			if addr == "" {
				addr = p.UPN
			}
			out[id] = append(out[id], store.GuestReviewer{ReviewerOID: p.ObjectID, DisplayName: p.Name, Address: addr})
		}
	}
	return out
}

// open makes a scheduled round due: it adds extra reviewers (the guest's sponsors as Graph has
// them), tells the reviewers (review.due) and audits, in one transaction.
func (r *Reviews) open(ctx context.Context, rv *store.GuestReview, extra []store.GuestReviewer) (bool, error) {
	inv, err := r.cfg.Store.GetInvitation(ctx, rv.InvitationID)
	if err != nil {
		return false, err
	}
	var opened bool
	err = r.cfg.Store.ReviewTx(ctx, func(tx ReviewStore) error {
		now := r.now()
		ok, err := tx.ChangeGuestReview(ctx, rv.ID, store.GuestReviewChange{From: []string{store.ReviewScheduled}, To: store.ReviewOpen, At: now})
		if err != nil || !ok {
			return err
		}
		opened = true
		if len(extra) > 0 {
			if err := tx.AddGuestReviewers(ctx, rv.ID, extra); err != nil {
				return err
			}
		}
		if err := r.notice(ctx, tx, rv, inv, notify.KindReviewDue); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, r.event(rv, inv, Person{}, ActionReviewOpen, OutcomePending,
			fmt.Sprintf("round %d; answer by %s; %s", rv.Round, rv.GraceUntil.Format(time.DateOnly), r.cfg.Policy)))
	})
	if opened && err == nil {
		r.noticesQueued(ctx)
	}
	return opened, err
}

// warn tells the reviewers that the action comes soon (guest.action_soon), once per round; with
// the action report there is nothing to warn about and the round is only marked. A late warning
// (the grace ended unseen) moves the end of the grace to WarnBefore from now.
func (r *Reviews) warn(ctx context.Context, rv *store.GuestReview, late bool) (bool, error) {
	inv, err := r.cfg.Store.GetInvitation(ctx, rv.InvitationID)
	if err != nil {
		return false, err
	}
	var warned bool
	err = r.cfg.Store.ReviewTx(ctx, func(tx ReviewStore) error {
		now := r.now()
		ch := store.GuestReviewChange{From: []string{store.ReviewOpen}, At: now, Warned: true}
		if until := now.Add(r.cfg.Policy.WarnBefore); late && r.warns() {
			ch.GraceUntil = &until
			rv.GraceUntil = until
		}
		ok, err := tx.ChangeGuestReview(ctx, rv.ID, ch)
		if err != nil || !ok {
			return err
		}
		warned = true
		if r.cfg.Policy.Action == ReviewActionReport {
			return nil
		}
		return r.notice(ctx, tx, rv, inv, notify.KindGuestActionSoon)
	})
	if warned && err == nil {
		r.noticesQueued(ctx)
	}
	return warned, err
}

func (r *Reviews) noticesQueued(ctx context.Context) {
	if r.cfg.NoticesQueued != nil {
		r.cfg.NoticesQueued(ctx)
	}
}

// warns reports whether the policy's action needs a warning first (disable or delete, WarnBefore set).
func (r *Reviews) warns() bool {
	return r.cfg.Policy.Action != ReviewActionReport && r.cfg.Policy.WarnBefore > 0
}

// noAnswer ends a round past its grace: removing, by the policy.
func (r *Reviews) noAnswer(ctx context.Context, rv *store.GuestReview) (bool, error) {
	inv, err := r.cfg.Store.GetInvitation(ctx, rv.InvitationID)
	if err != nil {
		return false, err
	}
	var ended bool
	err = r.cfg.Store.ReviewTx(ctx, func(tx ReviewStore) error {
		p := r.cfg.Policy
		ok, err := tx.ChangeGuestReview(ctx, rv.ID, store.GuestReviewChange{From: []string{store.ReviewOpen}, To: store.ReviewRemoving,
			At: r.now(), Decision: store.DecisionNoAnswer, ByName: "Portico (no answer)", Action: p.Action, ActionWhy: p.Degraded})
		if err != nil || !ok {
			return err
		}
		ended = true
		return tx.AppendAudit(ctx, r.event(rv, inv, Person{}, ActionReviewNoAnswer, OutcomeSuccess,
			fmt.Sprintf("round %d: no answer by %s; %s", rv.Round, rv.GraceUntil.Format(time.DateOnly), p)))
	})
	return ended, err
}

// Decide records a reviewer's decision on round id: keep (the next round is scheduled Every from
// now) or remove (reason required; the action is carried out by a job with Portico's own identity).
// Only the round's reviewers decide; of two decisions at once, exactly one counts.
func (r *Reviews) Decide(ctx context.Context, by Person, id string, keep bool, reason string) (*store.GuestReview, error) {
	reason = strings.TrimSpace(reason)
	if !keep && reason == "" {
		return nil, ErrReasonRequired
	}
	if utf8.RuneCountInString(reason) > MaxReviewReason || !utf8.ValidString(reason) || strings.ContainsRune(reason, 0) {
		return nil, ErrReasonTooLong
	}
	rv, err := r.cfg.Store.GetGuestReview(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	if ok, err := r.isReviewer(ctx, rv.ID, by.ObjectID); err != nil {
		return nil, err
	} else if !ok {
		return nil, ErrNotReviewer
	}
	inv, err := r.cfg.Store.GetInvitation(ctx, rv.InvitationID)
	if err != nil {
		return nil, err
	}
	p := r.cfg.Policy
	err = r.cfg.Store.ReviewTx(ctx, func(tx ReviewStore) error {
		now := r.now()
		ch := store.GuestReviewChange{From: []string{store.ReviewOpen}, At: now, Reason: reason,
			ByOID: by.ObjectID, ByUPN: by.UPN, ByName: nameOf(by)}
		action, detail := ActionReviewKeep, fmt.Sprintf("round %d: keep; next review %s", rv.Round, now.Add(p.Every).Format(time.DateOnly))
		if keep {
			ch.To, ch.Decision = store.ReviewKept, store.DecisionKeep
		} else {
			ch.To, ch.Decision, ch.Action, ch.ActionWhy = store.ReviewRemoving, store.DecisionRemove, p.Action, p.Degraded
			action, detail = ActionReviewRemove, fmt.Sprintf("round %d: remove", rv.Round)
		}
		ok, err := tx.ChangeGuestReview(ctx, rv.ID, ch)
		if err != nil {
			return err
		}
		if !ok {
			return ErrReviewClosed
		}
		if reason != "" {
			detail += "; reason: " + reason
		}
		if keep {
			revs, err := tx.GuestReviewers(ctx, rv.ID)
			if err != nil {
				return err
			}
			next := now.Add(p.Every)
			if _, err := tx.CreateGuestReview(ctx, &store.GuestReview{TenantID: rv.TenantID, InvitationID: rv.InvitationID,
				GuestOID: rv.GuestOID, Round: rv.Round + 1, DueAt: next, GraceUntil: next.Add(p.Grace), CreatedAt: now}, revs); err != nil {
				return err
			}
		}
		return tx.AppendAudit(ctx, r.event(rv, inv, by, action, OutcomeSuccess, detail+"; "+p.String()))
	})
	if err != nil {
		return nil, err
	}
	if !keep && r.cfg.Kick != nil {
		r.cfg.Kick(context.WithoutCancel(ctx), rv.ID)
	}
	return r.cfg.Store.GetGuestReview(ctx, rv.ID)
}

func (r *Reviews) isReviewer(ctx context.Context, reviewID, oid string) (bool, error) {
	if oid == "" {
		return false, nil
	}
	revs, err := r.cfg.Store.GuestReviewers(ctx, reviewID)
	if err != nil {
		return false, err
	}
	for _, p := range revs {
		if p.ReviewerOID == oid {
			return true, nil
		}
	}
	return false, nil
}

// Act carries out the action of one round in state removing (the review_action job).
func (r *Reviews) Act(ctx context.Context, id string) error {
	_, err := r.actMany(ctx, []string{id})
	return err
}

// actChunk is how many rounds one batched action handles: its reads and writes go to Graph in
// $batch requests of 20 (graph.MaxBatchRequests), a few at a time.
const actChunk = 200

// pendingAct is one claimed round on its way to an outcome.
type pendingAct struct {
	rv          *store.GuestReview
	inv         *store.Invitation
	action, why string
}

// actMany carries out the actions of rounds in state removing, each once: it claims each under a
// lease, checks that the guest is still one Portico invited, not exempt, and (read again in Graph,
// in $batch) still a guest, then reports, disables or deletes per the policy recorded with the
// decision (writes in $batch), and ends each round removed, reported or failed; a transient Graph
// failure leaves a round removing for a later attempt. It returns how many rounds it ended.
func (r *Reviews) actMany(ctx context.Context, ids []string) (int, error) {
	var errs []error
	var jobs []*pendingAct
	for _, id := range ids {
		now := r.now()
		lease := now.Add(actionLease)
		ok, err := r.cfg.Store.ChangeGuestReview(ctx, id, store.GuestReviewChange{From: []string{store.ReviewRemoving}, At: now,
			Lease: &lease, LeaseFree: &now})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue // another worker holds it, or it ended
		}
		rv, err := r.cfg.Store.GetGuestReview(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		inv, err := r.cfg.Store.GetInvitation(ctx, rv.InvitationID)
		if err != nil {
			errs = append(errs, r.retryLater(ctx, rv, err))
			continue
		}
		j := &pendingAct{rv: rv, inv: inv, action: rv.Action, why: rv.ActionWhy}
		switch {
		case inv.UserType == "Member" || inv.GraphUserID == "" || inv.GraphUserID != rv.GuestOID || inv.Outcome != store.OutcomeCreated:
			j.action, j.why = ReviewActionReport, "not a guest Portico invited: never changed by a review"
		case j.action != ReviewActionReport && (r.cfg.Graph == nil || r.cfg.Tokens == nil):
			j.action, j.why = ReviewActionReport, "Portico has no application identity to change users with"
		}
		if g, err := r.cfg.Store.LifecycleGuest(ctx, rv.TenantID, rv.GuestOID); err == nil && g.Exempt {
			j.action, j.why = ReviewActionReport, "exempt from lifecycle rules by an administrator"
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, r.retryLater(ctx, rv, err))
			continue
		}
		jobs = append(jobs, j)
	}
	done := 0
	settled := func(err error) {
		if err != nil {
			errs = append(errs, err)
		} else {
			done++
		}
	}
	var writes []*pendingAct
	for _, j := range jobs {
		if j.action == ReviewActionReport {
			settled(r.settle(ctx, j.rv, j.inv, store.ReviewReported, ActionReviewReport, OutcomeSuccess, j.why, ""))
		} else {
			writes = append(writes, j)
		}
	}
	for len(writes) > 0 {
		n := min(len(writes), actChunk)
		r.writeChunk(ctx, writes[:n], settled, func(err error) { errs = append(errs, err) })
		writes = writes[n:]
	}
	return done, errors.Join(errs...)
}

// writeChunk reads the guests' userType again (the directory's word, just before the write: never a
// member, whatever Portico recorded), then disables or deletes those still guests, all in $batch.
func (r *Reviews) writeChunk(ctx context.Context, jobs []*pendingAct, settled, failed func(error)) {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.rv.GuestOID
	}
	types, gone, readErr := r.cfg.Graph.UserTypes(ctx, r.cfg.Tokens, ids)
	var disable, del []*pendingAct
	for _, j := range jobs {
		typ, found := types[j.rv.GuestOID]
		switch {
		case found && !strings.EqualFold(typ, "Guest"):
			settled(r.settle(ctx, j.rv, j.inv, store.ReviewReported, ActionReviewReport, OutcomeSuccess,
				"the user is a "+typ+" in the directory now, not a guest: never changed by a review", ""))
		case found && j.action == ReviewActionDelete:
			del = append(del, j)
		case found:
			disable = append(disable, j)
		case slices.Contains(gone, j.rv.GuestOID):
			settled(r.settle(ctx, j.rv, j.inv, store.ReviewRemoved, auditActionOf(j.action), OutcomeSuccess, "the user no longer exists in the directory", ""))
		default:
			err := readErr
			if err == nil {
				err = errors.New("graph: no answer for the user")
			}
			failed(r.retryLater(ctx, j.rv, err))
		}
	}
	for _, w := range []struct {
		jobs []*pendingAct
		run  func(context.Context, oauth2.TokenSource, []string) map[string]ReviewWrite
	}{{disable, r.cfg.Graph.DisableUsers}, {del, r.cfg.Graph.DeleteUsers}} {
		if len(w.jobs) == 0 {
			continue
		}
		ids := make([]string, len(w.jobs))
		for i, j := range w.jobs {
			ids[i] = j.rv.GuestOID
		}
		res := w.run(ctx, r.cfg.Tokens, ids)
		for _, j := range w.jobs {
			out, ok := res[j.rv.GuestOID]
			if !ok {
				out.Err = errors.New("graph: no answer for the user")
			}
			if err := r.settleWrite(ctx, j, out); err != nil {
				failed(err)
			} else {
				settled(nil)
			}
		}
	}
}

// settleWrite ends a round by Graph's answer to its write, or leaves it for a retry.
func (r *Reviews) settleWrite(ctx context.Context, j *pendingAct, w ReviewWrite) error {
	rv, inv, action := j.rv, j.inv, j.action
	auditAction := auditActionOf(action)
	if w.Err == nil {
		return r.settle(ctx, rv, inv, store.ReviewRemoved, auditAction, OutcomeSuccess, j.why, w.RequestID)
	}
	ge := graphErrorOf(w.Err)
	switch {
	case ge != nil && ge.Status == http.StatusNotFound:
		// The user is gone already (deleted by someone, or by an earlier attempt whose answer was lost).
		return r.settle(ctx, rv, inv, store.ReviewRemoved, auditAction, OutcomeSuccess, "the user no longer exists in the directory", ge.RequestID)
	case ge != nil && (ge.Status == http.StatusForbidden || ge.Status == http.StatusUnauthorized):
		return r.settle(ctx, rv, inv, store.ReviewReported, ActionReviewReport, OutcomeSuccess,
			"Graph refused the "+action+" ("+ge.Code+": "+ge.Message+"); reported instead. Grant User.ReadWrite.All (application) to "+action+" guests", ge.RequestID)
	case ge != nil && ge.Status >= 400 && ge.Status < 500 && ge.Status != http.StatusTooManyRequests:
		return r.settle(ctx, rv, inv, store.ReviewFailed, auditAction, OutcomeFailed, ge.Code+": "+ge.Message, ge.RequestID)
	}
	// Transient (throttled, 5xx, timeout, outcome unknown): the state stays; a later sweep retries
	// (disable is idempotent; a delete already done answers 404, which ends it removed).
	if rv.ActionAttempts >= maxActionAttempts {
		return r.settle(ctx, rv, inv, store.ReviewFailed, auditAction, OutcomeFailed, "gave up after "+fmt.Sprint(rv.ActionAttempts)+" attempts: "+w.Err.Error(), "")
	}
	return r.retryLater(ctx, rv, w.Err)
}

// retryLater leaves a round removing after a transient failure, its lease moved to when the next
// attempt may claim it (a minute per attempt so far), with the error for the admins.
func (r *Reviews) retryLater(ctx context.Context, rv *store.GuestReview, err error) error {
	msg := err.Error()
	retry := r.now().Add(time.Duration(max(rv.ActionAttempts, 1)) * time.Minute)
	if _, cerr := r.cfg.Store.ChangeGuestReview(ctx, rv.ID, store.GuestReviewChange{From: []string{store.ReviewRemoving}, At: r.now(),
		Hold: &retry, ActionError: &msg}); cerr != nil {
		return errors.Join(err, cerr)
	}
	return fmt.Errorf("invite: review %s: %s: %w", rv.ID, rv.Action, err)
}

func auditActionOf(action string) string {
	if action == ReviewActionDelete {
		return ActionReviewDelete
	}
	return ActionReviewDisable
}

func (r *Reviews) settle(ctx context.Context, rv *store.GuestReview, inv *store.Invitation, state, action string, outcome Outcome, why, reqID string) error {
	return r.cfg.Store.ReviewTx(ctx, func(tx ReviewStore) error {
		errText := ""
		if outcome == OutcomeFailed {
			errText = why
		}
		ch := store.GuestReviewChange{From: []string{store.ReviewRemoving}, To: state, At: r.now(), ClearLease: true, Acted: true,
			ActionError: &errText, GraphRequestID: reqID}
		if state == store.ReviewReported && rv.Action != ReviewActionReport {
			ch.Action, ch.ActionWhy = ReviewActionReport, why
		}
		ok, err := tx.ChangeGuestReview(ctx, rv.ID, ch)
		if err != nil || !ok {
			return err
		}
		by := Person{ObjectID: rv.DecidedByOID, UPN: rv.DecidedByUPN, Name: rv.DecidedByName}
		detail := fmt.Sprintf("round %d: %s (decision %s by %s)", rv.Round, state, rv.Decision, nameOf(by))
		if why != "" {
			detail += "; " + why
		}
		ev := r.event(rv, inv, Person{}, action, outcome, detail+"; "+r.cfg.Policy.String())
		ev.GraphRequestID = reqID
		if err := tx.AppendAudit(ctx, ev); err != nil {
			return err
		}
		now := r.now()
		if state == store.ReviewRemoved {
			acct := store.GuestDisabled
			if action == ActionReviewDelete {
				acct = store.GuestDeleted
			}
			if err := tx.SetGuestAccountState(ctx, rv.TenantID, rv.GuestOID, rv.InvitationID, acct, nil, now); err != nil {
				return err
			}
			d := webhooks.GuestData{TenantID: rv.TenantID, GraphUserID: rv.GuestOID, Email: inv.Email,
				Reason: fmt.Sprintf("access review round %d: no reviewer answered", rv.Round)}
			if rv.Decision == store.DecisionRemove {
				d.ActorOID, d.Reason = by.ObjectID, fmt.Sprintf("access review round %d: a reviewer chose remove", rv.Round)
			}
			effect := EffectDisable
			if acct == store.GuestDeleted {
				effect = EffectDelete
			}
			if err := emitGuestChange(ctx, tx, effect, d, now); err != nil {
				return err
			}
		}
		// The lifecycle log (the admins' guest list): one entry per round's action.
		effect := strings.TrimPrefix(action, "review.")
		la := &store.LifecycleAction{TenantID: rv.TenantID, Subject: rv.InvitationID, GuestID: rv.GuestOID, Action: "review", Step: rv.Round,
			Effect: effect, Policy: r.cfg.Policy.String(), Actor: "policy", Detail: detail}
		if rv.Decision == store.DecisionRemove {
			la.Actor = nameOf(by)
		}
		claimed, err := tx.ClaimLifecycleAction(ctx, la, now, actionLease)
		if err != nil || !claimed {
			return err
		}
		final := store.LifecycleDone
		if state == store.ReviewFailed {
			final = store.LifecycleFailed
		}
		_, err = tx.FinishLifecycleAction(ctx, la.ID, final, detail, errText, reqID, now)
		return err
	})
}

// event is an audit event of a round: the actor is the reviewer, or Portico's own identity.
func (r *Reviews) event(rv *store.GuestReview, inv *store.Invitation, by Person, action string, outcome Outcome, detail string) *store.AuditEvent {
	actor, upn := by.ObjectID, by.UPN
	if actor == "" {
		actor, upn = "portico", "Portico (application)"
	}
	return &store.AuditEvent{Time: r.now(), ActorTID: rv.TenantID, ActorOID: actor, ActorUPN: upn, Action: action,
		Target: inv.Email + " (" + rv.GuestOID + ")", Outcome: string(outcome), Detail: detail}
}

// notice tells the round's reviewers about it, once per event and person.
func (r *Reviews) notice(ctx context.Context, tx ReviewStore, rv *store.GuestReview, inv *store.Invitation, kind notify.Kind) error {
	if r.cfg.NoticeOn == nil || !r.cfg.NoticeOn(kind) {
		return nil
	}
	revs, err := tx.GuestReviewers(ctx, rv.ID)
	if err != nil {
		return err
	}
	var to []notify.Recipient
	for _, p := range revs {
		if _, err := notify.PlainAddress(p.Address); err == nil {
			to = append(to, notify.Recipient{Address: p.Address, Name: p.DisplayName})
		}
	}
	partner := inv.DisplayName
	if partner == "" {
		partner = inv.Email
	}
	link := ""
	if r.cfg.PublicURL != "" {
		link = strings.TrimRight(r.cfg.PublicURL, "/") + "/reviews"
	}
	n := notify.Notice{Kind: kind, EventKey: notify.EventKey(kind, rv.ID), To: to, Link: link, Data: map[string]string{
		notify.DataPartner: partner, notify.DataPartnerEmail: inv.Email,
		notify.DataDate: rv.GraceUntil.Format(time.DateOnly), notify.DataAction: r.cfg.Policy.Action}}
	if _, err := notify.Enqueue(ctx, tx, n); err != nil && !errors.Is(err, notify.ErrNoRecipient) {
		return err
	}
	return nil
}

// SweepReviews is Sweep for the job queue: how many things it did.
func (r *Reviews) SweepReviews(ctx context.Context) (int, error) {
	res, err := r.Sweep(ctx)
	return res.Scheduled + res.Opened + res.Warned + res.NoAnswer + res.Acted, err
}

// SetKick sets what runs a round's action soon after a "remove" (the job queue's review_action).
func (r *Reviews) SetKick(fn func(ctx context.Context, reviewID string)) { r.cfg.Kick = fn }
