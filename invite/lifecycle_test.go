package invite

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/keyring"
	"portico/notify"
	"portico/store"
)

// lifeGraph is a fake LifecycleGraph: guests' statuses by id, and counts of what was written.
type lifeGraph struct {
	mu        sync.Mutex
	statuses  map[string]*graph.GuestStatus
	forbidden bool // every write answers 403
	reads     int  // GuestStatuses calls
	disabled  map[string]int
	deleted   map[string]int
	enabled   map[string]int
	restored  map[string]int
	batches   int
	resets    int           // ResetRedemption calls
	resetWait time.Duration // how long Graph takes to answer a reset
}

func newLifeGraph() *lifeGraph {
	return &lifeGraph{statuses: map[string]*graph.GuestStatus{}, disabled: map[string]int{}, deleted: map[string]int{},
		enabled: map[string]int{}, restored: map[string]int{}}
}

func (g *lifeGraph) guest(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	on := true
	g.statuses[id] = &graph.GuestStatus{ID: id, UserType: "Guest", CreationType: "Invitation", ExternalUserState: "PendingAcceptance", AccountEnabled: &on}
}

func (g *lifeGraph) GuestStatuses(_ context.Context, _ oauth2.TokenSource, ids []string, _ bool) (map[string]*graph.GuestStatus, []string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reads++
	out := map[string]*graph.GuestStatus{}
	var gone []string
	for _, id := range ids {
		if st := g.statuses[id]; st != nil {
			c := *st
			out[id] = &c
		} else {
			gone = append(gone, id)
		}
	}
	return out, gone, nil
}

func (g *lifeGraph) write(ids []string, rec map[string]int, apply func(*graph.GuestStatus)) map[string]graph.WriteResult {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.batches++
	out := map[string]graph.WriteResult{}
	for _, id := range ids {
		if g.forbidden {
			out[id] = graph.WriteResult{Err: &graph.Error{Status: 403, Code: "Authorization_RequestDenied"}}
			continue
		}
		rec[id]++
		if st := g.statuses[id]; st != nil {
			apply(st)
		}
		out[id] = graph.WriteResult{RequestID: "rid-" + id}
	}
	return out
}

func (g *lifeGraph) SetAccountsEnabled(_ context.Context, _ oauth2.TokenSource, ids []string, enabled bool) map[string]graph.WriteResult {
	rec := g.disabled
	if enabled {
		rec = g.enabled
	}
	return g.write(ids, rec, func(st *graph.GuestStatus) { st.AccountEnabled = &enabled })
}

func (g *lifeGraph) DeleteUsers(_ context.Context, _ oauth2.TokenSource, ids []string) map[string]graph.WriteResult {
	res := g.write(ids, g.deleted, func(*graph.GuestStatus) {})
	g.mu.Lock()
	for _, id := range ids {
		if res[id].Err == nil {
			delete(g.statuses, id)
		}
	}
	g.mu.Unlock()
	return res
}

func (g *lifeGraph) SetAccountEnabled(ctx context.Context, ts oauth2.TokenSource, id string, enabled bool) (string, error) {
	r := g.SetAccountsEnabled(ctx, ts, []string{id}, enabled)[id]
	return r.RequestID, r.Err
}

func (g *lifeGraph) ListDeletedUsers(context.Context, oauth2.TokenSource) ([]graph.DeletedUser, error) {
	return nil, nil
}

func (g *lifeGraph) RestoreDeletedUser(_ context.Context, _ oauth2.TokenSource, id string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.restored[id]++
	on := false
	g.statuses[id] = &graph.GuestStatus{ID: id, UserType: "Guest", CreationType: "Invitation", AccountEnabled: &on}
	return "rid-restore", nil
}

func (g *lifeGraph) ResetRedemption(_ context.Context, _ oauth2.TokenSource, in *graph.Invitation, _ string) (*graph.Invitation, error) {
	g.mu.Lock()
	g.resets++
	wait := g.resetWait
	g.mu.Unlock()
	time.Sleep(wait)
	out := *in
	out.RequestID = "rid-reset"
	return &out, nil
}

func (g *lifeGraph) count(m map[string]int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const day = 24 * time.Hour

var lifeAdmin = Inviter{TenantID: "t1", ObjectID: "oid-admin", UPN: "admin@contoso.example", Name: "Avery Admin", Roles: []Role{RoleAdministrator}}

type lifeFixture struct {
	db    *store.DB
	dir   *directory
	lg    *lifeGraph
	clock *testClock
	svc   *Service
	life  *Lifecycle
}

func newLifeFixture(t *testing.T, db *store.DB, policy LifecyclePolicy, granted []string) *lifeFixture {
	f := &lifeFixture{db: db, dir: newDirectory(0), lg: newLifeGraph(), clock: &testClock{t: time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)}}
	f.svc = f.service(t)
	f.life = f.lifecycle(t, f.svc, policy, granted)
	return f
}

