package invite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/store"
)

// Result is what a successful Send or Resend returns.
type Result struct {
	Invitation *Invitation
	JoinLink   *JoinLink // nil when no redemption URL is known
	JoinToken  string    // the join token in plain text: returned only here, stored only sealed
	JoinURL    string    // {PublicURL}/join/{token}
	RedeemURL  string    // Graph's redemption URL, only when no email was sent
	// ConfirmedByLookup is set when Graph's answer was lost and a directory lookup showed the
	// invitation exists; Portico then knows no redemption URL and made no join link.
	ConfirmedByLookup bool
	// DirectLink is set with ConfirmedByLookup when the join link leads to the tenant-specific
	// sign-in (just-in-time redemption) because Graph's redemption URL is not known.
	DirectLink bool
	// Sending is set when Graph's answer is not known yet: the send's intent is open and
	// Invitation is the record as it stands ("Sending…" for a new one). The send settles it in the
	// background, or the reconciler does; the record's page shows the outcome.
	Sending bool
	// IntentID is the send intent behind the result ("" when none was opened).
	IntentID string
}

// Send validates a request, checks the address, creates the invitation in Graph and records it
// with a join link and an audit event in one transaction.
//
// Errors: *QuotaError (the inviter's quota is used up; audited as throttled, no Graph call),
// ErrMemberNotAllowed (audited as denied, no Graph call), *ValidationError (no Graph call),
// *RefusedError (the preflight refused; a pending guest without req.Resend is refused with
// ResendOffered), *GraphError (Graph failed or a lookup failed; recorded and audited). With
// req.Resend set, a pending guest is invited again: the inviter's own record of that partner is
// updated ("Send again"), or, when they have none (the partner was invited by someone else), a
// record of their own is made. Either way the older join links to that partner stop working.
func (s *Service) Send(ctx context.Context, ts oauth2.TokenSource, inv Inviter, req Request, meta Meta) (*Result, error) {
	return s.send(ctx, ts, &attempt{s: s, actor: inv, owner: inv, meta: meta, action: ActionInvitationCreate}, req)
}

// attempt is one run of the invitation pipeline: who acts (audit, quota, the Member rule), whose
// record it becomes (the original inviter, for a resend by an administrator), and what is being
// recorded. Its methods write the record and the audit trail.
type attempt struct {
	s        *Service
	actor    Inviter
	owner    Inviter
	meta     Meta
	action   string
	resendOf string
	existing *Invitation // the owner's record of the partner that a resend updates; nil: a new record
	idemKey  string      // Request.IdempotencyKey
	intent   *store.SendIntent
	// approval is set when an approver approved this send for its owner (Approvals.Approve).
	approval *approvalGrant
	// policy is set when the lifecycle sends (a reminder): the setting that caused it; the send
	// uses no inviter quota and its audit events name the policy.
	policy string

	v    Valid
	base auditDetail // what every audit event of the attempt says
	rec  *Invitation // nil until the address passed every check
	log  *slog.Logger

	// Access at invite time (access.go): extra sponsors as typed, then as found; chosen groups.
	sponsorAddrs []sponsorAddr
	sponsors     []Sponsor
	groups       []string
}

