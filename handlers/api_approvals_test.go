package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/invite"
)

// apiApprovalEnv is apiEnv with approvals on.
func apiApprovalEnv(t *testing.T) (*env, *fakeApprovals) {
	t.Helper()
	en, api := apiEnv(t)
	ap := &fakeApprovals{policy: invite.ApprovalPolicy{For: []invite.ApprovalKind{invite.ApprovalForDomain}, TTL: time.Hour}}
	en.e = New(Deps{Config: en.cfg, Logger: slog.New(slog.NewTextHandler(en.logs, nil)), Sessions: en.sessions, RP: en.rp,
		Tokens: en.tokens, Invites: en.inv, Audit: en.audit, DB: en.db, Clock: func() time.Time { return en.now }, API: api, Approvals: ap})
	return en, ap
}

// decideLikeTheDomain refuses what invite.Approvals refuses: the requester deciding their own request.
func decideLikeTheDomain(approver invite.Inviter, r *invite.ApprovalRequest) error {
	if approver.ObjectID == r.Requester.ObjectID {
		return invite.ErrSelfApproval
	}
	return nil
}

func TestAPIApprovalsDecide(t *testing.T) {
	en, ap := apiApprovalEnv(t)
	en.now = time.Date(2026, 5, 2, 8, 0, 0, 0, time.UTC)
	const id = "abcdefghijklmnopqrstuvwxyz"
	var approvers []invite.Inviter
	ap.ApproveFn = func(_ context.Context, approver invite.Inviter, gotID string) (*invite.Result, *invite.ApprovalRequest, error) {
		approvers = append(approvers, approver)
		r := pendingRequest(gotID)
		if err := decideLikeTheDomain(approver, r); err != nil {
			return nil, r, err
		}
		at := en.now
		r.State, r.DecidedBy, r.DecidedAt, r.InvitationID = invite.ApprovalApproved, invite.Person{ObjectID: approver.ObjectID, UPN: approver.UPN}, &at, "invinvinvinvinvinvinvinvin"
		return &invite.Result{Invitation: &invite.Invitation{ID: r.InvitationID, Email: r.Email, UserType: "Guest"}}, r, nil
	}
	// Ann asked: she may not approve her own request (403 in Graph's envelope, as on the page).
	rec := apiDo(en, http.MethodPost, "/api/approvals/"+id+"/approve", "good", "", nil)
	var e apiError
	if rec.Code != http.StatusForbidden || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Code == "" || !strings.Contains(e.Error.Message, "someone else") {
		t.Fatalf("self-approval: %d %s", rec.Code, rec.Body)
	}
	// Bob approves: 201, the request approved by him, the invitation, its Location.
	rec = apiDo(en, http.MethodPost, "/api/approvals/"+id+"/approve", "other", "", nil)
	var body struct {
		ApprovalRequest apiApproval     `json:"approvalRequest"`
		Invitation      json.RawMessage `json:"invitation"`
	}
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
		t.Fatalf("approve: %d %s", rec.Code, rec.Body)
	}
	if a := body.ApprovalRequest; a.ID != id || a.State != "approved" || a.DecidedBy == nil || a.DecidedBy.ID != "oid-bob" ||
		a.RequestedBy.ID != "oid-ann" || len(body.Invitation) == 0 || rec.Header().Get("Location") == "" {
		t.Fatalf("approved: %s", rec.Body)
	}
	if len(approvers) != 2 || approvers[0].ObjectID != "oid-ann" || approvers[1].ObjectID != "oid-bob" || approvers[1].Application {
		t.Fatalf("approvers %+v", approvers)
	}
	// An application acting as itself may not decide: refused before the domain is asked.
	n := len(ap.Calls())
	for _, path := range []string{"/approve", "/deny"} {
		rec = apiDo(en, http.MethodPost, "/api/approvals/"+id+path, "daemon", `{"reason":"no"}`, nil)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "PORTICO_ADMIN_ROLES") {
			t.Fatalf("daemon %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	if len(ap.Calls()) != n {
		t.Fatalf("a daemon's decision reached the domain: %v", ap.Calls()[n:])
	}
	// Deny: JSON body with a reason; a missing reason is the domain's 400; other bodies are refused.
	var reasons []string
	ap.DenyFn = func(_ context.Context, approver invite.Inviter, gotID, reason string) (*invite.ApprovalRequest, error) {
		reasons = append(reasons, reason)
		r := pendingRequest(gotID)
		if strings.TrimSpace(reason) == "" {
			return r, &invite.ValidationError{Fields: invite.FieldErrors{invite.FieldDecisionReason: "Say why."}}
		}
		at := en.now
		r.State, r.DecisionReason, r.DecidedBy, r.DecidedAt = invite.ApprovalDenied, reason, invite.Person{ObjectID: approver.ObjectID}, &at
		return r, nil
	}
	rec = apiDo(en, http.MethodPost, "/api/approvals/"+id+"/deny", "other", `{"reason":" "}`, nil)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Say why.") {
		t.Fatalf("deny without a reason: %d %s", rec.Code, rec.Body)
	}
	rec = apiDo(en, http.MethodPost, "/api/approvals/"+id+"/deny", "other", `{"reason":"x","extra":1}`, nil)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d %s", rec.Code, rec.Body)
	}
	req := apiDo(en, http.MethodPost, "/api/approvals/"+id+"/deny", "other", "", nil)
	if req.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("no body: %d %s", req.Code, req.Body)
	}
	rec = apiDo(en, http.MethodPost, "/api/approvals/"+id+"/deny", "other", `{"reason":"Not a partner of ours."}`, nil)
	var denied apiApproval
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &denied) != nil || denied.State != "denied" || denied.DecisionReason != "Not a partner of ours." {
		t.Fatalf("deny: %d %s", rec.Code, rec.Body)
	}
	if len(reasons) != 2 {
		t.Fatalf("deny calls %q, want 2 (the refused bodies never reach the domain)", reasons)
	}
	// Closed: 409.
	ap.CancelFn = func(_ context.Context, requester invite.Inviter, gotID string) (*invite.ApprovalRequest, error) {
		if requester.ObjectID != "oid-ann" {
			return nil, invite.ErrNotApprover
		}
		return nil, invite.ErrApprovalClosed
	}
	if rec := apiDo(en, http.MethodPost, "/api/approvals/"+id+"/cancel", "good", "", nil); rec.Code != http.StatusConflict {
		t.Fatalf("cancel a closed request: %d %s", rec.Code, rec.Body)
	}
	if rec := apiDo(en, http.MethodPost, "/api/approvals/"+id+"/cancel", "other", "", nil); rec.Code != http.StatusForbidden {
		t.Fatalf("cancel someone's request: %d %s", rec.Code, rec.Body)
	}
	// No token: 401, nothing asked.
	if rec := apiDo(en, http.MethodGet, "/api/approvals", "", "", nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", rec.Code)
	}
}