func (f *lifeFixture) service(t *testing.T) *Service {
	keys, _ := keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
	s := NewService(Config{Graph: f.dir, Store: NewStoreAdapter(f.db), Keys: keys, Clock: f.clock.Now,
		Policy: Policy{DefaultRedirectURL: "https://portico.example/welcome"}, PublicURL: "https://portico.example",
		JoinTTL: testJoinTTL, Logger: slog.New(slog.DiscardHandler)})
	s.SetNotices(notify.Kinds{notify.KindInvitationReminded: true, notify.KindGuestExpiring: true}, nil)
	return s
}

func (f *lifeFixture) lifecycle(t *testing.T, s *Service, policy LifecyclePolicy, granted []string) *Lifecycle {
	l, err := s.NewLifecycle(LifecycleConfig{Policy: policy, Graph: f.lg, Tokens: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "app"}),
		TenantID: "t1", Granted: granted})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (f *lifeFixture) invite(t *testing.T, addr string) *Invitation {
	t.Helper()
	res, err := f.svc.Send(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "d"}), employee,
		Request{Email: addr, DisplayName: "Pat", Message: "Welcome to the project", SendEmail: true}, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	f.lg.guest(res.Invitation.GraphUserID)
	return res.Invitation
}

func (f *lifeFixture) run(t *testing.T) *RunResult {
	t.Helper()
	res, err := f.life.Run(context.Background(), JobMeta("1"), false)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *lifeFixture) audits(t *testing.T, action string) []store.AuditEvent {
	evs, err := NewStoreAdapter(f.db).ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

var fullPolicy = LifecyclePolicy{RemindAfter: []time.Duration{7 * day, 14 * day}, PendingExpiry: 30 * day,
	ExpiryAction: EffectDisable, WarnBefore: 7 * day}

// A pending guest is reminded twice (each once, however many runs), the inviter is warned, the
// guest is disabled at expiry, and an admin restores them; every step is audited with its policy.
func TestLifecycleRemindWarnDisableRestore(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newLifeFixture(t, db, fullPolicy, []string{"User.Invite.All", "User.Read.All", "User.ReadWrite.All"})
		inv := f.invite(t, "pat@fabrikam.example")
		if f.dir.posts() != 1 {
			t.Fatal("not sent")
		}
		f.clock.Add(day)
		if r := f.run(t); r.Reminded+r.Disabled+r.Warned != 0 || f.lg.reads != 0 {
			t.Fatalf("day 1: %+v, %d Graph reads; want nothing due and no Graph call", r, f.lg.reads)
		}
		f.clock.Add(7 * day) // day 8
		for i := range 3 {
			r := f.run(t)
			if want := map[bool]int{true: 1, false: 0}[i == 0]; r.Reminded != want {
				t.Fatalf("day 8 run %d: reminded %d, want %d", i, r.Reminded, want)
			}
		}
		if f.dir.posts() != 2 {
			t.Fatalf("%d invitations posted after reminder 1, want 2", f.dir.posts())
		}
		if got := f.dir.posted[1]; got.InvitedUserMessageInfo == nil || got.InvitedUserMessageInfo.CustomizedMessageBody != "Welcome to the project" {
			t.Errorf("the reminder lost the inviter's message: %+v", got.InvitedUserMessageInfo)
		}
		f.clock.Add(7 * day) // day 15
		f.run(t)
		f.run(t)
		if f.dir.posts() != 3 {
			t.Fatalf("%d posts after reminder 2, want 3", f.dir.posts())
		}
		f.clock.Add(9 * day) // day 24: the warning is due (expiry at 30, warn 7 days before)
		if r := f.run(t); r.Warned != 1 || r.Disabled != 0 {
			t.Fatalf("day 24: %+v", r)
		}
		ns, _ := db.NoticesByEvent(ctx, notify.EventKey(notify.KindGuestExpiring, inv.ID))
		if len(ns) != 1 || ns[0].Address != employee.UPN {
			t.Errorf("expiring notices %+v", ns)
		}
		rem, _ := db.NoticesByEvent(ctx, notify.EventKey(notify.KindInvitationReminded, inv.ID+":2"))
		if len(rem) != 1 {
			t.Errorf("reminder 2 notices %+v", rem)
		}
		f.clock.Add(7 * day) // day 31
		for range 2 {
			f.run(t)
		}
		if n := f.lg.count(f.lg.disabled); n != 1 || f.dir.posts() != 3 {
			t.Fatalf("disabled %d times, %d posts; want one disable, no further reminder", n, f.dir.posts())
		}
		gs, _ := f.life.Guests(ctx)
		if len(gs) != 1 || gs[0].State != GuestDisabled || gs[0].Reminders != 2 {
			t.Fatalf("guests %+v", gs)
		}
		if ev := guestDisabledEvents(t, db); len(ev) != 1 || ev[0].Email != "pat@fabrikam.example" || ev[0].GraphUserID == "" ||
			ev[0].TenantID == "" || !strings.Contains(ev[0].Reason, "PORTICO_PENDING_EXPIRY") || ev[0].DisabledAt.IsZero() {
			t.Fatalf("guest.disabled: %+v, want one for pat", ev)
		}
		for _, action := range []string{ActionLifecycleRemind, ActionLifecycleWarn, ActionLifecycleDisable} {
			evs := f.audits(t, action)
			want := map[string]int{ActionLifecycleRemind: 2}[action]
			if want == 0 {
				want = 1
			}
			if len(evs) != want || !strings.Contains(evs[0].Detail, "PORTICO_") || evs[0].ActorUPN != "portico:lifecycle" {
				t.Errorf("%s audit: %+v", action, evs)
			}
		}
		// A non-admin may not restore; an admin restores (enable) and the guest is exempt from then on.
		if err := f.life.Restore(ctx, employee, Meta{}, inv.ID); err != ErrNotFound {
			t.Errorf("employee restore: %v", err)
		}
		if err := f.life.Restore(ctx, lifeAdmin, Meta{}, inv.ID); err != nil {
			t.Fatal(err)
		}
		if f.lg.count(f.lg.enabled) != 1 {
			t.Error("not enabled")
		}
		f.clock.Add(30 * day)
		if r := f.run(t); r.Disabled+r.Reminded+r.Reported != 0 {
			t.Errorf("after restore: %+v", r)
		}
		if evs := f.audits(t, ActionLifecycleRestore); len(evs) != 1 || evs[0].ActorUPN != lifeAdmin.UPN {
			t.Errorf("restore audit %+v", evs)
		}
	})
}

