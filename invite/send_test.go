package invite

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"portico/graph"
	"portico/store"
)

const sentinelTicket = "TICKET-SENTINEL-123"

func TestSendMemberByNonAdminDenied(t *testing.T) {
	for _, typ := range []string{"Member", "member", " MEMBER "} {
		h := newHarness(t, Policy{})
		req := validReq()
		req.UserType = typ
		req.RedirectURL = "javascript:alert(1)" // other errors do not hide the authorization decision
		_, err := h.svc.Send(context.Background(), nil, employee, req, meta)
		if !errors.Is(err, ErrMemberNotAllowed) {
			t.Fatalf("%q: err %v; want ErrMemberNotAllowed", typ, err)
		}
		if n := len(h.graph.calls); n != 0 {
			t.Fatalf("%q: %d Graph calls (%v); want 0", typ, n, h.graph.calls)
		}
		ev := h.store.audits()
		if len(ev) != 1 || Outcome(ev[0].Outcome) != OutcomeDenied || ev[0].Action != ActionInvitationCreate ||
			ev[0].ActorOID != employee.ObjectID || ev[0].Target != "taylor@fabrikam.example" || ev[0].ClientIP != meta.ClientIP {
			t.Fatalf("%q: audit %+v; want one denied event", typ, ev)
		}
		if len(h.store.invitations()) != 0 {
			t.Fatalf("%q: an invitation was recorded", typ)
		}
	}
}

func TestSendValidationErrorMakesNoCalls(t *testing.T) {
	bad := []func(r *Request){
		func(r *Request) { r.Email = "a@x.com\r\nBcc: b@y.com" },
		func(r *Request) { r.Email = "a@x.com, b@y.com" },
		func(r *Request) { r.Email = "<a@x.com>" },
		func(r *Request) { r.Email = "a%0d%0a@x.com" },
		func(r *Request) { r.Email = "a@x.com\u2028" },
		func(r *Request) { r.Email = strings.Repeat("a", 1000) + "@x.com" },
		func(r *Request) { r.CC = "a@x.com,b@y.com" },
		func(r *Request) { r.RedirectURL = "javascript:alert(1)" },
		func(r *Request) { r.RedirectURL = "http://evil.example/" },
		func(r *Request) { r.RedirectURL = "https://allowed.example@evil.com" },
		func(r *Request) { r.RedirectURL = "https://allowed.example.evil.com" },
		func(r *Request) { r.RedirectURL = "//evil.com" },
		func(r *Request) { r.RedirectURL = "https://unknown.example/" },
	}
	for i, mutate := range bad {
		h := newHarness(t, Policy{AllowedRedirectHosts: []string{"allowed.example", "portico.example"}})
		req := validReq()
		mutate(&req)
		_, err := h.svc.Send(context.Background(), nil, admin, req, meta)
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) == 0 {
			t.Fatalf("case %d: err %v; want *ValidationError", i, err)
		}
		if len(h.graph.calls) != 0 || len(h.store.invitations()) != 0 {
			t.Fatalf("case %d: Graph calls %v, invitations %d; want none", i, h.graph.calls, len(h.store.invitations()))
		}
	}
}

