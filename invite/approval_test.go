package invite

import (
	"bytes"
	"context"
	"encoding/json"
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
	"portico/notify"
	"portico/store"
	"portico/webhooks"
)

var (
	approverRole = Inviter{TenantID: "t1", ObjectID: "oid-approver", UPN: "approver@contoso.example", Name: "Ann Approver", Roles: []Role{RoleApprover}}
	manager      = Inviter{TenantID: "t1", ObjectID: "oid-manager", UPN: "manager@contoso.example", Name: "Morgan Manager"}
	guestAdmin   = Inviter{TenantID: "t1", ObjectID: "oid-guest", UPN: "g#EXT#@contoso.example", Roles: []Role{RoleAdministrator, RoleApprover}, Barred: BarGuest}
)

func TestDecideApproval(t *testing.T) {
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	base := func(mut ...func(r *ApprovalRequest)) *ApprovalRequest {
		r := &ApprovalRequest{ID: "a1", TenantID: "t1", State: ApprovalPending, Requester: personOf(employee),
			Request: Request{UserType: UserTypeGuest}, ExpiresAt: now.Add(time.Hour)}
		for _, m := range mut {
			m(r)
		}
		return r
	}
	assigned := func(r *ApprovalRequest) { r.Assigned = personOf(manager) }
	member := func(r *ApprovalRequest) { r.Request.UserType = UserTypeMember }
	tests := []struct {
		name                  string
		viewer                Inviter
		req                   *ApprovalRequest
		approve, deny, cancel error // nil: allowed
	}{
		{"admin decides", admin, base(), nil, nil, ErrNotApprover},
		{"approver decides", approverRole, base(), nil, nil, ErrNotApprover},
		{"requester cannot approve their own", employee, base(), ErrSelfApproval, ErrSelfApproval, nil},
		{"an admin's own request", admin, base(func(r *ApprovalRequest) { r.Requester = personOf(admin) }), ErrSelfApproval, ErrSelfApproval, nil},
		{"another employee sees nothing", other, base(), ErrNotFound, ErrNotFound, ErrNotFound},
		{"another tenant's admin sees nothing", Inviter{TenantID: "t2", ObjectID: "x", Roles: []Role{RoleAdministrator}}, base(), ErrNotFound, ErrNotFound, ErrNotFound},
		{"a guest admin decides nothing", guestAdmin, base(), ErrNotFound, ErrNotFound, ErrNotFound},
		{"expired", admin, base(func(r *ApprovalRequest) { r.ExpiresAt = now }), ErrApprovalClosed, ErrApprovalClosed, ErrNotApprover},
		{"expired, requester cancels", employee, base(func(r *ApprovalRequest) { r.ExpiresAt = now }), ErrSelfApproval, ErrSelfApproval, ErrApprovalClosed},
		{"denied already", admin, base(func(r *ApprovalRequest) { r.State = ApprovalDenied }), ErrApprovalClosed, ErrApprovalClosed, ErrNotApprover},
		{"being approved", admin, base(func(r *ApprovalRequest) { r.State = ApprovalApproving }), ErrApprovalClosed, ErrApprovalClosed, ErrNotApprover},
		{"approved, requester cannot cancel", employee, base(func(r *ApprovalRequest) { r.State = ApprovalApproved }), ErrSelfApproval, ErrSelfApproval, ErrApprovalClosed},
		{"member needs an administrator", approverRole, base(member), ErrMemberNotAllowed, nil, ErrNotApprover},
		{"member by an administrator", admin, base(member), nil, nil, ErrNotApprover},
		{"assigned: the manager decides", manager, base(assigned), nil, nil, ErrNotApprover},
		{"assigned: an admin decides", admin, base(assigned), nil, nil, ErrNotApprover},
		{"assigned: another approver only sees it", approverRole, base(assigned), ErrNotApprover, ErrNotApprover, ErrNotApprover},
		{"not assigned: a manager without role sees nothing", manager, base(), ErrNotFound, ErrNotFound, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := decideApproval(tc.viewer, tc.req, now)
			for _, c := range []struct {
				what string
				act  Action
				want error
			}{{"approve", a.Approve, tc.approve}, {"deny", a.Deny, tc.deny}, {"cancel", a.Cancel, tc.cancel}} {
				if c.want == nil {
					if !c.act.Allowed || c.act.Err() != nil {
						t.Errorf("%s: refused (%s), want allowed", c.what, c.act.Reason)
					}
					continue
				}
				if c.act.Allowed || !errors.Is(c.act.Err(), c.want) || c.act.Reason == "" {
					t.Errorf("%s: allowed=%t err=%v reason=%q, want %v with a reason", c.what, c.act.Allowed, c.act.Err(), c.act.Reason, c.want)
				}
			}
		})
	}
}

