package invite

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestActions(t *testing.T) {
	sealed := []byte("sealed")
	pending := &Invitation{ID: "i1", TenantID: "t1", InviterOID: employee.ObjectID, Outcome: OutcomeCreated,
		ExternalUserState: "PendingAcceptance", redeemSealed: sealed}
	accepted := &Invitation{ID: "i2", TenantID: "t1", InviterOID: employee.ObjectID, Outcome: OutcomeCreated,
		ExternalUserState: "Accepted", redeemSealed: sealed}
	noURL := &Invitation{ID: "i3", TenantID: "t1", InviterOID: employee.ObjectID, Outcome: OutcomeCreated}
	failed := &Invitation{ID: "i4", TenantID: "t1", InviterOID: employee.ObjectID, Outcome: OutcomeFailed}
	replaced := &Invitation{ID: "i5", TenantID: "t1", InviterOID: employee.ObjectID, Outcome: OutcomeCreated,
		ExternalUserState: "PendingAcceptance", redeemSealed: sealed, ReplacedBy: "i6"}
	otherTenantAdmin := Inviter{TenantID: "t2", ObjectID: "oid-x", Roles: []Role{RoleAdministrator}}

	type want struct{ resend, reveal, newLink, revoke bool }
	tests := []struct {
		name    string
		inv     Inviter
		rec     *Invitation
		want    want
		wantErr error // of every denied action
	}{
		{"owner, pending", employee, pending, want{true, true, true, true}, nil},
		{"admin, pending", admin, pending, want{true, true, true, true}, nil},
		{"owner, accepted", employee, accepted, want{false, true, true, true}, ErrNotPending},
		{"owner, no redemption URL", employee, noURL, want{true, false, false, false}, ErrNoRedeemURL},
		{"owner, failed attempt", employee, failed, want{false, false, false, false}, nil},
		{"owner, replaced by a resend of an earlier build", employee, replaced, want{false, true, false, true}, nil},
		{"colleague", other, pending, want{false, false, false, false}, ErrNotFound},
		{"admin of another tenant", otherTenantAdmin, pending, want{false, false, false, false}, ErrNotFound},
		{"no invitation", employee, nil, want{false, false, false, false}, ErrNotFound},
	}
	h := newHarness(t, Policy{})
	for _, tt := range tests {
		a := h.svc.Actions(tt.inv, tt.rec)
		got := want{a.Resend.Allowed, a.RevealRedeemURL.Allowed, a.NewJoinLink.Allowed, a.RevokeJoinLink.Allowed}
		if got != tt.want {
			t.Errorf("%s: allowed %+v, want %+v", tt.name, got, tt.want)
		}
		for name, act := range map[string]Action{"resend": a.Resend, "reveal": a.RevealRedeemURL, "new link": a.NewJoinLink, "revoke": a.RevokeJoinLink} {
			switch {
			case act.Allowed && (act.Err() != nil || act.Reason != ""):
				t.Errorf("%s: %s allowed with err %v, reason %q", tt.name, name, act.Err(), act.Reason)
			case !act.Allowed && (act.Err() == nil || act.Reason == ""):
				t.Errorf("%s: %s denied without an error or a reason: %+v", tt.name, name, act)
			case !act.Allowed && tt.wantErr != nil && !errors.Is(act.Err(), tt.wantErr):
				t.Errorf("%s: %s err %v, want %v", tt.name, name, act.Err(), tt.wantErr)
			}
		}
	}
	if r := h.svc.Actions(employee, accepted).Resend.Reason; r != reasonAccepted {
		t.Errorf("accepted: resend reason %q", r)
	}
}

// The service methods follow the same decision: a refused action makes no Graph call and no record.
func TestServiceMethodsFollowActions(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Policy{})
	accepted := &Invitation{ID: "acc", TenantID: "t1", InviterOID: employee.ObjectID, Email: "a@fabrikam.example",
		Outcome: OutcomeCreated, ExternalUserState: "Accepted"}
	if err := h.store.CreateInvitation(ctx, accepted); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Resend(ctx, nil, employee, "acc", meta); !errors.Is(err, ErrNotPending) {
		t.Errorf("Resend of an accepted invitation: %v, want ErrNotPending", err)
	}
	if _, err := h.svc.RevealRedeemURL(ctx, employee, "acc", meta); !errors.Is(err, ErrNoRedeemURL) {
		t.Errorf("Reveal without a redemption URL: %v, want ErrNoRedeemURL", err)
	}
	if _, _, err := h.svc.NewJoinLink(ctx, employee, "acc", meta); !errors.Is(err, ErrNoRedeemURL) {
		t.Errorf("NewJoinLink without a redemption URL: %v, want ErrNoRedeemURL", err)
	}
	if len(h.graph.calls) != 0 || len(h.store.invitations()) != 1 || len(h.store.links()) != 0 || len(h.store.audits()) != 0 {
		t.Errorf("refused actions left traces: graph %v, %d invitations, %d links, %d audit events",
			h.graph.calls, len(h.store.invitations()), len(h.store.links()), len(h.store.audits()))
	}
}

