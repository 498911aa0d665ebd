package invite

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"portico/graph"
)

func TestPreflight(t *testing.T) {
	accepted := time.Date(2026, 2, 1, 9, 30, 0, 0, time.UTC)
	pendingUser := graph.User{ID: "u-pending", UserType: "Guest", ExternalUserState: "PendingAcceptance", CreationType: "Invitation"}
	tests := []struct {
		name     string
		policy   Policy
		email    string
		byAddr   func(string) ([]graph.User, error)
		byIdent  func(string, string) ([]graph.User, error)
		seed     []Invitation
		want     Verdict
		wantRule string
		wantMsg  string
		wantID   string
	}{
		{name: "new address", email: "new@fabrikam.example", want: VerdictAllowed},
		{name: "own domain, in the directory", email: "Megan@Contoso.Example", want: VerdictOwnDomain, wantMsg: "they can sign in already",
			byAddr: func(string) ([]graph.User, error) { return []graph.User{{ID: "u-megan", UserType: "Member"}}, nil }},
		{name: "own domain, not in the directory", email: "nobody@contoso.example", want: VerdictOwnDomain,
			wantMsg: "is on your own organization's domain (contoso.example), so it needs an account in your directory, not a guest invitation"},
		{name: "own domain, lookup failed", email: "x@contoso.example", want: VerdictOwnDomain, wantMsg: "needs an account in your directory",
			byAddr: func(string) ([]graph.User, error) { return nil, errors.New("boom") }},
		{name: "own initial domain", email: "x@contoso.onmicrosoft.com", want: VerdictOwnDomain},
		{name: "allowed exact", policy: Policy{AllowedDomains: []string{"fabrikam.example"}}, email: "a@fabrikam.example", want: VerdictAllowed},
		{name: "allowed suffix", policy: Policy{AllowedDomains: []string{"*.fabrikam.example"}}, email: "a@eu.fabrikam.example", want: VerdictAllowed},
		{name: "not allowed", policy: Policy{AllowedDomains: []string{"*.fabrikam.example"}}, email: "a@fabrikam.example",
			want: VerdictPolicyBlocked, wantRule: "not in PORTICO_ALLOWED_DOMAINS", wantMsg: "PORTICO_ALLOWED_DOMAINS"},
		{name: "blocked exact", policy: Policy{BlockedDomains: []string{"gmail.example"}}, email: "a@GMAIL.example",
			want: VerdictPolicyBlocked, wantRule: "matches blocked gmail.example"},
		{name: "blocked suffix", policy: Policy{BlockedDomains: []string{"*.x.example"}}, email: "a@mail.x.example",
			want: VerdictPolicyBlocked, wantRule: "matches blocked *.x.example", wantMsg: "*.x.example"},
		{name: "pending guest", email: "pending.guest@fabrikam.example",
			byAddr: func(string) ([]graph.User, error) { return []graph.User{pendingUser}, nil },
			seed:   []Invitation{{ID: "inv-old", TenantID: "t1", Email: "pending.guest@fabrikam.example", Outcome: OutcomeCreated, CreatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}},
			want:   VerdictPendingGuest, wantID: "inv-old", wantMsg: "resend"},
		{name: "accepted guest", email: "accepted.guest@fabrikam.example",
			byAddr: func(string) ([]graph.User, error) {
				return []graph.User{{ID: "u-acc", UserType: "Guest", ExternalUserState: "Accepted", ExternalUserStateChangeDateTime: &accepted}}, nil
			},
			want: VerdictAcceptedGuest, wantMsg: "1 Feb 2026, 09:30 UTC"},
		{name: "member", email: "megan@fabrikam.example",
			byAddr: func(string) ([]graph.User, error) { return []graph.User{{ID: "u-m", UserType: "Member"}}, nil },
			want:   VerdictMember},
		{name: "member wins over pending", email: "both@fabrikam.example",
			byAddr: func(string) ([]graph.User, error) {
				return []graph.User{pendingUser, {ID: "u-m", UserType: "Member"}}, nil
			},
			want: VerdictMember},
		{name: "local sign-in name", email: "local.user@fabrikam.example",
			byIdent: func(id, issuer string) ([]graph.User, error) {
				if id == "local.user@fabrikam.example" && issuer == "contoso.onmicrosoft.com" {
					return []graph.User{{ID: "u-local", UserType: "Member"}}, nil
				}
				return nil, nil
			},
			want: VerdictMember},
		{name: "recent portico record, directory lagging", email: "fresh@fabrikam.example",
			seed: []Invitation{{ID: "inv-fresh", TenantID: "t1", Email: "fresh@fabrikam.example", Outcome: OutcomeCreated,
				GraphUserID: "u-fresh", CreatedAt: time.Date(2026, 3, 4, 9, 59, 0, 0, time.UTC)}},
			want: VerdictPendingGuest, wantID: "inv-fresh"},
		{name: "recent failed record does not count", email: "failed@fabrikam.example",
			seed: []Invitation{{ID: "inv-f", TenantID: "t1", Email: "failed@fabrikam.example", Outcome: OutcomeFailed, CreatedAt: time.Date(2026, 3, 4, 9, 59, 0, 0, time.UTC)}},
			want: VerdictAllowed},
		{name: "old record outside the window", email: "old@fabrikam.example",
			seed: []Invitation{{ID: "inv-o", TenantID: "t1", Email: "old@fabrikam.example", Outcome: OutcomeCreated, CreatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}},
			want: VerdictAllowed},
		{name: "other tenant's record", email: "x@fabrikam.example",
			seed: []Invitation{{ID: "inv-x", TenantID: "t2", Email: "x@fabrikam.example", Outcome: OutcomeCreated, CreatedAt: time.Date(2026, 3, 4, 9, 59, 0, 0, time.UTC)}},
			want: VerdictAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.policy)
			h.graph.byAddr, h.graph.byIdent = tt.byAddr, tt.byIdent
			for _, r := range tt.seed {
				_ = h.store.CreateInvitation(context.Background(), &r)
			}
			p, err := h.svc.Preflight(context.Background(), nil, employee, tt.email)
			if err != nil {
				t.Fatalf("Preflight: %v", err)
			}
			if p.Verdict != tt.want || p.Rule != tt.wantRule || !strings.Contains(p.Message, tt.wantMsg) || p.InvitationID != tt.wantID {
				t.Fatalf("got %+v; want verdict %s rule %q message containing %q invitation %q", p, tt.want, tt.wantRule, tt.wantMsg, tt.wantID)
			}
			if p.Allowed() != (tt.want == VerdictAllowed) {
				t.Fatal("Allowed() disagrees with the verdict")
			}
			if p.Verdict == VerdictOwnDomain && p.UserID == "" && strings.Contains(p.Message, "sign in already") {
				t.Fatalf("an address the directory does not hold is told it can sign in: %q", p.Message)
			}
			if tt.want == VerdictAllowed && (h.graph.n("byAddress") != 1 || h.graph.n("byIdentity") != 1) {
				t.Fatalf("calls %v; an allowed address needs both directory queries", h.graph.calls)
			}
		})
	}
}