func TestApprovalNeed(t *testing.T) {
	guestTo := func(email string) Request { r := validReq(); r.Email = email; return r }
	memberTo := func(email string) Request { r := guestTo(email); r.UserType = "member"; return r }
	tests := []struct {
		name  string
		kinds []ApprovalKind
		quota QuotaLimits
		used  int // invitations the employee created in the last hour
		inv   Inviter
		req   Request
		want  []ApprovalKind // nil: not needed
	}{
		{"no policy: refused as before", nil, QuotaLimits{}, 0, employee, guestTo("p@northwind.example"), nil},
		{"allowed domain needs nothing", []ApprovalKind{ApprovalForDomain}, QuotaLimits{}, 0, employee, guestTo("p@fabrikam.example"), nil},
		{"domain outside the allow-list", []ApprovalKind{ApprovalForDomain}, QuotaLimits{}, 0, employee, guestTo("p@northwind.example"), []ApprovalKind{ApprovalForDomain}},
		{"blocked domain stays refused", []ApprovalKind{ApprovalForAll}, QuotaLimits{}, 0, employee, guestTo("p@blocked.example"), nil},
		{"outside the allow-list without domain approvals", []ApprovalKind{ApprovalForMember}, QuotaLimits{}, 0, employee, guestTo("p@northwind.example"), nil},
		{"member by an employee", []ApprovalKind{ApprovalForMember}, QuotaLimits{}, 0, employee, memberTo("p@fabrikam.example"), []ApprovalKind{ApprovalForMember}},
		{"member by an admin needs nothing", []ApprovalKind{ApprovalForMember}, QuotaLimits{}, 0, admin, memberTo("p@fabrikam.example"), nil},
		{"member without member approvals stays refused", []ApprovalKind{ApprovalForDomain}, QuotaLimits{}, 0, employee, memberTo("p@northwind.example"), nil},
		{"domain and member together", []ApprovalKind{ApprovalForDomain, ApprovalForMember}, QuotaLimits{}, 0, employee, memberTo("p@northwind.example"), []ApprovalKind{ApprovalForDomain, ApprovalForMember}},
		{"over quota", []ApprovalKind{ApprovalForQuota}, QuotaLimits{PerHour: 2}, 2, employee, guestTo("p@fabrikam.example"), []ApprovalKind{ApprovalForQuota}},
		{"within quota", []ApprovalKind{ApprovalForQuota}, QuotaLimits{PerHour: 2}, 1, employee, guestTo("p@fabrikam.example"), nil},
		{"all", []ApprovalKind{ApprovalForAll}, QuotaLimits{}, 0, admin, guestTo("p@fabrikam.example"), []ApprovalKind{ApprovalForAll}},
		{"all names the specific reason", []ApprovalKind{ApprovalForAll}, QuotaLimits{}, 0, employee, guestTo("p@northwind.example"), []ApprovalKind{ApprovalForDomain}},
		{"barred inviter gets no approval", []ApprovalKind{ApprovalForAll}, QuotaLimits{}, 0, Inviter{TenantID: "t1", ObjectID: "x", Barred: BarNotInviter}, guestTo("p@fabrikam.example"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Policy{AllowedDomains: []string{"fabrikam.example"}, BlockedDomains: []string{"blocked.example"}})
			h.svc.quota = tc.quota
			for i := range tc.used {
				req := validReq()
				req.Email = fmt.Sprintf("used%d@fabrikam.example", i)
				if _, err := h.svc.Send(t.Context(), nil, tc.inv, req, meta); err != nil {
					t.Fatalf("using the quota: %v", err)
				}
			}
			ap := NewApprovals(ApprovalsConfig{Service: h.svc, Store: &ApprovalStoreAdapter{}, Policy: ApprovalPolicy{For: tc.kinds}})
			n, err := ap.Need(t.Context(), tc.inv, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []ApprovalKind
			for _, r := range n.Reasons {
				got = append(got, r.Kind)
				if r.Text == "" {
					t.Errorf("reason %s without words", r.Kind)
				}
			}
			if n.Needed != (tc.want != nil) || len(got) != len(tc.want) {
				t.Fatalf("Need = %t %v, want %v", n.Needed, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("reasons %v, want %v", got, tc.want)
				}
			}
			if n.Needed && n.Approvers == "" {
				t.Error("no words on who approves")
			}
		})
	}
}