// Without User.ReadWrite.All the expiry only reports, and says why; learned from a 403 too.
func TestLifecycleMissingPermissionReportsOnly(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		f := newLifeFixture(t, db, LifecyclePolicy{PendingExpiry: 30 * day, ExpiryAction: EffectDelete}, []string{"User.Invite.All", "User.Read.All"})
		f.invite(t, "pat@fabrikam.example")
		if effect, why := f.life.ExpiryEffect(); effect != EffectReport || !strings.Contains(why, "User.ReadWrite.All") {
			t.Fatalf("effect %q why %q", effect, why)
		}
		f.clock.Add(31 * day)
		if r := f.run(t); r.Reported != 1 || r.Deleted != 0 {
			t.Fatalf("run %+v", r)
		}
		f.run(t)
		if f.lg.batches != 0 || len(f.audits(t, ActionLifecycleReport)) != 1 {
			t.Fatalf("%d write batches, %d reports; want none and one", f.lg.batches, len(f.audits(t, ActionLifecycleReport)))
		}

		// Permissions unknown at start, Graph refuses: the delete fails, the guest stays, later runs report.
		g := newLifeFixture(t, db, LifecyclePolicy{PendingExpiry: 30 * day, ExpiryAction: EffectDisable}, nil)
		g.lg.forbidden = true
		g.invite(t, "quinn@fabrikam.example")
		g.clock.Add(31 * day)
		if r := g.run(t); r.Disabled != 0 || r.Failed < 1 {
			t.Fatalf("403 run %+v", r)
		}
		if effect, why := g.life.ExpiryEffect(); effect != EffectReport || !strings.Contains(why, "403") {
			t.Fatalf("after 403: %q %q", effect, why)
		}
		if r := g.run(t); r.Reported < 1 {
			t.Fatalf("run after the 403: %+v", r)
		}
	})
}

