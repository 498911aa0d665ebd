package invite

import (
	"context"
	"errors"
	"time"

	"portico/store"
)

// StoreAdapter makes a *store.DB an invite Store: the store's queries with rows mapped to the
// domain's types and back, plus Tx on top of store.DB.InTx.
type StoreAdapter struct {
	q  *store.Queries
	db *store.DB
}

var _ Store = (*StoreAdapter)(nil)

// NewStoreAdapter wraps an open database for NewService.
func NewStoreAdapter(db *store.DB) *StoreAdapter {
	return &StoreAdapter{q: db.Queries, db: db}
}

// Tx runs fn in one database transaction; a nested Tx joins it.
func (a *StoreAdapter) Tx(ctx context.Context, fn func(Store) error) error {
	if a.db == nil {
		return fn(a)
	}
	return a.db.InTx(ctx, func(q *store.Queries) error { return fn(&StoreAdapter{q: q}) })
}

// CreateInvitation inserts an invitation.
func (a *StoreAdapter) CreateInvitation(ctx context.Context, inv *Invitation) error {
	row := invitationRow(inv)
	if err := a.q.CreateInvitation(ctx, row); err != nil {
		return err
	}
	inv.ID, inv.CreatedAt, inv.SentAt = row.ID, row.CreatedAt, row.SentAt
	return nil
}

// GetInvitation reads one invitation; store.ErrNotFound when there is none.
func (a *StoreAdapter) GetInvitation(ctx context.Context, id string) (*Invitation, error) {
	row, err := a.q.GetInvitation(ctx, id)
	if err != nil {
		return nil, err
	}
	inv := invitationFromRow(row)
	return &inv, nil
}

// ListInvitations returns a page of invitations.
func (a *StoreAdapter) ListInvitations(ctx context.Context, f store.InvitationFilter) ([]Invitation, error) {
	return invitationsFromRows(a.q.ListInvitations(ctx, f))
}

// CountInvitations counts the invitations a filter selects.
func (a *StoreAdapter) CountInvitations(ctx context.Context, f store.InvitationFilter) (int, error) {
	return a.q.CountInvitations(ctx, f)
}

// CountInvitationsCapped counts the invitations a filter selects up to limit; more reports that
// there are more than limit.
func (a *StoreAdapter) CountInvitationsCapped(ctx context.Context, f store.InvitationFilter, limit int) (int, bool, error) {
	return a.q.CountInvitationsCapped(ctx, f, limit)
}

// TenantInitialDomain is the tenant's initial domain as last saved, or store.ErrNotFound.
func (a *StoreAdapter) TenantInitialDomain(ctx context.Context, tenantID string) (string, error) {
	return a.q.TenantInitialDomain(ctx, tenantID)
}

// SaveTenantInitialDomain records the tenant's initial domain.
func (a *StoreAdapter) SaveTenantInitialDomain(ctx context.Context, tenantID, domain string, at time.Time) error {
	return a.q.SaveTenantInitialDomain(ctx, tenantID, domain, at)
}

// UpdateInvitationState records the partner's state as last read from Graph.
func (a *StoreAdapter) UpdateInvitationState(ctx context.Context, id, state string, changedAt *time.Time, checkedAt time.Time) error {
	return a.q.UpdateInvitationState(ctx, id, state, changedAt, checkedAt)
}

// LatestInvitationsByEmail returns the tenant's invitations of an address since a time.
func (a *StoreAdapter) LatestInvitationsByEmail(ctx context.Context, tenantID, email string, since time.Time) ([]Invitation, error) {
	return invitationsFromRows(a.q.LatestInvitationsByEmail(ctx, tenantID, email, since))
}

// InvitationHistory returns every attempt for the same guest as an invitation, oldest first.
func (a *StoreAdapter) InvitationHistory(ctx context.Context, id string) ([]Invitation, error) {
	return invitationsFromRows(a.q.InvitationHistory(ctx, id))
}

// CreateJoinLink inserts a join link.
func (a *StoreAdapter) CreateJoinLink(ctx context.Context, l *JoinLink) error {
	row := joinLinkRow(l)
	if err := a.q.CreateJoinLink(ctx, row); err != nil {
		return err
	}
	l.ID, l.CreatedAt, l.ExpiresAt = row.ID, row.CreatedAt, row.ExpiresAt
	return nil
}