func TestSendHappyPaths(t *testing.T) {
	tests := []struct {
		name      string
		inviter   Inviter
		mutate    func(r *Request)
		wantType  string
		wantEmail bool
		wantInfo  *graph.MessageInfo
		redirect  string // {ref}: the record's id
		stored    string // the landing page recorded (default: Portico's welcome page)
	}{
		{
			name: "with email, defaults", inviter: employee,
			mutate:   func(r *Request) {},
			wantType: "Guest", wantEmail: true,
			wantInfo: &graph.MessageInfo{CustomizedMessageBody: "Welcome to the project."},
			// The partner lands on Portico's welcome page with the record's reference.
			redirect: "https://portico.example/welcome?i={ref}",
		},
		{
			name: "without email, cc, language, redirect", inviter: employee,
			mutate: func(r *Request) {
				r.SendEmail = false
				r.CC = "Boss@Fabrikam.example"
				r.Language = "de-de"
				r.RedirectURL = "HTTPS://Apps.Allowed.Example:443/start?x=1"
				r.UserType = "guest"
			},
			wantType: "Guest",
			wantInfo: &graph.MessageInfo{CustomizedMessageBody: "Welcome to the project.", MessageLanguage: "de-DE",
				CCRecipients: []graph.Recipient{{EmailAddress: graph.EmailAddress{Address: "Boss@Fabrikam.example"}}}},
			// Shared by join link: through Portico's welcome page, which forwards to the landing page.
			redirect: "https://portico.example/welcome?i={ref}", stored: "https://apps.allowed.example/start?x=1",
		},
		{
			name: "admin invites a member", inviter: admin,
			mutate:   func(r *Request) { r.UserType = "Member"; r.Message = "" },
			wantType: "Member", wantEmail: true,
			redirect: "https://portico.example/welcome?i={ref}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Policy{AllowedRedirectHosts: []string{"apps.allowed.example", "portico.example"}})
			req := validReq()
			tt.mutate(&req)
			res, err := h.svc.Send(context.Background(), nil, tt.inviter, req, meta)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if h.graph.n("create") != 1 {
				t.Fatalf("%d POSTs", h.graph.n("create"))
			}
			body, _ := json.Marshal(h.graph.posted[0])
			var sent map[string]any
			_ = json.Unmarshal(body, &sent)
			if sent["invitedUserType"] != tt.wantType || sent["invitedUserEmailAddress"] != "Taylor@Fabrikam.example" ||
				sent["inviteRedirectUrl"] != strings.ReplaceAll(tt.redirect, "{ref}", res.Invitation.ID) || sent["sendInvitationMessage"] != tt.wantEmail ||
				sent["invitedUserDisplayName"] != "Taylor Partner" {
				t.Fatalf("Graph body %s", body)
			}
			for _, k := range []string{"resetRedemption", "invitedUser", "invitedUserSponsors", "id", "inviteRedeemUrl"} {
				if _, ok := sent[k]; ok {
					t.Errorf("Graph body carries %s: %s", k, body)
				}
			}
			if want := cmp.Or(tt.stored, "https://portico.example/welcome"); res.Invitation.RedirectURL != want {
				t.Errorf("stored landing page %q, want %q", res.Invitation.RedirectURL, want)
			}
			gotInfo, _ := json.Marshal(h.graph.posted[0].InvitedUserMessageInfo)
			wantInfo, _ := json.Marshal(tt.wantInfo)
			if string(gotInfo) != string(wantInfo) {
				t.Fatalf("messageInfo %s; want %s", gotInfo, wantInfo)
			}

			rec := res.Invitation
			if rec.Outcome != OutcomeCreated || rec.GraphUserID != "user-taylor@fabrikam.example" || rec.GraphInvitationID != "graph-inv-1" ||
				rec.GraphRequestID != "req-create-1" || rec.Email != "taylor@fabrikam.example" || rec.UserType != tt.wantType ||
				rec.InviterOID != tt.inviter.ObjectID || rec.TenantID != "t1" || rec.ExternalUserState != "PendingAcceptance" {
				t.Fatalf("record %+v", rec)
			}
			if strings.Contains(string(rec.redeemSealed), sentinelTicket) {
				t.Fatal("redemption URL stored in plain text")
			}
			plain, err := h.keys.Open(rec.redeemSealed, []byte(rec.ID))
			if err != nil || !strings.Contains(string(plain), sentinelTicket) {
				t.Fatalf("sealed redemption URL does not open with the invitation id: %v", err)
			}
			if tt.wantEmail == (res.RedeemURL != "") {
				t.Fatalf("RedeemURL %q with sendEmail %v", res.RedeemURL, tt.wantEmail)
			}
			if len(res.JoinToken) < 43 || res.JoinURL != "https://portico.example/join/"+res.JoinToken {
				t.Fatalf("join token %q url %q", res.JoinToken, res.JoinURL)
			}

			stored := h.store.invitations()
			links := h.store.links()
			audits := h.store.audits()
			if len(stored) != 1 || len(links) != 1 || len(audits) != 1 {
				t.Fatalf("stored %d invitations, %d links, %d audit events; want 1 each", len(stored), len(links), len(audits))
			}
			if string(links[0].tokenHash) != string(tokenHash(res.JoinToken)) || strings.Contains(string(links[0].tokenSealed), res.JoinToken) {
				t.Fatal("join link does not hold the token's hash, or holds the token in plain text")
			}
			if !links[0].ExpiresAt.Equal(h.clock.Now().Add(testJoinTTL)) {
				t.Fatalf("link expires %v", links[0].ExpiresAt)
			}
			ev := audits[0]
			var d map[string]any
			if err := json.Unmarshal([]byte(ev.Detail), &d); err != nil {
				t.Fatalf("detail %q: %v", ev.Detail, err)
			}
			if ev.Action != ActionInvitationCreate || Outcome(ev.Outcome) != OutcomeCreated || ev.Target != "taylor@fabrikam.example" ||
				ev.GraphRequestID != "req-create-1" || ev.RequestID != meta.RequestID || ev.ActorUPN != tt.inviter.UPN ||
				d["effectiveType"] != tt.wantType || d["sendEmail"] != tt.wantEmail || d["graphUserId"] != "user-taylor@fabrikam.example" ||
				(d["hasCC"] == true) != (req.CC != "") || d["redirectHost"] != hostOf(cmp.Or(tt.stored, tt.redirect)) || d["invitationId"] != rec.ID {
				t.Fatalf("audit %+v detail %v", ev, d)
			}
			assertNoSecrets(t, h, res.JoinToken)
		})
	}
}

