package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/invite"
)

// fakeApprovals is Approvals with a function field per method; a nil field answers
// errUnexpected (a 500), and every call is recorded by name.
type fakeApprovals struct {
	mu    sync.Mutex
	calls []string

	policy         invite.ApprovalPolicy
	NeedFn         func(ctx context.Context, inv invite.Inviter, req invite.Request) (invite.ApprovalNeed, error)
	SubmitFn       func(ctx context.Context, inv invite.Inviter, req invite.Request) (*invite.ApprovalRequest, error)
	GetFn          func(ctx context.Context, viewer invite.Inviter, id string) (*invite.ApprovalRequest, invite.ApprovalActions, error)
	MineFn         func(ctx context.Context, inv invite.Inviter) ([]invite.ApprovalRequest, error)
	InboxFn        func(ctx context.Context, approver invite.Inviter, f invite.InboxFilter) ([]invite.ApprovalRequest, error)
	PendingCountFn func(ctx context.Context, inv invite.Inviter) (int, error)
	RecheckFn      func(ctx context.Context, approver invite.Inviter, id string) (*invite.Preflight, error)
	ApproveFn      func(ctx context.Context, approver invite.Inviter, id string) (*invite.Result, *invite.ApprovalRequest, error)
	DenyFn         func(ctx context.Context, approver invite.Inviter, id, reason string) (*invite.ApprovalRequest, error)
	CancelFn       func(ctx context.Context, requester invite.Inviter, id string) (*invite.ApprovalRequest, error)
}

var _ Approvals = (*fakeApprovals)(nil)

func (f *fakeApprovals) called(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
}

func (f *fakeApprovals) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeApprovals) Policy() invite.ApprovalPolicy { return f.policy }

func (f *fakeApprovals) Need(ctx context.Context, inv invite.Inviter, req invite.Request) (invite.ApprovalNeed, error) {
	f.called("Need")
	if f.NeedFn == nil {
		return invite.ApprovalNeed{}, nil
	}
	return f.NeedFn(ctx, inv, req)
}

func (f *fakeApprovals) Submit(ctx context.Context, _ oauth2.TokenSource, inv invite.Inviter, req invite.Request, _ invite.Meta) (*invite.ApprovalRequest, error) {
	f.called("Submit")
	if f.SubmitFn == nil {
		return nil, errUnexpected
	}
	return f.SubmitFn(ctx, inv, req)
}

func (f *fakeApprovals) Get(ctx context.Context, viewer invite.Inviter, id string) (*invite.ApprovalRequest, invite.ApprovalActions, error) {
	f.called("Get")
	if f.GetFn == nil {
		return nil, invite.ApprovalActions{}, errUnexpected
	}
	return f.GetFn(ctx, viewer, id)
}

// Actions is the real decision: it reads nothing.
func (f *fakeApprovals) Actions(viewer invite.Inviter, r *invite.ApprovalRequest) invite.ApprovalActions {
	return invite.ApprovalActions{Cancel: actionIf(viewer.ObjectID == r.Requester.ObjectID && r.State == invite.ApprovalPending)}
}

func actionIf(ok bool) invite.Action { return invite.Action{Allowed: ok} }

func (f *fakeApprovals) Mine(ctx context.Context, inv invite.Inviter, _ int) ([]invite.ApprovalRequest, error) {
	f.called("Mine")
	if f.MineFn == nil {
		return nil, nil
	}
	return f.MineFn(ctx, inv)
}

func (f *fakeApprovals) Inbox(ctx context.Context, approver invite.Inviter, fl invite.InboxFilter) ([]invite.ApprovalRequest, error) {
	f.called("Inbox")
	if f.InboxFn == nil {
		return nil, errUnexpected
	}
	return f.InboxFn(ctx, approver, fl)
}

func (f *fakeApprovals) MayOpenInbox(context.Context, invite.Inviter) bool { return false }

func (f *fakeApprovals) PendingCount(ctx context.Context, inv invite.Inviter) (int, error) {
	if f.PendingCountFn == nil {
		return 0, nil
	}
	return f.PendingCountFn(ctx, inv)
}

func (f *fakeApprovals) Recheck(ctx context.Context, _ oauth2.TokenSource, approver invite.Inviter, id string) (*invite.Preflight, error) {
	f.called("Recheck")
	if f.RecheckFn == nil {
		return nil, errUnexpected
	}
	return f.RecheckFn(ctx, approver, id)
}

func (f *fakeApprovals) Approve(ctx context.Context, _ oauth2.TokenSource, approver invite.Inviter, id string, _ invite.Meta) (*invite.Result, *invite.ApprovalRequest, error) {
	f.called("Approve")
	if f.ApproveFn == nil {
		return nil, nil, errUnexpected
	}
	return f.ApproveFn(ctx, approver, id)
}

func (f *fakeApprovals) Deny(ctx context.Context, approver invite.Inviter, id, reason string, _ invite.Meta) (*invite.ApprovalRequest, error) {
	f.called("Deny")
	if f.DenyFn == nil {
		return nil, errUnexpected
	}
	return f.DenyFn(ctx, approver, id, reason)
}

