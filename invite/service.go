// Package invite is Portico's domain: validating invitations, checking them before they are sent,
// sending them through Graph, recording them, join links, and the state of every invitation.
// It uses Graph and the store only through the small interfaces it declares here.
package invite

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/keyring"
	"portico/store"
)

// Graph is the part of the Microsoft Graph client invite uses.
type Graph interface {
	CreateInvitation(ctx context.Context, ts oauth2.TokenSource, in *graph.Invitation) (*graph.Invitation, error)
	FindUsersByAddress(ctx context.Context, ts oauth2.TokenSource, email string) ([]graph.User, error)
	FindUsersByIdentity(ctx context.Context, ts oauth2.TokenSource, issuerAssignedID, issuer string) ([]graph.User, error)
	Organization(ctx context.Context, ts oauth2.TokenSource) (*graph.Organization, error)
	// Lookup sends the preflight's directory reads together (one JSON batch, one round trip).
	Lookup(ctx context.Context, ts oauth2.TokenSource, l graph.Lookup) *graph.LookupResult
	// LookupMany sends many Lookups' reads in JSON batches sent together (bulk dry runs).
	LookupMany(ctx context.Context, ts oauth2.TokenSource, ls []graph.Lookup) []*graph.LookupResult
	// GetUsers reads many users by id in JSON batches sent at once (one round trip).
	GetUsers(ctx context.Context, ts oauth2.TokenSource, ids []string) (map[string]*graph.User, error)
}

// Store is the persistence invite uses; Tx runs fn atomically with a Store bound to one transaction.
type Store interface {
	Tx(ctx context.Context, fn func(Store) error) error

	CreateInvitation(ctx context.Context, inv *Invitation) error
	GetInvitation(ctx context.Context, id string) (*Invitation, error)
	ListInvitations(ctx context.Context, f store.InvitationFilter) ([]Invitation, error)
	CountInvitations(ctx context.Context, f store.InvitationFilter) (int, error)
	CountInvitationsCapped(ctx context.Context, f store.InvitationFilter, limit int) (n int, more bool, err error)
	UpdateInvitationState(ctx context.Context, id, state string, changedAt *time.Time, checkedAt time.Time) error
	LatestInvitationsByEmail(ctx context.Context, tenantID, email string, since time.Time) ([]Invitation, error)
	InvitationHistory(ctx context.Context, id string) ([]Invitation, error)

	CreateJoinLink(ctx context.Context, l *JoinLink) error
	JoinLinkByHash(ctx context.Context, hash []byte) (*JoinLink, error)
	ActiveJoinLink(ctx context.Context, invitationID string) (*JoinLink, error)
	RevokeJoinLinks(ctx context.Context, invitationID string, at time.Time) error
	RecordJoinOpen(ctx context.Context, id string, at time.Time) error

	// A partner record's history: "Send again" updates the record, supersedes its links and
	// appends an event, in one transaction.
	UpdateInvitationSend(ctx context.Context, inv *Invitation) error
	SupersedeJoinLinks(ctx context.Context, invitationID string, at time.Time) (int, error)
	JoinLinks(ctx context.Context, invitationID string) ([]JoinLink, error)
	AppendInvitationEvent(ctx context.Context, ev *store.InvitationEvent) error
	InvitationEvents(ctx context.Context, invitationIDs ...string) ([]store.InvitationEvent, error)

	// Send intents (see intent.go): written before every Graph write, settled exactly once.
	// OpenIntent fails with store.ErrIntentBusy (an open intent for the tenant and address) or
	// store.ErrIdempotencyKeyUsed; SettleIntent is a compare-and-set on the open state.
	OpenIntent(ctx context.Context, in *store.SendIntent) error
	GetIntent(ctx context.Context, id string) (*store.SendIntent, error)
	IntentByKey(ctx context.Context, tenantID, key string) (*store.SendIntent, error)
	OpenIntentFor(ctx context.Context, tenantID, address string) (*store.SendIntent, error)
	OpenIntentOfInvitation(ctx context.Context, invitationID string) (*store.SendIntent, error)
	SettleIntent(ctx context.Context, id, state, outcome, errText string, at time.Time) (bool, error)
	ExtendIntent(ctx context.Context, id string, until time.Time) (bool, error)
	// RenewIntents moves the leases of the open intents among ids (at most
	// store.MaxRenewIntents) forward to until in one statement, never backwards.
	RenewIntents(ctx context.Context, ids []string, until time.Time) (int, error)
	ClaimIntents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.SendIntent, error)
	HasDueIntents(ctx context.Context, now time.Time) (bool, error)
	// The quota: LockQuota serialises one inviter's reservations until the transaction ends;
	// QuotaUse lists when their intents that count were opened, newest first.
	LockQuota(ctx context.Context, tenantID, actorOID string, at time.Time) error
	QuotaUse(ctx context.Context, tenantID, actorOID string, since time.Time, limit int) ([]time.Time, error)

	AppendAudit(ctx context.Context, e *store.AuditEvent) error
	// InsertWebhookEvent writes a webhook event to the outbox (webhooks.Emit), in the transaction
	// of the change it reports; an id already there is not written again.
	InsertWebhookEvent(ctx context.Context, ev *store.WebhookEvent) (bool, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)

	// The tenant's initial domain survives restarts (Entra never changes it), so the first
	// directory check after a start needs no GET /organization before its identities query.
	TenantInitialDomain(ctx context.Context, tenantID string) (string, error)
	SaveTenantInitialDomain(ctx context.Context, tenantID, domain string, at time.Time) error
}