// JoinLinkByHash finds a join link by its token's hash; store.ErrNotFound when there is none.
func (a *StoreAdapter) JoinLinkByHash(ctx context.Context, hash []byte) (*JoinLink, error) {
	return joinLinkFromRow(a.q.JoinLinkByHash(ctx, hash))
}

// ActiveJoinLink returns an invitation's unrevoked link; store.ErrNotFound when there is none.
func (a *StoreAdapter) ActiveJoinLink(ctx context.Context, invitationID string) (*JoinLink, error) {
	return joinLinkFromRow(a.q.ActiveJoinLink(ctx, invitationID))
}

// RevokeJoinLinks revokes every link of an invitation.
func (a *StoreAdapter) RevokeJoinLinks(ctx context.Context, invitationID string, at time.Time) error {
	return a.q.RevokeJoinLinks(ctx, invitationID, at)
}

// RecordJoinOpen counts a visit of a join link.
func (a *StoreAdapter) RecordJoinOpen(ctx context.Context, id string, at time.Time) error {
	return a.q.RecordJoinOpen(ctx, id, at)
}

// UpdateInvitationSend records a new send of an existing record.
func (a *StoreAdapter) UpdateInvitationSend(ctx context.Context, inv *Invitation) error {
	return a.q.UpdateInvitationSend(ctx, invitationRow(inv))
}

// SupersedeJoinLinks revokes an invitation's live links because something newer replaced them.
func (a *StoreAdapter) SupersedeJoinLinks(ctx context.Context, invitationID string, at time.Time) (int, error) {
	return a.q.SupersedeJoinLinks(ctx, invitationID, at)
}

// JoinLinks returns every link of an invitation, oldest first.
func (a *StoreAdapter) JoinLinks(ctx context.Context, invitationID string) ([]JoinLink, error) {
	rows, err := a.q.JoinLinks(ctx, invitationID)
	if err != nil {
		return nil, err
	}
	out := make([]JoinLink, len(rows))
	for i := range rows {
		l, _ := joinLinkFromRow(&rows[i], nil)
		out[i] = *l
	}
	return out, nil
}

// AppendInvitationEvent appends one entry to a record's history.
func (a *StoreAdapter) AppendInvitationEvent(ctx context.Context, ev *store.InvitationEvent) error {
	return a.q.AppendInvitationEvent(ctx, ev)
}

// InvitationEvents returns the history entries of records, oldest first.
func (a *StoreAdapter) InvitationEvents(ctx context.Context, invitationIDs ...string) ([]store.InvitationEvent, error) {
	return a.q.InvitationEvents(ctx, invitationIDs...)
}

// AppendAudit appends one audit event.
func (a *StoreAdapter) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	return a.q.AppendAudit(ctx, e)
}

// ListAudit returns audit events, newest first.
func (a *StoreAdapter) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	return a.q.ListAudit(ctx, f)
}

func invitationRow(r *Invitation) *store.Invitation {
	return &store.Invitation{
		ID: r.ID, TenantID: r.TenantID, InviterOID: r.InviterOID, InviterUPN: r.InviterUPN, InviterName: r.InviterName,
		Email: r.Email, DisplayName: r.DisplayName, Message: r.Message, CCAddress: r.CCAddress, Language: r.Language,
		RedirectURL: r.RedirectURL, UserType: r.UserType, SendEmail: r.SendEmail,
		Outcome: string(r.Outcome), GraphInvitationID: r.GraphInvitationID, GraphUserID: r.GraphUserID,
		GraphStatus: r.GraphStatus, GraphRequestID: r.GraphRequestID, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage,
		RedeemURLSealed:   r.redeemSealed,
		ExternalUserState: r.ExternalUserState, ExternalUserStateChangedAt: r.ExternalUserStateChangedAt,
		StateCheckedAt: r.StateCheckedAt, ResendOf: r.ResendOf, CreatedAt: r.CreatedAt, SentAt: r.SentAt, ReplacedBy: r.ReplacedBy,
	}
}