func TestSendRefusals(t *testing.T) {
	accepted := time.Date(2026, 2, 1, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name       string
		policy     Policy
		email      string
		users      []graph.User
		resend     bool
		want       Verdict
		wantOffer  bool
		wantCreate int
	}{
		{name: "own domain", email: "megan@contoso.example", want: VerdictOwnDomain},
		{name: "blocked", policy: Policy{BlockedDomains: []string{"*.fabrikam.example"}}, email: "a@eu.fabrikam.example", want: VerdictPolicyBlocked},
		{name: "member", email: "m@fabrikam.example", users: []graph.User{{ID: "m", UserType: "Member"}}, want: VerdictMember},
		{name: "accepted", email: "a@fabrikam.example", users: []graph.User{{ID: "a", UserType: "Guest", ExternalUserState: "Accepted", ExternalUserStateChangeDateTime: &accepted}}, resend: true, want: VerdictAcceptedGuest},
		{name: "pending without resend", email: "p@fabrikam.example", users: []graph.User{{ID: "p", UserType: "Guest", ExternalUserState: "PendingAcceptance"}}, want: VerdictPendingGuest, wantOffer: true},
		{name: "pending with resend", email: "p@fabrikam.example", users: []graph.User{{ID: "p", UserType: "Guest", ExternalUserState: "PendingAcceptance"}}, resend: true, wantCreate: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.policy)
			h.graph.byAddr = func(string) ([]graph.User, error) { return tt.users, nil }
			req := validReq()
			req.Email, req.Resend = tt.email, tt.resend
			res, err := h.svc.Send(context.Background(), nil, employee, req, meta)
			if h.graph.n("create") != tt.wantCreate {
				t.Fatalf("%d POSTs; want %d", h.graph.n("create"), tt.wantCreate)
			}
			if tt.wantCreate == 1 {
				if err != nil || res.Invitation.Outcome != OutcomeCreated {
					t.Fatalf("resend: %v", err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || re.Preflight.Verdict != tt.want || re.ResendOffered != tt.wantOffer || re.Message() == "" {
				t.Fatalf("err %v; want refusal %s (offer %v)", err, tt.want, tt.wantOffer)
			}
			ev := h.store.audits()
			if len(ev) != 1 || Outcome(ev[0].Outcome) != OutcomeRejected || !strings.Contains(ev[0].Detail, string(tt.want)) {
				t.Fatalf("audit %+v", ev)
			}
			if len(h.store.invitations()) != 0 {
				t.Fatal("a refused attempt was recorded as an invitation")
			}
		})
	}
}

func TestPreflightFailsClosed(t *testing.T) {
	lookupErr := &graph.Error{Status: 400, Code: "Request_BadRequest", Message: "bad filter", RequestID: "r-lookup"}
	tests := []struct {
		name  string
		setup func(h *harness)
	}{
		{"organization", func(h *harness) { h.graph.org = func() (*graph.Organization, error) { return nil, lookupErr } }},
		{"address lookup", func(h *harness) { h.graph.byAddr = func(string) ([]graph.User, error) { return nil, lookupErr } }},
		{"identity lookup", func(h *harness) {
			h.graph.byIdent = func(string, string) ([]graph.User, error) {
				return nil, &graph.Error{Status: 403, Code: "Authorization_RequestDenied"}
			}
		}},
		{"own records", func(h *harness) { h.store.fail = map[string]error{"LatestInvitationsByEmail": errors.New("db down")} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Policy{})
			tt.setup(h)
			_, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta)
			var ge *GraphError
			if !errors.As(err, &ge) || ge.Message == "" {
				t.Fatalf("err %v; want *GraphError", err)
			}
			if h.graph.n("create") != 0 {
				t.Fatal("invitation POSTed although a lookup failed")
			}
			if ev := h.store.audits(); len(ev) != 1 || Outcome(ev[0].Outcome) != OutcomeFailed {
				t.Fatalf("audit %+v", ev)
			}
			c := h.svc.Check(context.Background(), nil, employee, "taylor@fabrikam.example")
			if c != (Check{Verdict: VerdictAllowed, OK: true, Message: allowedMessage}) {
				t.Fatalf("Check after a failed lookup = %+v; want the answer for an unknown address", c)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	h := newHarness(t, Policy{})
	unknown := h.svc.Check(context.Background(), nil, employee, "nobody@fabrikam.example")
	h.graph.byAddr = func(string) ([]graph.User, error) {
		return nil, &graph.Error{Status: 403, Code: "Authorization_RequestDenied"}
	}
	forbidden := h.svc.Check(context.Background(), nil, employee, "someone@fabrikam.example")
	if unknown != forbidden || !unknown.OK {
		t.Fatalf("unknown %+v and not-allowed-to-know %+v differ", unknown, forbidden)
	}
	if c := h.svc.Check(context.Background(), nil, employee, "a@x.com, b@y.com"); c.OK || c.Verdict != VerdictInvalid || c.Message == "" {
		t.Fatalf("invalid address check %+v", c)
	}
	h.graph.byAddr = func(string) ([]graph.User, error) {
		return []graph.User{{ID: "p", UserType: "Guest", ExternalUserState: "PendingAcceptance"}}, nil
	}
	if c := h.svc.Check(context.Background(), nil, employee, "p@fabrikam.example"); !c.OK || !c.Resend || c.Verdict != VerdictPendingGuest {
		t.Fatalf("pending check %+v", c)
	}
	if c := h.svc.Check(context.Background(), nil, employee, "x@contoso.example"); c.OK || c.Verdict != VerdictOwnDomain {
		t.Fatalf("own domain check %+v", c)
	}
}

func TestOrganizationCache(t *testing.T) {
	h := newHarness(t, Policy{})
	release := make(chan struct{})
	h.graph.org = func() (*graph.Organization, error) {
		<-release
		return &graph.Organization{VerifiedDomains: []graph.VerifiedDomain{{Name: "contoso.example"}, {Name: "contoso.onmicrosoft.com", IsInitial: true}}}, nil
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.svc.Preflight(context.Background(), nil, employee, "a@fabrikam.example"); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := h.graph.n("org"); n != 1 {
		t.Fatalf("%d organization reads for 8 concurrent checks; want 1", n)
	}
	_, _ = h.svc.Preflight(context.Background(), nil, employee, "a@fabrikam.example")
	h.clock.Add(59 * time.Minute)
	_, _ = h.svc.Preflight(context.Background(), nil, employee, "a@fabrikam.example")
	if n := h.graph.n("org"); n != 1 {
		t.Fatalf("%d organization reads within the hour; want 1", n)
	}
	h.clock.Add(2 * time.Minute)
	_, _ = h.svc.Preflight(context.Background(), nil, employee, "a@fabrikam.example")
	if n := h.graph.n("org"); n != 2 {
		t.Fatalf("%d organization reads after the hour; want 2", n)
	}
	if h.graph.idents[0] != "contoso.onmicrosoft.com" {
		t.Fatalf("identity issuer %q; want the initial domain", h.graph.idents[0])
	}

	// A failure is not cached, and a cancelled waiter does not fail the shared read.
	h2 := newHarness(t, Policy{})
	h2.graph.org = func() (*graph.Organization, error) { return nil, errors.New("graph: boom") }
	if _, err := h2.svc.Preflight(context.Background(), nil, employee, "a@fabrikam.example"); err == nil {
		t.Fatal("organization failure ignored")
	}
	h2.graph.org = nil
	if _, err := h2.svc.Preflight(context.Background(), nil, employee, "a@fabrikam.example"); err != nil {
		t.Fatalf("failure was cached: %v", err)
	}
}
