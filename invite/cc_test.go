package invite

import (
	"context"
	"errors"
	"testing"
)

// The cc receives the invitation email with its redemption link, so it passes the same allowed and
// blocked domain rules as the invitee (issue 14, item 5).
func TestCCDomainPolicy(t *testing.T) {
	blocked := Policy{BlockedDomains: []string{"Blocked.example", "*.evil.example"}}
	allowList := Policy{AllowedDomains: []string{"fabrikam.example", "*.partners.example"}}
	both := Policy{AllowedDomains: []string{"*.fabrikam.example"}, BlockedDomains: []string{"bad.fabrikam.example"}}
	tests := []struct {
		name    string
		pol     Policy
		cc      string
		wantMsg string // "" = accepted
	}{
		{"no rules", Policy{}, "a@anywhere.example", ""},
		{"blocked exact", blocked, "a@blocked.example", "cc: blocked.example is blocked by your organization's policy."},
		{"blocked, any case", blocked, "A@BLOCKED.Example", "cc: blocked.example is blocked by your organization's policy."},
		{"blocked wildcard", blocked, "a@mail.evil.example", "cc: mail.evil.example is blocked by your organization's policy."},
		{"wildcard spares the apex", blocked, "a@evil.example", ""},
		{"not blocked", blocked, "a@fine.example", ""},
		{"allowed exact", allowList, "a@fabrikam.example", ""},
		{"allowed wildcard", allowList, "a@x.partners.example", ""},
		{"not allowed", allowList, "a@contoso.example", "cc: contoso.example is not on your organization's list of allowed domains."},
		{"subdomain of an exact allowed domain", allowList, "a@sub.fabrikam.example", "cc: sub.fabrikam.example is not on your organization's list of allowed domains."},
		{"blocked beats allowed", both, "a@bad.fabrikam.example", "cc: bad.fabrikam.example is blocked by your organization's policy."},
		{"allowed, not blocked", both, "a@good.fabrikam.example", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := tt.pol
			pol.DefaultRedirectURL = "https://portico.example/welcome"
			req := validReq()
			req.Email = "taylor@fabrikam.example"
			req.CC = tt.cc
			v, fe := pol.Validate(req, employee)
			if tt.wantMsg == "" {
				if fe != nil || v.CC != tt.cc {
					t.Fatalf("cc %q refused: %v", tt.cc, fe)
				}
				return
			}
			if fe[FieldCC] != tt.wantMsg || len(fe) != 1 {
				t.Fatalf("cc %q: field errors %v, want only %s: %q", tt.cc, fe, FieldCC, tt.wantMsg)
			}
			// The invitee's own rule refuses the same domain: the two rules agree.
			if pol.withDefaults().domainRule(domainOf(tt.cc)) == "" {
				t.Fatalf("cc %q refused although the invitee rule would accept the domain", tt.cc)
			}
		})
	}
}

// A cc on a blocked domain stops the invitation before any Graph call, and nothing is recorded.
func TestSendBlockedCCMakesNoCallAndNoRecord(t *testing.T) {
	for _, pol := range []Policy{
		{BlockedDomains: []string{"blocked.example"}},
		{AllowedDomains: []string{"fabrikam.example"}},
	} {
		h := newHarness(t, pol)
		req := validReq() // the invitee, taylor@fabrikam.example, is not blocked
		req.CC = "boss@blocked.example"
		_, err := h.svc.Send(context.Background(), nil, employee, req, meta)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Fields[FieldCC] == "" || len(ve.Fields) != 1 {
			t.Fatalf("%+v: err %v, want a ValidationError on %s only", pol, err, FieldCC)
		}
		if len(h.graph.calls) != 0 || len(h.graph.posted) != 0 {
			t.Fatalf("%+v: Graph called: %v", pol, h.graph.calls)
		}
		if n, l, a := len(h.store.invitations()), len(h.store.links()), len(h.store.audits()); n+l+a != 0 {
			t.Fatalf("%+v: %d invitations, %d links, %d audit events recorded", pol, n, l, a)
		}
	}
}

// A resend re-checks the cc against today's policy: a cc blocked since the first invitation stops it.
func TestResendBlockedCC(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Policy{})
	req := validReq()
	req.CC = "boss@later-blocked.example"
	res, err := h.svc.Send(ctx, nil, employee, req, meta)
	if err != nil {
		t.Fatal(err)
	}
	h.svc.policy.BlockedDomains = []string{"later-blocked.example"}
	creates := h.graph.n("create")
	_, err = h.svc.Resend(ctx, nil, employee, res.Invitation.ID, meta)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Fields[FieldCC] != "cc: later-blocked.example is blocked by your organization's policy." {
		t.Fatalf("resend with a blocked cc: %v", err)
	}
	if h.graph.n("create") != creates || len(h.store.invitations()) != 1 {
		t.Fatalf("resend reached Graph or the store")
	}
}