func TestAPIApprovalsListAndGet(t *testing.T) {
	en, ap := apiApprovalEnv(t)
	en.now = time.Date(2026, 5, 2, 8, 0, 0, 0, time.UTC)
	own := pendingRequest("ownownownownownownownownow")
	waiting := pendingRequest("waitwaitwaitwaitwaitwaitwa")
	waiting.Requester = invite.Person{ObjectID: "oid-carl", UPN: "carl@contoso.example"}
	waiting.CreatedAt = own.CreatedAt.Add(time.Hour)
	denied := pendingRequest("deniddeniddeniddeniddenidd")
	denied.State = invite.ApprovalDenied
	ap.MineFn = func(_ context.Context, inv invite.Inviter) ([]invite.ApprovalRequest, error) {
		if inv.ObjectID == "oid-ann" {
			return []invite.ApprovalRequest{*own, *denied}, nil
		}
		return nil, nil
	}
	var filters []invite.InboxFilter
	ap.InboxFn = func(_ context.Context, inv invite.Inviter, f invite.InboxFilter) ([]invite.ApprovalRequest, error) {
		if inv.ObjectID != "oid-bob" {
			return nil, invite.ErrForbidden
		}
		filters = append(filters, f)
		return []invite.ApprovalRequest{*waiting, *own}, nil
	}
	list := func(tok, q string) []apiApproval {
		t.Helper()
		rec := apiDo(en, http.MethodGet, "/api/approvals"+q, tok, "", nil)
		var page struct {
			Value []apiApproval `json:"value"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &page) != nil {
			t.Fatalf("%s %s: %d %s", tok, q, rec.Code, rec.Body)
		}
		return page.Value
	}
	// Ann, no approver: her own pending request, which she may cancel; her denied one under decided.
	if got := list("good", ""); len(got) != 1 || got[0].ID != own.ID || !got[0].Actions.Cancel || got[0].Actions.Approve {
		t.Fatalf("ann pending: %+v", got)
	}
	if got := list("good", "?state=decided"); len(got) != 1 || got[0].ID != denied.ID || got[0].State != "denied" {
		t.Fatalf("ann decided: %+v", got)
	}
	// Bob, an approver: the inbox, newest first, once each.
	if got := list("other", ""); len(got) != 2 || got[0].ID != waiting.ID || got[1].ID != own.ID {
		t.Fatalf("bob: %+v", got)
	}
	if len(filters) != 1 || filters[0].Decided {
		t.Fatalf("inbox filters %+v", filters)
	}
	// The daemon may not decide: only its own requests, the inbox never asked.
	if got := list("daemon", ""); len(got) != 0 || len(filters) != 1 {
		t.Fatalf("daemon: %+v, inbox asked %d times", got, len(filters))
	}
	if rec := apiDo(en, http.MethodGet, "/api/approvals?state=sideways", "good", "", nil); rec.Code != http.StatusBadRequest {
		t.Fatalf("bad state: %d", rec.Code)
	}
	// One request: as the domain decides who sees it.
	ap.GetFn = func(_ context.Context, viewer invite.Inviter, id string) (*invite.ApprovalRequest, invite.ApprovalActions, error) {
		if viewer.ObjectID != "oid-bob" || id != waiting.ID {
			return nil, invite.ApprovalActions{}, invite.ErrNotFound
		}
		return waiting, invite.ApprovalActions{Approve: invite.Action{Allowed: true}, Deny: invite.Action{Allowed: true}}, nil
	}
	rec := apiDo(en, http.MethodGet, "/api/approvals/"+waiting.ID, "other", "", nil)
	var one apiApproval
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &one) != nil || !one.Actions.Approve || !one.Actions.Deny || one.Actions.Cancel ||
		one.InvitedUserEmailAddress != "pat@northwind.example" || len(one.Reasons) != 1 {
		t.Fatalf("get: %d %s", rec.Code, rec.Body)
	}
	rec = apiDo(en, http.MethodGet, "/api/approvals/"+waiting.ID, "good", "", nil)
	var e apiError
	if rec.Code != http.StatusNotFound || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Code == "" {
		t.Fatalf("get as a stranger: %d %s", rec.Code, rec.Body)
	}
}

func TestAPIApprovalsOff(t *testing.T) {
	en, _ := apiEnv(t)
	for _, p := range []string{"/api/approvals", "/api/approvals/abcdefghijklmnopqrstuvwxyz"} {
		rec := apiDo(en, http.MethodGet, p, "good", "", nil)
		var e apiError
		if rec.Code != http.StatusNotFound || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Code == "" {
			t.Fatalf("%s without approvals: %d %s", p, rec.Code, rec.Body)
		}
	}
}