type fakeManagers struct {
	m   *Person
	err error
}

func (f fakeManagers) Manager(context.Context, oauth2.TokenSource, string) (*Person, error) {
	return f.m, f.err
}

type approvalHarness struct {
	ap    *Approvals
	svc   *Service
	graph *fakeGraph
	db    *store.DB
	clock *fakeClock
}

// notices lists the notices written for one event of request id.
func (h *approvalHarness) notices(t *testing.T, kind notify.Kind, id string) []store.Notice {
	t.Helper()
	ns, err := h.db.NoticesByEvent(t.Context(), notify.EventKey(kind, id))
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func newApprovalHarness(t *testing.T, db *store.DB, pol ApprovalPolicy, mgr Managers) *approvalHarness {
	keys, _ := keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
	h := &approvalHarness{graph: &fakeGraph{}, db: db, clock: &fakeClock{t: time.Now().UTC().Truncate(time.Second)}}
	h.svc = NewService(Config{Graph: h.graph, Store: NewStoreAdapter(db), Keys: keys, JoinTTL: testJoinTTL, Clock: h.clock.Now,
		Policy:    Policy{DefaultRedirectURL: "https://portico.example/welcome", AllowedDomains: []string{"fabrikam.example"}},
		PublicURL: "https://portico.example", Logger: slog.New(slog.DiscardHandler)})
	h.svc.SetNotices(notify.DefaultKinds, nil)
	h.ap = NewApprovals(ApprovalsConfig{Service: h.svc, Store: NewApprovalStore(db), Policy: pol, Managers: mgr})
	return h
}

func partnerReq() Request {
	r := validReq()
	r.Email = "Pat@Northwind.example"
	return r
}

func audits(t *testing.T, db *store.DB, action string) []store.AuditEvent {
	t.Helper()
	evs, err := db.ListAudit(t.Context(), store.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// approvalHooks are the outbox's events of type typ (nothing dispatches them in these tests),
// their data decoded.
func approvalHooks(t *testing.T, db *store.DB, typ string) []webhooks.ApprovalData {
	t.Helper()
	evs, err := db.DueWebhookEvents(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []webhooks.ApprovalData
	for _, e := range evs {
		if e.Type != typ {
			continue
		}
		var b webhooks.Body
		if err := json.Unmarshal(e.Payload, &b); err != nil {
			t.Fatal(err)
		}
		var d webhooks.ApprovalData
		if err := json.Unmarshal(b.Data, &d); err != nil {
			t.Fatal(err)
		}
		if want := typ + ":" + d.ApprovalID; e.ID != want || b.ID != want {
			t.Fatalf("event id %q / %q, want %q", e.ID, b.ID, want)
		}
		out = append(out, d)
	}
	return out
}

func TestApprovalApproveFlow(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		h := newApprovalHarness(t, db, ApprovalPolicy{For: []ApprovalKind{ApprovalForDomain}}, nil)

		// Without approval the domain is refused, as before.
		if _, err := h.svc.Send(ctx, nil, employee, partnerReq(), meta); err == nil {
			t.Fatal("a domain outside the allow-list was sent without approval")
		}
		r, err := h.ap.Submit(ctx, nil, employee, partnerReq(), meta)
		if err != nil {
			t.Fatalf("Submit: %v", err)
		}
		if r.State != ApprovalPending || r.Email != "pat@northwind.example" || !r.Has(ApprovalForDomain) || h.graph.n("create") != 0 {
			t.Fatalf("submitted: %+v, creates %d", r, h.graph.n("create"))
		}
		again, err := h.ap.Submit(ctx, nil, employee, partnerReq(), meta)
		if err != nil || again.ID != r.ID {
			t.Fatalf("a second submission made another request: %v %v", again, err)
		}
		if _, err := h.ap.Submit(ctx, nil, employee, validReq(), meta); !errors.Is(err, ErrApprovalNotNeeded) {
			t.Fatalf("an allowed request: %v, want ErrApprovalNotNeeded", err)
		}
		if rq := approvalHooks(t, db, webhooks.ApprovalRequested); len(rq) != 1 || rq[0].ApprovalID != r.ID ||
			rq[0].Email != "pat@northwind.example" || rq[0].RequesterOID != employee.ObjectID || rq[0].UserType != UserTypeGuest ||
			rq[0].Decision != "" || rq[0].TenantID != "t1" {
			t.Fatalf("approval.requested: %+v, want one for %s", rq, r.ID)
		}

		// The requester, as an attacker would: approve and deny their own request.
		if _, _, err := h.ap.Approve(ctx, nil, employee, r.ID, meta); !errors.Is(err, ErrSelfApproval) {
			t.Fatalf("self-approval: %v", err)
		}
		if _, err := h.ap.Deny(ctx, employee, r.ID, "no", meta); !errors.Is(err, ErrSelfApproval) {
			t.Fatalf("self-denial: %v", err)
		}
		if _, _, err := h.ap.Approve(ctx, nil, other, r.ID, meta); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another employee: %v", err)
		}
		if h.graph.n("create") != 0 {
			t.Fatal("a refused approval reached Graph")
		}
		pf, err := h.ap.Recheck(ctx, nil, admin, r.ID)
		if err != nil || pf.Verdict != VerdictAllowed {
			t.Fatalf("recheck: %+v %v", pf, err)
		}

		res, got, err := h.ap.Approve(ctx, nil, admin, r.ID, meta)
		if err != nil {
			t.Fatalf("Approve: %v", err)
		}
		if h.graph.n("create") != 1 || got.State != ApprovalApproved || got.InvitationID != res.Invitation.ID {
			t.Fatalf("approved: %+v creates %d", got, h.graph.n("create"))
		}
		if res.Invitation.InviterOID != employee.ObjectID {
			t.Fatalf("the invitation belongs to %s, want the requester", res.Invitation.InviterOID)
		}
		if sp := h.graph.posted[0].InvitedUserSponsors; len(sp) != 2 || sp[0].ID != employee.ObjectID || sp[1].ID != admin.ObjectID {
			t.Fatalf("sponsors %+v: want the requester, then the approver", sp)
		}
		stored, _, err := h.ap.Get(ctx, employee, r.ID)
		if err != nil || stored.State != ApprovalApproved || stored.DecidedBy.ObjectID != admin.ObjectID || stored.InvitationID != res.Invitation.ID {
			t.Fatalf("stored: %+v %v", stored, err)
		}
		creates, _ := db.ListAudit(ctx, store.AuditFilter{Action: ActionInvitationCreate, Outcome: string(OutcomeCreated)})
		if len(creates) != 1 || creates[0].ActorOID != admin.ObjectID || !bytes.Contains([]byte(creates[0].Detail), []byte(`"approvalId":"`+r.ID+`"`)) ||
			!bytes.Contains([]byte(creates[0].Detail), []byte(`"onBehalfOf":"employee@contoso.example"`)) {
			t.Fatalf("invitation audit: %+v", creates)
		}
		if ev, _ := db.ListAudit(ctx, store.AuditFilter{Action: ActionApprovalApprove, Outcome: string(OutcomeSuccess)}); len(ev) != 1 || ev[0].ActorOID != admin.ObjectID {
			t.Fatalf("approval audit: %+v", ev)
		}
		if ev, _ := db.ListAudit(ctx, store.AuditFilter{Action: ActionApprovalApprove, Outcome: string(OutcomeDenied)}); len(ev) != 2 {
			t.Fatalf("approval audit: %+v", ev)
		}
		hist, err := h.db.InvitationEvents(ctx, res.Invitation.ID)
		if err != nil || len(hist) != 1 || hist[0].ActorOID != admin.ObjectID {
			t.Fatalf("history names the approver: %+v %v", hist, err)
		}

		// Approve again, deny after approval: closed, nothing more sent.
		if _, _, err := h.ap.Approve(ctx, nil, admin, r.ID, meta); !errors.Is(err, ErrApprovalClosed) {
			t.Fatalf("second approval: %v", err)
		}
		if _, err := h.ap.Deny(ctx, admin, r.ID, "too late", meta); !errors.Is(err, ErrApprovalClosed) {
			t.Fatalf("deny after approval: %v", err)
		}
		if h.graph.n("create") != 1 {
			t.Fatal("a closed request was sent again")
		}
		if dc := approvalHooks(t, db, webhooks.ApprovalDecided); len(dc) != 1 || dc[0].Decision != "approved" ||
			dc[0].DeciderOID != admin.ObjectID || dc[0].InvitationID != res.Invitation.ID || dc[0].DecidedAt == nil {
			t.Fatalf("approval.decided: %+v, want one approval by the admin", dc)
		}
		if n := len(approvalHooks(t, db, webhooks.ApprovalRequested)); n != 1 {
			t.Fatalf("approval.requested written %d times", n)
		}
		// Waiting: nobody to tell without a manager or PORTICO_APPROVAL_NOTIFY. Approved: the requester, once.
		if w, a := h.notices(t, notify.KindApprovalWaiting, r.ID), h.notices(t, notify.KindApprovalApproved, r.ID); len(w) != 0 ||
			len(a) != 1 || a[0].Address != "employee@contoso.example" || a[0].Data[notify.DataApprover] != admin.Name ||
			!strings.HasSuffix(a[0].Link, "/approvals/"+r.ID) {
			t.Fatalf("notices: waiting %+v, approved %+v", w, a)
		}
	})
}

func TestApprovalDenyCancelExpire(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		h := newApprovalHarness(t, db, ApprovalPolicy{For: []ApprovalKind{ApprovalForDomain}, TTL: 48 * time.Hour}, nil)
		r, err := h.ap.Submit(ctx, nil, employee, partnerReq(), meta)
		if err != nil {
			t.Fatal(err)
		}
		var ve *ValidationError
		if _, err := h.ap.Deny(ctx, admin, r.ID, "  \n ", meta); !errors.As(err, &ve) || ve.Fields[FieldDecisionReason] == "" {
			t.Fatalf("deny without a reason: %v", err)
		}
		d, err := h.ap.Deny(ctx, approverRole, r.ID, "We don't work with Northwind.", meta)
		if err != nil || d.State != ApprovalDenied || d.DecisionReason != "We don't work with Northwind." {
			t.Fatalf("deny: %+v %v", d, err)
		}
		if _, _, err := h.ap.Approve(ctx, nil, admin, r.ID, meta); !errors.Is(err, ErrApprovalClosed) {
			t.Fatalf("approve after deny: %v", err)
		}
		if _, err := h.ap.Cancel(ctx, employee, r.ID, meta); !errors.Is(err, ErrApprovalClosed) {
			t.Fatalf("cancel after deny: %v", err)
		}

		r2req := partnerReq()
		r2req.Email = "sam@northwind.example"
		r2, err := h.ap.Submit(ctx, nil, employee, r2req, meta)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.ap.Cancel(ctx, admin, r2.ID, meta); !errors.Is(err, ErrNotApprover) {
			t.Fatalf("an admin cancels someone's request: %v", err)
		}
		if c, err := h.ap.Cancel(ctx, employee, r2.ID, meta); err != nil || c.State != ApprovalCancelled {
			t.Fatalf("cancel: %+v %v", c, err)
		}

		r3req := partnerReq()
		r3req.Email = "kim@northwind.example"
		r3, err := h.ap.Submit(ctx, nil, employee, r3req, meta)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Add(48 * time.Hour)
		if _, _, err := h.ap.Approve(ctx, nil, admin, r3.ID, meta); !errors.Is(err, ErrApprovalClosed) {
			t.Fatalf("approve after expiry, before the sweep: %v", err)
		}
		n, err := h.ap.ExpireDue(ctx)
		if err != nil || n != 1 {
			t.Fatalf("ExpireDue: %d %v", n, err)
		}
		if n, _ := h.ap.ExpireDue(ctx); n != 0 {
			t.Fatalf("second sweep changed %d", n)
		}
		got, _, _ := h.ap.Get(ctx, employee, r3.ID)
		if got.State != ApprovalExpired || got.DecidedAt == nil {
			t.Fatalf("expired: %+v", got)
		}
		if ev := audits(t, db, ActionApprovalExpire); len(ev) != 1 || ev[0].Target != "kim@northwind.example" {
			t.Fatalf("expiry audit: %+v", ev)
		}
		if h.graph.n("create") != 0 {
			t.Fatal("something was sent")
		}
		// Requested three times; decided once (the denial): a cancel and an expiry are not decisions.
		if rq := approvalHooks(t, db, webhooks.ApprovalRequested); len(rq) != 3 {
			t.Fatalf("approval.requested: %d, want 3", len(rq))
		}
		if dc := approvalHooks(t, db, webhooks.ApprovalDecided); len(dc) != 1 || dc[0].ApprovalID != r.ID || dc[0].Decision != "denied" ||
			dc[0].DeciderOID != approverRole.ObjectID || dc[0].DeciderUPN != approverRole.UPN || dc[0].InvitationID != "" {
			t.Fatalf("approval.decided: %+v, want one denial", dc)
		}
		if d := h.notices(t, notify.KindApprovalDenied, r.ID); len(d) != 1 || d[0].Data[notify.DataReason] != "We don't work with Northwind." ||
			d[0].Address != "employee@contoso.example" {
			t.Fatalf("denied notice: %+v", d)
		}
		mine, err := h.ap.Mine(ctx, employee, 10)
		if err != nil || len(mine) != 3 {
			t.Fatalf("Mine: %d %v", len(mine), err)
		}
		if _, err := h.ap.Inbox(ctx, employee, InboxFilter{}); !errors.Is(err, ErrForbidden) {
			t.Fatalf("an employee's inbox: %v", err)
		}
		if dec, err := h.ap.Inbox(ctx, admin, InboxFilter{Decided: true}); err != nil || len(dec) != 3 {
			t.Fatalf("decided inbox: %d %v", len(dec), err)
		}
		if mine, err := h.ap.Inbox(ctx, approverRole, InboxFilter{Decided: true, Mine: true}); err != nil || len(mine) != 1 {
			t.Fatalf("decided by me: %d %v", len(mine), err)
		}
	})
}