func (f *fakeApprovals) Cancel(ctx context.Context, requester invite.Inviter, id string, _ invite.Meta) (*invite.ApprovalRequest, error) {
	f.called("Cancel")
	if f.CancelFn == nil {
		return nil, errUnexpected
	}
	return f.CancelFn(ctx, requester, id)
}

// newApprovalEnv is newEnv with approvals on (domain approvals).
func newApprovalEnv(t *testing.T) (*env, *fakeApprovals) {
	t.Helper()
	en := newEnv(t)
	ap := &fakeApprovals{policy: invite.ApprovalPolicy{For: []invite.ApprovalKind{invite.ApprovalForDomain}, TTL: time.Hour}}
	en.e = New(Deps{Config: en.cfg, Logger: slog.New(slog.NewTextHandler(en.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sessions: en.sessions, RP: en.rp, Tokens: en.tokens, Invites: en.inv, Audit: en.audit, DB: en.db,
		Clock: func() time.Time { return en.now }, Approvals: ap})
	return en, ap
}

func pendingRequest(id string) *invite.ApprovalRequest {
	return &invite.ApprovalRequest{ID: id, TenantID: testIssuerTenant, Email: "pat@northwind.example", State: invite.ApprovalPending,
		Requester: invite.Person{ObjectID: ann.ObjectID, UPN: ann.UPN, Name: ann.Name},
		Request:   invite.Request{Email: "pat@northwind.example", UserType: invite.UserTypeGuest, SendEmail: true, RedirectURL: "https://portico.test/welcome"},
		Reasons:   []invite.ApprovalReason{{Kind: invite.ApprovalForDomain, Text: "northwind.example is not on your organization's list of allowed domains."}},
		CreatedAt: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC), ExpiresAt: time.Date(2026, 5, 15, 8, 0, 0, 0, time.UTC)}
}

func TestInviteNeedingApprovalOffersIt(t *testing.T) {
	en, ap := newApprovalEnv(t)
	ap.NeedFn = func(_ context.Context, _ invite.Inviter, req invite.Request) (invite.ApprovalNeed, error) {
		return invite.ApprovalNeed{Needed: true, Approvers: "an administrator or an approver of your organization",
			Reasons: []invite.ApprovalReason{{Kind: invite.ApprovalForDomain, Text: "northwind.example is not on your organization's list of allowed domains."}}}, nil
	}
	id := newID()
	ap.SubmitFn = func(_ context.Context, inv invite.Inviter, req invite.Request) (*invite.ApprovalRequest, error) {
		if inv.ObjectID != ann.ObjectID || req.Email != "pat@northwind.example" {
			t.Errorf("submitted %+v for %s", req, inv.ObjectID)
		}
		return pendingRequest(id), nil
	}
	b := en.signIn(ann)
	form := url.Values{"invitedUserEmailAddress": {"pat@northwind.example"}, "sendInvitationMessage": {"on"}}
	rec := b.post("/invitations", form)
	want(t, rec, http.StatusOK, `data-testid="approval-offer"`, "needs approval", "not on your organization", `name="ask_approval" value="1"`,
		`value="pat@northwind.example"`)
	if slices.Contains(en.inv.Calls(), "Send") || slices.Contains(ap.Calls(), "Submit") {
		t.Fatalf("the offer sent or recorded something: %v %v", en.inv.Calls(), ap.Calls())
	}

	form.Set("ask_approval", "1")
	rec = b.post("/invitations", form)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/approvals/"+id {
		t.Fatalf("ask: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	if slices.Contains(en.inv.Calls(), "Send") {
		t.Fatal("asking for approval sent the invitation")
	}

	rec = b.postJSON("/invitations", `{"invitedUserEmailAddress":"pat@northwind.example"}`)
	want(t, rec, http.StatusAccepted, `"approvalRequest"`, `"state":"pending"`, id)
}

func TestApprovalDecisionsMapToStatuses(t *testing.T) {
	id := newID()
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"self-approval", invite.ErrSelfApproval, http.StatusForbidden},
		{"not an approver", invite.ErrNotApprover, http.StatusForbidden},
		{"member by a non-admin", invite.ErrMemberNotAllowed, http.StatusForbidden},
		{"already decided", invite.ErrApprovalClosed, http.StatusConflict},
		{"someone else's", invite.ErrNotFound, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			en, ap := newApprovalEnv(t)
			ap.ApproveFn = func(context.Context, invite.Inviter, string) (*invite.Result, *invite.ApprovalRequest, error) {
				return nil, pendingRequest(id), tc.err
			}
			ap.GetFn = func(context.Context, invite.Inviter, string) (*invite.ApprovalRequest, invite.ApprovalActions, error) {
				return pendingRequest(id), invite.ApprovalActions{}, nil
			}
			rec := en.signIn(ann).post("/approvals/"+id+"/approve", nil)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %.500s", rec.Code, tc.status, rec.Body.String())
			}
		})
	}
}