// send runs the invitation pipeline for a.
func (s *Service) send(ctx context.Context, ts oauth2.TokenSource, a *attempt, req Request) (*Result, error) {
	a.log = s.log.With(a.meta.logAttrs()...).With("action", a.action)
	a.idemKey = req.IdempotencyKey
	if a.idemKey != "" {
		// A key seen before: that send's result, and no second Graph write.
		in, err := s.store.IntentByKey(ctx, a.owner.TenantID, a.idemKey)
		switch {
		case err == nil:
			return s.intentResult(ctx, a.actor, in, s.sendWait)
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("invite: reading the idempotency key: %w", err)
		}
	}

	// The quota and the Member rule are decided before anything else, so a refusal is audited
	// whatever else the form holds.
	target := ""
	if e, err := ValidateEmail(req.Email); err == nil {
		target = strings.ToLower(e)
	}
	// Portico's own policy is the gate in application mode (Graph no longer checks who asks):
	// a barred employee gets nothing looked up and nothing sent.
	if may := a.actor.MayInvite(); !may.Allowed {
		a.refuse(ctx, target, OutcomeDenied, "", auditDetail{ResendOf: a.resendOf, Note: "not an inviter: " + string(a.actor.Barred)})
		a.log.WarnContext(ctx, "invite: not an inviter", "actor_oid", a.actor.ObjectID, "bar", string(a.actor.Barred))
		return nil, may.Err()
	}
	if a.approval == nil && a.policy == "" { // an approved request was the approver's decision, not a use of a quota
		if err := s.enforceQuota(ctx, a.actor, a.meta, a.action, target); err != nil {
			return nil, err
		}
	}
	if t, ok := parseUserType(req.UserType); ok && t == UserTypeMember && !a.actor.CanInviteMember() {
		a.refuse(ctx, target, OutcomeDenied, "", auditDetail{RequestedType: UserTypeMember, ResendOf: a.resendOf, Note: "only administrators may invite members"})
		a.log.WarnContext(ctx, "invite: member invitation denied", "actor_oid", a.actor.ObjectID)
		return nil, ErrMemberNotAllowed
	}

	v, fe := s.policy.Validate(req, a.actor)
	fe = s.checkAccessFields(req, a, fe)
	if fe != nil {
		return nil, &ValidationError{Fields: fe}
	}
	a.v = v
	a.base = auditDetail{
		RequestedType: v.RequestedType,
		EffectiveType: v.UserType,
		SendEmail:     &v.SendEmail,
		HasCC:         v.CC != "",
		RedirectHost:  hostOf(v.RedirectURL),
		DisplayName:   v.DisplayName,
		ResendOf:      a.resendOf,
		GraphIdentity: s.graphIdentity(a.meta),
		Policy:        a.policy,
	}
	a.approval.annotate(&a.base, a.owner)

	// The checks before sending have a budget of their own, so that with the bounded wait for the
	// POST the submit answers well before the server's write timeout.
	pctx, pcancel := context.WithTimeout(ctx, s.preflightBudget)
	defer pcancel()
	if err := s.resolveSponsors(pctx, ts, a); err != nil {
		return nil, err
	}
	pf, err := s.preflightWith(pctx, ts, a.owner, v.Email, a.approval.waivesAllowList())
	pcancel()
	if err != nil {
		ge := describeGraphError(err, true)
		d := a.base
		d.Note, d.Status, d.ErrorCode = "preflight lookup failed; nothing was sent", ge.Status, ge.Code
		a.refuse(ctx, v.Key, ge.Outcome, ge.RequestID, d)
		a.log.WarnContext(ctx, "invite: preflight failed, nothing sent", "err", err)
		return nil, ge
	}
	switch {
	case pf.Verdict == VerdictAllowed:
	case pf.Verdict == VerdictPendingGuest && v.Resend:
		if a.resendOf == "" {
			a.resendOf = pf.InvitationID
		}
		if a.existing == nil {
			if a.existing, err = s.ownRecord(ctx, a.owner, v.Key); err != nil {
				return nil, err
			}
		}
	default:
		d := a.base
		d.Verdict, d.Rule, d.GraphUserID = string(pf.Verdict), pf.Rule, pf.UserID
		a.refuse(ctx, v.Key, OutcomeRejected, "", d)
		return nil, &RefusedError{Preflight: pf, ResendOffered: pf.Verdict == VerdictPendingGuest}
	}
	a.base.ResendOf = a.resendOf
	if a.existing != nil {
		a.rec = a.resentRecord()
	} else {
		a.rec = a.newRecord()
	}

	// The intent is durable before Graph is called: whatever happens next, the reconciler can
	// settle it.
	if res, err := a.openIntent(ctx); res != nil || err != nil {
		return res, err
	}
	gi := s.landThroughPortico(graphInvitation(v), a.rec)
	// The employee who asked is the first sponsor in both modes (for an approved request the
	// requester, then the sponsors they named, then the approver), then the sponsors they named.
	// Delegated with nobody else named, Graph makes the inviter the sponsor on its own; as itself,
	// Graph knows no inviter (nor in a job, which the employee who asked for is the sponsor of).
	if s.appOnly || a.meta.Via == ViaJob || a.approval != nil || len(a.sponsors) > 1 {
		gi.InvitedUserSponsors = a.sponsorRefs()
	}
	return a.run(ctx, ts, gi)
}

