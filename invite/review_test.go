package invite

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/notify"
	"portico/store"
	"portico/webhooks"
)

// fakeReviewGraph records the users it disabled or deleted; fail, when set, answers instead.
type fakeReviewGraph struct {
	mu        sync.Mutex
	types     map[string]string // userType by id; missing: Guest; "": gone (404)
	writeFail error             // every write answers this
	reads     int               // UserTypes calls
	batches   int               // DisableUsers and DeleteUsers calls
	disabled  []string
	deleted   []string
	fail      error // UserTypes answers this
}

func (g *fakeReviewGraph) UserTypes(_ context.Context, _ oauth2.TokenSource, ids []string) (map[string]string, []string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reads++
	if g.fail != nil {
		return nil, nil, g.fail
	}
	types := map[string]string{}
	var gone []string
	for _, id := range ids {
		t, ok := g.types[id]
		switch {
		case !ok:
			types[id] = "Guest"
		case t == "":
			gone = append(gone, id)
		default:
			types[id] = t
		}
	}
	return types, gone, nil
}

func (g *fakeReviewGraph) write(ids []string, into *[]string, reqID string) map[string]ReviewWrite {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.batches++
	out := map[string]ReviewWrite{}
	for _, id := range ids {
		if g.writeFail != nil {
			out[id] = ReviewWrite{Err: g.writeFail}
			continue
		}
		*into = append(*into, id)
		out[id] = ReviewWrite{RequestID: reqID}
	}
	return out
}

func (g *fakeReviewGraph) DisableUsers(_ context.Context, _ oauth2.TokenSource, ids []string) map[string]ReviewWrite {
	return g.write(ids, &g.disabled, "req-disable")
}

func (g *fakeReviewGraph) DeleteUsers(_ context.Context, _ oauth2.TokenSource, ids []string) map[string]ReviewWrite {
	return g.write(ids, &g.deleted, "req-delete")
}

type reviewFixture struct {
	db    *store.DB
	now   time.Time
	graph *fakeReviewGraph
	r     *Reviews
}

var reviewT0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func newReviewFixture(t *testing.T, action string, withGraph bool) *reviewFixture {
	t.Helper()
	db, err := store.Open(context.Background(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newReviewFixtureOn(t, db, action, withGraph)
}

// newReviews is one more instance of the review service on the fixture's database, clock and Graph.
func (f *reviewFixture) newReviews(action string) *Reviews {
	return NewReviews(ReviewsConfig{Store: NewReviewStore(f.db), Policy: ReviewPolicy{Every: 180 * day, Grace: 14 * day, WarnBefore: 7 * day, Action: action},
		Clock: func() time.Time { return f.now }, NoticeOn: func(notify.Kind) bool { return true },
		Graph: f.graph, Tokens: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "app"})})
}

