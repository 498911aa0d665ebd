package invite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"portico/notify"
	"portico/store"
	"portico/webhooks"
)

// Audit actions of approvals.
const (
	ActionApprovalRequest = "approval.request"
	ActionApprovalApprove = "approval.approve"
	ActionApprovalDeny    = "approval.deny"
	ActionApprovalCancel  = "approval.cancel"
	ActionApprovalExpire  = "approval.expire"
	ActionApprovalRelease = "approval.release" // an interrupted approval given back to the approvers
)

// Outcomes of approval audit events (besides OutcomeSuccess, OutcomeDenied, OutcomeRejected, OutcomeFailed).
const (
	OutcomePending Outcome = "pending"
	OutcomeExpired Outcome = "expired"
)

// ApprovalStore is the persistence approvals use; ApprovalTx runs fn in one transaction.
type ApprovalStore interface {
	ApprovalTx(ctx context.Context, fn func(ApprovalStore) error) error
	CreateApprovalRequest(ctx context.Context, r *store.ApprovalRequest) error
	GetApprovalRequest(ctx context.Context, id string) (*store.ApprovalRequest, error)
	ListApprovalRequests(ctx context.Context, f store.ApprovalFilter) ([]store.ApprovalRequest, error)
	CountApprovalRequests(ctx context.Context, f store.ApprovalFilter) (int, error)
	ChangeApprovalRequest(ctx context.Context, id string, ch store.ApprovalChange) (bool, error)
	DueApprovalRequests(ctx context.Context, now, claimedBefore time.Time, limit int) ([]store.ApprovalRequest, error)
	// IntentByKey finds the send intent of an approval's idempotency key (store.ErrNotFound: none).
	IntentByKey(ctx context.Context, tenantID, key string) (*store.SendIntent, error)
	AppendAudit(ctx context.Context, e *store.AuditEvent) error
	noticeQueue // notices are written in the transaction that records their event
	// InsertWebhookEvent: approval.requested and approval.decided are written in the transaction
	// that records the change.
	webhooks.Outbox
}

// Managers finds an employee's manager in the directory (Graph GET /users/{id}/manager).
// It returns nil, nil when the employee has none.
type Managers interface {
	Manager(ctx context.Context, ts oauth2.TokenSource, userID string) (*Person, error)
}

// ApprovalsConfig is everything Approvals need.
type ApprovalsConfig struct {
	Service  *Service
	Store    ApprovalStore
	Policy   ApprovalPolicy
	Managers Managers // nil: no manager lookup (PORTICO_APPROVERS=manager falls back to the approvers)
	// StaleClaim is how long an approval may stay "approving" before the sweep decides it (its
	// approver's instance stopped mid-send); default 10 minutes.
	StaleClaim time.Duration
}

// Approvals carries out approval requests: the decision whether a request needs one, submitting,
// the approvers' inbox, approving (which sends through the Service), denying, cancelling, expiry.
type Approvals struct {
	s          *Service
	store      ApprovalStore
	policy     ApprovalPolicy
	managers   Managers
	staleClaim time.Duration
	log        *slog.Logger
}

// NewApprovals builds Approvals; Service and Store are required.
func NewApprovals(cfg ApprovalsConfig) *Approvals {
	if cfg.Service == nil || cfg.Store == nil {
		panic("invite: NewApprovals needs a Service and a Store")
	}
	if cfg.Policy.TTL <= 0 {
		cfg.Policy.TTL = DefaultApprovalTTL
	}
	return &Approvals{s: cfg.Service, store: cfg.Store, policy: cfg.Policy, managers: cfg.Managers,
		staleClaim: orDuration(cfg.StaleClaim, 10*time.Minute), log: cfg.Service.log.With("component", "approvals")}
}

// Policy is the approval policy in force.
func (a *Approvals) Policy() ApprovalPolicy { return a.policy }