// assertNoSecrets checks that neither the redemption URL's ticket nor the join token reached the
// logs or the audit trail.
func assertNoSecrets(t *testing.T, h *harness, token string) {
	t.Helper()
	logs := h.logs.String()
	for _, secret := range []string{sentinelTicket, token} {
		if secret == "" {
			continue
		}
		if strings.Contains(logs, secret) {
			t.Errorf("log output contains a secret %q:\n%s", secret, logs)
		}
		for _, ev := range h.store.audits() {
			if strings.Contains(fmt.Sprintf("%+v", ev), secret) {
				t.Errorf("audit event contains a secret: %+v", ev)
			}
		}
	}
	if strings.Contains(logs, "redeem") && strings.Contains(logs, "ticket=") {
		t.Errorf("log output contains a redemption URL:\n%s", logs)
	}
}

func TestSendAtomicRecording(t *testing.T) {
	h := newHarness(t, Policy{})
	h.store.fail = map[string]error{"AppendAudit": errors.New("disk full")}
	_, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta)
	if err == nil {
		t.Fatal("Send succeeded although the audit event could not be written")
	}
	// Only what the intent's own transaction wrote stays: the record, still "sending", and its
	// open intent, for the reconciler to settle.
	invs, ins := h.store.invitations(), h.store.intents()
	if len(h.store.links()) != 0 || len(invs) != 1 || !invs[0].Sending() || len(ins) != 1 || ins[0].State != store.IntentOpen {
		t.Fatalf("rows written outside the failed transaction: %+v, %+v", invs, ins)
	}
	if strings.Contains(h.logs.String(), sentinelTicket) {
		t.Fatal("redemption URL logged")
	}
}