func newReviewFixtureOn(t *testing.T, db *store.DB, action string, withGraph bool) *reviewFixture {
	t.Helper()
	f := &reviewFixture{db: db, now: reviewT0, graph: &fakeReviewGraph{}}
	cfg := ReviewsConfig{Store: NewReviewStore(db), Policy: ReviewPolicy{Every: 180 * day, Grace: 14 * day, WarnBefore: 7 * day, Action: action},
		Clock: func() time.Time { return f.now }, PublicURL: "https://portico.example", NoticeOn: func(notify.Kind) bool { return true }}
	if withGraph {
		cfg.Graph, cfg.Tokens = f.graph, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "app"})
	}
	f.r = NewReviews(cfg)
	accepted := reviewT0
	for _, inv := range []store.Invitation{
		{ID: "inv-g1", TenantID: "t", InviterOID: "erin", InviterUPN: "erin@contoso.example", InviterName: "Erin", Email: "pat@fabrikam.example",
			Outcome: store.OutcomeCreated, GraphUserID: "guest-1", UserType: "Guest", ExternalUserState: store.StateAccepted, ExternalUserStateChangedAt: &accepted, CreatedAt: reviewT0.Add(-day)},
		{ID: "inv-g2", TenantID: "t", InviterOID: "erin", InviterUPN: "erin@contoso.example", InviterName: "Erin", Email: "lee@fabrikam.example",
			Outcome: store.OutcomeCreated, GraphUserID: "guest-2", UserType: "Guest", ExternalUserState: store.StateAccepted, ExternalUserStateChangedAt: &accepted, CreatedAt: reviewT0.Add(-day)},
		// Never reviewed: a Member, a pending guest.
		{ID: "inv-m", TenantID: "t", InviterOID: "erin", Email: "mem@fabrikam.example", Outcome: store.OutcomeCreated, GraphUserID: "member-1",
			UserType: "Member", ExternalUserState: store.StateAccepted, ExternalUserStateChangedAt: &accepted, CreatedAt: reviewT0.Add(-day)},
		{ID: "inv-p", TenantID: "t", InviterOID: "erin", Email: "pend@fabrikam.example", Outcome: store.OutcomeCreated, GraphUserID: "pending-1",
			UserType: "Guest", ExternalUserState: "PendingAcceptance", CreatedAt: reviewT0.Add(-day)},
	} {
		if err := db.CreateInvitation(context.Background(), &inv); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetInvitationSponsors(context.Background(), "inv-g1", []store.InvitationSponsor{{SponsorOID: "sam", DisplayName: "Sam", Address: "sam@contoso.example"}}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *reviewFixture) sweep(t *testing.T) SweepResult {
	t.Helper()
	res, err := f.r.Sweep(context.Background())
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	return res
}

func (f *reviewFixture) round(t *testing.T, invitationID string) store.GuestReview {
	t.Helper()
	l, err := f.db.ListGuestReviews(context.Background(), store.GuestReviewFilter{InvitationIDs: []string{invitationID}})
	if err != nil || len(l) == 0 {
		t.Fatalf("rounds of %s: %v %v", invitationID, l, err)
	}
	return l[len(l)-1]
}

func TestReviewsKeepAndRemove(t *testing.T) {
	ctx := context.Background()
	f := newReviewFixture(t, ReviewActionDisable, true)
	if res := f.sweep(t); res.Scheduled != 2 || res.Opened != 0 {
		t.Fatalf("first sweep: %+v", res)
	}
	if res := f.sweep(t); res.Scheduled != 0 {
		t.Fatalf("second sweep scheduled again: %+v", res)
	}
	if n, _ := f.db.CountGuestReviews(ctx, store.GuestReviewFilter{}); n != 2 {
		t.Fatalf("rounds = %d, want 2 (members and pending guests are never reviewed)", n)
	}
	if inbox, _ := f.r.Inbox(ctx, "sam"); len(inbox) != 0 {
		t.Fatalf("nothing is due yet: %+v", inbox)
	}
	f.now = reviewT0.Add(180 * day)
	if res := f.sweep(t); res.Opened != 2 {
		t.Fatalf("due sweep: %+v", res)
	}
	if res := f.sweep(t); res.Opened != 0 {
		t.Fatalf("opened twice: %+v", res)
	}
	sam, _ := f.r.Inbox(ctx, "sam")
	erin, _ := f.r.Inbox(ctx, "erin")
	if len(sam) != 1 || sam[0].Email != "pat@fabrikam.example" || len(erin) != 2 {
		t.Fatalf("inboxes: sam %+v erin %+v", sam, erin)
	}
	// One notice per reviewer and event: Erin and Sam for g1, Erin for g2.
	due := countNotices(t, f.db, notify.KindReviewDue)
	if due != 3 {
		t.Fatalf("review.due notices = %d, want 3", due)
	}
	// A stranger may not decide; remove needs a reason.
	if _, err := f.r.Decide(ctx, Person{ObjectID: "mallory"}, sam[0].ID, false, "gone"); !errors.Is(err, ErrNotReviewer) {
		t.Fatalf("stranger: %v", err)
	}
	if _, err := f.r.Decide(ctx, Person{ObjectID: "sam"}, sam[0].ID, false, "  "); !errors.Is(err, ErrReasonRequired) {
		t.Fatalf("no reason: %v", err)
	}
	if _, err := f.r.Decide(ctx, Person{ObjectID: "sam"}, sam[0].ID, false, strings.Repeat("x", MaxReviewReason+1)); !errors.Is(err, ErrReasonTooLong) {
		t.Fatalf("long reason: %v", err)
	}
	// Keep g1; remove g2.
	kept, err := f.r.Decide(ctx, Person{ObjectID: "sam", Name: "Sam"}, sam[0].ID, true, "")
	if err != nil || kept.State != store.ReviewKept {
		t.Fatalf("keep: %+v %v", kept, err)
	}
	if _, err := f.r.Decide(ctx, Person{ObjectID: "erin"}, sam[0].ID, false, "late"); !errors.Is(err, ErrReviewClosed) {
		t.Fatalf("decided twice: %v", err)
	}
	next := f.round(t, "inv-g1")
	if next.Round != 2 || next.State != store.ReviewScheduled || !next.DueAt.Equal(f.now.Add(180*day)) {
		t.Fatalf("next round: %+v", next)
	}
	g2 := f.round(t, "inv-g2")
	rm, err := f.r.Decide(ctx, Person{ObjectID: "erin", Name: "Erin"}, g2.ID, false, "project ended")
	if err != nil || rm.State != store.ReviewRemoving || rm.Action != ReviewActionDisable {
		t.Fatalf("remove: %+v %v", rm, err)
	}
	if err := f.r.Act(ctx, g2.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.r.Act(ctx, g2.ID); err != nil {
		t.Fatal(err)
	}
	f.sweep(t)
	if len(f.graph.disabled) != 1 || f.graph.disabled[0] != "guest-2" || len(f.graph.deleted) != 0 {
		t.Fatalf("graph: disabled %v deleted %v", f.graph.disabled, f.graph.deleted)
	}
	if got := f.round(t, "inv-g2"); got.State != store.ReviewRemoved || got.GraphRequestID != "req-disable" || got.ActedAt == nil {
		t.Fatalf("after the action: %+v", got)
	}
	if ev := guestDisabledEvents(t, f.db); len(ev) != 1 || ev[0].GraphUserID != "guest-2" || ev[0].ActorOID != "erin" ||
		ev[0].Email == "" || !strings.Contains(ev[0].Reason, "remove") {
		t.Fatalf("guest.disabled: %+v, want one for guest-2 by erin", ev)
	}
	for _, a := range []string{ActionReviewOpen, ActionReviewKeep, ActionReviewRemove, ActionReviewDisable} {
		ev, _ := f.db.ListAudit(ctx, store.AuditFilter{Action: a})
		if len(ev) == 0 || !strings.Contains(ev[0].Detail, "action disable") {
			t.Fatalf("audit %s: %+v", a, ev)
		}
	}
	if ev, _ := f.db.ListAudit(ctx, store.AuditFilter{Action: ActionReviewRemove}); ev[0].ActorOID != "erin" || !strings.Contains(ev[0].Detail, "project ended") {
		t.Fatalf("remove audit: %+v", ev)
	}
}

func TestReviewsNoAnswerWarnsThenActsOnce(t *testing.T) {
	ctx := context.Background()
	f := newReviewFixture(t, ReviewActionDelete, true)
	f.sweep(t)
	f.now = reviewT0.Add(180 * day)
	f.sweep(t)
	f.now = f.now.Add(8 * day) // inside the warning (7 days before the grace ends)
	if res := f.sweep(t); res.Warned != 2 {
		t.Fatalf("warn sweep: %+v", res)
	}
	if res := f.sweep(t); res.Warned != 0 {
		t.Fatalf("warned twice: %+v", res)
	}
	if soon := countNotices(t, f.db, notify.KindGuestActionSoon); soon != 3 {
		t.Fatalf("guest.action_soon notices = %d, want 3", soon)
	}
	f.now = reviewT0.Add(194 * day)
	// Two sweeps at once (two instances): each guest deleted once.
	var wg sync.WaitGroup
	var noAnswer atomic.Int32
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.r.Sweep(ctx)
			if err != nil {
				t.Error(err)
			}
			noAnswer.Add(int32(res.NoAnswer))
		}()
	}
	wg.Wait()
	f.sweep(t)
	if noAnswer.Load() != 2 || len(f.graph.deleted) != 2 || len(f.graph.disabled) != 0 {
		t.Fatalf("no answer %d; deleted %v disabled %v", noAnswer.Load(), f.graph.deleted, f.graph.disabled)
	}
	if ev, _ := f.db.ListAudit(ctx, store.AuditFilter{Action: ActionReviewNoAnswer}); len(ev) != 2 || ev[0].ActorOID != "portico" {
		t.Fatalf("no-answer audit: %+v", ev)
	}
	if del, dis := guestEvents(t, f.db, webhooks.GuestDeleted), guestDisabledEvents(t, f.db); len(del) != 2 || len(dis) != 0 ||
		del[0].GraphUserID == del[1].GraphUserID || del[0].ActorOID != "" {
		t.Fatalf("guest.deleted %+v, guest.disabled %+v; want one deleted per guest", del, dis)
	}
}

