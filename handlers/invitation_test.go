package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/auth"
	"portico/invite"
)

// created is a pending invitation Ann made, with a redemption URL held.
func created(id string) *invitation {
	return &invitation{ID: id, TenantID: testIssuerTenant, InviterOID: ann.ObjectID, InviterUPN: ann.UPN, InviterName: ann.Name,
		Email: "pat@fabrikam.example", DisplayName: "Pat", UserType: "Guest", Outcome: invite.OutcomeCreated,
		GraphRequestID: "graph-req-1", CreatedAt: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)}
}

func inviteForm(email string) url.Values {
	return url.Values{invite.FieldEmail: {email}, invite.FieldDisplayName: {"Pat"}, invite.FieldSendEmail: {"on"}, invite.FieldRedirectURL: {"http://127.0.0.1:8080/welcome"}}
}

func TestCreateInvitation(t *testing.T) {
	id := newID()
	graphErr := &invite.GraphError{Status: 400, Code: "BadRequest", RequestID: "graph-req-9", Message: "The invited address is not valid.", Err: errors.New("graph: 400")}
	throttled := &invite.GraphError{Status: 429, Code: "TooManyRequests", RequestID: "graph-req-8", Outcome: invite.OutcomeThrottled, RetryAfter: 7 * time.Second, Message: "Graph is busy.", Err: errors.New("graph: 429")}
	refused := &invite.RefusedError{Preflight: &invite.Preflight{Verdict: invite.VerdictPolicyBlocked, Message: "fabrikam.example is blocked by your organization."}}
	pending := &invite.RefusedError{Preflight: &invite.Preflight{Verdict: invite.VerdictPendingGuest, InvitationID: id, Message: "Pat was invited before and has not accepted yet."}, ResendOffered: true}
	tests := []struct {
		name    string
		who     *auth.Identity
		err     error
		status  int
		texts   []string
		headers map[string]string
	}{
		{"validation", ann, &invite.ValidationError{Fields: invite.FieldErrors{invite.FieldEmail: "Enter an email address like name@example.com."}}, http.StatusBadRequest,
			[]string{"Check the highlighted fields", "Enter an email address like name@example.com.", `value="pat@fabrikam.example"`}, nil},
		{"member denied", ann, invite.ErrMemberNotAllowed, http.StatusForbidden, []string{"Only admins can invite members"}, nil},
		{"blocked domain", ann, refused, http.StatusUnprocessableEntity, []string{"Not sent", "is blocked by your organization"}, nil},
		{"already invited", ann, pending, http.StatusConflict, []string{"Already invited", "/invitations/" + id}, nil},
		{"graph refused", ann, graphErr, http.StatusBadRequest, []string{"Microsoft Graph did not send the invitation", "The invited address is not valid.", "graph-req-9"}, nil},
		{"graph busy", ann, throttled, http.StatusTooManyRequests, []string{"Graph is busy."}, map[string]string{"Retry-After": "7"}},
		{"internal", ann, errors.New("store: disk full"), http.StatusInternalServerError, []string{"Something went wrong"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			en := newEnv(t)
			b := en.signIn(tt.who)
			en.inv.SendFn = func(_ context.Context, ts oauth2.TokenSource, inv invite.Inviter, req invite.Request, _ invite.Meta) (*invite.Result, error) {
				if tok, err := ts.Token(); err != nil || tok.AccessToken != "graph-token" {
					t.Errorf("Send got token %v, %v: want the provider's", tok, err)
				}
				if inv.ObjectID != tt.who.ObjectID || req.Email != "pat@fabrikam.example" || !req.SendEmail {
					t.Errorf("Send(%+v, %+v)", inv, req)
				}
				return nil, tt.err
			}
			en.inv.GetFn = func(_ context.Context, _ invite.Inviter, got string) (*invitation, error) { return created(got), nil }
			rec := b.post("/invitations", inviteForm("pat@fabrikam.example"))
			want(t, rec, tt.status, tt.texts...)
			for k, v := range tt.headers {
				if rec.Header().Get(k) != v {
					t.Errorf("%s = %q, want %q", k, rec.Header().Get(k), v)
				}
			}
			if strings.Contains(rec.Body.String(), "disk full") {
				t.Error("an internal error reached the page")
			}
			if en.audit.appended != 0 {
				t.Errorf("the handler appended %d audit events", en.audit.appended)
			}
		})
	}
}

