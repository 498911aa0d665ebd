package invite

import (
	"context"
	"errors"
	"testing"
	"time"

	"portico/graph"
)

// TestPreflightRoundTrips checks which Graph calls a check makes: the lookups go out together
// in one Lookup, beside the organization read when its cache is cold.
func TestPreflightRoundTrips(t *testing.T) {
	local := func(id, issuer string) ([]graph.User, error) {
		if id == "local@fabrikam.example" && issuer == "contoso.onmicrosoft.com" {
			return []graph.User{{ID: "u-local", UserType: "Member"}}, nil
		}
		return nil, nil
	}
	type counts struct{ lookup, org, identityInLookup, identityAlone int }
	tests := []struct {
		name    string
		warm    bool          // a check ran before
		saved   bool          // an earlier process saved the initial domain (a restart)
		age     time.Duration // since that check
		email   string
		pol     Policy
		orgErr  error
		addrErr error
		want    Verdict
		wantErr bool
		source  string
		calls   counts
	}{
		{name: "warm: one Lookup with both queries", warm: true, email: "new@fabrikam.example", want: VerdictAllowed,
			calls: counts{lookup: 1, identityInLookup: 1}},
		{name: "warm: a local account found by identities", warm: true, email: "local@fabrikam.example", want: VerdictMember, source: SourceIdentities,
			calls: counts{lookup: 1, identityInLookup: 1}},
		{name: "stale: the organization is read beside the Lookup, with the initial domain known", warm: true, age: 2 * time.Hour, email: "local@fabrikam.example", want: VerdictMember, source: SourceIdentities,
			calls: counts{lookup: 1, org: 1, identityInLookup: 1}},
		{name: "first check: identities wait for the initial domain", email: "local@fabrikam.example", want: VerdictMember, source: SourceIdentities,
			calls: counts{lookup: 1, org: 1, identityAlone: 1}},
		{name: "first check after a restart: the saved initial domain goes in the first Lookup", saved: true, email: "local@fabrikam.example", want: VerdictMember, source: SourceIdentities,
			calls: counts{lookup: 1, org: 1, identityInLookup: 1}},
		{name: "cold, own domain: the lookup's failure does not matter", email: "someone@contoso.example", addrErr: errors.New("graph: boom"), want: VerdictOwnDomain,
			calls: counts{lookup: 1, org: 1}},
		{name: "cold, blocked domain: no lookup", email: "a@rival.example", pol: Policy{BlockedDomains: []string{"rival.example"}}, want: VerdictPolicyBlocked,
			calls: counts{org: 1}},
		{name: "cold, organization fails: fail closed", email: "new@fabrikam.example", orgErr: errors.New("graph: boom"), wantErr: true,
			calls: counts{lookup: 1, org: 1}},
		{name: "warm, address lookup fails: fail closed", warm: true, email: "new@fabrikam.example", addrErr: &graph.Error{Status: 403}, wantErr: true,
			calls: counts{lookup: 1, identityInLookup: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.pol)
			h.graph.byIdent = local
			if tt.saved {
				if err := h.store.SaveTenantInitialDomain(context.Background(), employee.TenantID, "contoso.onmicrosoft.com", h.clock.Now()); err != nil {
					t.Fatal(err)
				}
			}
			if tt.warm {
				if _, err := h.svc.Preflight(context.Background(), nil, employee, "warmup@fabrikam.example"); err != nil {
					t.Fatal(err)
				}
				h.clock.Add(tt.age)
				h.graph = resetCounts(h)
			}
			h.graph.byAddr = func(string) ([]graph.User, error) { return nil, tt.addrErr }
			if tt.orgErr != nil {
				h.graph.org = func() (*graph.Organization, error) { return nil, tt.orgErr }
			}
			p, err := h.svc.Preflight(context.Background(), nil, employee, tt.email)
			if tt.wantErr != (err != nil) {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (p.Verdict != tt.want || (tt.source != "" && p.Source != tt.source)) {
				t.Errorf("verdict %s from %q, want %s from %q", p.Verdict, p.Source, tt.want, tt.source)
			}
			got := counts{h.graph.n("lookup"), h.graph.n("org"), 0, h.graph.n("byIdentity.alone")}
			for _, l := range h.graph.lookups {
				if l.IdentityIssuer != "" {
					got.identityInLookup++
					if l.IdentityIssuer != "contoso.onmicrosoft.com" {
						t.Errorf("identities asked at %q", l.IdentityIssuer)
					}
				}
				if l.Organization {
					t.Error("the organization is read through the shared cache, not in the Lookup")
				}
			}
			if got != tt.calls {
				t.Errorf("calls %+v, want %+v", got, tt.calls)
			}
			if n := h.graph.n("byAddress") - h.graph.n("lookup"); n != 0 {
				t.Errorf("%d address lookups outside Lookup", n)
			}
		})
	}
}

// TestOrganizationReadSavesTheInitialDomain: the first organization read saves the tenant's initial
// domain, so a process started later knows it before reading the organization again.
func TestOrganizationReadSavesTheInitialDomain(t *testing.T) {
	h := newHarness(t, Policy{})
	if _, err := h.svc.Preflight(context.Background(), nil, employee, "new@fabrikam.example"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second) // the save follows the read's answer
	for {
		d, err := h.store.TenantInitialDomain(context.Background(), employee.TenantID)
		if err == nil && d == "contoso.onmicrosoft.com" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("saved initial domain %q, %v; want contoso.onmicrosoft.com", d, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// resetCounts keeps the fake's behaviour but forgets what it counted.
func resetCounts(h *harness) *fakeGraph {
	f := h.graph
	f.mu.Lock()
	f.calls, f.lookups = nil, nil
	f.mu.Unlock()
	return f
}

// TestSentInvitationNeedsNoStateRead: the POST's answer carries invitedUser.id and status, so the
// result page's state refresh asks Graph nothing.
func TestSentInvitationNeedsNoStateRead(t *testing.T) {
	h := newHarness(t, Policy{})
	res, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta)
	if err != nil {
		t.Fatal(err)
	}
	rec := res.Invitation
	if rec.GraphUserID == "" || rec.ExternalUserState != statePending || rec.StateCheckedAt == nil || !rec.StateCheckedAt.Equal(rec.CreatedAt) {
		t.Fatalf("record %+v", rec)
	}
	stored, err := h.store.GetInvitation(context.Background(), rec.ID)
	if err != nil || stored.StateCheckedAt == nil {
		t.Fatalf("stored %+v %v", stored, err)
	}
	out := h.svc.RefreshStates(context.Background(), nil, []Invitation{*stored}, 3*time.Minute)
	if h.graph.n("getUsers") != 0 || h.graph.n("getUser") != 0 {
		t.Fatalf("the result page read the new user again (%d batches)", h.graph.n("getUsers"))
	}
	if out[0].ExternalUserState != statePending {
		t.Fatalf("state %q", out[0].ExternalUserState)
	}

	// An answer without a status (not PendingAcceptance) leaves the state to be read.
	h.graph.create = func(in *graph.Invitation) (*graph.Invitation, error) {
		return &graph.Invitation{ID: "g2", InvitedUser: &graph.DirectoryObject{ID: "u2"}}, nil
	}
	res, err = h.svc.Send(context.Background(), nil, employee, Request{Email: "second@fabrikam.example"}, meta)
	if err != nil {
		t.Fatal(err)
	}
	if res.Invitation.StateCheckedAt != nil {
		t.Fatalf("state marked read without a status: %+v", res.Invitation)
	}
}