func TestApprovalConcurrentApprovers(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		h := newApprovalHarness(t, db, ApprovalPolicy{For: []ApprovalKind{ApprovalForDomain}}, nil)
		r, err := h.ap.Submit(ctx, nil, employee, partnerReq(), meta)
		if err != nil {
			t.Fatal(err)
		}
		h.graph.create = func(in *graph.Invitation) (*graph.Invitation, error) {
			time.Sleep(30 * time.Millisecond) // the winner is still sending while the others try
			out := *in
			out.ID, out.Status, out.InvitedUser = "graph-inv", "PendingAcceptance", &graph.DirectoryObject{ID: "u1"}
			return &out, nil
		}
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				a := admin
				a.ObjectID = "oid-admin-" + string(rune('a'+i))
				_, _, errs[i] = h.ap.Approve(ctx, nil, a, r.ID, meta)
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrApprovalClosed):
				t.Errorf("unexpected: %v", err)
			}
		}
		if ok != 1 || h.graph.n("create") != 1 {
			t.Fatalf("%d approvals succeeded, %d invitations sent; want 1 and 1", ok, h.graph.n("create"))
		}
		if dc := approvalHooks(t, db, webhooks.ApprovalDecided); len(dc) != 1 {
			t.Fatalf("approval.decided written %d times, want once", len(dc))
		}
		if ev := audits(t, db, ActionApprovalApprove); len(ev) != n {
			t.Fatalf("approval audit rows: %d, want %d (1 success, the rest rejected)", len(ev), n)
		}
	})
}

