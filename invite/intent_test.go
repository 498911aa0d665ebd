package invite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/keyring"
	"portico/store"
)

// directory is a fake Graph whose lookups find the guests its POSTs created, as Graph does.
type directory struct {
	fakeGraph
	mu      sync.Mutex
	users   map[string]bool
	delay   time.Duration
	created int
}

func newDirectory(delay time.Duration) *directory {
	d := &directory{users: map[string]bool{}, delay: delay}
	d.create = func(in *graph.Invitation) (*graph.Invitation, error) {
		time.Sleep(d.delay)
		d.mu.Lock()
		defer d.mu.Unlock()
		d.created++
		d.users[strings.ToLower(in.InvitedUserEmailAddress)] = true
		out := *in
		out.ID, out.Status = fmt.Sprintf("g-%d", d.created), "PendingAcceptance"
		out.InviteRedeemURL = "https://login.example/redeem?ticket=T"
		out.InvitedUser = &graph.DirectoryObject{ID: "user-" + strings.ToLower(in.InvitedUserEmailAddress)}
		return &out, nil
	}
	d.byAddr = func(email string) ([]graph.User, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.users[strings.ToLower(email)] {
			return []graph.User{{ID: "user-" + strings.ToLower(email), UserType: "Guest", ExternalUserState: "PendingAcceptance",
				CreationType: "Invitation", Mail: email}}, nil
		}
		return nil, nil
	}
	return d
}

func (d *directory) posts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.created
}

func engineService(t *testing.T, db *store.DB, g Graph, quota QuotaLimits) *Service {
	keys, _ := keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
	return NewService(Config{
		Graph: g, Store: NewStoreAdapter(db), Keys: keys, Quota: quota,
		Policy:    Policy{DefaultRedirectURL: "https://portico.example/welcome"},
		PublicURL: "https://portico.example", JoinTTL: testJoinTTL, Logger: slog.New(slog.DiscardHandler),
	})
}

// The quota is reserved with the intent: 16 parallel sends by one inviter, on two services sharing
// the database (two instances), create exactly the limit.
func TestQuotaReservedAtomically(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		dir := newDirectory(20 * time.Millisecond)
		svcs := []*Service{engineService(t, db, dir, QuotaLimits{PerHour: 5}), engineService(t, db, dir, QuotaLimits{PerHour: 5})}
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				req := validReq()
				req.Email = fmt.Sprintf("guest%d@fabrikam.example", i)
				_, errs[i] = svcs[i%2].Send(ctx, nil, employee, req, meta)
			})
		}
		close(start)
		wg.Wait()
		ok, quota := 0, 0
		for _, err := range errs {
			var qe *QuotaError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &qe):
				quota++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 5 || quota != n-5 || dir.posts() != 5 {
			t.Fatalf("%d sent, %d refused by the quota, %d POSTs; want 5, %d, 5", ok, quota, dir.posts(), n-5)
		}
		if d, _ := svcs[0].Quota(ctx, employee); d.Allowed || d.Hour.Used != 5 {
			t.Fatalf("Quota after the run: %+v", d)
		}
	})
}

// Concurrent submits of one address (double clicks, two instances) collapse into one intent and
// one Graph POST; every caller is shown the same record.
func TestConcurrentSendsOnePost(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		dir := newDirectory(150 * time.Millisecond)
		svcs := []*Service{engineService(t, db, dir, QuotaLimits{}), engineService(t, db, dir, QuotaLimits{})}
		const n = 8
		res := make([]*Result, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				res[i], errs[i] = svcs[i%2].Send(ctx, nil, employee, validReq(), meta)
			})
		}
		close(start)
		wg.Wait()
		if dir.posts() != 1 {
			t.Fatalf("%d POSTs; want 1", dir.posts())
		}
		ids := map[string]bool{}
		for i := range n {
			var re *RefusedError
			switch {
			case errs[i] == nil:
				ids[res[i].Invitation.ID] = true
			case errors.As(errs[i], &re) && re.ResendOffered:
				// Arrived after the first had settled: told the partner is invited already.
			default:
				t.Errorf("caller %d: %v", i, errs[i])
			}
		}
		if len(ids) != 1 {
			t.Fatalf("callers saw records %v; want one", ids)
		}
		invs, _ := NewStoreAdapter(db).ListInvitations(ctx, store.InvitationFilter{TenantID: employee.TenantID})
		if len(invs) != 1 || !invs[0].Created() {
			t.Fatalf("records %+v; want one created", invs)
		}
	})
}