func invitationFromRow(r *store.Invitation) Invitation {
	return Invitation{
		ID: r.ID, TenantID: r.TenantID, InviterOID: r.InviterOID, InviterUPN: r.InviterUPN, InviterName: r.InviterName,
		Email: r.Email, DisplayName: r.DisplayName, Message: r.Message, CCAddress: r.CCAddress, Language: r.Language,
		RedirectURL: r.RedirectURL, UserType: r.UserType, SendEmail: r.SendEmail,
		Outcome: Outcome(r.Outcome), GraphInvitationID: r.GraphInvitationID, GraphUserID: r.GraphUserID,
		GraphStatus: r.GraphStatus, GraphRequestID: r.GraphRequestID, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage,
		redeemSealed:      r.RedeemURLSealed,
		ExternalUserState: r.ExternalUserState, ExternalUserStateChangedAt: r.ExternalUserStateChangedAt,
		StateCheckedAt: r.StateCheckedAt, ResendOf: r.ResendOf, CreatedAt: r.CreatedAt, SentAt: r.SentAt, ReplacedBy: r.ReplacedBy,
	}
}

func invitationsFromRows(rows []store.Invitation, err error) ([]Invitation, error) {
	if err != nil {
		return nil, err
	}
	out := make([]Invitation, len(rows))
	for i := range rows {
		out[i] = invitationFromRow(&rows[i])
	}
	return out, nil
}

func joinLinkRow(l *JoinLink) *store.JoinLink {
	return &store.JoinLink{
		ID: l.ID, InvitationID: l.InvitationID, TokenHash: l.tokenHash, TokenSealed: l.tokenSealed,
		CreatedAt: l.CreatedAt, ExpiresAt: l.ExpiresAt, RevokedAt: l.RevokedAt, RevokeReason: revokeReason(l.Superseded),
		FirstOpenedAt: l.FirstOpenedAt, LastOpenedAt: l.LastOpenedAt, OpenCount: l.OpenCount,
	}
}

func revokeReason(superseded bool) string {
	if superseded {
		return store.RevokeSuperseded
	}
	return ""
}

func joinLinkFromRow(l *store.JoinLink, err error) (*JoinLink, error) {
	if err != nil {
		return nil, err
	}
	return &JoinLink{
		ID: l.ID, InvitationID: l.InvitationID, tokenHash: l.TokenHash, tokenSealed: l.TokenSealed,
		CreatedAt: l.CreatedAt, ExpiresAt: l.ExpiresAt, RevokedAt: l.RevokedAt, Superseded: l.RevokeReason == store.RevokeSuperseded,
		FirstOpenedAt: l.FirstOpenedAt, LastOpenedAt: l.LastOpenedAt, OpenCount: l.OpenCount,
	}, nil
}

// OpenIntent inserts an open send intent.
func (a *StoreAdapter) OpenIntent(ctx context.Context, in *store.SendIntent) error {
	return a.q.OpenIntent(ctx, in)
}

// GetIntent reads one send intent.
func (a *StoreAdapter) GetIntent(ctx context.Context, id string) (*store.SendIntent, error) {
	return a.q.GetIntent(ctx, id)
}

// IntentByKey reads the tenant's intent with an idempotency key.
func (a *StoreAdapter) IntentByKey(ctx context.Context, tenantID, key string) (*store.SendIntent, error) {
	return a.q.IntentByKey(ctx, tenantID, key)
}

// OpenIntentFor reads the tenant's open intent for an address.
func (a *StoreAdapter) OpenIntentFor(ctx context.Context, tenantID, address string) (*store.SendIntent, error) {
	return a.q.OpenIntentFor(ctx, tenantID, address)
}

// SettleIntent settles an open intent (compare-and-set).
func (a *StoreAdapter) SettleIntent(ctx context.Context, id, state, outcome, errText string, at time.Time) (bool, error) {
	return a.q.SettleIntent(ctx, id, state, outcome, errText, at)
}

// RenewIntents moves the leases of open intents forward in one statement (the send heartbeat).
func (a *StoreAdapter) RenewIntents(ctx context.Context, ids []string, until time.Time) (int, error) {
	return a.q.RenewIntents(ctx, ids, until)
}