func TestSendGraphErrors(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantOutcome Outcome
		wantMsg     string
		wantStatus  int
	}{
		{"403", &graph.Error{Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges", RequestID: "r403"},
			OutcomeFailed, "Your account isn't allowed to invite guests, or the tenant's collaboration settings block this domain.", 403},
		{"400", &graph.Error{Status: 400, Code: "BadRequest", Message: "Invalid email address.", RequestID: "r400"},
			OutcomeFailed, "Microsoft Graph rejected the address: Invalid email address.", 400},
		{"429", fmt.Errorf("graph: wrapped: %w", &graph.Error{Status: 429, Code: "TooManyRequests", RequestID: "r429", RetryAfter: 7 * time.Second}),
			OutcomeThrottled, "Microsoft Graph is busy; try again in 7 seconds.", 429},
		{"401", &graph.Error{Status: 401, Code: "InvalidAuthenticationToken", RequestID: "r401"},
			OutcomeFailed, "Your Microsoft sign-in has expired. Sign in again, then try once more.", 401},
		{"503 exhausted", &graph.Error{Status: 503, Code: "ServiceUnavailable", RequestID: "r503"},
			OutcomeFailed, "Microsoft Graph could not create the invitation. Try again in a minute.", 503},
		{"network", errors.New("graph: dial tcp: connection refused"),
			OutcomeFailed, "Portico could not reach Microsoft Graph. Try again in a minute.", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Policy{})
			h.graph.create = func(*graph.Invitation) (*graph.Invitation, error) { return nil, tt.err }
			_, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta)
			var ge *GraphError
			if !errors.As(err, &ge) {
				t.Fatalf("err %v; want *GraphError", err)
			}
			if ge.Outcome != tt.wantOutcome || ge.Message != tt.wantMsg || ge.Status != tt.wantStatus || ge.Invitation == nil {
				t.Fatalf("GraphError %+v", ge)
			}
			if api := graphErrorOf(tt.err); api != nil && (ge.RequestID != api.RequestID || ge.Invitation.GraphRequestID != api.RequestID) {
				t.Fatalf("request id %q / %q", ge.RequestID, ge.Invitation.GraphRequestID)
			}
			if h.graph.n("create") != 1 {
				t.Fatalf("%d POSTs; want 1 (retries are the Graph client's business)", h.graph.n("create"))
			}
			invs, evs := h.store.invitations(), h.store.audits()
			if len(invs) != 1 || invs[0].Outcome != tt.wantOutcome || len(evs) != 1 || Outcome(evs[0].Outcome) != tt.wantOutcome || len(h.store.links()) != 0 {
				t.Fatalf("recorded %+v audit %+v", invs, evs)
			}
			if !strings.HasPrefix(err.Error(), "invite: ") {
				t.Fatalf("error %q not prefixed", err)
			}
		})
	}
}

// Microsoft's abuse protection (403 "Invitations are blocked for this directory…", whatever its
// code) is told apart from an inviter who may not invite: GraphError.Blocked, a message for the
// inviter and their administrators, its own audit note, one POST and no retry.
func TestSendInvitationsBlocked(t *testing.T) {
	for _, code := range []string{"Authorization_RequestDenied", "Forbidden"} {
		t.Run(code, func(t *testing.T) {
			h := newHarness(t, Policy{})
			blocked := &graph.Error{Status: 403, Code: code, RequestID: "r-abuse",
				Message: "Invitations are blocked for this directory due to suspicious activity. Please contact Microsoft support for help."}
			h.graph.create = func(*graph.Invitation) (*graph.Invitation, error) {
				return nil, fmt.Errorf("graph: create invitation: %w", blocked)
			}
			_, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta)
			var ge *GraphError
			if !errors.As(err, &ge) || !ge.Blocked || ge.Message != InvitationsBlockedMessage || ge.Status != 403 || ge.RequestID != "r-abuse" {
				t.Fatalf("err %#v; want a blocked GraphError", err)
			}
			if !IsInvitationsBlocked(err) || !IsInvitationsBlocked(fmt.Errorf("bulk row 3: %w", err)) || !IsInvitationsBlocked(blocked) {
				t.Fatal("IsInvitationsBlocked does not recognise the answer")
			}
			if h.graph.n("create") != 1 {
				t.Fatalf("%d POSTs; a block is never retried", h.graph.n("create"))
			}
			invs, evs, ins := h.store.invitations(), h.store.audits(), h.store.intents()
			if len(invs) != 1 || invs[0].Outcome != OutcomeFailed || invs[0].ErrorCode != "InvitationsBlocked" || !strings.Contains(invs[0].ErrorMessage, "Microsoft support") {
				t.Fatalf("record %+v", invs)
			}
			if len(evs) != 1 || evs[0].Outcome != string(OutcomeFailed) || !strings.Contains(evs[0].Detail, "abuse protection") || !strings.Contains(evs[0].Detail, code) {
				t.Fatalf("audit %+v", evs)
			}
			if len(ins) != 1 || ins[0].State != store.IntentFailed {
				t.Fatalf("intent %+v; want failed", ins)
			}
			if !strings.Contains(h.logs.String(), "abuse protection") {
				t.Fatal("the block is not logged for the operator")
			}
		})
	}
}