// Concurrent "Send again" of one record makes one new Graph invitation.
func TestConcurrentResendsOnePost(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Graph takes a second to answer, so that every resend reads the record while the first
		// resend is in flight even on a loaded machine: a resend started after it ended would be
		// a new "Send again", rightly sent.
		dir := newDirectory(time.Second)
		svcs := []*Service{engineService(t, db, dir, QuotaLimits{}), engineService(t, db, dir, QuotaLimits{})}
		first, err := svcs[0].Send(ctx, nil, employee, validReq(), meta)
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = svcs[i%2].Resend(ctx, nil, employee, first.Invitation.ID, meta)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("resend %d: %v", i, err)
			}
		}
		if dir.posts() != 2 {
			t.Fatalf("%d POSTs; want 2 (the send and one resend)", dir.posts())
		}
	})
}

// A crash between Graph's answer and the commit leaves the intent open; the reconciler settles it
// by lookup, never posting again. Not found for its whole patience, it is recorded as not sent.
func TestReconcilerSettlesOpenIntents(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Policy{})
	dir := newDirectory(0)
	h.graph.create, h.graph.byAddr = dir.create, dir.byAddr
	h.store.fail = map[string]error{"AppendAudit": errors.New("killed")} // the process dies before its commit
	if _, err := h.svc.Send(ctx, nil, employee, validReq(), meta); err == nil {
		t.Fatal("Send reported success without its record")
	}
	lost := validReq()
	lost.Email = "lost@fabrikam.example"
	h.graph.create = func(*graph.Invitation) (*graph.Invitation, error) { return nil, graph.ErrUncertain } // never reached Graph
	if res, err := h.svc.Send(ctx, nil, employee, lost, meta); err != nil || !res.Sending {
		t.Fatalf("uncertain send: %+v, %v; want still sending", res, err)
	}
	h.store.fail = nil
	if invs := h.store.invitations(); len(invs) != 2 || !invs[0].Sending() || !invs[1].Sending() {
		t.Fatalf("records before reconciling %+v; want two sending", invs)
	}
	// Before the lease ends the reconciler leaves the first intent to its caller.
	r, err := h.svc.Reconcile(ctx, nil, 10)
	if err != nil || r.Claimed != 1 || r.Waiting != 1 {
		t.Fatalf("first run %+v, %v; want only the uncertain intent claimed, still waiting", r, err)
	}
	h.clock.Add(DefaultIntentLease + time.Second)
	r, err = h.svc.Reconcile(ctx, nil, 10)
	if err != nil || r.Confirmed != 1 || r.Waiting != 1 {
		t.Fatalf("second run %+v, %v", r, err)
	}
	h.clock.Add(DefaultReconcilePatience)
	r, err = h.svc.Reconcile(ctx, nil, 10)
	if err != nil || r.NotSent != 1 {
		t.Fatalf("third run %+v, %v", r, err)
	}
	if dir.posts() != 1 {
		t.Fatalf("%d POSTs; the reconciler must never post", dir.posts())
	}
	byEmail := map[string]Invitation{}
	for _, inv := range h.store.invitations() {
		byEmail[inv.Email] = inv
	}
	if c := byEmail["taylor@fabrikam.example"]; !c.Created() || c.GraphUserID == "" {
		t.Fatalf("crashed send not confirmed: %+v", c)
	}
	if l := byEmail["lost@fabrikam.example"]; l.Outcome != OutcomeFailed || l.ErrorCode != "NotSent" {
		t.Fatalf("lost send not settled as not sent: %+v", l)
	}
	for _, in := range h.store.intents() {
		if in.State == store.IntentOpen {
			t.Fatalf("intent left open: %+v", in)
		}
	}
	evs := h.store.audits()
	if len(evs) != 2 || !strings.Contains(evs[0].Detail+evs[1].Detail, "reconciler") {
		t.Fatalf("audit %+v; want one event per settled intent", evs)
	}
}