// newRecord is the invitation about to be sent, owned by a.owner.
func (a *attempt) newRecord() *Invitation {
	return &Invitation{
		ID:          store.NewID(),
		TenantID:    a.owner.TenantID,
		InviterOID:  a.owner.ObjectID,
		InviterUPN:  a.owner.UPN,
		InviterName: a.owner.Name,
		Email:       a.v.Key,
		DisplayName: a.v.DisplayName,
		Message:     a.v.Message,
		CCAddress:   a.v.CC,
		Language:    a.v.Language,
		RedirectURL: a.v.RedirectURL,
		UserType:    a.v.UserType,
		SendEmail:   a.v.SendEmail,
		ResendOf:    a.resendOf,
		CreatedAt:   a.s.now().UTC(),
		SentAt:      a.s.now().UTC(),
	}
}

// ownRecord is owner's current record of the partner with address key (the newest one Graph
// created), or nil when they have none.
func (s *Service) ownRecord(ctx context.Context, owner Inviter, key string) (*Invitation, error) {
	invs, err := s.store.LatestInvitationsByEmail(ctx, owner.TenantID, key, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("invite: reading invitations of the address: %w", err)
	}
	for i := range invs { // newest first
		r := &invs[i]
		if r.Created() && r.InviterOID == owner.ObjectID && r.ReplacedBy == "" {
			return r, nil
		}
	}
	return nil, nil
}

// resentRecord is a.existing about to be sent again with the validated options: same id, tenant,
// inviter and first send; Graph's answer is filled in when it comes.
func (a *attempt) resentRecord() *Invitation {
	r := *a.existing
	r.DisplayName, r.Message, r.CCAddress, r.Language = a.v.DisplayName, a.v.Message, a.v.CC, a.v.Language
	r.RedirectURL, r.UserType, r.SendEmail = a.v.RedirectURL, a.v.UserType, a.v.SendEmail
	r.SentAt = a.s.now().UTC()
	return &r
}

// refuse audits an attempt that stopped before anything was recorded.
func (a *attempt) refuse(ctx context.Context, target string, outcome Outcome, graphRequestID string, d auditDetail) {
	_ = a.s.audit(ctx, a.s.event(a.actor, a.meta, a.action, target, outcome, graphRequestID, d))
	a.s.observeOutcome(a.action, outcome)
}

// detail is the attempt's audit detail for its record.
func (a *attempt) detail() auditDetail {
	d := a.base
	d.InvitationID = a.rec.ID
	return d
}

// record writes the attempt in one transaction: a new record, or for a resend the updated record
// (a resend Graph refused leaves the record as it was); when there is a new join link, the older
// join links to the partner, revoked as superseded, and the new link; the
// record's history event and the audit event.
//
// A resend updates the record's row first: on PostgreSQL that locks it until the transaction ends,
// so parallel resends of one record take turns and each supersedes the link the one before made.
func (a *attempt) record(ctx context.Context, link *JoinLink, d auditDetail) error {
	now := a.s.now().UTC()
	ev := a.s.event(a.actor, a.meta, a.action, a.rec.Email, a.rec.Outcome, a.rec.GraphRequestID, d)
	hist := &store.InvitationEvent{InvitationID: a.rec.ID, Time: now, Kind: store.EventSent, ActorOID: a.actor.ObjectID,
		ActorName: a.actor.Name, Outcome: string(a.rec.Outcome), GraphRequestID: a.rec.GraphRequestID, Note: d.Note}
	state, note := store.IntentFailed, d.Note
	if a.rec.Created() {
		state = store.IntentDone
	}
	if note == "" {
		note = a.rec.ErrorMessage
	}
	err := a.s.store.Tx(ctx, func(tx Store) error {
		// The intent is settled first, a compare-and-set: whoever loses records nothing.
		if err := a.settleIn(ctx, tx, state, string(a.rec.Outcome), note); err != nil {
			return err
		}
		switch {
		case a.existing == nil && a.intent != nil:
			// The record was written, "sending", with the intent.
			if err := tx.UpdateInvitationSend(ctx, a.rec); err != nil {
				return err
			}
		case a.existing == nil:
			if err := tx.CreateInvitation(ctx, a.rec); err != nil {
				return err
			}
		case a.rec.Created():
			hist.Kind = store.EventResent
			if err := tx.UpdateInvitationSend(ctx, a.rec); err != nil {
				return err
			}
		default:
			hist.Kind = store.EventResendFailed
		}
		if link != nil {
			if err := a.supersedeOlderLinks(ctx, tx, now); err != nil {
				return err
			}
			if err := tx.CreateJoinLink(ctx, link); err != nil {
				return err
			}
		}
		if err := tx.AppendInvitationEvent(ctx, hist); err != nil {
			return err
		}
		if err := a.recordAccess(ctx, tx); err != nil {
			return err
		}
		if a.rec.Created() {
			// Webhook receivers hear of it exactly when it is recorded (same transaction).
			if err := a.emitCreated(ctx, tx); err != nil {
				return err
			}
		}
		return tx.AppendAudit(ctx, ev)
	})
	if err == nil {
		a.s.observeOutcome(a.action, a.rec.Outcome)
	}
	return err
}