// Members and accounts that were not created by invitation are never touched.
func TestLifecycleNeverTouchesMembers(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		f := newLifeFixture(t, db, LifecyclePolicy{RemindAfter: []time.Duration{7 * day}, PendingExpiry: 30 * day, ExpiryAction: EffectDelete},
			[]string{"User.ReadWrite.All"})
		a := f.invite(t, "member@fabrikam.example")
		b := f.invite(t, "local@fabrikam.example")
		f.lg.statuses[a.GraphUserID].UserType = "Member"
		f.lg.statuses[b.GraphUserID].CreationType = ""
		f.clock.Add(8 * day)
		r := f.run(t)
		f.clock.Add(30 * day)
		r2 := f.run(t)
		if r.NotGuests != 2 || r2.NotGuests != 2 || f.lg.batches != 0 || f.dir.posts() != 2 {
			t.Fatalf("runs %+v %+v, %d write batches, %d posts", r, r2, f.lg.batches, f.dir.posts())
		}
	})
}

// Two instances running at once act once.
func TestLifecycleTwoInstancesOneAction(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		f := newLifeFixture(t, db, LifecyclePolicy{PendingExpiry: 30 * day, ExpiryAction: EffectDisable}, []string{"User.ReadWrite.All"})
		for _, a := range []string{"a@fabrikam.example", "b@fabrikam.example", "c@fabrikam.example"} {
			f.invite(t, a)
		}
		other := f.lifecycle(t, f.service(t), f.life.policy, []string{"User.ReadWrite.All"})
		f.clock.Add(31 * day)
		var wg sync.WaitGroup
		for _, l := range []*Lifecycle{f.life, other, f.life, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := l.Run(context.Background(), JobMeta("x"), false); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := f.lg.count(f.lg.disabled); n != 3 {
			t.Fatalf("%d disables for 3 guests across 4 concurrent runs, want 3", n)
		}
		for id, n := range f.lg.disabled {
			if n != 1 {
				t.Errorf("guest %s disabled %d times", id, n)
			}
		}
	})
}

// Admin actions: a dry run changes nothing; exempt stops the rules; act now deletes at once;
// restore brings a deleted guest back; reset redemption needs User.ReadWrite.All; employees get
// ErrNotFound for all of them.
func TestLifecycleAdminActions(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newLifeFixture(t, db, LifecyclePolicy{RemindAfter: []time.Duration{7 * day}, PendingExpiry: 30 * day, ExpiryAction: EffectDelete},
			[]string{"User.Invite.All", "User.Read.All", "User.ReadWrite.All"})
		a := f.invite(t, "a@fabrikam.example")
		b := f.invite(t, "b@fabrikam.example")
		f.clock.Add(8 * day)
		dry, err := f.life.Run(ctx, Meta{}, true)
		if err != nil || len(dry.Planned) != 2 || dry.Reminded != 0 || f.dir.posts() != 2 {
			t.Fatalf("dry run %+v %v, %d posts", dry, err, f.dir.posts())
		}
		if acts, _ := db.ListLifecycleActions(ctx, store.LifecycleFilter{TenantID: "t1"}); len(acts) != 0 {
			t.Fatalf("the dry run claimed %d actions", len(acts))
		}
		for _, fn := range []func() error{
			func() error { return f.life.SetExempt(ctx, employee, Meta{}, a.ID, true, "") },
			func() error { _, err := f.life.ActNow(ctx, employee, Meta{}, a.ID); return err },
			func() error { _, err := f.life.ResetRedemption(ctx, employee, Meta{}, a.ID, ""); return err },
		} {
			if err := fn(); err != ErrNotFound {
				t.Errorf("employee: %v, want ErrNotFound", err)
			}
		}
		if err := f.life.SetExempt(ctx, lifeAdmin, Meta{}, a.ID, true, "works with us"); err != nil {
			t.Fatal(err)
		}
		if r := f.run(t); r.Reminded != 1 {
			t.Fatalf("run with a exempt: %+v; want b reminded only", r)
		}
		if effect, err := f.life.ActNow(ctx, lifeAdmin, Meta{}, b.ID); err != nil || effect != EffectDelete || f.lg.count(f.lg.deleted) != 1 {
			t.Fatalf("act now = %q, %v; %d deletes", effect, err, f.lg.count(f.lg.deleted))
		}
		if _, err := f.life.ActNow(ctx, lifeAdmin, Meta{}, b.ID); err == nil {
			t.Error("acting twice on a deleted guest succeeded")
		}
		gs, _ := f.life.Guests(ctx)
		states := map[string]string{}
		for _, g := range gs {
			states[g.Invitation.ID] = g.State
		}
		if states[a.ID] != GuestExempt || states[b.ID] != GuestDeleted {
			t.Fatalf("states %v", states)
		}
		if c := Count(gs); c.Exempt != 1 || c.Deleted != 1 {
			t.Errorf("counts %+v", c)
		}
		if err := f.life.Restore(ctx, lifeAdmin, Meta{}, b.ID); err != nil || f.lg.restored[b.GraphUserID] != 1 {
			t.Fatalf("restore: %v, %v", err, f.lg.restored)
		}
		if err := f.life.Restore(ctx, lifeAdmin, Meta{}, a.ID); !errors.Is(err, ErrLifecycleNotPossible) {
			t.Errorf("restore of a guest Portico never changed: %v", err)
		}
		if _, err := f.life.ResetRedemption(ctx, lifeAdmin, Meta{}, a.ID, "new@fabrikam.example"); err != nil {
			t.Fatal(err)
		}
		if evs := f.audits(t, ActionLifecycleReset); len(evs) != 1 || evs[0].GraphRequestID != "rid-reset" {
			t.Errorf("reset audit %+v", evs)
		}
		// An accepted guest has a page too (reset redemption), without the pending rules.
		c := f.invite(t, "c@fabrikam.example")
		now := f.clock.Now()
		if err := NewStoreAdapter(db).UpdateInvitationState(ctx, c.ID, stateAccepted, &now, now); err != nil {
			t.Fatal(err)
		}
		if g, err := f.life.Guest(ctx, c.ID); err != nil || g.State != GuestAccepted || g.Next != nil {
			t.Fatalf("accepted guest %+v %v", g, err)
		}
		if _, err := f.life.Guest(ctx, "nope"); err != ErrNotFound {
			t.Errorf("unknown guest: %v", err)
		}
		f.life.SetGranted([]string{"User.Invite.All"})
		if _, err := f.life.ResetRedemption(ctx, lifeAdmin, Meta{}, a.ID, ""); !errors.Is(err, ErrLifecycleNotPossible) {
			t.Errorf("reset without User.ReadWrite.All: %v", err)
		}
	})
}

