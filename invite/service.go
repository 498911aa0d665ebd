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

	AppendAudit(ctx context.Context, e *store.AuditEvent) error
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

	orgTTL         time.Duration
	recent         time.Duration
	refreshTimeout time.Duration

	backgroundSync atomic.Bool // states kept current by a background job: pages make no Graph call

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
		graph:          cfg.Graph,
		store:          cfg.Store,
		keys:           cfg.Keys,
		policy:         cfg.Policy.withDefaults(),
		publicURL:      strings.TrimRight(cfg.PublicURL, "/"),
		joinTTL:        cfg.JoinTTL,
		now:            cfg.Clock,
		log:            cfg.Logger,
		quota:          cfg.Quota,
		appOnly:        cfg.AppOnly,
		orgTTL:         orDuration(cfg.OrgCacheTTL, DefaultOrgCacheTTL),
		recent:         orDuration(cfg.RecentWindow, DefaultRecentWindow),
		refreshTimeout: orDuration(cfg.RefreshTimeout, DefaultRefreshTimeout),
		orgs:           map[string]*orgEntry{},
		initials:       map[string]string{},
	}
	if s.now == nil {
		s.now = time.Now
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

// Policy returns the effective policy (defaults filled in), for forms that list languages and limits.
func (s *Service) Policy() Policy { return s.policy }