// Need decides whether req, from inv, needs approval instead of being refused, and why. A request
// with invalid fields or a blocked domain needs none: Send refuses it with its own reasons.
func (a *Approvals) Need(ctx context.Context, inv Inviter, req Request) (ApprovalNeed, error) {
	var n ApprovalNeed
	if !a.policy.Enabled() || inv.MayInvite().Err() != nil {
		return n, nil
	}
	if email, err := ValidateEmail(req.Email); err == nil {
		domain := domainOf(email)
		switch rule := a.s.policy.domainRule(domain); {
		case rule == ruleNotAllowed && a.policy.covers(ApprovalForDomain):
			n.Reasons = append(n.Reasons, ApprovalReason{Kind: ApprovalForDomain,
				Text: domain + " is not on your organization's list of allowed domains."})
		case rule != "":
			return ApprovalNeed{}, nil // blocked, or outside the allow-list without approvals for it: refused
		}
	}
	if t, ok := parseUserType(req.UserType); ok && t == UserTypeMember && !inv.CanInviteMember() {
		if !a.policy.covers(ApprovalForMember) {
			return ApprovalNeed{}, nil
		}
		n.Reasons = append(n.Reasons, ApprovalReason{Kind: ApprovalForMember,
			Text: "A Member account gets the access of an employee; only administrators invite members without approval."})
	}
	if a.policy.covers(ApprovalForQuota) && (a.s.quota.PerHour > 0 || a.s.quota.PerDay > 0) {
		d, err := a.s.Quota(ctx, inv)
		if err != nil {
			return ApprovalNeed{}, err
		}
		if !d.Allowed {
			n.Reasons = append(n.Reasons, ApprovalReason{Kind: ApprovalForQuota,
				Text: "You have sent as many invitations as Portico allows for now."})
		}
	}
	if len(n.Reasons) == 0 && a.policy.covers(ApprovalForAll) {
		n.Reasons = append(n.Reasons, ApprovalReason{Kind: ApprovalForAll, Text: "Every invitation needs an approver's agreement here."})
	}
	n.Needed = len(n.Reasons) > 0
	if n.Needed {
		_, n.Fields = a.s.policy.Validate(req, inv)
		n.Fields = a.s.checkAccessFields(req, &attempt{s: a.s, actor: inv, owner: inv}, n.Fields)
		r := ApprovalRequest{Request: Request{UserType: req.UserType}}
		if t, _ := parseUserType(req.UserType); t == UserTypeMember {
			r.Request.UserType = UserTypeMember
		}
		n.Approvers = r.Approvers()
		if a.policy.Manager && a.managers != nil && r.Request.UserType != UserTypeMember {
			n.Approvers = "your manager, or an administrator if Microsoft Entra knows no manager for you"
		}
	}
	return n, nil
}