func TestCreateInvitationSuccessShowsResultOnce(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	id := newID()
	rec := created(id)
	rec.SendEmail = false
	en.inv.SendFn = func(context.Context, oauth2.TokenSource, invite.Inviter, invite.Request, invite.Meta) (*invite.Result, error) {
		return &invite.Result{Invitation: rec, RedeemURL: "https://login.microsoftonline.com/redeem?rd=secret-once"}, nil
	}
	en.inv.GetFn = func(context.Context, invite.Inviter, string) (*invitation, error) { return rec, nil }
	en.inv.JoinURLFn = func(context.Context, invite.Inviter, string) (string, *joinLink, error) {
		return "http://portico.test/join/tok", &joinLink{ExpiresAt: en.now.Add(time.Hour)}, nil
	}
	res := b.post("/invitations", inviteForm("pat@fabrikam.example"))
	want(t, res, http.StatusSeeOther)
	if loc := res.Header().Get("Location"); loc != "/invitations/"+id {
		t.Fatalf("went to %q", loc)
	}
	page := b.get("/invitations/" + id)
	want(t, page, http.StatusOK, "Link created", "secret-once", "http://portico.test/join/tok")
	if page.Header().Get("Cache-Control") != "no-store" {
		t.Error("the result page may be cached")
	}
	want(t, b.get("/invitations/"+id), http.StatusOK, "Invitation for pat@fabrikam.example")
	if strings.Contains(b.get("/invitations/"+id).Body.String(), "secret-once") {
		t.Error("the redemption URL was shown twice")
	}
}

func TestCreateInvitationJSON(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	id := newID()
	en.inv.SendFn = func(_ context.Context, _ oauth2.TokenSource, _ invite.Inviter, req invite.Request, _ invite.Meta) (*invite.Result, error) {
		if req.Email == "bad" {
			return nil, &invite.ValidationError{Fields: invite.FieldErrors{invite.FieldEmail: "Enter an email address."}}
		}
		if req.Email == "busy@fabrikam.example" {
			return nil, &invite.GraphError{Status: 503, Code: "serviceNotAvailable", RequestID: "graph-req-5", Message: "Graph is unavailable.", Err: errors.New("graph: 503")}
		}
		return &invite.Result{Invitation: created(id), JoinURL: "http://portico.test/join/t"}, nil
	}
	rec := b.postJSON("/invitations", `{"invitedUserEmailAddress":"pat@fabrikam.example","inviteRedirectUrl":"https://x.example/"}`)
	want(t, rec, http.StatusCreated, `"id":"`+id+`"`, `"joinUrl":"http://portico.test/join/t"`)

	var body apiError
	rec = b.postJSON("/invitations", `{"invitedUserEmailAddress":"bad"}`)
	want(t, rec, http.StatusBadRequest)
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != "BadRequest" || body.Error.Details[invite.FieldEmail] == "" || body.Error.InnerError["request-id"] == "" {
		t.Errorf("validation envelope %s", rec.Body.String())
	}
	rec = b.postJSON("/invitations", `{"invitedUserEmailAddress":"busy@fabrikam.example"}`)
	want(t, rec, http.StatusBadGateway)
	body = apiError{}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != "serviceNotAvailable" || body.Error.InnerError["graph-request-id"] != "graph-req-5" {
		t.Errorf("graph envelope %s", rec.Body.String())
	}
	rec = b.postJSON("/invitations", `{"invitedUserEmailAddress":"a@b.example","extra":1}`)
	want(t, rec, http.StatusBadRequest, "extra")
}