// Without a background identity the expiry is reported from Portico's records alone (no Graph
// call), and the reason names what is missing.
func TestLifecycleWithoutIdentityReports(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		f := newLifeFixture(t, db, LifecyclePolicy{PendingExpiry: 30 * day, ExpiryAction: EffectDisable}, nil)
		l, err := f.svc.NewLifecycle(LifecycleConfig{Policy: f.life.policy, Graph: f.lg, TenantID: "t1"})
		if err != nil {
			t.Fatal(err)
		}
		f.invite(t, "pat@fabrikam.example")
		if effect, why := l.ExpiryEffect(); effect != EffectReport || !strings.Contains(why, "PORTICO_BACKGROUND") {
			t.Fatalf("%q %q", effect, why)
		}
		f.clock.Add(31 * day)
		r, err := l.Run(context.Background(), Meta{}, false)
		if err != nil || r.Reported != 1 || f.lg.reads != 0 || f.lg.batches != 0 {
			t.Fatalf("run %+v %v; %d reads, %d writes", r, err, f.lg.reads, f.lg.batches)
		}
	})
}

// A reset of redemption is a new invitation email: two administrators (or a double click) at once
// make one Graph call, the other is told it is under way; a later reset is a new one. On SQLite
// and PostgreSQL.
func TestLifecycleResetRedemptionOnceAtATime(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newLifeFixture(t, db, LifecyclePolicy{PendingExpiry: 30 * day, ExpiryAction: EffectDisable},
			[]string{"User.Invite.All", "User.Read.All", "User.ReadWrite.All"})
		a := f.invite(t, "a@fabrikam.example")
		f.lg.resetWait = 300 * time.Millisecond
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = f.life.ResetRedemption(ctx, lifeAdmin, Meta{}, a.ID, "") })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, ErrLifecycleNotPossible) {
				t.Errorf("a concurrent reset: %v; want 'already under way'", err)
			}
		}
		if ok != 1 || f.lg.resets != 1 {
			t.Fatalf("%d resets succeeded, %d Graph calls; want 1 and 1", ok, f.lg.resets)
		}
		f.lg.resetWait = 0
		if _, err := f.life.ResetRedemption(ctx, lifeAdmin, Meta{}, a.ID, ""); err != nil || f.lg.resets != 2 {
			t.Fatalf("a later reset: %v, %d Graph calls; want a second one", err, f.lg.resets)
		}
		acts, err := db.ListLifecycleActions(ctx, store.LifecycleFilter{TenantID: "t1", Action: LifecycleReset})
		if err != nil || len(acts) != 2 {
			t.Fatalf("reset log %+v %v; want two entries", acts, err)
		}
		for _, x := range acts {
			if x.State != store.LifecycleDone {
				t.Errorf("reset %d is %s, want done", x.Step, x.State)
			}
		}
	})
}