// A warning that came late (the sweep did not run in the warning window) moves the action:
// nobody is disabled without a warning WarnBefore ahead.
func TestReviewsLateWarningPostponesTheAction(t *testing.T) {
	f := newReviewFixture(t, ReviewActionDisable, true)
	f.sweep(t)
	f.now = reviewT0.Add(180 * day)
	f.sweep(t)
	f.now = reviewT0.Add(200 * day) // past the grace, never warned
	if res := f.sweep(t); res.Warned != 2 || res.NoAnswer != 0 {
		t.Fatalf("late sweep: %+v", res)
	}
	if got := f.round(t, "inv-g1"); got.State != store.ReviewOpen || !got.GraceUntil.Equal(f.now.Add(7*day)) {
		t.Fatalf("grace moved: %+v", got)
	}
	f.now = f.now.Add(6 * day)
	if res := f.sweep(t); res.NoAnswer != 0 || len(f.graph.disabled) != 0 {
		t.Fatalf("acted before the warning's time: %+v", res)
	}
	f.now = f.now.Add(day)
	if res := f.sweep(t); res.NoAnswer != 2 || len(f.graph.disabled) != 2 {
		t.Fatalf("after the warning's time: %+v %v", res, f.graph.disabled)
	}
}

func TestReviewsWithoutPermissionReport(t *testing.T) {
	ctx := context.Background()
	// No application identity: the policy says disable, reviews report.
	f := newReviewFixture(t, ReviewActionDisable, false)
	if p := f.r.Policy(); p.Action != ReviewActionReport || p.Configured != ReviewActionDisable || p.Degraded == "" {
		t.Fatalf("policy: %+v", p)
	}
	f.sweep(t)
	f.now = reviewT0.Add(195 * day)
	f.sweep(t)
	f.sweep(t)
	f.sweep(t)
	if got := f.round(t, "inv-g1"); got.State != store.ReviewReported || got.Action != ReviewActionReport || got.ActionWhy == "" {
		t.Fatalf("round: %+v", got)
	}
	if ev, _ := f.db.ListAudit(ctx, store.AuditFilter{Action: ActionReviewReport}); len(ev) != 2 || !strings.Contains(ev[0].Detail, "configured disable") {
		t.Fatalf("report audit: %+v", ev)
	}
	if len(f.graph.disabled)+len(f.graph.deleted) != 0 {
		t.Fatal("Graph was written")
	}

	// With an identity, Graph's 403 (User.ReadWrite.All missing) ends in report too.
	g := newReviewFixture(t, ReviewActionDisable, true)
	g.graph.writeFail = &graph.Error{Status: http.StatusForbidden, Code: "Authorization_RequestDenied", Message: "Insufficient privileges"}
	g.sweep(t)
	g.now = reviewT0.Add(180 * day)
	g.sweep(t) // open
	g.now = reviewT0.Add(188 * day)
	g.sweep(t) // warn
	g.now = reviewT0.Add(195 * day)
	g.sweep(t) // no answer → act
	if got := g.round(t, "inv-g2"); got.State != store.ReviewReported || !strings.Contains(got.ActionWhy, "User.ReadWrite.All") {
		t.Fatalf("403: %+v", got)
	}
	// A transient failure leaves the round removing, for a later attempt.
	h := newReviewFixture(t, ReviewActionDisable, true)
	h.graph.writeFail = &graph.Error{Status: http.StatusServiceUnavailable, Code: "serviceNotAvailable"}
	h.sweep(t)
	h.now = reviewT0.Add(180 * day)
	h.sweep(t)
	h.now = reviewT0.Add(188 * day)
	h.sweep(t) // warn
	h.now = reviewT0.Add(195 * day)
	if _, err := h.r.Sweep(ctx); err == nil {
		t.Fatal("a 503 was not reported by the sweep")
	}
	if got := h.round(t, "inv-g1"); got.State != store.ReviewRemoving || got.ActionError == "" {
		t.Fatalf("503: %+v", got)
	}
	h.graph.writeFail = nil
	h.now = h.now.Add(time.Hour)
	h.sweep(t)
	if got := h.round(t, "inv-g1"); got.State != store.ReviewRemoved || len(h.graph.disabled) != 2 {
		t.Fatalf("retry: %+v %v", got, h.graph.disabled)
	}
}