// IsInvitationsBlocked is true only for the abuse-protection block.
func TestIsInvitationsBlocked(t *testing.T) {
	msg := "Invitations are blocked for this directory due to suspicious activity."
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("invitations are blocked"), false}, // not Graph's answer
		{&graph.Error{Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."}, false},
		{&graph.Error{Status: 429, Message: msg}, false},
		{&graph.Error{Status: 403, Code: "Authorization_RequestDenied", Message: msg}, true},
		{&graph.Error{Status: 403, Code: "Forbidden", Message: "Your tenant is blocked due to SUSPICIOUS ACTIVITY."}, true},
		{&GraphError{Status: 403, Blocked: true, Err: errors.New("x")}, true},
		{&GraphError{Status: 403, Err: errors.New("x")}, false},
		{&QuotaError{}, false},
		{ErrBusy, false},
	} {
		if got := IsInvitationsBlocked(tt.err); got != tt.want {
			t.Errorf("IsInvitationsBlocked(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}

func TestSendUncertain(t *testing.T) {
	tests := []struct {
		name        string
		users       []graph.User
		lookupErr   error
		wantOutcome Outcome
	}{
		{"confirmed", []graph.User{{ID: "u-1", UserType: "Guest", ExternalUserState: "PendingAcceptance"}}, nil, OutcomeCreated},
		{"not found", nil, nil, OutcomeSending},
		{"lookup fails", nil, errors.New("graph: timeout"), OutcomeSending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Policy{})
			posted := false
			h.graph.create = func(*graph.Invitation) (*graph.Invitation, error) {
				posted = true
				return nil, fmt.Errorf("graph: POST /invitations: %w", graph.ErrUncertain)
			}
			h.graph.byAddr = func(string) ([]graph.User, error) {
				if !posted {
					return nil, nil // before the POST the address is unknown
				}
				return tt.users, tt.lookupErr
			}
			res, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta)
			if h.graph.n("create") != 1 || h.graph.n("byAddress") != 2 {
				t.Fatalf("calls %v; want 1 POST and 1 lookup after it (plus the preflight lookup)", h.graph.calls)
			}
			invs, evs := h.store.invitations(), h.store.audits()
			if tt.wantOutcome == OutcomeSending {
				// Not known yet: the record shows "Sending…", its intent stays open for the
				// reconciler, nothing is audited as failed and nothing is posted again.
				if err != nil || !res.Sending || res.Invitation == nil || !res.Invitation.Sending() || len(invs) != 1 || !invs[0].Sending() || len(evs) != 0 {
					t.Fatalf("res %+v err %v recorded %+v audit %+v", res, err, invs, evs)
				}
				if ins := h.store.intents(); len(ins) != 1 || ins[0].State != store.IntentOpen || ins[0].LeaseUntil.After(h.clock.Now()) {
					t.Fatalf("intent %+v: want open and handed to the reconciler", ins)
				}
				return
			}
			if len(invs) != 1 || invs[0].Outcome != tt.wantOutcome || len(evs) != 1 || Outcome(evs[0].Outcome) != tt.wantOutcome {
				t.Fatalf("recorded %+v audit %+v", invs, evs)
			}
			if tt.wantOutcome == OutcomeCreated {
				// No redemption URL is known: the join link leads to the tenant-specific sign-in
				// (just-in-time redemption), not to a second invitation.
				if err != nil || !res.ConfirmedByLookup || !res.DirectLink || res.JoinToken == "" || res.RedeemURL != "" || invs[0].GraphUserID != "u-1" {
					t.Fatalf("res %+v err %v rec %+v", res, err, invs[0])
				}
				if u, err := h.keys.Open(invs[0].redeemSealed, []byte(invs[0].ID)); err != nil || string(u) != "https://myapps.microsoft.com/?tenantid=t1" {
					t.Fatalf("join link target %q, %v", u, err)
				}
				if len(h.store.links()) != 1 || !strings.Contains(evs[0].Detail, res.JoinLink.ID) {
					t.Fatalf("links %+v audit %s", h.store.links(), evs[0].Detail)
				}
				if !strings.Contains(evs[0].Detail, "confirmed by lookup") {
					t.Fatalf("audit detail %s", evs[0].Detail)
				}
				return
			}
		})
	}
}

func TestSendRecordsEvenWhenRequestCancelled(t *testing.T) {
	h := newHarness(t, Policy{})
	ctx, cancel := context.WithCancel(context.Background())
	h.graph.create = func(in *graph.Invitation) (*graph.Invitation, error) {
		cancel() // the browser went away while Graph answered
		return &graph.Invitation{ID: "g", InvitedUser: &graph.DirectoryObject{ID: "u"}, InviteRedeemURL: "https://x/redeem?ticket=" + sentinelTicket}, nil
	}
	if _, err := h.svc.Send(ctx, nil, employee, validReq(), meta); err != nil {
		t.Fatalf("Send: %v", err)
	}
	// The caller may be answered "still sending" as soon as its request ends; the detached send
	// records Graph's answer.
	if err := h.svc.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if invs := h.store.invitations(); len(invs) != 1 || !invs[0].Created() || len(h.store.audits()) != 1 {
		t.Fatal("invitation not recorded after cancellation")
	}
}

// Every way an attempt ends writes its record, join link and audit event together or not at all.
func TestSendRecordIsAllOrNothing(t *testing.T) {
	paths := map[string]func(h *harness){
		"created": func(*harness) {},
		"graph refused": func(h *harness) {
			h.graph.create = func(*graph.Invitation) (*graph.Invitation, error) {
				return nil, &graph.Error{Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges."}
			}
		},
		"uncertain, confirmed": func(h *harness) {
			posted := false
			h.graph.create = func(*graph.Invitation) (*graph.Invitation, error) {
				posted = true
				return nil, graph.ErrUncertain
			}
			h.graph.byAddr = func(string) ([]graph.User, error) {
				if !posted {
					return nil, nil
				}
				return []graph.User{{ID: "u-1", UserType: "Guest", ExternalUserState: "PendingAcceptance"}}, nil
			}
		},
	}
	for name, setup := range paths {
		for _, failing := range []string{"CreateInvitation", "CreateJoinLink", "AppendAudit"} {
			h := newHarness(t, Policy{})
			setup(h)
			h.store.fail = map[string]error{failing: errors.New("disk full")}
			_, _ = h.svc.Send(context.Background(), nil, employee, validReq(), meta)
			inTx := name == "created" || failing != "CreateJoinLink" // only the created path writes a link
			if !inTx {
				continue
			}
			// What stays is the intent's own transaction: the record "sending" and the open
			// intent (the reconciler settles it), or nothing when that transaction failed.
			invs, l, a := h.store.invitations(), len(h.store.links()), len(h.store.audits())
			ins := h.store.intents()
			if l+a != 0 || len(invs) > 1 || len(invs) == 1 && (!invs[0].Sending() || len(ins) != 1 || ins[0].State != store.IntentOpen) {
				t.Errorf("%s, %s failing: %+v invitations, %d links, %d audit events left behind, intents %+v", name, failing, invs, l, a, ins)
			}
		}
	}
}