// supersedeOlderLinks revokes, as superseded, every live join link to the partner: the record's own
// (an earlier send) and those of other records of the same address in the tenant (other inviters').
// Their redemption tickets belong to older Graph invitations.
func (a *attempt) supersedeOlderLinks(ctx context.Context, tx Store, now time.Time) error {
	if _, err := tx.SupersedeJoinLinks(ctx, a.rec.ID, now); err != nil {
		return err
	}
	others, err := tx.LatestInvitationsByEmail(ctx, a.rec.TenantID, a.rec.Email, time.Time{})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID == a.rec.ID || !o.Created() {
			continue
		}
		n, err := tx.SupersedeJoinLinks(ctx, o.ID, now)
		if err != nil {
			return err
		}
		if n > 0 {
			if err := tx.AppendInvitationEvent(ctx, &store.InvitationEvent{InvitationID: o.ID, Time: now, Kind: store.EventSuperseded,
				ActorOID: a.actor.ObjectID, ActorName: a.actor.Name}); err != nil {
				return err
			}
		}
	}
	return nil
}

// graphInvitation builds Graph's request from validated fields only; nothing of the raw request
// reaches Graph.
func graphInvitation(v Valid) *graph.Invitation {
	gi := &graph.Invitation{
		InvitedUserEmailAddress: v.Email,
		InvitedUserDisplayName:  v.DisplayName,
		InviteRedirectURL:       v.RedirectURL,
		InvitedUserType:         v.UserType,
		SendInvitationMessage:   v.SendEmail,
	}
	if v.Message != "" || v.Language != "" || v.CC != "" {
		mi := &graph.MessageInfo{CustomizedMessageBody: v.Message, MessageLanguage: v.Language}
		if v.CC != "" {
			// Graph honours a single cc recipient.
			mi.CCRecipients = []graph.Recipient{{EmailAddress: graph.EmailAddress{Address: v.CC}}}
		}
		gi.InvitedUserMessageInfo = mi
	}
	return gi
}

// recordCreated records an invitation Graph created, with a join link when Graph returned a
// redemption URL.
func (a *attempt) recordCreated(ctx context.Context, created *graph.Invitation) (*Result, error) {
	rec := a.rec
	rec.Outcome = OutcomeCreated
	rec.GraphInvitationID = created.ID
	rec.GraphStatus = created.Status
	rec.GraphRequestID = created.RequestID
	rec.ErrorCode, rec.ErrorMessage, rec.redeemSealed = "", "", nil
	if created.InvitedUser != nil {
		rec.GraphUserID = created.InvitedUser.ID
	}
	if strings.EqualFold(created.Status, statePending) {
		// The POST's answer is as fresh as a read: the result page needs no GET of the new user.
		checked := rec.CreatedAt
		rec.ExternalUserState, rec.StateCheckedAt = statePending, &checked
	}
	res := &Result{Invitation: rec, IntentID: a.intentID()}
	if created.InviteRedeemURL != "" {
		sealed, err := a.s.keys.Seal([]byte(created.InviteRedeemURL), []byte(rec.ID))
		if err != nil {
			a.log.ErrorContext(ctx, "invite: invitation created in Graph but its redemption URL could not be sealed",
				"graph_invitation_id", rec.GraphInvitationID, "graph_request_id", rec.GraphRequestID, "err", err)
			return nil, fmt.Errorf("invite: sealing the redemption URL: %w", err)
		}
		rec.redeemSealed = sealed
		if res.JoinLink, res.JoinToken, err = a.s.newLink(rec.ID); err != nil {
			return nil, err
		}
		res.JoinURL = a.s.joinURL(res.JoinToken)
	}
	d := a.detail()
	d.GraphUserID = rec.GraphUserID
	if res.JoinLink != nil {
		d.JoinLinkID = res.JoinLink.ID
	}
	if err := a.record(ctx, res.JoinLink, d); err != nil {
		if errors.Is(err, errSettled) {
			return nil, err
		}
		a.log.ErrorContext(ctx, "invite: invitation created in Graph but not recorded",
			"invitation", rec.ID, "graph_invitation_id", rec.GraphInvitationID, "graph_request_id", rec.GraphRequestID, "err", err)
		return nil, fmt.Errorf("invite: recording the invitation: %w", err)
	}
	if !a.v.SendEmail {
		res.RedeemURL = created.InviteRedeemURL
	}
	a.log.InfoContext(ctx, "invite: invitation created", "invitation", rec.ID,
		"graph_request_id", rec.GraphRequestID, "user_type", rec.UserType, "send_email", rec.SendEmail, "resend_of", rec.ResendOf)
	return res, nil
}