func TestApprovalRoutesRefuseForgeries(t *testing.T) {
	en, ap := newApprovalEnv(t)
	id := newID()
	b := en.signIn(admin)
	// No CSRF token, a foreign origin, a malformed id: refused before the domain is asked.
	want(t, b.post("/approvals/"+id+"/approve", url.Values{"_csrf": {"wrong"}}), http.StatusForbidden)
	want(t, b.post("/approvals/"+id+"/approve", nil, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	want(t, b.post("/approvals/../admin/approve", nil), http.StatusNotFound)
	want(t, b.post("/approvals/NOT-AN-ID/deny", url.Values{"reason": {"x"}}), http.StatusNotFound)
	want(t, en.anon().get("/approvals"), http.StatusFound)
	if calls := ap.Calls(); len(calls) != 0 {
		t.Fatalf("forged requests reached the domain: %v", calls)
	}
}

func TestApprovalDenyNeedsAReason(t *testing.T) {
	en, ap := newApprovalEnv(t)
	id := newID()
	ap.DenyFn = func(_ context.Context, _ invite.Inviter, _ string, reason string) (*invite.ApprovalRequest, error) {
		if strings.TrimSpace(reason) == "" {
			return pendingRequest(id), &invite.ValidationError{Fields: invite.FieldErrors{invite.FieldDecisionReason: "Say why you deny the request; the requester reads it."}}
		}
		r := pendingRequest(id)
		r.State, r.DecisionReason = invite.ApprovalDenied, reason
		return r, nil
	}
	ap.GetFn = func(context.Context, invite.Inviter, string) (*invite.ApprovalRequest, invite.ApprovalActions, error) {
		return pendingRequest(id), invite.ApprovalActions{Approve: actionIf(true), Deny: actionIf(true)}, nil
	}
	b := en.signIn(admin)
	want(t, b.post("/approvals/"+id+"/deny", url.Values{"reason": {" "}}), http.StatusBadRequest, `id="reason-error"`, "Say why", `aria-invalid="true"`)
	rec := b.post("/approvals/"+id+"/deny", url.Values{"reason": {"Not a supplier."}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/approvals/"+id {
		t.Fatalf("deny: %d %s", rec.Code, rec.Header().Get("Location"))
	}
}

func TestApprovalInboxAndHeader(t *testing.T) {
	en, ap := newApprovalEnv(t)
	id := newID()
	ap.PendingCountFn = func(context.Context, invite.Inviter) (int, error) { return 3, nil }
	ap.InboxFn = func(_ context.Context, approver invite.Inviter, f invite.InboxFilter) ([]invite.ApprovalRequest, error) {
		if !approver.CanApprove() {
			return nil, invite.ErrForbidden
		}
		if !f.Decided || !f.Mine {
			t.Errorf("filter not passed: %+v", f)
		}
		return []invite.ApprovalRequest{*pendingRequest(id)}, nil
	}
	rec := en.signIn(admin).get("/approvals?state=decided&mine=1")
	want(t, rec, http.StatusOK, `data-testid="approvals-link"`, `data-testid="approvals-count">3`, "pat@northwind.example", "/approvals/"+id, `aria-current="page">Decided`)
	want(t, en.signIn(admin).get("/approvals?state=bogus"), http.StatusBadRequest)
	// An employee: no link, and the inbox is refused.
	emp := en.signIn(ann)
	home := emp.get("/invitations/" + newID())
	if strings.Contains(home.Body.String(), `data-testid="approvals-link"`) {
		t.Error("an employee sees the Approvals link")
	}
	want(t, emp.get("/approvals"), http.StatusForbidden, "Only approvers have an approvals inbox")
}

// TestLiveCheckSaysApprovalIsNeeded: the form's address check (JavaScript) says before sending
// that the address needs approval, and who decides.
func TestLiveCheckSaysApprovalIsNeeded(t *testing.T) {
	en, ap := newApprovalEnv(t)
	en.inv.CheckFn = func(_ context.Context, _ oauth2.TokenSource, _ invite.Inviter, email string) invite.Check {
		return invite.Check{Verdict: invite.VerdictPolicyBlocked, Message: "Invitations to northwind.example are not allowed."}
	}
	ap.NeedFn = func(_ context.Context, _ invite.Inviter, req invite.Request) (invite.ApprovalNeed, error) {
		if req.Email != "pat@northwind.example" {
			return invite.ApprovalNeed{}, nil
		}
		return invite.ApprovalNeed{Needed: true, Approvers: "an administrator",
			Reasons: []invite.ApprovalReason{{Kind: invite.ApprovalForDomain, Text: "northwind.example is not on your organization's list of allowed domains."}}}, nil
	}
	rec := en.signIn(ann).get("/invitations/check?email=pat%40northwind.example")
	want(t, rec, http.StatusOK, `class="check warn"`, "Needs approval: northwind.example is not on your organization", "until an administrator approves it")
}