func TestApprovalSendFailsBackToPending(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		h := newApprovalHarness(t, db, ApprovalPolicy{For: []ApprovalKind{ApprovalForDomain}}, nil)
		r, err := h.ap.Submit(ctx, nil, employee, partnerReq(), meta)
		if err != nil {
			t.Fatal(err)
		}
		h.graph.create = func(*graph.Invitation) (*graph.Invitation, error) {
			return nil, &graph.Error{Status: 400, Code: "BadRequest", Message: "The invited user email address is invalid.", RequestID: "rq"}
		}
		_, got, err := h.ap.Approve(ctx, nil, admin, r.ID, meta)
		var ge *GraphError
		if !errors.As(err, &ge) || got.State != ApprovalPending || got.LastError == "" {
			t.Fatalf("failed send: %v %+v", err, got)
		}
		stored, _, _ := h.ap.Get(ctx, admin, r.ID)
		if stored.State != ApprovalPending || stored.ClaimedAt != nil || stored.LastError == "" {
			t.Fatalf("stored after failure: %+v", stored)
		}
		h.graph.create = nil
		h.clock.Add(time.Second) // a later claim: a new attempt with a key of its own
		if _, got, err := h.ap.Approve(ctx, nil, admin, r.ID, meta); err != nil || got.State != ApprovalApproved || got.LastError != "" {
			t.Fatalf("second try: %v %+v", err, got)
		}
	})
}