// Audit actions written by this package.
const (
	ActionInvitationCreate = "invitation.create"
	ActionInvitationResend = "invitation.resend"
	ActionInvitationReveal = "invitation.reveal"
	ActionJoinLinkCreate   = "joinlink.create"
	ActionJoinLinkRevoke   = "joinlink.revoke"
	ActionJoinLinkAccept   = "joinlink.accept"
)

// Defaults applied by NewService when Config leaves them zero.
const (
	DefaultOrgCacheTTL    = time.Hour
	DefaultRecentWindow   = 24 * time.Hour
	DefaultRefreshTimeout = 2 * time.Second
)

// Config is everything a Service needs.
type Config struct {
	Graph     Graph
	Store     Store
	Keys      *keyring.Ring
	Policy    Policy
	PublicURL string        // Portico's public base URL; join links are {PublicURL}/join/{token}
	JoinTTL   time.Duration // lifetime of a join link (required; the default is config's DefaultJoinLinkTTL)
	Clock     func() time.Time
	Logger    *slog.Logger
	Quota     QuotaLimits // invitations per inviter per hour and day; zero: no limit
	// AppOnly: Graph calls use Portico's application token (PORTICO_GRAPH_MODE=application), so
	// every invitation names the employee who asked as its sponsor and the audit trail says so.
	AppOnly bool
	// Access reads groups, adds guests to them, searches people and reads sponsors; nil: the
	// sponsors picker and the groups are off.
	Access AccessGraph
	// GuestGroups are the ids of the groups guests may be added to (PORTICO_GUEST_GROUPS).
	GuestGroups []string
	// GroupQueue queues the group assignments of an invitation as a job (application mode).
	GroupQueue func(ctx context.Context, invitationID string) error

	// Time budgets of a send (zero: the defaults in intent.go). SendWait is how long Send waits for
	// Graph before answering with the record still sending; SendBudget bounds the detached Graph
	// call; ReconcilePatience is how long the reconciler looks for a guest before "not sent".
	SendWait          time.Duration
	SendBudget        time.Duration
	ReconcilePatience time.Duration

	// DirectLink is the tenant-specific sign-in URL a partner redeems through when Graph's answer
	// (and with it the redemption URL) was lost: "{tenant}" is replaced by the tenant id. Microsoft
	// lets an invited guest redeem by signing in through a direct link with tenant context
	// (just-in-time redemption), so the join link of a record confirmed by lookup leads there
	// instead of a second invitation. "" : DefaultDirectLink; "off": no join link then.
	DirectLink string

	// Hooks observe outcomes and join-link visits (metrics); zero: none.
	Hooks Hooks

	OrgCacheTTL    time.Duration // how long the tenant's verified domains are cached
	RecentWindow   time.Duration // how far back Portico's own records count in preflight
	RefreshTimeout time.Duration // overall deadline of RefreshStates
}