// ExtendIntent moves an open intent's lease.
func (a *StoreAdapter) ExtendIntent(ctx context.Context, id string, until time.Time) (bool, error) {
	return a.q.ExtendIntent(ctx, id, until)
}

// ClaimIntents claims open intents past their lease.
func (a *StoreAdapter) ClaimIntents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.SendIntent, error) {
	if a.db != nil {
		// One transaction: on PostgreSQL the claimed rows stay locked until it commits.
		var out []store.SendIntent
		err := a.db.InTx(ctx, func(q *store.Queries) error {
			var err error
			out, err = q.ClaimIntents(ctx, now, lease, limit)
			return err
		})
		return out, err
	}
	return a.q.ClaimIntents(ctx, now, lease, limit)
}

// LockQuota takes an inviter's quota lock for the transaction.
func (a *StoreAdapter) LockQuota(ctx context.Context, tenantID, actorOID string, at time.Time) error {
	return a.q.LockQuota(ctx, tenantID, actorOID, at)
}

// QuotaUse lists when an inviter's counted intents were opened.
func (a *StoreAdapter) QuotaUse(ctx context.Context, tenantID, actorOID string, since time.Time, limit int) ([]time.Time, error) {
	return a.q.QuotaUse(ctx, tenantID, actorOID, since, limit)
}

// OpenIntentOfInvitation reads the open intent that creates or updates an invitation.
func (a *StoreAdapter) OpenIntentOfInvitation(ctx context.Context, invitationID string) (*store.SendIntent, error) {
	return a.q.OpenIntentOfInvitation(ctx, invitationID)
}

// HasDueIntents reports whether the reconciler has work.
func (a *StoreAdapter) HasDueIntents(ctx context.Context, now time.Time) (bool, error) {
	return a.q.HasDueIntents(ctx, now)
}

var _ AccessStore = (*StoreAdapter)(nil)

// SetInvitationSponsors replaces the sponsors recorded for an invitation.
func (a *StoreAdapter) SetInvitationSponsors(ctx context.Context, invitationID string, sponsors []store.InvitationSponsor) error {
	return a.q.SetInvitationSponsors(ctx, invitationID, sponsors)
}

// InvitationSponsors returns the sponsors of the invitations.
func (a *StoreAdapter) InvitationSponsors(ctx context.Context, invitationIDs ...string) ([]store.InvitationSponsor, error) {
	return a.q.InvitationSponsors(ctx, invitationIDs...)
}

// AddInvitationGroups records pending group assignments.
func (a *StoreAdapter) AddInvitationGroups(ctx context.Context, invitationID string, groups []store.InvitationGroup, at time.Time) error {
	return a.q.AddInvitationGroups(ctx, invitationID, groups, at)
}

// InvitationGroups returns the group assignments of the invitations.
func (a *StoreAdapter) InvitationGroups(ctx context.Context, invitationIDs ...string) ([]store.InvitationGroup, error) {
	return a.q.InvitationGroups(ctx, invitationIDs...)
}

// ClaimGroupAssignments takes due pending assignments under a lease (its own transaction).
func (a *StoreAdapter) ClaimGroupAssignments(ctx context.Context, invitationID string, now time.Time, lease time.Duration, limit int) ([]store.InvitationGroup, error) {
	if a.db == nil {
		return nil, errors.New("invite: group assignments are claimed outside a transaction")
	}
	return a.db.ClaimGroupAssignments(ctx, invitationID, now, lease, limit)
}

// FinishGroupAssignment records the outcome of an attempt.
func (a *StoreAdapter) FinishGroupAssignment(ctx context.Context, g *store.InvitationGroup, retryAt, now time.Time) (bool, error) {
	return a.q.FinishGroupAssignment(ctx, g, retryAt, now)
}

// PendingGroupInvitations lists invitations with due group assignments.
func (a *StoreAdapter) PendingGroupInvitations(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return a.q.PendingGroupInvitations(ctx, now, limit)
}

// InsertWebhookEvent writes a webhook event to the outbox (see webhooks.Emit).
func (a *StoreAdapter) InsertWebhookEvent(ctx context.Context, ev *store.WebhookEvent) (bool, error) {
	return a.q.InsertWebhookEvent(ctx, ev)
}