// confirmUncertain handles a POST that may or may not have reached Graph: it never posts again,
// but asks the directory, briefly, whether the guest exists now. Found: the invitation is recorded
// as confirmed by lookup. Not found (yet): the intent stays open for the reconciler, which keeps
// looking patiently, and the caller sees the record as still sending; nothing is lost.
func (a *attempt) confirmUncertain(ctx context.Context, ts oauth2.TokenSource, cause error) (*Result, error) {
	lctx, cancel := context.WithTimeout(ctx, a.s.uncertainLookup)
	found, lerr := a.lookup(lctx, ts)
	cancel()
	if found != nil {
		res, err := a.recordConfirmed(ctx, found, "confirmed by lookup")
		if err == nil {
			a.log.WarnContext(ctx, "invite: uncertain Graph answer, invitation confirmed by lookup", "invitation", a.rec.ID)
		}
		return res, err
	}
	// Hand the intent to the reconciler now (its lease ends at once, and the heartbeat renews it no
	// more) rather than after the lease.
	a.s.beat.untrack(a.intent.ID)
	if _, err := a.s.store.ExtendIntent(ctx, a.intent.ID, a.s.now().UTC()); err != nil {
		a.log.WarnContext(ctx, "invite: could not hand the open intent to the reconciler early", "err", err)
	}
	if kick := a.s.kick; kick != nil {
		kick(ctx, a.intent.ID)
	}
	a.log.WarnContext(ctx, "invite: uncertain Graph answer, guest not found yet; the reconciler settles it",
		"invitation", a.rec.ID, "intent", a.intent.ID, "err", cause, "lookup_err", lerr)
	return a.sendingResult(), nil
}

// recordConfirmed records an invitation a directory lookup showed to exist although Graph's answer
// was lost: no redemption URL is known. A new record then gets a join link to the tenant-specific
// sign-in (DirectLink), through which the partner redeems just in time without a second
// invitation; a resent record keeps its links.
func (a *attempt) recordConfirmed(ctx context.Context, found *graph.User, note string) (*Result, error) {
	rec, d := a.rec, a.detail()
	res := &Result{Invitation: rec, ConfirmedByLookup: true, IntentID: a.intentID()}
	if a.existing == nil && a.s.directLink != "" {
		direct := strings.ReplaceAll(a.s.directLink, "{tenant}", url.QueryEscape(rec.TenantID))
		sealed, err := a.s.keys.Seal([]byte(direct), []byte(rec.ID))
		if err != nil {
			return nil, fmt.Errorf("invite: sealing the direct link: %w", err)
		}
		rec.redeemSealed = sealed
		if res.JoinLink, res.JoinToken, err = a.s.newLink(rec.ID); err != nil {
			return nil, err
		}
		res.JoinURL, res.DirectLink = a.s.joinURL(res.JoinToken), true
		d.JoinLinkID = res.JoinLink.ID
	}
	rec.Outcome = OutcomeCreated
	rec.GraphUserID = found.ID
	rec.ErrorCode = ""
	rec.ExternalUserState = found.ExternalUserState
	rec.ExternalUserStateChangedAt = found.ExternalUserStateChangeDateTime
	checked := a.s.now().UTC()
	rec.StateCheckedAt = &checked
	rec.ErrorMessage = "Graph's answer was lost; the invitation was confirmed by lookup"
	if res.DirectLink {
		rec.ErrorMessage += ". No redemption URL is known: the join link leads to your organization's sign-in, where the partner accepts"
	}
	d.GraphUserID, d.Note = found.ID, note
	if err := a.record(ctx, res.JoinLink, d); err != nil {
		if errors.Is(err, errSettled) {
			return nil, err
		}
		a.log.ErrorContext(ctx, "invite: invitation confirmed by lookup but not recorded", "invitation", rec.ID, "err", err)
		return nil, fmt.Errorf("invite: recording the invitation: %w", err)
	}
	return res, nil
}