// TestReauthRequired: a refresh the identity provider refuses ends the session and sends the user
// to sign in again (JSON clients get 401 in Graph's envelope).
func TestReauthRequired(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	en.inv.SendFn = func(context.Context, oauth2.TokenSource, invite.Inviter, invite.Request, invite.Meta) (*invite.Result, error) {
		return nil, &invite.GraphError{Err: auth.ErrReauthRequired}
	}
	rec := b.post("/invitations", inviteForm("pat@fabrikam.example"))
	want(t, rec, http.StatusFound)
	if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "/login?return=") {
		t.Errorf("went to %q", loc)
	}
	want(t, b.get("/"), http.StatusOK, "Your sign-in expired") // the landing page, signed out, with the flash

	j := en.signIn(ann)
	rec = j.postJSON("/invitations", `{"invitedUserEmailAddress":"pat@fabrikam.example"}`)
	want(t, rec, http.StatusUnauthorized, "InvalidAuthenticationToken")
}

// TestCancelledRequestIsNotAnError: a client that went away gets no 500 and no error in the log.
func TestCancelledRequestIsNotAnError(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	ctx, cancel := context.WithCancel(context.Background())
	en.inv.ListFn = func(context.Context, invite.Inviter, invite.ListFilter) (*invite.ListPage, error) {
		cancel()
		return nil, context.Canceled
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/invitations", nil)
	rec := b.do(req)
	if rec.Code != statusClientClosed {
		t.Errorf("status %d, want %d", rec.Code, statusClientClosed)
	}
	if strings.Contains(en.logs.String(), "level=ERROR") {
		t.Errorf("a cancelled request was logged as an error:\n%s", en.logs.String())
	}
}

func TestInvitationActions(t *testing.T) {
	id := newID()
	tests := []struct {
		name   string
		path   string
		setup  func(*fakeInvites)
		status int
		texts  []string
		flash  string
	}{
		{"reveal", "/reveal", func(f *fakeInvites) {
			f.RevealRedeemURLFn = func(context.Context, invite.Inviter, string, invite.Meta) (string, error) {
				return "https://login.microsoftonline.com/redeem?rd=revealed", nil
			}
		}, http.StatusSeeOther, nil, "rd=revealed"},
		{"reveal refused", "/reveal", func(f *fakeInvites) {
			f.RevealRedeemURLFn = func(context.Context, invite.Inviter, string, invite.Meta) (string, error) {
				return "", invite.ErrNotFound
			}
		}, http.StatusNotFound, []string{"Page not found"}, ""},
		{"reveal without URL", "/reveal", func(f *fakeInvites) {
			f.RevealRedeemURLFn = func(context.Context, invite.Inviter, string, invite.Meta) (string, error) {
				return "", invite.ErrNoRedeemURL
			}
		}, http.StatusConflict, []string{"no longer holds a usable redemption link"}, ""},
		{"new link", "/link", func(f *fakeInvites) {
			f.NewJoinLinkFn = func(context.Context, invite.Inviter, string, invite.Meta) (string, *joinLink, error) {
				return "http://portico.test/join/new", &joinLink{}, nil
			}
		}, http.StatusSeeOther, nil, "A new join link was created"},
		{"new link refused", "/link", func(f *fakeInvites) {
			f.NewJoinLinkFn = func(context.Context, invite.Inviter, string, invite.Meta) (string, *joinLink, error) {
				return "", nil, invite.ErrNotFound
			}
		}, http.StatusNotFound, nil, ""},
		{"revoke", "/link/revoke", func(f *fakeInvites) {
			f.RevokeJoinLinkFn = func(context.Context, invite.Inviter, string, invite.Meta) error { return nil }
		}, http.StatusSeeOther, nil, "The join link was revoked."},
		{"revoke refused", "/link/revoke", func(f *fakeInvites) {
			f.RevokeJoinLinkFn = func(context.Context, invite.Inviter, string, invite.Meta) error { return invite.ErrNotFound }
		}, http.StatusNotFound, nil, ""},
		{"resend", "/resend", func(f *fakeInvites) {
			f.ResendFn = func(context.Context, oauth2.TokenSource, invite.Inviter, string, invite.Meta) (*invite.Result, error) {
				return &invite.Result{Invitation: created(id)}, nil
			}
		}, http.StatusSeeOther, nil, ""},
		{"resend accepted", "/resend", func(f *fakeInvites) {
			f.ResendFn = func(context.Context, oauth2.TokenSource, invite.Inviter, string, invite.Meta) (*invite.Result, error) {
				return nil, invite.ErrNotPending
			}
		}, http.StatusConflict, []string{"Only pending invitations can be sent again."}, ""},
		{"resend graph failure", "/resend", func(f *fakeInvites) {
			f.ResendFn = func(context.Context, oauth2.TokenSource, invite.Inviter, string, invite.Meta) (*invite.Result, error) {
				return nil, &invite.GraphError{Status: 500, RequestID: "graph-req-7", Message: "Graph failed.", Err: errors.New("graph: 500")}
			}
		}, http.StatusBadGateway, []string{"Graph failed.", "graph-req-7"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			en := newEnv(t)
			b := en.signIn(ann)
			tt.setup(en.inv)
			en.inv.GetFn = func(_ context.Context, _ invite.Inviter, got string) (*invitation, error) {
				if got != id {
					t.Errorf("Get(%q)", got)
				}
				return created(id), nil
			}
			rec := b.post("/invitations/"+id+tt.path, nil)
			want(t, rec, tt.status, tt.texts...)
			if tt.status == http.StatusSeeOther {
				if loc := rec.Header().Get("Location"); loc != "/invitations/"+id {
					t.Errorf("went to %q", loc)
				}
				if tt.flash != "" {
					want(t, b.get("/invitations/"+id), http.StatusOK, tt.flash)
				}
			}
			// Refusals without the session's token are CSRF failures, before the domain.
			before := len(en.inv.Calls())
			want(t, b.post("/invitations/"+id+tt.path, url.Values{"_csrf": {"forged"}}), http.StatusForbidden)
			if len(en.inv.Calls()) != before {
				t.Error("a forged form reached the domain")
			}
		})
	}
}

func TestShowInvitation(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	id := newID()
	checked := en.now.Add(-time.Hour)
	en.inv.GetFn = func(_ context.Context, _ invite.Inviter, got string) (*invitation, error) {
		if got != id {
			return nil, invite.ErrNotFound
		}
		r := created(id)
		r.StateCheckedAt = &checked
		return r, nil
	}
	en.inv.RefreshStatesFn = func(_ context.Context, _ oauth2.TokenSource, invs []invitation, maxAge time.Duration) []invitation {
		if maxAge != 3*time.Minute {
			t.Errorf("maxAge %v", maxAge)
		}
		out := append([]invitation(nil), invs...)
		out[0].ExternalUserState = "Accepted"
		return out
	}
	en.inv.HistoryFn = func(context.Context, invite.Inviter, string) ([]invite.HistoryEntry, error) {
		return []invite.HistoryEntry{
			{Kind: invite.HistorySent, Time: checked, Text: "Sent by Ann."},
			{Kind: invite.HistoryResent, Time: en.now, Text: "Sent again by Ann; the previous join link was replaced.", RequestID: "req-2"},
		}, nil
	}
	rec := b.get("/invitations/" + id)
	want(t, rec, http.StatusOK, "pat@fabrikam.example", "Accepted", "Sent by Ann.", "Sent again by Ann; the previous join link was replaced.", "req-2")
	want(t, b.get("/invitations/"+newID()), http.StatusNotFound, "Page not found")
	if len(en.tokens.asked) == 0 {
		t.Error("the state refresh did not ask the token provider")
	}
}

func TestListInvitations(t *testing.T) {
	en := newEnv(t)
	emp, adm := en.signIn(ann), en.signIn(admin)
	states := []invitation{*created(newID()), *created(newID())}
	states[1].ExternalUserState = "Accepted"
	failed := created(newID())
	failed.Outcome = invite.OutcomeDenied
	states = append(states, *failed)
	en.inv.ListFn = func(_ context.Context, inv invite.Inviter, f invite.ListFilter) (*invite.ListPage, error) {
		if f.Everyone && !inv.SeesAll() {
			return nil, invite.ErrForbidden
		}
		return &invite.ListPage{Invitations: states, Total: 3}, nil
	}
	en.inv.JoinActivityFn = func(context.Context, invite.Inviter, []invitation) (map[string]*joinLink, error) {
		return map[string]*joinLink{states[0].ID: {ExpiresAt: en.now.Add(-time.Minute)}}, nil
	}
	want(t, emp.get("/invitations"), http.StatusOK, "My invitations", "Pending acceptance", "Accepted", "Refused")
	want(t, emp.get("/invitations?scope=everyone"), http.StatusForbidden, "Only admins can see everyone&#39;s invitations.")
	want(t, adm.get("/invitations?scope=everyone&state=pending"), http.StatusOK, "Everyone&#39;s invitations")
	want(t, emp.get("/invitations?state=bogus"), http.StatusBadRequest, "The filter must be all, pending or accepted.")
	rec := emp.get("/invitations?scope=everyone", "Accept", "application/json")
	want(t, rec, http.StatusForbidden, `"code":"Authorization_RequestDenied"`)
}

func TestCheckAddress(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	for email, c := range map[string]invite.Check{
		"new@fabrikam.example":     {OK: true, Message: "Ready to invite."},
		"pending@fabrikam.example": {OK: true, Resend: true, Message: "Invited before."},
		"me@contoso.example":       {Message: "Already in your organization."},
	} {
		en.inv.CheckFn = func(_ context.Context, _ oauth2.TokenSource, _ invite.Inviter, got string) invite.Check {
			if got != email {
				t.Errorf("Check(%q)", got)
			}
			return c
		}
		want(t, b.get("/invitations/check?email="+url.QueryEscape(email)), http.StatusOK, c.Message)
	}
}

func TestSignedOutVisitorsAreSentToSignIn(t *testing.T) {
	en := newEnv(t)
	p := en.anon()
	rec := p.get("/invitations?state=pending")
	want(t, rec, http.StatusFound)
	if loc := rec.Header().Get("Location"); loc != "/login?return="+url.QueryEscape("/invitations?state=pending") {
		t.Errorf("went to %q", loc)
	}
	want(t, p.get("/invitations", "Accept", "application/json"), http.StatusUnauthorized, "InvalidAuthenticationToken")
	want(t, p.get("/"), http.StatusOK)
	want(t, en.signIn(ann).get("/admin/audit"), http.StatusForbidden, "Only Portico admins")
}

// TestQuotaReached: the domain refuses (and audits) an invitation over the quota; the handler keeps
// the form, says the limit and when it resets, and sets Retry-After. It appends nothing itself.
func TestQuotaReached(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	reset := time.Date(2026, 5, 1, 9, 20, 0, 0, time.UTC)
	quota := &invite.QuotaError{Decision: invite.QuotaDecision{Limited: true, RetryAfter: 20 * time.Minute,
		Hour: invite.QuotaWindow{Length: time.Hour, Limit: 2, Used: 2, ResetAt: reset},
		Day:  invite.QuotaWindow{Length: 24 * time.Hour, Limit: 10, Used: 2, Remaining: 8, ResetAt: reset.Add(23 * time.Hour)}}}
	en.inv.SendFn = func(context.Context, oauth2.TokenSource, invite.Inviter, invite.Request, invite.Meta) (*invite.Result, error) {
		return nil, quota
	}
	en.inv.ResendFn = func(context.Context, oauth2.TokenSource, invite.Inviter, string, invite.Meta) (*invite.Result, error) {
		return nil, quota
	}
	rec := b.post("/invitations", inviteForm("pat@fabrikam.example"))
	want(t, rec, http.StatusTooManyRequests, "Invitation limit reached", "the 2 invitations Portico allows per hour", "09:20 UTC", `value="pat@fabrikam.example"`)
	if rec.Header().Get("Retry-After") != "1200" {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	want(t, b.post("/invitations/"+newID()+"/resend", nil), http.StatusTooManyRequests, "per hour")
	rec = b.postJSON("/invitations", `{"invitedUserEmailAddress":"pat@fabrikam.example"}`)
	want(t, rec, http.StatusTooManyRequests, `"code":"TooManyRequests"`)
	if rec.Header().Get("Retry-After") != "1200" {
		t.Errorf("JSON Retry-After %q", rec.Header().Get("Retry-After"))
	}
	if en.audit.appended != 0 {
		t.Errorf("the handler appended %d audit events", en.audit.appended)
	}
}

func TestQuotaText(t *testing.T) {
	at := time.Date(2026, 5, 2, 7, 5, 0, 0, time.UTC)
	for _, tt := range []struct {
		d    invite.QuotaDecision
		want string
	}{
		{invite.QuotaDecision{Day: invite.QuotaWindow{Length: 24 * time.Hour, Limit: 20, Used: 20, ResetAt: at}}, "the 20 invitations Portico allows per day. You can send the next one after 2 May 2026, 07:05 UTC."},
		{invite.QuotaDecision{Hour: invite.QuotaWindow{Length: time.Hour, Limit: 5, Used: 5, ResetAt: at}, Day: invite.QuotaWindow{Length: 24 * time.Hour, Limit: 5, Used: 5, ResetAt: at.Add(time.Hour)}}, "per day"},
		{invite.QuotaDecision{}, "as many invitations as Portico allows for now"},
	} {
		if got := quotaText(tt.d); !strings.Contains(got, tt.want) {
			t.Errorf("quotaText = %q, want it to hold %q", got, tt.want)
		}
	}
}

// TestPagesFollowTheDomainsDecisions: which actions an invitation page offers comes from
// invite's Actions, not from the handler's own reading of the record.
func TestPagesFollowTheDomainsDecisions(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	id := newID()
	en.inv.GetFn = func(context.Context, invite.Inviter, string) (*invitation, error) { return created(id), nil }
	en.inv.JoinURLFn = func(context.Context, invite.Inviter, string) (string, *joinLink, error) {
		return "http://portico.test/join/tok", &joinLink{ExpiresAt: en.now.Add(time.Hour)}, nil
	}
	for _, tt := range []struct {
		name    string
		acts    invite.Actions
		present []string
		absent  []string
	}{
		{"all allowed", invite.Actions{Resend: invite.Action{Allowed: true}, RevealRedeemURL: invite.Action{Allowed: true}, NewJoinLink: invite.Action{Allowed: true}, RevokeJoinLink: invite.Action{Allowed: true}},
			[]string{`data-testid="resend"`, `data-testid="reveal"`, `data-testid="new-link"`}, nil},
		{"accepted, no redemption URL", invite.Actions{},
			nil, []string{`data-testid="resend"`, `data-testid="reveal"`, `data-testid="new-link"`, `data-testid="revoke-link"`}},
	} {
		en.inv.ActionsFn = func(invite.Inviter, *invitation) invite.Actions { return tt.acts }
		rec := b.get("/invitations/" + id)
		want(t, rec, http.StatusOK, tt.present...)
		for _, s := range tt.absent {
			if strings.Contains(rec.Body.String(), s) {
				t.Errorf("%s: the page offers %s", tt.name, s)
			}
		}
	}
}

// A send still in flight after the bounded wait: browsers are sent (303) to the record's page,
// which says "Still sending…" and reloads itself; JSON clients get 202 with "status":"sending" and
// a null inviteRedeemUrl. The Idempotency-Key header reaches the request.
func TestCreateInvitationStillSending(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	id := newID()
	rec := created(id)
	rec.Outcome = invite.OutcomeSending
	var gotKey string
	en.inv.SendFn = func(_ context.Context, _ oauth2.TokenSource, _ invite.Inviter, req invite.Request, _ invite.Meta) (*invite.Result, error) {
		gotKey = req.IdempotencyKey
		return &invite.Result{Invitation: rec, Sending: true, IntentID: "intent-1"}, nil
	}
	en.inv.GetFn = func(context.Context, invite.Inviter, string) (*invitation, error) { return rec, nil }
	en.inv.SettleSendingFn = func(_ context.Context, _ oauth2.TokenSource, _ invite.Inviter, got string) (bool, error) {
		return got != id, nil // this record's send is still in flight
	}
	res := b.post("/invitations", inviteForm("pat@fabrikam.example"))
	want(t, res, http.StatusSeeOther)
	if loc := res.Header().Get("Location"); loc != "/invitations/"+id {
		t.Fatalf("went to %q", loc)
	}
	page := b.get("/invitations/" + id)
	want(t, page, http.StatusOK, "Still sending…", `http-equiv="refresh"`, "Sending…")

	j := en.signIn(ann)
	r := j.postJSONWith("/invitations", `{"invitedUserEmailAddress":"pat@fabrikam.example","inviteRedirectUrl":"https://x.example/"}`,
		map[string]string{"Idempotency-Key": "api-42"})
	want(t, r, http.StatusAccepted, `"id":"`+id+`"`, `"status":"sending"`, `"inviteRedeemUrl":null`, `"redemption":"sending"`)
	if gotKey != "api-42" || r.Header().Get("Location") != "/invitations/"+id {
		t.Fatalf("key %q, Location %q", gotKey, r.Header().Get("Location"))
	}

	// Settled: the page stops reloading.
	rec.Outcome = invite.OutcomeCreated
	en.inv.SettleSendingFn = func(context.Context, oauth2.TokenSource, invite.Inviter, string) (bool, error) { return true, nil }
	page = b.get("/invitations/" + id)
	want(t, page, http.StatusOK, "Invitation for pat@fabrikam.example")
	if strings.Contains(page.Body.String(), `http-equiv="refresh"`) || strings.Contains(page.Body.String(), "Still sending") {
		t.Fatal("a settled record's page still reloads")
	}
}

// My invitations settles "Sending…" rows whose send was left open (a restart without a background
// reconciler) and shows what became of them; rows still in flight stay "Sending…".
func TestListSettlesSendingRows(t *testing.T) {
	en := newEnv(t)
	b := en.signIn(ann)
	left, inFlight := created(newID()), created(newID())
	left.Email, inFlight.Email = "left@fabrikam.example", "flight@fabrikam.example"
	left.Outcome, inFlight.Outcome = invite.OutcomeSending, invite.OutcomeSending
	en.inv.ListFn = func(context.Context, invite.Inviter, invite.ListFilter) (*invite.ListPage, error) {
		return &invite.ListPage{Invitations: []invitation{*left, *inFlight}, Total: 2}, nil
	}
	var asked []string
	en.inv.SettleSendingFn = func(_ context.Context, _ oauth2.TokenSource, _ invite.Inviter, id string) (bool, error) {
		asked = append(asked, id)
		return id == left.ID, nil
	}
	en.inv.GetFn = func(_ context.Context, _ invite.Inviter, id string) (*invitation, error) {
		r := created(id)
		r.Email = "left@fabrikam.example"
		return r, nil
	}
	page := b.get("/invitations")
	want(t, page, http.StatusOK, "left@fabrikam.example", "flight@fabrikam.example")
	body := page.Body.String()
	if len(asked) != 2 || strings.Count(body, "Sending…") != 1 || !strings.Contains(body, "Pending acceptance") {
		t.Fatalf("asked %v; want the settled row shown as pending and the other still sending:\n%s", asked, body)
	}
}