// An idempotency key names one send: a second Send with it returns the first result and never
// writes to Graph again.
func TestIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Policy{})
	req := validReq()
	req.IdempotencyKey = "bulk-7-row-3"
	first, err := h.svc.Send(ctx, nil, employee, req, meta)
	if err != nil {
		t.Fatal(err)
	}
	req.Email = "someone.else@fabrikam.example"
	again, err := h.svc.Send(ctx, nil, employee, req, meta)
	if err != nil || again.Invitation.ID != first.Invitation.ID || again.IntentID != first.IntentID {
		t.Fatalf("second send with the key: %+v, %v; want the first result", again, err)
	}
	if h.graph.n("create") != 1 {
		t.Fatalf("%d POSTs; want 1", h.graph.n("create"))
	}
	req.IdempotencyKey = strings.Repeat("k", MaxIdempotencyKey+1)
	var ve *ValidationError
	if _, err := h.svc.Send(ctx, nil, employee, req, meta); !errors.As(err, &ve) || ve.Fields[FieldIdempotencyKey] == "" {
		t.Fatalf("over-long key: %v", err)
	}
}

// A slow Graph: Send answers after its bounded wait with the record still sending; the send goes
// on and settles the record.
func TestSlowGraphAnswersSending(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Policy{})
	h.svc.sendWait = 30 * time.Millisecond
	release := make(chan struct{})
	dir := newDirectory(0)
	h.graph.create = func(in *graph.Invitation) (*graph.Invitation, error) {
		<-release
		return dir.create(in)
	}
	res, err := h.svc.Send(ctx, nil, employee, validReq(), meta)
	if err != nil || !res.Sending || !res.Invitation.Sending() || res.Invitation.State() != StateSending {
		t.Fatalf("slow send: %+v, %v; want the record still sending", res, err)
	}
	if invs := h.store.invitations(); len(invs) != 1 || !invs[0].Sending() {
		t.Fatalf("My invitations must list it as sending: %+v", invs)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if invs := h.store.invitations(); len(invs) == 1 && invs[0].Created() {
			if ins := h.store.intents(); len(ins) != 1 || ins[0].State != store.IntentDone {
				t.Fatalf("intent %+v", ins)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the detached send never settled: %+v", h.store.invitations())
}

// With DirectLink off, a record confirmed by lookup has no join link and says so.
func TestConfirmedWithoutDirectLink(t *testing.T) {
	h := newHarness(t, Policy{})
	h.svc.directLink = ""
	posted := false
	h.graph.create = func(*graph.Invitation) (*graph.Invitation, error) { posted = true; return nil, graph.ErrUncertain }
	h.graph.byAddr = func(string) ([]graph.User, error) {
		if !posted {
			return nil, nil
		}
		return []graph.User{{ID: "u-1", ExternalUserState: "PendingAcceptance", CreationType: "Invitation"}}, nil
	}
	res, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta)
	if err != nil || !res.ConfirmedByLookup || res.DirectLink || res.JoinURL != "" || len(h.store.links()) != 0 || res.Invitation.HasRedeemURL() {
		t.Fatalf("res %+v, %v; want confirmed without a link", res, err)
	}
}

// The caller and the reconciler never both settle one intent: when the reconciler confirmed it by
// lookup first, the caller's late answer records nothing more (one audit event, one record).
func TestCallerAndReconcilerSettleOnce(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Policy{})
	h.svc.sendWait = 20 * time.Millisecond
	dir := newDirectory(0)
	posted, release := make(chan struct{}), make(chan struct{})
	h.graph.byAddr = dir.byAddr
	h.graph.create = func(in *graph.Invitation) (*graph.Invitation, error) {
		out, err := dir.create(in) // Graph acted...
		close(posted)
		<-release // ...and its answer is slow
		return out, err
	}
	res, err := h.svc.Send(ctx, nil, employee, validReq(), meta)
	if err != nil || !res.Sending {
		t.Fatalf("Send = %+v, %v; want still sending", res, err)
	}
	<-posted
	h.clock.Add(DefaultIntentLease + time.Second)
	if r, err := h.svc.Reconcile(ctx, nil, 10); err != nil || r.Confirmed != 1 {
		t.Fatalf("Reconcile = %+v, %v", r, err)
	}
	close(release)
	if err := h.svc.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	invs, evs, ins := h.store.invitations(), h.store.audits(), h.store.intents()
	if len(invs) != 1 || !invs[0].Created() || len(evs) != 1 || len(ins) != 1 || ins[0].State != store.IntentDone || dir.posts() != 1 {
		t.Fatalf("records %+v audit %+v intents %+v posts %d; want one of each", invs, evs, ins, dir.posts())
	}
	if !strings.Contains(evs[0].Detail, "reconciler") {
		t.Fatalf("the reconciler's settlement should stand: %s", evs[0].Detail)
	}
}