func (a *attempt) intentID() string {
	if a.intent == nil {
		return ""
	}
	return a.intent.ID
}

// recordFailure records an invitation Graph refused or failed and returns the GraphError for the inviter.
func (a *attempt) recordFailure(ctx context.Context, cause error) error {
	ge := describeGraphError(cause, false)
	rec := a.rec
	rec.Outcome = ge.Outcome
	rec.ErrorCode = ge.Code
	rec.GraphRequestID = ge.RequestID
	if api := graphErrorOf(cause); api != nil {
		rec.ErrorMessage = clip(api.Message, 500)
	} else {
		rec.ErrorMessage = clip(cause.Error(), 500)
	}
	d := a.detail()
	d.Status, d.ErrorCode = ge.Status, ge.Code
	if ge.Blocked {
		rec.ErrorCode = "InvitationsBlocked"
		rec.ErrorMessage = clip("Invitations are blocked for this directory by Microsoft's abuse protection; only Microsoft support can lift it. Graph: "+rec.ErrorMessage, 500)
		d.Note = "invitations blocked for the directory by Microsoft's abuse protection: not sent, not retried; an administrator must ask Microsoft support to lift the block"
		a.log.ErrorContext(ctx, "invite: Microsoft's abuse protection blocks every invitation of this tenant; an administrator must open a Microsoft support request to lift it",
			"invitation", rec.ID, "graph_request_id", ge.RequestID, "code", ge.Code)
	}
	err := a.record(ctx, nil, d)
	switch {
	case errors.Is(err, errSettled):
		return err
	case err != nil:
		a.log.ErrorContext(ctx, "invite: failed attempt not recorded", "invitation", rec.ID, "err", err)
	case a.existing != nil:
		ge.Invitation = a.existing // a failed resend leaves the record as it was
	default:
		ge.Invitation = rec
	}
	a.log.WarnContext(ctx, "invite: Graph refused the invitation", "invitation", rec.ID,
		"outcome", rec.Outcome, "status", ge.Status, "code", ge.Code, "graph_request_id", ge.RequestID)
	return ge
}

// InvitationsBlockedMessage is what the inviter is told when Microsoft's abuse protection blocks
// the tenant's invitations (GraphError.Blocked).
const InvitationsBlockedMessage = "Microsoft has blocked all invitations from your organization's directory " +
	"(its abuse protection saw suspicious activity), so nothing was sent. Trying again will not help until the block is lifted: " +
	"tell your IT administrators. Only Microsoft support can lift it: an administrator opens a support request " +
	"(Microsoft Entra ID, External Identities / B2B collaboration) and gives them the request id."

// describeGraphError turns an error from Graph into a GraphError with an explanation for the
// inviter. lookup is true for the checks before sending, false for the invitation itself.
func describeGraphError(err error, lookup bool) *GraphError {
	ge := &GraphError{Outcome: OutcomeFailed, Err: err}
	api := graphErrorOf(err)
	if api != nil {
		ge.Status, ge.Code, ge.RequestID, ge.RetryAfter = api.Status, api.Code, api.RequestID, api.RetryAfter
	}
	switch {
	case api != nil && api.Status == 429:
		ge.Outcome = OutcomeThrottled
		secs := int(math.Ceil(ge.RetryAfter.Seconds()))
		if secs <= 0 {
			secs = 30
		}
		ge.Message = fmt.Sprintf("Microsoft Graph is busy; try again in %d seconds.", secs)
	case api != nil && api.Status == 401:
		ge.Message = "Your Microsoft sign-in has expired. Sign in again, then try once more."
	case lookup && api != nil && api.Status == 403:
		ge.Message = "Your account may not read the directory, so Portico cannot check the address and sent nothing. Ask an administrator for help."
	case lookup:
		ge.Message = "Portico could not check the address in your directory, so it sent nothing. Try again in a minute."
	case invitationsBlocked(api):
		ge.Blocked = true
		ge.Message = InvitationsBlockedMessage
	case api != nil && api.Status == 403:
		ge.Message = "Your account isn't allowed to invite guests, or the tenant's collaboration settings block this domain."
	case api != nil && api.Status == 400:
		ge.Message = "Microsoft Graph rejected the address: " + clip(api.Message, 300)
	case api == nil:
		ge.Message = "Portico could not reach Microsoft Graph. Try again in a minute."
	default:
		ge.Message = "Microsoft Graph could not create the invitation. Try again in a minute."
	}
	return ge
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