// Service carries out invitations for signed-in employees and join links for partners.
type Service struct {
	graph     Graph
	store     Store
	keys      *keyring.Ring
	policy    Policy
	publicURL string
	joinTTL   time.Duration
	now       func() time.Time
	log       *slog.Logger
	quota     QuotaLimits
	appOnly   bool
	hooks     Hooks

	access           AccessGraph
	guestGroups      []string
	groupQueue       func(ctx context.Context, invitationID string) error
	groupNames       groupCache
	backgroundGroups atomic.Bool

	orgTTL         time.Duration
	recent         time.Duration
	refreshTimeout time.Duration

	sendWait        time.Duration
	sendBudget      time.Duration
	patience        time.Duration
	uncertainLookup time.Duration
	preflightBudget time.Duration
	directLink      string
	inflight        sync.WaitGroup // detached sends not settled yet (Drain)
	intentLease     time.Duration  // how long an intent belongs to its send without a heartbeat
	intentBeat      time.Duration  // how often the heartbeat renews the leases of sends in flight
	beat            heartbeat
	// kick asks for the reconciler to run soon for an intent (set by the job runner).
	kick func(ctx context.Context, intentID string)

	backgroundSync atomic.Bool // states kept current by a background job: pages make no Graph call
	notices        atomic.Pointer[noticeSettings]

	orgMu sync.Mutex
	orgs  map[string]*orgEntry
	// initials are tenants' initial domains as saved by an earlier read (this process or one before).
	initials map[string]string
	detach   func(ctx context.Context) (context.Context, context.CancelFunc)
}

// NewService builds a Service; Graph, Store, Keys and a positive JoinTTL are required.
func NewService(cfg Config) *Service {
	if cfg.Graph == nil || cfg.Store == nil || cfg.Keys == nil || cfg.JoinTTL <= 0 {
		panic("invite: NewService needs Graph, Store, Keys and a positive JoinTTL")
	}
	s := &Service{
		graph:           cfg.Graph,
		store:           cfg.Store,
		keys:            cfg.Keys,
		policy:          cfg.Policy.withDefaults(),
		publicURL:       strings.TrimRight(cfg.PublicURL, "/"),
		joinTTL:         cfg.JoinTTL,
		now:             cfg.Clock,
		log:             cfg.Logger,
		quota:           cfg.Quota,
		appOnly:         cfg.AppOnly,
		hooks:           cfg.Hooks,
		orgTTL:          orDuration(cfg.OrgCacheTTL, DefaultOrgCacheTTL),
		recent:          orDuration(cfg.RecentWindow, DefaultRecentWindow),
		refreshTimeout:  orDuration(cfg.RefreshTimeout, DefaultRefreshTimeout),
		sendWait:        orDuration(cfg.SendWait, DefaultSendWait),
		sendBudget:      orDuration(cfg.SendBudget, DefaultSendBudget),
		patience:        orDuration(cfg.ReconcilePatience, DefaultReconcilePatience),
		uncertainLookup: DefaultUncertainLookup,
		preflightBudget: DefaultPreflightBudget,
		intentLease:     DefaultIntentLease,
		intentBeat:      DefaultIntentBeat,
		directLink:      cfg.DirectLink,
		orgs:            map[string]*orgEntry{},
		initials:        map[string]string{},
		access:          cfg.Access,
		guestGroups:     cfg.GuestGroups,
		groupQueue:      cfg.GroupQueue,
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch s.directLink {
	case "":
		s.directLink = DefaultDirectLink
	case "off":
		s.directLink = ""
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// Recording what Graph did must not be cut short by the request that asked for it.
	s.detach = func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	}
	return s
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// graphIdentity is what the audit trail says about how Graph was called: "application" in
// application mode, "" (the employee's own delegated token) otherwise.
func (s *Service) graphIdentity(meta Meta) string {
	// Background jobs (bulk sending) always call Graph as Portico itself.
	if s.appOnly || meta.Via == ViaJob {
		return "application"
	}
	return ""
}

// SetIntentKicker installs what asks for the reconciler to run soon when a send's outcome is
// unknown (the job runner's ReconcileSoon); without it the periodic reconciler finds the intent.
// Call it before serving.
func (s *Service) SetIntentKicker(kick func(ctx context.Context, intentID string)) { s.kick = kick }

// Policy returns the effective policy (defaults filled in), for forms that list languages and limits.
func (s *Service) Policy() Policy { return s.policy }