func TestApprovalInterruptedClaim(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		h := newApprovalHarness(t, db, ApprovalPolicy{For: []ApprovalKind{ApprovalForDomain}}, nil)
		claim := func(id string) time.Time {
			now := h.clock.Now()
			if ok, err := db.ChangeApprovalRequest(ctx, id, store.ApprovalChange{From: "pending", To: "approving", At: now, Claim: true, ByOID: admin.ObjectID}); !ok || err != nil {
				t.Fatalf("claim: %t %v", ok, err)
			}
			return now
		}
		sweep := func(want int) {
			t.Helper()
			if n, err := h.ap.ExpireDue(ctx); n != want || err != nil {
				t.Fatalf("sweep changed %d (%v), want %d", n, err, want)
			}
		}
		// Interrupted before its intent was written: nothing was sent, back to pending.
		r, _ := h.ap.Submit(ctx, nil, employee, partnerReq(), meta)
		claim(r.ID)
		sweep(0) // a fresh claim is left alone
		h.clock.Add(11 * time.Minute)
		sweep(1)
		got, _, _ := h.ap.Get(ctx, admin, r.ID)
		if got.State != ApprovalPending || got.LastError == "" {
			t.Fatalf("released: %+v", got)
		}
		// Interrupted after its intent opened: left alone until the intent settles, then approved
		// with the invitation the intent names.
		at := claim(r.ID)
		in := &store.SendIntent{ID: store.NewID(), TenantID: "t1", Address: r.Email, Kind: store.IntentInvite, InvitationID: "inv-x",
			ActorOID: admin.ObjectID, OwnerOID: employee.ObjectID, Request: []byte("{}"), IdempotencyKey: approvalKey(r.ID, at),
			OpenedAt: at, LeaseUntil: at.Add(time.Minute)}
		if err := db.OpenIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
		h.clock.Add(11 * time.Minute)
		sweep(0)
		if ok, err := db.SettleIntent(ctx, in.ID, store.IntentDone, string(OutcomeCreated), "", h.clock.Now()); !ok || err != nil {
			t.Fatalf("settle: %t %v", ok, err)
		}
		sweep(1)
		got, _, _ = h.ap.Get(ctx, admin, r.ID)
		if got.State != ApprovalApproved || got.InvitationID != "inv-x" {
			t.Fatalf("completed: %+v", got)
		}
		if dc := approvalHooks(t, db, webhooks.ApprovalDecided); len(dc) != 1 || dc[0].Decision != "approved" ||
			dc[0].InvitationID != "inv-x" || dc[0].DeciderOID != admin.ObjectID {
			t.Fatalf("approval.decided after the sweep: %+v", dc)
		}
	})
}