// frozenRequest is the validated request kept with an approval request.
type frozenRequest struct {
	DisplayName string `json:"displayName,omitempty"`
	Email       string `json:"email"`
	Message     string `json:"message,omitempty"`
	CC          string `json:"cc,omitempty"`
	RedirectURL string `json:"redirectUrl,omitempty"`
	Language    string `json:"language,omitempty"`
	UserType    string `json:"userType"`
	SendEmail   bool   `json:"sendEmail"`
	Resend      bool   `json:"resend,omitempty"`
	// Sponsors and Groups the requester chose (access at invite time), sent when approved.
	Sponsors []string `json:"sponsors,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// Submit records req as an approval request when policy says it needs one (else
// ErrApprovalNotNeeded): nothing is sent to Graph but the preflight's reads (with the requester's
// token), which refuse what no approval can fix (an existing account, a blocked domain). A second
// submission of the same address while one is pending returns the pending one.
func (a *Approvals) Submit(ctx context.Context, ts oauth2.TokenSource, inv Inviter, req Request, meta Meta) (*ApprovalRequest, error) {
	if may := inv.MayInvite(); !may.Allowed {
		return nil, may.Err()
	}
	need, err := a.Need(ctx, inv, req)
	if err != nil {
		return nil, err
	}
	if !need.Needed {
		return nil, ErrApprovalNotNeeded
	}
	v, fe := a.s.policy.Validate(req, inv)
	// The sponsors and groups are checked now too (the sponsors looked up in the directory with
	// the requester's token), so what the approver approves can be sent as asked.
	acc := &attempt{s: a.s, actor: inv, owner: inv, meta: meta}
	fe = a.s.checkAccessFields(req, acc, fe)
	if fe != nil {
		return nil, &ValidationError{Fields: fe}
	}
	if err := a.s.resolveSponsors(ctx, ts, acc); err != nil {
		return nil, err
	}
	waive := slicesHasKind(need.Reasons, ApprovalForDomain)
	pf, err := a.s.preflightWith(ctx, ts, inv, v.Email, waive)
	if err != nil {
		return nil, describeGraphError(err, true)
	}
	if !(pf.Verdict == VerdictAllowed || pf.Verdict == VerdictPendingGuest && v.Resend) {
		_ = a.s.audit(ctx, a.s.event(inv, meta, ActionApprovalRequest, v.Key, OutcomeRejected, "",
			auditDetail{Verdict: string(pf.Verdict), Rule: pf.Rule, Note: "refused before asking for approval"}))
		return nil, &RefusedError{Preflight: pf, ResendOffered: pf.Verdict == VerdictPendingGuest}
	}
	if open, err := a.openRequest(ctx, inv, v.Key); open != nil || err != nil {
		return open, err
	}
	now := a.s.now().UTC()
	r := &ApprovalRequest{
		ID: store.NewID(), TenantID: inv.TenantID, Email: v.Key, Reasons: need.Reasons, State: ApprovalPending,
		Requester: Person{ObjectID: inv.ObjectID, UPN: inv.UPN, Name: inv.Name, Email: inv.Email},
		Request: Request{DisplayName: v.DisplayName, Email: v.Email, Message: v.Message, CC: v.CC, RedirectURL: v.RedirectURL,
			Language: v.Language, UserType: v.UserType, SendEmail: v.SendEmail, Resend: v.Resend,
			Sponsors: acc.sponsorAddresses(), Groups: acc.groups},
		CreatedAt: now, ExpiresAt: now.Add(a.policy.TTL),
	}
	if a.policy.Manager && a.managers != nil && v.UserType != UserTypeMember {
		m, err := a.managers.Manager(ctx, ts, inv.ObjectID)
		switch {
		case err != nil:
			a.log.WarnContext(ctx, "approvals: manager lookup failed; the approvers decide", "requester_oid", inv.ObjectID, "err", err)
		case m != nil && m.ObjectID != "" && m.ObjectID != inv.ObjectID:
			r.Assigned = *m
		}
	}
	row, err := approvalRow(r)
	if err != nil {
		return nil, err
	}
	kinds := make([]string, len(r.Reasons))
	for i, x := range r.Reasons {
		kinds[i] = string(x.Kind)
	}
	ev := a.s.event(inv, meta, ActionApprovalRequest, v.Key, OutcomePending, "", auditDetail{
		ApprovalID: r.ID, RequestedType: v.RequestedType, EffectiveType: v.UserType, DisplayName: v.DisplayName,
		RedirectHost: hostOf(v.RedirectURL), HasCC: v.CC != "", Note: "needs approval: " + strings.Join(kinds, ", ")})
	notices := 0
	if err := a.store.ApprovalTx(ctx, func(tx ApprovalStore) error {
		if err := tx.CreateApprovalRequest(ctx, row); err != nil {
			return err
		}
		if err := tx.AppendAudit(ctx, ev); err != nil {
			return err
		}
		if err := a.s.emitApprovalRequested(ctx, tx, r); err != nil {
			return err
		}
		var err error
		notices, err = a.enqueue(ctx, tx, a.approvalNotice(r, notify.KindApprovalWaiting))
		return err
	}); errors.Is(err, store.ErrApprovalOpen) {
		// Submitted twice at once: the first one stands.
		if open, err := a.openRequest(ctx, inv, v.Key); open != nil || err != nil {
			return open, err
		}
		return nil, ErrApprovalClosed
	} else if err != nil {
		return nil, fmt.Errorf("invite: recording the approval request: %w", err)
	}
	a.log.InfoContext(ctx, "approvals: request waiting", "approval", r.ID, "requester_oid", inv.ObjectID,
		"reasons", strings.Join(kinds, ","), "notices", notices)
	if notices > 0 {
		a.s.NoticesQueued(ctx)
	}
	return r, nil
}

// openRequest is inv's open (pending or approving) request for the address key, or nil.
func (a *Approvals) openRequest(ctx context.Context, inv Inviter, key string) (*ApprovalRequest, error) {
	open, err := a.store.ListApprovalRequests(ctx, store.ApprovalFilter{TenantID: inv.TenantID, RequesterOID: inv.ObjectID,
		States: []string{string(ApprovalPending), string(ApprovalApproving)}})
	if err != nil {
		return nil, fmt.Errorf("invite: reading approval requests: %w", err)
	}
	for i := range open {
		if open[i].Email == key {
			return approvalFromRow(&open[i])
		}
	}
	return nil, nil
}

func slicesHasKind(rs []ApprovalReason, k ApprovalKind) bool {
	for _, r := range rs {
		if r.Kind == k {
			return true
		}
	}
	return false
}

// Get returns one request and what viewer may do to it; ErrNotFound when viewer may not see it.
func (a *Approvals) Get(ctx context.Context, viewer Inviter, id string) (*ApprovalRequest, ApprovalActions, error) {
	r, err := a.load(ctx, id)
	if err != nil {
		return nil, ApprovalActions{}, err
	}
	acts := decideApproval(viewer, r, a.s.now())
	if errors.Is(acts.Approve.err, ErrNotFound) {
		return nil, acts, ErrNotFound
	}
	return r, acts, nil
}

// Actions decides what viewer may do to r now; it reads nothing.
func (a *Approvals) Actions(viewer Inviter, r *ApprovalRequest) ApprovalActions {
	return decideApproval(viewer, r, a.s.now())
}

func (a *Approvals) load(ctx context.Context, id string) (*ApprovalRequest, error) {
	row, err := a.store.GetApprovalRequest(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("invite: reading the approval request: %w", err)
	}
	return approvalFromRow(row)
}

// Mine lists the requests inv asked for, newest first.
func (a *Approvals) Mine(ctx context.Context, inv Inviter, limit int) ([]ApprovalRequest, error) {
	rows, err := a.store.ListApprovalRequests(ctx, store.ApprovalFilter{TenantID: inv.TenantID, RequesterOID: inv.ObjectID, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("invite: listing approval requests: %w", err)
	}
	return approvalsFromRows(rows)
}

// InboxFilter selects the approvers' inbox.
type InboxFilter struct {
	Decided bool // decided (approved, denied, expired, cancelled) instead of waiting
	Mine    bool // only those assigned to or decided by the approver
	Limit   int
}

// Inbox lists the requests an approver may see, newest first. Someone who is neither an approver
// nor a manager with requests gets ErrForbidden.
func (a *Approvals) Inbox(ctx context.Context, approver Inviter, f InboxFilter) ([]ApprovalRequest, error) {
	sf := store.ApprovalFilter{TenantID: approver.TenantID, Limit: f.Limit,
		States: []string{string(ApprovalPending), string(ApprovalApproving)}}
	if f.Decided {
		sf.States = []string{string(ApprovalApproved), string(ApprovalDenied), string(ApprovalExpired), string(ApprovalCancelled)}
	}
	if f.Mine || !approver.CanApprove() {
		sf.Involving = approver.ObjectID
	}
	if !a.MayOpenInbox(ctx, approver) {
		return nil, ErrForbidden
	}
	rows, err := a.store.ListApprovalRequests(ctx, sf)
	if err != nil {
		return nil, fmt.Errorf("invite: listing approval requests: %w", err)
	}
	return approvalsFromRows(rows)
}

// MayOpenInbox reports whether approver has an inbox: approvers and administrators, and, when
// managers approve, anyone a request was ever assigned to.
func (a *Approvals) MayOpenInbox(ctx context.Context, approver Inviter) bool {
	if approver.CanApprove() {
		return true
	}
	if !a.policy.Manager || approver.Barred == BarGuest || approver.ObjectID == "" {
		return false
	}
	n, err := a.store.CountApprovalRequests(ctx, store.ApprovalFilter{TenantID: approver.TenantID, Involving: approver.ObjectID})
	return err == nil && n > 0
}

// PendingCount is how many requests wait for approver (the header's badge); 0 for others.
func (a *Approvals) PendingCount(ctx context.Context, approver Inviter) (int, error) {
	if !a.policy.Enabled() || approver.ObjectID == "" || approver.Barred == BarGuest {
		return 0, nil
	}
	f := store.ApprovalFilter{TenantID: approver.TenantID, States: []string{string(ApprovalPending)}}
	switch {
	case approver.Has(RoleAdministrator):
	case approver.CanApprove():
		f.DecidableBy = approver.ObjectID // not the managers' requests, but theirs as a manager
	case a.policy.Manager:
		f.Involving = approver.ObjectID
	default:
		return 0, nil
	}
	return a.store.CountApprovalRequests(ctx, f)
}

// Recheck runs the preflight again for an approver about to decide (with the approver's token
// in delegated mode): the directory as it is now, not as it was at submission.
func (a *Approvals) Recheck(ctx context.Context, ts oauth2.TokenSource, approver Inviter, id string) (*Preflight, error) {
	r, acts, err := a.Get(ctx, approver, id)
	if err != nil {
		return nil, err
	}
	if !acts.Approve.Allowed && !acts.Deny.Allowed {
		return nil, acts.Approve.Err()
	}
	return a.s.preflightWith(ctx, ts, r.requester(), r.Request.Email, r.Has(ApprovalForDomain))
}