// waitBeats waits until the heartbeat made more than n beats.
func waitBeats(t *testing.T, m *memStore, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if calls, _ := m.beats(); calls > n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat after %d beats", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A live send is never settled under its feet: while its Graph call runs, the heartbeat renews the
// leases of all the process's sends in flight (one statement per beat), so a reconciler finds
// nothing to claim however long Graph takes; the caller settles each intent with Graph's answer.
// Once the calls end, the beats stop.
func TestHeartbeatKeepsLiveSends(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Policy{})
	h.svc.sendWait, h.svc.intentBeat = 10*time.Millisecond, 5*time.Millisecond
	dir := newDirectory(0)
	release := make(chan struct{})
	h.graph.byAddr = dir.byAddr
	h.graph.create = func(in *graph.Invitation) (*graph.Invitation, error) {
		out, err := dir.create(in) // Graph acted, and answers slowly
		<-release
		return out, err
	}
	for i := range 3 {
		req := validReq()
		req.Email = fmt.Sprintf("slow%d@fabrikam.example", i)
		if res, err := h.svc.Send(ctx, nil, employee, req, meta); err != nil || !res.Sending {
			t.Fatalf("Send = %+v, %v; want still sending", res, err)
		}
	}
	// Ten leases pass on the clock; each time the heartbeat renews the leases from the new time.
	for range 10 {
		h.clock.Add(DefaultIntentLease + time.Second)
		calls, _ := h.store.beats()
		waitBeats(t, h.store, calls+1) // the second beat from now began after the clock moved
		if r, err := h.svc.Reconcile(ctx, nil, 10); err != nil || r.Claimed != 0 {
			t.Fatalf("Reconcile = %+v, %v; a live send's intent was claimed", r, err)
		}
	}
	if _, most := h.store.beats(); most != 3 {
		t.Fatalf("a beat renewed %d intents; want the 3 in flight in one statement", most)
	}
	close(release)
	if err := h.svc.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	evs := h.store.audits()
	if len(evs) != 3 || dir.posts() != 3 {
		t.Fatalf("%d audit events, %d POSTs; want 3 each", len(evs), dir.posts())
	}
	for _, ev := range evs {
		if strings.Contains(ev.Detail, "reconciler") || ev.Outcome != string(OutcomeCreated) {
			t.Fatalf("the caller should have settled with Graph's answer: %+v", ev)
		}
	}
	for _, inv := range h.store.invitations() {
		if !inv.Created() || !inv.HasRedeemURL() {
			t.Fatalf("record %+v; want created with Graph's redemption URL", inv)
		}
	}
	calls, _ := h.store.beats()
	time.Sleep(50 * time.Millisecond)
	if after, _ := h.store.beats(); after != calls {
		t.Fatalf("the heartbeat went on after the sends ended: %d → %d beats", calls, after)
	}
}