func TestApprovalManager(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		mgr := personOf(manager)
		mgr.Email = "morgan@contoso.example"
		h := newApprovalHarness(t, db, ApprovalPolicy{For: []ApprovalKind{ApprovalForDomain}, Manager: true,
			Notify: []string{"approvers@contoso.example", "not an address"}}, fakeManagers{m: &mgr})
		r, err := h.ap.Submit(ctx, nil, employee, partnerReq(), meta)
		if err != nil || r.Assigned.ObjectID != manager.ObjectID || r.Approvers() == "" {
			t.Fatalf("assigned: %+v %v", r, err)
		}
		w := h.notices(t, notify.KindApprovalWaiting, r.ID)
		if len(w) != 2 || w[0].Address == w[1].Address || w[0].Data[notify.DataRequester] != employee.Name ||
			!strings.Contains(w[0].Data[notify.DataReason], "northwind.example") {
			t.Fatalf("waiting notices to the manager and the approvers' mailbox: %+v", w)
		}
		if !h.ap.MayOpenInbox(ctx, manager) {
			t.Fatal("the manager has no inbox")
		}
		if n, _ := h.ap.PendingCount(ctx, manager); n != 1 {
			t.Fatalf("manager's pending count %d", n)
		}
		if n, _ := h.ap.PendingCount(ctx, approverRole); n != 0 {
			t.Fatalf("another approver counts the manager's request: %d", n)
		}
		if n, _ := h.ap.PendingCount(ctx, admin); n != 1 {
			t.Fatalf("admin's pending count %d", n)
		}
		if _, _, err := h.ap.Approve(ctx, nil, approverRole, r.ID, meta); !errors.Is(err, ErrNotApprover) {
			t.Fatalf("another approver: %v", err)
		}
		if _, _, err := h.ap.Approve(ctx, nil, manager, r.ID, meta); err != nil {
			t.Fatalf("manager approves: %v", err)
		}
		// No manager in the directory: the approvers decide.
		h2 := newApprovalHarness(t, db, ApprovalPolicy{For: []ApprovalKind{ApprovalForDomain}, Manager: true}, fakeManagers{err: errors.New("no manager")})
		req := partnerReq()
		req.Email = "other@northwind.example"
		r2, err := h2.ap.Submit(ctx, nil, employee, req, meta)
		if err != nil || r2.Assigned.ObjectID != "" {
			t.Fatalf("fallback: %+v %v", r2, err)
		}
		if _, _, err := h2.ap.Approve(ctx, nil, approverRole, r2.ID, meta); err != nil {
			t.Fatalf("approver decides without a manager: %v", err)
		}
	})
}

// TestApprovalDoubleSubmit: the same request submitted several times at once makes one approval request.
func TestApprovalDoubleSubmit(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		h := newApprovalHarness(t, db, ApprovalPolicy{For: []ApprovalKind{ApprovalForDomain}}, nil)
		const n = 6
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				r, err := h.ap.Submit(t.Context(), nil, employee, partnerReq(), meta)
				errs[i] = err
				if r != nil {
					ids[i] = r.ID
				}
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("submit %d: %q %v, want the one request %q", i, ids[i], errs[i], ids[0])
			}
		}
		if c, _ := db.CountApprovalRequests(t.Context(), store.ApprovalFilter{TenantID: "t1"}); c != 1 {
			t.Fatalf("%d requests recorded, want 1", c)
		}
	})
}
