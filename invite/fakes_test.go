package invite

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/keyring"
	"portico/store"
)

// fakeGraph is a Graph whose behaviour is set per test through function fields; it counts calls
// and keeps the invitations it was asked to create.
type fakeGraph struct {
	mu       sync.Mutex
	calls    map[string]int
	posted   []graph.Invitation
	create   func(in *graph.Invitation) (*graph.Invitation, error)
	byAddr   func(email string) ([]graph.User, error)
	byIdent  func(id, issuer string) ([]graph.User, error)
	getUser  func(ctx context.Context, id string) (*graph.User, error)
	org      func() (*graph.Organization, error)
	idents   []string // issuers asked for
	lookups  []graph.Lookup
	priority []context.Context
}

var _ Graph = (*fakeGraph)(nil)

func (f *fakeGraph) count(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[name]++
}

func (f *fakeGraph) n(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func (f *fakeGraph) CreateInvitation(ctx context.Context, _ oauth2.TokenSource, in *graph.Invitation) (*graph.Invitation, error) {
	f.count("create")
	f.mu.Lock()
	f.posted = append(f.posted, *in)
	f.priority = append(f.priority, ctx)
	f.mu.Unlock()
	if f.create != nil {
		return f.create(in)
	}
	out := *in
	out.ID = "graph-inv-1"
	out.Status = "PendingAcceptance"
	out.InviteRedeemURL = "https://login.example/redeem?ticket=TICKET-SENTINEL-123&tenant=t1"
	out.InvitedUser = &graph.DirectoryObject{ID: "user-" + strings.ToLower(in.InvitedUserEmailAddress)}
	out.RequestID = "req-create-1"
	return &out, nil
}

func (f *fakeGraph) FindUsersByAddress(_ context.Context, _ oauth2.TokenSource, email string) ([]graph.User, error) {
	f.count("byAddress")
	if f.byAddr != nil {
		return f.byAddr(email)
	}
	return nil, nil
}

func (f *fakeGraph) FindUsersByIdentity(ctx context.Context, ts oauth2.TokenSource, id, issuer string) ([]graph.User, error) {
	f.count("byIdentity.alone") // a round trip of its own
	return f.findByIdentity(ctx, ts, id, issuer)
}

func (f *fakeGraph) findByIdentity(_ context.Context, _ oauth2.TokenSource, id, issuer string) ([]graph.User, error) {
	f.count("byIdentity")
	f.mu.Lock()
	f.idents = append(f.idents, issuer)
	f.mu.Unlock()
	if f.byIdent != nil {
		return f.byIdent(id, issuer)
	}
	return nil, nil
}

func (f *fakeGraph) GetUser(ctx context.Context, _ oauth2.TokenSource, id string) (*graph.User, error) {
	f.count("getUser")
	if f.getUser != nil {
		return f.getUser(ctx, id)
	}
	return nil, errors.New("fake: no user")
}

// Lookup counts one round trip and answers each read through the single-call fakes.
func (f *fakeGraph) Lookup(ctx context.Context, ts oauth2.TokenSource, l graph.Lookup) *graph.LookupResult {
	f.count("lookup")
	f.mu.Lock()
	f.lookups = append(f.lookups, l)
	f.mu.Unlock()
	res := &graph.LookupResult{}
	res.ByAddress, res.AddressErr = f.FindUsersByAddress(ctx, ts, l.Email)
	if l.IdentityIssuer != "" {
		res.ByIdentity, res.IdentityErr = f.findByIdentity(ctx, ts, l.Email, l.IdentityIssuer)
	}
	if l.Organization {
		res.Organization, res.OrganizationErr = f.Organization(ctx, ts)
	}
	return res
}

// LookupMany answers each Lookup as Lookup does, counting one round trip for the lot.
func (f *fakeGraph) LookupMany(ctx context.Context, ts oauth2.TokenSource, ls []graph.Lookup) []*graph.LookupResult {
	f.count("lookupMany")
	out := make([]*graph.LookupResult, len(ls))
	for i, l := range ls {
		res := &graph.LookupResult{}
		res.ByAddress, res.AddressErr = f.FindUsersByAddress(ctx, ts, l.Email)
		if l.IdentityIssuer != "" {
			res.ByIdentity, res.IdentityErr = f.findByIdentity(ctx, ts, l.Email, l.IdentityIssuer)
		}
		out[i] = res
	}
	return out
}

// GetUsers counts one round trip and reads every id through getUser concurrently, as Graph
// serves a batch.
func (f *fakeGraph) GetUsers(ctx context.Context, ts oauth2.TokenSource, ids []string) (map[string]*graph.User, error) {
	f.count("getUsers")
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		out  = map[string]*graph.User{}
		errs []error
	)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := f.GetUser(ctx, ts, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out[id] = u
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (f *fakeGraph) Organization(context.Context, oauth2.TokenSource) (*graph.Organization, error) {
	f.count("org")
	if f.org != nil {
		return f.org()
	}
	return &graph.Organization{ID: "t1", DisplayName: "Contoso", VerifiedDomains: []graph.VerifiedDomain{
		{Name: "contoso.example", IsDefault: true},
		{Name: "contoso.onmicrosoft.com", IsInitial: true},
	}}, nil
}

// memStore is an in-memory Store; Tx works on a copy and commits it only when fn succeeds.
type memStore struct {
	txMu sync.Mutex
	mu   sync.Mutex
	d    *memData
	fail map[string]error // method name → error to return
	// renewals counts RenewIntents calls (the send heartbeat's beats).
	renewals, renewedMax int
}

type memData struct {
	initials map[string]string // tenant → initial domain
	invs     map[string]Invitation
	links    map[string]JoinLink
	audit    []store.AuditEvent
	evs      []store.InvitationEvent
	intents  map[string]store.SendIntent
	webhooks []store.WebhookEvent
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{d: &memData{invs: map[string]Invitation{}, links: map[string]JoinLink{}, intents: map[string]store.SendIntent{}}}
}

func (d *memData) clone() *memData {
	c := &memData{invs: map[string]Invitation{}, links: map[string]JoinLink{}, audit: slices.Clone(d.audit), evs: slices.Clone(d.evs),
		initials: maps.Clone(d.initials), intents: maps.Clone(d.intents), webhooks: slices.Clone(d.webhooks)}
	for k, v := range d.invs {
		c.invs[k] = v
	}
	for k, v := range d.links {
		c.links[k] = v
	}
	return c
}

func (m *memStore) err(name string) error {
	if m.fail != nil {
		return m.fail[name]
	}
	return nil
}

func (m *memStore) Tx(ctx context.Context, fn func(Store) error) error {
	// One transaction at a time, as SQLite's BEGIN IMMEDIATE: a commit replaces the data with the
	// transaction's copy, so two at once would lose one's writes.
	m.txMu.Lock()
	defer m.txMu.Unlock()
	m.mu.Lock()
	child := &memStore{d: m.d.clone(), fail: m.fail}
	m.mu.Unlock()
	if err := fn(child); err != nil {
		return err
	}
	m.mu.Lock()
	m.d = child.d
	m.mu.Unlock()
	return nil
}

func (m *memStore) CreateInvitation(ctx context.Context, inv *Invitation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.err("CreateInvitation"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if inv.ID == "" {
		inv.ID = store.NewID()
	}
	if inv.SentAt.IsZero() {
		inv.SentAt = inv.CreatedAt
	}
	m.d.invs[inv.ID] = *inv
	return nil
}

func (m *memStore) GetInvitation(_ context.Context, id string) (*Invitation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inv, ok := m.d.invs[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &inv, nil
}

func (m *memStore) filter(f store.InvitationFilter) []Invitation {
	var out []Invitation
	for _, inv := range m.d.invs {
		if f.TenantID != "" && inv.TenantID != f.TenantID || f.InviterOID != "" && inv.InviterOID != f.InviterOID ||
			f.State != "" && inv.ExternalUserState != f.State || f.Email != "" && inv.Email != f.Email ||
			f.Outcome != "" && string(inv.Outcome) != f.Outcome || f.Current && inv.ReplacedBy != "" {
			continue
		}
		out = append(out, inv)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

func (m *memStore) ListInvitations(_ context.Context, f store.InvitationFilter) ([]Invitation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.filter(f)
	// Keyset positions as the store reads them (newest first by created_at, then id).
	older := func(r Invitation, c *store.InvitationCursor) bool {
		return r.CreatedAt.Before(c.CreatedAt) || r.CreatedAt.Equal(c.CreatedAt) && r.ID < c.ID
	}
	if f.Before != nil {
		out = slices.DeleteFunc(out, func(r Invitation) bool { return !older(r, f.Before) })
	}
	if f.After != nil {
		out = slices.DeleteFunc(out, func(r Invitation) bool {
			return older(r, f.After) || r.CreatedAt.Equal(f.After.CreatedAt) && r.ID == f.After.ID
		})
		if f.Limit > 0 && len(out) > f.Limit {
			out = out[len(out)-f.Limit:] // the oldest Limit of those newer than the cursor
		}
		return out, nil
	}
	if f.Offset > len(out) {
		return nil, nil
	}
	out = out[f.Offset:]
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func (m *memStore) CountInvitations(_ context.Context, f store.InvitationFilter) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.filter(f)), nil
}

func (m *memStore) TenantInitialDomain(_ context.Context, tenantID string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail["TenantInitialDomain"]; err != nil {
		return "", err
	}
	if d, ok := m.d.initials[tenantID]; ok {
		return d, nil
	}
	return "", store.ErrNotFound
}

func (m *memStore) SaveTenantInitialDomain(_ context.Context, tenantID, domain string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail["SaveTenantInitialDomain"]; err != nil {
		return err
	}
	if m.d.initials == nil {
		m.d.initials = map[string]string{}
	}
	m.d.initials[tenantID] = domain
	return nil
}

func (m *memStore) CountInvitationsCapped(_ context.Context, f store.InvitationFilter, limit int) (int, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.filter(f))
	return min(n, limit), n > limit, nil
}

func (m *memStore) UpdateInvitationState(_ context.Context, id, state string, changedAt *time.Time, checkedAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	inv, ok := m.d.invs[id]
	if !ok {
		return store.ErrNotFound
	}
	inv.ExternalUserState, inv.ExternalUserStateChangedAt, inv.StateCheckedAt = state, changedAt, &checkedAt
	m.d.invs[id] = inv
	return nil
}

func (m *memStore) LatestInvitationsByEmail(_ context.Context, tenantID, email string, since time.Time) ([]Invitation, error) {
	if err := m.err("LatestInvitationsByEmail"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Invitation
	for _, inv := range m.filter(store.InvitationFilter{TenantID: tenantID, Email: email}) {
		if !inv.CreatedAt.Before(since) {
			out = append(out, inv)
		}
	}
	return out, nil
}

func (m *memStore) InvitationHistory(_ context.Context, id string) ([]Invitation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inv, ok := m.d.invs[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	out := m.filter(store.InvitationFilter{TenantID: inv.TenantID, Email: inv.Email})
	slices.Reverse(out)
	return out, nil
}

func (m *memStore) CreateJoinLink(ctx context.Context, l *JoinLink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.err("CreateJoinLink"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.d.links[l.ID] = *l
	return nil
}

func (m *memStore) JoinLinkByHash(_ context.Context, hash []byte) (*JoinLink, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.d.links {
		if bytes.Equal(l.tokenHash, hash) {
			return &l, nil
		}
	}
	return nil, store.ErrNotFound
}

func (m *memStore) ActiveJoinLink(_ context.Context, invitationID string) (*JoinLink, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var best *JoinLink
	for _, l := range m.d.links {
		if l.InvitationID == invitationID && l.RevokedAt == nil && (best == nil || l.CreatedAt.After(best.CreatedAt)) {
			best = &l
		}
	}
	if best == nil {
		return nil, store.ErrNotFound
	}
	return best, nil
}

func (m *memStore) RevokeJoinLinks(_ context.Context, invitationID string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, l := range m.d.links {
		if l.InvitationID == invitationID && l.RevokedAt == nil {
			l.RevokedAt = &at
			m.d.links[id] = l
		}
	}
	return nil
}

func (m *memStore) RecordJoinOpen(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.d.links[id]
	if !ok {
		return store.ErrNotFound
	}
	if l.FirstOpenedAt == nil {
		l.FirstOpenedAt = &at
	}
	l.LastOpenedAt = &at
	l.OpenCount++
	m.d.links[id] = l
	return nil
}

func (m *memStore) UpdateInvitationSend(ctx context.Context, inv *Invitation) error {
	if err := m.err("UpdateInvitationSend"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.d.invs[inv.ID]
	if !ok {
		return store.ErrNotFound
	}
	upd := *inv
	upd.TenantID, upd.InviterOID, upd.InviterUPN, upd.InviterName, upd.Email = old.TenantID, old.InviterOID, old.InviterUPN, old.InviterName, old.Email
	upd.CreatedAt, upd.ResendOf, upd.ReplacedBy = old.CreatedAt, old.ResendOf, old.ReplacedBy
	m.d.invs[inv.ID] = upd
	return nil
}

func (m *memStore) SupersedeJoinLinks(_ context.Context, invitationID string, at time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, l := range m.d.links {
		if l.InvitationID == invitationID && l.RevokedAt == nil {
			l.RevokedAt, l.Superseded = &at, true
			m.d.links[id] = l
			n++
		}
	}
	return n, nil
}

func (m *memStore) JoinLinks(_ context.Context, invitationID string) ([]JoinLink, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []JoinLink
	for _, l := range m.d.links {
		if l.InvitationID == invitationID {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func (m *memStore) AppendInvitationEvent(ctx context.Context, ev *store.InvitationEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.err("AppendInvitationEvent"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ev.ID = int64(len(m.d.evs) + 1)
	m.d.evs = append(m.d.evs, *ev)
	return nil
}

func (m *memStore) InvitationEvents(_ context.Context, ids ...string) ([]store.InvitationEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.InvitationEvent
	for _, ev := range m.d.evs {
		if slices.Contains(ids, ev.InvitationID) {
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

func (m *memStore) InsertWebhookEvent(ctx context.Context, ev *store.WebhookEvent) (bool, error) {
	if err := m.err("InsertWebhookEvent"); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.d.webhooks {
		if e.ID == ev.ID {
			return false, nil
		}
	}
	m.d.webhooks = append(m.d.webhooks, *ev)
	return true, nil
}

func (m *memStore) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.err("AppendAudit"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e.ID = int64(len(m.d.audit) + 1)
	m.d.audit = append(m.d.audit, *e)
	return nil
}

func (m *memStore) ListAudit(_ context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	if err := m.err("ListAudit"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.AuditEvent
	for i := len(m.d.audit) - 1; i >= 0; i-- { // newest first
		e := m.d.audit[i]
		switch {
		case f.Actor != "" && e.ActorOID != f.Actor && !strings.EqualFold(e.ActorUPN, f.Actor),
			f.Action != "" && e.Action != f.Action,
			f.Outcome != "" && e.Outcome != f.Outcome,
			f.Target != "" && e.Target != f.Target,
			f.Since != nil && e.Time.Before(*f.Since),
			f.Until != nil && e.Time.After(*f.Until):
			continue
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

func (m *memStore) audits() []store.AuditEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.d.audit)
}

func (m *memStore) invitations() []Invitation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.filter(store.InvitationFilter{})
}

func (m *memStore) links() []JoinLink {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []JoinLink
	for _, l := range m.d.links {
		out = append(out, l)
	}
	return out
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	svc   *Service
	graph *fakeGraph
	store *memStore
	clock *fakeClock
	logs  *syncBuffer
	keys  *keyring.Ring
}

var (
	employee = Inviter{TenantID: "t1", ObjectID: "oid-employee", UPN: "employee@contoso.example", Name: "Erin Employee", Email: "employee@contoso.example"}
	other    = Inviter{TenantID: "t1", ObjectID: "oid-other", UPN: "other@contoso.example", Name: "Oscar Other"}
	admin    = Inviter{TenantID: "t1", ObjectID: "oid-admin", UPN: "admin@contoso.example", Name: "Ada Admin", Roles: []Role{RoleAdministrator}}
	meta     = Meta{ClientIP: "192.0.2.7", RequestID: "req-portico-1"}
)

// testJoinTTL is the join links' lifetime in these tests (config's default).
const testJoinTTL = 30 * 24 * time.Hour

func newHarness(t *testing.T, pol Policy) *harness {
	t.Helper()
	keys, err := keyring.New(bytes.Repeat([]byte{9}, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		graph: &fakeGraph{},
		store: newMemStore(),
		clock: &fakeClock{t: time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)},
		logs:  &syncBuffer{},
		keys:  keys,
	}
	if pol.DefaultRedirectURL == "" {
		pol.DefaultRedirectURL = "https://portico.example/welcome"
	}
	h.svc = NewService(Config{
		Graph:     h.graph,
		Store:     h.store,
		Keys:      keys,
		Policy:    pol,
		PublicURL: "https://portico.example/",
		JoinTTL:   testJoinTTL,
		Clock:     h.clock.Now,
		Logger:    slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return h
}

func validReq() Request {
	return Request{
		DisplayName: "Taylor Partner",
		Email:       "Taylor@Fabrikam.example",
		Message:     "Welcome to the project.",
		SendEmail:   true,
	}
}

func (m *memStore) OpenIntent(_ context.Context, in *store.SendIntent) error {
	if err := m.err("OpenIntent"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.d.intents {
		if o.TenantID != in.TenantID {
			continue
		}
		if in.IdempotencyKey != "" && o.IdempotencyKey == in.IdempotencyKey {
			return store.ErrIdempotencyKeyUsed
		}
		if o.State == store.IntentOpen && o.Address == in.Address {
			return store.ErrIntentBusy
		}
	}
	if in.ID == "" {
		in.ID = store.NewID()
	}
	in.State = store.IntentOpen
	m.d.intents[in.ID] = *in
	return nil
}

func (m *memStore) GetIntent(_ context.Context, id string) (*store.SendIntent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.d.intents[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &in, nil
}

func (m *memStore) findIntent(match func(store.SendIntent) bool) (*store.SendIntent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, in := range m.d.intents {
		if match(in) {
			return &in, nil
		}
	}
	return nil, store.ErrNotFound
}

func (m *memStore) IntentByKey(_ context.Context, tenantID, key string) (*store.SendIntent, error) {
	return m.findIntent(func(in store.SendIntent) bool {
		return key != "" && in.TenantID == tenantID && in.IdempotencyKey == key
	})
}

func (m *memStore) OpenIntentFor(_ context.Context, tenantID, address string) (*store.SendIntent, error) {
	return m.findIntent(func(in store.SendIntent) bool {
		return in.TenantID == tenantID && in.Address == address && in.State == store.IntentOpen
	})
}

func (m *memStore) SettleIntent(_ context.Context, id, state, outcome, errText string, at time.Time) (bool, error) {
	if err := m.err("SettleIntent"); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.d.intents[id]
	if !ok || in.State != store.IntentOpen {
		return false, nil
	}
	in.State, in.Outcome, in.Error, in.SettledAt = state, outcome, errText, &at
	m.d.intents[id] = in
	return true, nil
}

func (m *memStore) ExtendIntent(_ context.Context, id string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.d.intents[id]
	if !ok || in.State != store.IntentOpen {
		return false, nil
	}
	in.LeaseUntil = until
	m.d.intents[id] = in
	return true, nil
}

func (m *memStore) RenewIntents(_ context.Context, ids []string, until time.Time) (int, error) {
	if err := m.err("RenewIntents"); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, id := range ids {
		in, ok := m.d.intents[id]
		if !ok || in.State != store.IntentOpen || !in.LeaseUntil.Before(until) {
			continue
		}
		in.LeaseUntil = until
		m.d.intents[id] = in
		n++
	}
	m.renewals++
	m.renewedMax = max(m.renewedMax, len(ids))
	return n, nil
}

// beats is how many RenewIntents calls there were, and the most ids one of them carried.
func (m *memStore) beats() (calls, most int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.renewals, m.renewedMax
}

func (m *memStore) ClaimIntents(_ context.Context, now time.Time, lease time.Duration, limit int) ([]store.SendIntent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.SendIntent
	for id, in := range m.d.intents {
		if in.State != store.IntentOpen || in.LeaseUntil.After(now) || len(out) >= limit {
			continue
		}
		in.LeaseUntil, in.Attempts = now.Add(lease), in.Attempts+1
		m.d.intents[id] = in
		out = append(out, in)
	}
	return out, nil
}

func (m *memStore) LockQuota(context.Context, string, string, time.Time) error {
	return m.err("LockQuota")
}

func (m *memStore) QuotaUse(_ context.Context, tenantID, actorOID string, since time.Time, limit int) ([]time.Time, error) {
	if err := m.err("QuotaUse"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []time.Time
	for _, in := range m.d.intents {
		if in.TenantID == tenantID && in.ActorOID == actorOID && in.OpenedAt.After(since) &&
			(in.State == store.IntentOpen || in.State == store.IntentDone && in.Outcome == "created") {
			out = append(out, in.OpenedAt)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return b.Compare(a) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *memStore) intents() []store.SendIntent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Values(m.d.intents))
}

func (m *memStore) OpenIntentOfInvitation(_ context.Context, id string) (*store.SendIntent, error) {
	return m.findIntent(func(in store.SendIntent) bool { return in.InvitationID == id && in.State == store.IntentOpen })
}

func (m *memStore) HasDueIntents(_ context.Context, now time.Time) (bool, error) {
	in, _ := m.findIntent(func(in store.SendIntent) bool { return in.State == store.IntentOpen && !in.LeaseUntil.After(now) })
	return in != nil, nil
}