// A graceful shutdown stops the heartbeat after draining: a send still in flight when the
// deadline ends keeps its intent open, its lease lapses, and the reconciler settles it by lookup;
// the late answer of the abandoned call records nothing more.
func TestDrainStopsHeartbeat(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Policy{})
	h.svc.sendWait, h.svc.intentBeat = 10*time.Millisecond, 5*time.Millisecond
	dir := newDirectory(0)
	release := make(chan struct{})
	h.graph.byAddr = dir.byAddr
	h.graph.create = func(in *graph.Invitation) (*graph.Invitation, error) {
		out, err := dir.create(in)
		<-release
		return out, err
	}
	if res, err := h.svc.Send(ctx, nil, employee, validReq(), meta); err != nil || !res.Sending {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	waitBeats(t, h.store, 1)
	dctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := h.svc.Drain(dctx); err == nil {
		t.Fatal("Drain returned nil with a send in flight")
	}
	calls, _ := h.store.beats()
	time.Sleep(30 * time.Millisecond)
	if after, _ := h.store.beats(); after != calls {
		t.Fatalf("the heartbeat went on after Drain: %d → %d beats", calls, after)
	}
	h.clock.Add(DefaultIntentLease + time.Second)
	if r, err := h.svc.Reconcile(ctx, nil, 10); err != nil || r.Claimed != 1 || r.Confirmed != 1 {
		t.Fatalf("Reconcile = %+v, %v; want the abandoned send's intent confirmed by lookup", r, err)
	}
	close(release)
	h.svc.inflight.Wait()
	if evs := h.store.audits(); len(evs) != 1 || !strings.Contains(evs[0].Detail, "reconciler") {
		t.Fatalf("audit %+v; want the reconciler's one event", evs)
	}
	if invs := h.store.invitations(); len(invs) != 1 || !invs[0].Created() || dir.posts() != 1 {
		t.Fatalf("records %+v, %d POSTs", invs, dir.posts())
	}
}

// hangingLookups is a Graph whose directory reads never answer before their context ends.
type hangingLookups struct{ *fakeGraph }

func (g hangingLookups) Lookup(ctx context.Context, _ oauth2.TokenSource, _ graph.Lookup) *graph.LookupResult {
	<-ctx.Done()
	return &graph.LookupResult{AddressErr: ctx.Err(), IdentityErr: ctx.Err(), OrganizationErr: ctx.Err()}
}

func (g hangingLookups) Organization(ctx context.Context, _ oauth2.TokenSource) (*graph.Organization, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// The checks before sending have their own budget: a directory that does not answer ends the
// submit in time with "nothing was sent", and nothing is written but the audit event.
func TestPreflightBudget(t *testing.T) {
	h := newHarness(t, Policy{})
	h.svc.graph = hangingLookups{h.graph}
	h.svc.preflightBudget = 50 * time.Millisecond
	began := time.Now()
	_, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta)
	var ge *GraphError
	if !errors.As(err, &ge) || !strings.Contains(ge.Message, "sent nothing") || time.Since(began) > 2*time.Second {
		t.Fatalf("Send = %v after %s; want a lookup failure within the budget", err, time.Since(began))
	}
	if h.graph.n("create") != 0 || len(h.store.invitations()) != 0 || len(h.store.intents()) != 0 {
		t.Fatalf("something was sent or written: %v", h.graph.calls)
	}
}
