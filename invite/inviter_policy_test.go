package invite

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestInviterPolicy(t *testing.T) {
	const tid = "t1"
	adminRoles := []string{"62e90394-69f5-4237-9190-012177145e10", "Portico.Admin"}
	member := Claims{TenantID: tid, ObjectID: "o1", UPN: "erin@contoso.example"}
	with := func(f func(c *Claims)) Claims { c := member; f(&c); return c }
	tests := []struct {
		name       string
		pol        InviterPolicy
		claims     Claims
		wantBar    Bar
		wantMember bool
	}{
		{"everyone may invite by default", InviterPolicy{AdminRoles: adminRoles}, member, "", false},
		{"a guest in delegated mode is Graph's business", InviterPolicy{AdminRoles: adminRoles}, with(func(c *Claims) { c.Acct = "1" }), "", false},
		{"guest by acct", InviterPolicy{AdminRoles: adminRoles, RefuseGuests: true}, with(func(c *Claims) { c.Acct = "1" }), BarGuest, false},
		{"guest by #EXT# name", InviterPolicy{AdminRoles: adminRoles, RefuseGuests: true}, with(func(c *Claims) { c.UPN = "pat_fabrikam.example#EXT#@contoso.onmicrosoft.com" }), BarGuest, false},
		{"guest by another tenant's idp", InviterPolicy{AdminRoles: adminRoles, RefuseGuests: true}, with(func(c *Claims) { c.IDP = "https://sts.windows.net/other-tenant/" }), BarGuest, false},
		{"guest by Microsoft account idp", InviterPolicy{AdminRoles: adminRoles, RefuseGuests: true}, with(func(c *Claims) { c.IDP = "live.com" }), BarGuest, false},
		{"own tenant's idp is a member", InviterPolicy{AdminRoles: adminRoles, RefuseGuests: true}, with(func(c *Claims) { c.IDP = "https://sts.windows.net/t1/"; c.Acct = "0" }), "", false},
		{"an admin guest is still a guest", InviterPolicy{AdminRoles: adminRoles, RefuseGuests: true}, with(func(c *Claims) { c.Acct = "1"; c.Wids = adminRoles[:1] }), BarGuest, false},
		{"not in the inviters", InviterPolicy{AdminRoles: adminRoles, Inviters: []string{"Portico.Invite", "grp-1"}}, member, BarNotInviter, false},
		{"inviter by app role", InviterPolicy{AdminRoles: adminRoles, Inviters: []string{"Portico.Invite"}}, with(func(c *Claims) { c.AppRoles = []string{"Portico.Invite"} }), "", false},
		{"inviter by group", InviterPolicy{AdminRoles: adminRoles, Inviters: []string{"grp-1"}}, with(func(c *Claims) { c.Groups = []string{"grp-0", "grp-1"} }), "", false},
		{"inviter by directory role", InviterPolicy{AdminRoles: adminRoles, Inviters: []string{"95e79109-95c0-4d8e-aee3-d01accf2d47b"}}, with(func(c *Claims) { c.Wids = []string{"95e79109-95c0-4d8e-aee3-d01accf2d47b"} }), "", false},
		{"admins always invite, and may invite members", InviterPolicy{AdminRoles: adminRoles, Inviters: []string{"grp-1"}}, with(func(c *Claims) { c.AppRoles = []string{"Portico.Admin"} }), "", true},
		{"a group claim named like an admin role does not make an admin", InviterPolicy{AdminRoles: adminRoles}, with(func(c *Claims) { c.Groups = []string{"Portico.Admin"} }), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := tt.pol.Inviter(tt.claims)
			if inv.Barred != tt.wantBar || inv.CanInviteMember() != tt.wantMember {
				t.Fatalf("Barred=%q CanInviteMember=%t; want %q %t", inv.Barred, inv.CanInviteMember(), tt.wantBar, tt.wantMember)
			}
			may := inv.MayInvite()
			if may.Allowed != (tt.wantBar == "") || (!may.Allowed && (!errors.Is(may.Err(), ErrNotInviter) || may.Reason == "")) {
				t.Fatalf("MayInvite = %+v", may)
			}
		})
	}
}

func TestBarredInviterMakesNoGraphCall(t *testing.T) {
	for _, bar := range []Bar{BarGuest, BarNotInviter} {
		h := newHarness(t, Policy{})
		inv := employee
		inv.Barred = bar
		_, err := h.svc.Send(context.Background(), nil, inv, validReq(), meta)
		if !errors.Is(err, ErrNotInviter) {
			t.Fatalf("%s: err = %v", bar, err)
		}
		if _, err := h.svc.Preflight(context.Background(), nil, inv, "taylor@fabrikam.example"); !errors.Is(err, ErrNotInviter) {
			t.Fatalf("%s: preflight err = %v", bar, err)
		}
		if c := h.svc.Check(context.Background(), nil, inv, "taylor@fabrikam.example"); c.OK || c.Message == "" {
			t.Fatalf("%s: check = %+v", bar, c)
		}
		if len(h.graph.calls) != 0 {
			t.Fatalf("%s: Graph calls %v; want none", bar, h.graph.calls)
		}
		ev := h.store.audits()
		if len(ev) != 1 || Outcome(ev[0].Outcome) != OutcomeDenied || ev[0].ActorOID != employee.ObjectID || !strings.Contains(ev[0].Detail, string(bar)) {
			t.Fatalf("%s: audit %+v", bar, ev)
		}
	}
}

func TestAppOnlySendsSponsorAndSaysSo(t *testing.T) {
	for _, appOnly := range []bool{false, true} {
		h := newHarness(t, Policy{})
		h.svc.appOnly = appOnly
		if _, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta); err != nil {
			t.Fatal(err)
		}
		if len(h.graph.posted) != 1 {
			t.Fatalf("posted %d", len(h.graph.posted))
		}
		sp := h.graph.posted[0].InvitedUserSponsors
		ev := h.store.audits()
		last := ev[len(ev)-1]
		if appOnly {
			if len(sp) != 1 || sp[0].ID != employee.ObjectID {
				t.Errorf("sponsors = %+v; want the employee", sp)
			}
			if last.ActorOID != employee.ObjectID || !strings.Contains(last.Detail, `"graphIdentity":"application"`) {
				t.Errorf("audit %+v", last)
			}
		} else if len(sp) != 0 || strings.Contains(last.Detail, "graphIdentity") {
			t.Errorf("delegated: sponsors %+v, detail %s", sp, last.Detail)
		}
	}
}