func TestQuota(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Policy{})
	h.svc.quota = QuotaLimits{PerHour: 2, PerDay: 3}
	start := h.clock.Now()
	send := func(inv Inviter, email string) error {
		req := validReq()
		req.Email = email
		_, err := h.svc.Send(ctx, nil, inv, req, meta)
		return err
	}

	d, err := h.svc.Quota(ctx, employee)
	if err != nil || !d.Limited || !d.Allowed || d.Hour.Remaining != 2 || d.Day.Remaining != 3 || !d.Hour.ResetAt.IsZero() {
		t.Fatalf("fresh quota %+v, %v", d, err)
	}
	if err := send(employee, "one@fabrikam.example"); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(10 * time.Minute)
	if err := send(employee, "two@fabrikam.example"); err != nil {
		t.Fatal(err)
	}
	d, _ = h.svc.Quota(ctx, employee)
	if d.Allowed || d.Hour.Used != 2 || d.Hour.Remaining != 0 || d.Day.Remaining != 1 ||
		!d.Hour.ResetAt.Equal(start.Add(time.Hour)) || d.RetryAfter != 50*time.Minute || d.Tightest() != d.Hour {
		t.Fatalf("after two: %+v", d)
	}

	creates := h.graph.n("create")
	audits := len(h.store.audits())
	err = send(employee, "three@fabrikam.example")
	var qe *QuotaError
	if !errors.As(err, &qe) || qe.Decision.RetryAfter != 50*time.Minute {
		t.Fatalf("over quota: %v", err)
	}
	if h.graph.n("create") != creates || h.graph.n("byAddress") != 2 || len(h.store.invitations()) != 2 {
		t.Fatalf("over quota reached Graph or the store: %v, %d invitations", h.graph.calls, len(h.store.invitations()))
	}
	evs := h.store.audits()
	if len(evs) != audits+1 || Outcome(evs[len(evs)-1].Outcome) != OutcomeThrottled || evs[len(evs)-1].Target != "three@fabrikam.example" {
		t.Fatalf("refusal not audited as throttled: %+v", evs[len(evs)-1])
	}
	// A throttled refusal does not count against the quota, and a colleague has a quota of their own.
	if d, _ := h.svc.Quota(ctx, other); !d.Allowed || d.Hour.Used != 0 {
		t.Fatalf("colleague's quota %+v", d)
	}

	// An hour after the first, a place frees up in the hour; the day then runs out.
	h.clock.Add(50 * time.Minute)
	if err := send(employee, "three@fabrikam.example"); err != nil {
		t.Fatalf("after an hour: %v", err)
	}
	d, _ = h.svc.Quota(ctx, employee)
	if d.Allowed || d.Day.Remaining != 0 || d.Hour.Remaining != 0 || d.Tightest() != d.Hour ||
		!d.Day.ResetAt.Equal(start.Add(24*time.Hour)) || d.RetryAfter != 23*time.Hour {
		t.Fatalf("day used up: %+v", d)
	}
	// Resends count too.
	h.clock.Add(24 * time.Hour)
	ids := h.store.invitations()
	if _, err := h.svc.Resend(ctx, nil, employee, ids[0].ID, meta); err != nil {
		t.Fatalf("resend: %v", err)
	}
	if d, _ := h.svc.Quota(ctx, employee); d.Hour.Used != 1 || d.Day.Used != 1 {
		t.Fatalf("resend not counted: %+v", d)
	}
}

func TestQuotaUnlimitedReadsNothing(t *testing.T) {
	h := newHarness(t, Policy{})
	h.store.fail = map[string]error{"QuotaUse": errors.New("must not be read")}
	d, err := h.svc.Quota(context.Background(), employee)
	if err != nil || d.Limited || !d.Allowed {
		t.Fatalf("unlimited quota %+v, %v", d, err)
	}
	if _, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta); err != nil {
		t.Fatalf("Send without a quota: %v", err)
	}
}

func TestQuotaReadFailureStopsSend(t *testing.T) {
	h := newHarness(t, Policy{})
	h.svc.quota = QuotaLimits{PerHour: 5}
	h.store.fail = map[string]error{"QuotaUse": errors.New("database gone")}
	if _, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta); err == nil {
		t.Fatal("Send went ahead without knowing the quota")
	}
	if len(h.graph.calls) != 0 {
		t.Fatalf("Graph called: %v", h.graph.calls)
	}
}