func countNotices(t *testing.T, db *store.DB, kind notify.Kind) int {
	t.Helper()
	ns, err := db.RecentNotices(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range ns {
		if x.Kind == string(kind) {
			n++
		}
	}
	return n
}

// Several instances on each engine (PostgreSQL under READ COMMITTED): four services sweep and act
// at once at every step; each guest is told once per event and disabled once, and a member or a
// guest an admin exempted is never touched.
func TestReviewsSeveralInstancesOnEachEngine(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newReviewFixtureOn(t, db, ReviewActionDisable, true)
		f.graph.types = map[string]string{"guest-2": "Member"} // promoted to Member in the directory since
		instances := []*Reviews{f.r, f.newReviews(ReviewActionDisable), f.newReviews(ReviewActionDisable), f.newReviews(ReviewActionDisable)}
		all := func() {
			var wg sync.WaitGroup
			for _, r := range instances {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := r.Sweep(ctx); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		for _, at := range []time.Duration{0, 180 * day, 188 * day, 194 * day, 195 * day} {
			f.now = reviewT0.Add(at)
			all()
		}
		if n, _ := db.CountGuestReviews(ctx, store.GuestReviewFilter{}); n != 2 {
			t.Fatalf("rounds = %d, want 2", n)
		}
		if len(f.graph.disabled) != 1 || f.graph.disabled[0] != "guest-1" {
			t.Fatalf("disabled %v, want guest-1 once", f.graph.disabled)
		}
		if got := f.round(t, "inv-g2"); got.State != store.ReviewReported || !strings.Contains(got.ActionWhy, "Member") {
			t.Fatalf("a Member in the directory: %+v", got)
		}
		if d, s := countNotices(t, db, notify.KindReviewDue), countNotices(t, db, notify.KindGuestActionSoon); d != 3 || s != 3 {
			t.Fatalf("notices: review.due %d, guest.action_soon %d; want 3 and 3", d, s)
		}
		for action, want := range map[string]int{ActionReviewOpen: 2, ActionReviewNoAnswer: 2, ActionReviewDisable: 1, ActionReviewReport: 1} {
			if ev, _ := db.ListAudit(ctx, store.AuditFilter{Action: action}); len(ev) != want {
				t.Fatalf("%s events: %d, want %d", action, len(ev), want)
			}
		}
		if la, _ := db.ListLifecycleActions(ctx, store.LifecycleFilter{}); len(la) != 2 {
			t.Fatalf("lifecycle log: %+v", la)
		}
		if g, err := db.LifecycleGuest(ctx, "t", "guest-1"); err != nil || g.AccountState != store.GuestDisabled {
			t.Fatalf("account state: %+v %v", g, err)
		}
		if ev := guestDisabledEvents(t, db); len(ev) != 1 || ev[0].GraphUserID != "guest-1" || ev[0].ActorOID != "" ||
			!strings.Contains(ev[0].Reason, "no reviewer answered") {
			t.Fatalf("guest.disabled: %+v, want one for guest-1, nobody's decision", ev)
		}
	})
}

// A guest an admin exempted is never scheduled for review, and a round already open for them when
// the exemption came ends reported.
func TestReviewsExemptGuest(t *testing.T) {
	ctx := context.Background()
	f := newReviewFixture(t, ReviewActionDelete, true)
	f.sweep(t)
	f.now = reviewT0.Add(180 * day)
	f.sweep(t)
	if err := f.db.SetGuestFlags(ctx, "t", "guest-1", "inv-g1", true, false, "board member", "admin", f.now); err != nil {
		t.Fatal(err)
	}
	f.now = reviewT0.Add(200 * day)
	f.sweep(t)
	f.now = reviewT0.Add(210 * day)
	f.sweep(t)
	if got := f.round(t, "inv-g1"); got.State != store.ReviewReported || !strings.Contains(got.ActionWhy, "exempt") {
		t.Fatalf("exempt: %+v", got)
	}
	if len(f.graph.deleted) != 1 || f.graph.deleted[0] != "guest-2" {
		t.Fatalf("deleted %v, want only guest-2", f.graph.deleted)
	}
	// No further round for the exempt guest.
	f.now = reviewT0.Add(600 * day)
	f.sweep(t)
	if n, _ := f.db.CountGuestReviews(ctx, store.GuestReviewFilter{InvitationIDs: []string{"inv-g1"}}); n != 1 {
		t.Fatalf("rounds of an exempt guest: %d", n)
	}
}

type fakeSignIns struct {
	calls int
	last  map[string]*time.Time
}

func (f *fakeSignIns) LastSignIns(_ context.Context, _ oauth2.TokenSource, ids []string) (map[string]*time.Time, error) {
	f.calls++
	out := map[string]*time.Time{}
	for _, id := range ids {
		if t, ok := f.last[id]; ok {
			out[id] = t
		}
	}
	return out, nil
}

// The reviewers' list shows signInActivity when it can be read, for all guests in one call, and
// says "unknown" for a guest Graph did not answer for.
func TestReviewsInboxSignIns(t *testing.T) {
	ctx := context.Background()
	f := newReviewFixture(t, ReviewActionReport, true)
	seen := reviewT0.Add(170 * day)
	si := &fakeSignIns{last: map[string]*time.Time{"guest-1": &seen}}
	f.r.cfg.SignIns = si
	f.sweep(t)
	f.now = reviewT0.Add(180 * day)
	f.sweep(t)
	items, err := f.r.Inbox(ctx, "erin")
	if err != nil || len(items) != 2 {
		t.Fatalf("inbox: %+v %v", items, err)
	}
	by := map[string]ReviewItem{}
	for _, it := range items {
		by[it.GuestOID] = it
	}
	if g := by["guest-1"]; !g.SignInKnown || g.LastSignIn == nil || !g.LastSignIn.Equal(seen) || g.AcceptedAt == nil {
		t.Fatalf("guest-1: %+v", g)
	}
	if g := by["guest-2"]; g.SignInKnown {
		t.Fatalf("guest-2 has no answer from Graph: %+v", g)
	}
	if si.calls != 1 {
		t.Fatalf("signInActivity read in %d calls, want 1", si.calls)
	}
}
