package invite

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"portico/graph"
)

func TestGetVisibility(t *testing.T) {
	h := newHarness(t, Policy{})
	res := sendOne(t, h, employee, nil)
	id := res.Invitation.ID
	otherTenantAdmin := Inviter{TenantID: "t2", ObjectID: "oid-x", Roles: []Role{RoleAdministrator}}
	tests := []struct {
		name string
		inv  Inviter
		id   string
		ok   bool
	}{
		{"inviter", employee, id, true},
		{"admin", admin, id, true},
		{"stranger", other, id, false},
		{"admin of another tenant", otherTenantAdmin, id, false},
		{"unknown id", admin, "nope", false},
		{"empty id", admin, "", false},
	}
	for _, tt := range tests {
		got, err := h.svc.Get(context.Background(), tt.inv, tt.id)
		if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, ErrNotFound)) || (tt.ok && got.ID != id) {
			t.Errorf("%s: %v, %v", tt.name, got, err)
		}
	}
}

func TestRevealRedeemURL(t *testing.T) {
	h := newHarness(t, Policy{})
	res := sendOne(t, h, employee, nil) // sent by email: the URL is not in the result
	if res.RedeemURL != "" {
		t.Fatal("redemption URL returned although Graph sent the email")
	}
	id := res.Invitation.ID
	for _, who := range []Inviter{employee, admin} {
		u, err := h.svc.RevealRedeemURL(context.Background(), who, id, meta)
		if err != nil || !strings.Contains(u, sentinelTicket) {
			t.Fatalf("%s reveal = %q, %v", who.UPN, u, err)
		}
	}
	if _, err := h.svc.RevealRedeemURL(context.Background(), other, id, meta); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stranger reveal err %v; want ErrNotFound", err)
	}
	var reveals, denied int
	for _, ev := range h.store.audits() {
		if ev.Action != ActionInvitationReveal {
			continue
		}
		switch Outcome(ev.Outcome) {
		case OutcomeSuccess:
			reveals++
		case OutcomeDenied:
			denied++
			if ev.ActorOID != other.ObjectID {
				t.Errorf("denied reveal by %s", ev.ActorOID)
			}
		}
	}
	if reveals != 2 || denied != 1 {
		t.Fatalf("%d reveals and %d denials audited; want 2 and 1", reveals, denied)
	}
	assertNoSecrets(t, h, res.JoinToken)

	// No audit record, no reveal.
	h.store.fail = map[string]error{"AppendAudit": errors.New("disk full")}
	if u, err := h.svc.RevealRedeemURL(context.Background(), employee, id, meta); err == nil || u != "" {
		t.Fatalf("revealed without an audit record: %q", u)
	}
}

func TestResend(t *testing.T) {
	h := newHarness(t, Policy{})
	first := sendOne(t, h, employee, func(r *Request) { r.SendEmail = false; r.CC = "boss@fabrikam.example"; r.Language = "nl-NL" })
	// From now on the directory knows the pending guest.
	h.graph.byAddr = func(string) ([]graph.User, error) {
		return []graph.User{{ID: "user-taylor@fabrikam.example", UserType: "Guest", ExternalUserState: "PendingAcceptance"}}, nil
	}
	h.clock.Add(time.Hour)

	// A plain second Send is refused with a resend offer pointing at the first invitation.
	_, err := h.svc.Send(context.Background(), nil, employee, validReq(), meta)
	var re *RefusedError
	if !errors.As(err, &re) || !re.ResendOffered || re.Preflight.InvitationID != first.Invitation.ID {
		t.Fatalf("duplicate Send err %v", err)
	}

	if _, err := h.svc.Resend(context.Background(), nil, other, first.Invitation.ID, meta); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stranger resend err %v", err)
	}
	second, err := h.svc.Resend(context.Background(), nil, admin, first.Invitation.ID, meta)
	if err != nil {
		t.Fatalf("Resend: %v", err)
	}
	// Send again updates the same record: same id, inviter and options, the latest send time.
	s := second.Invitation
	if s.ID != first.Invitation.ID || s.GraphUserID != first.Invitation.GraphUserID || !s.SentAt.Equal(h.clock.Now()) ||
		!s.CreatedAt.Equal(first.Invitation.CreatedAt) || s.InviterOID != employee.ObjectID || s.CCAddress != "boss@fabrikam.example" ||
		s.Language != "nl-NL" || s.SendEmail {
		t.Fatalf("resent record %+v", s)
	}
	if n := len(h.store.invitations()); n != 1 {
		t.Fatalf("%d records after Send again; want 1", n)
	}
	if h.graph.n("create") != 2 {
		t.Fatalf("%d POSTs; want 2", h.graph.n("create"))
	}
	if p := h.graph.posted[1]; p.InvitedUserEmailAddress != "taylor@fabrikam.example" || p.InvitedUserMessageInfo == nil ||
		len(p.InvitedUserMessageInfo.CCRecipients) != 1 || p.ResetRedemption {
		t.Fatalf("resend body %+v", p)
	}
	hist, err := h.svc.History(context.Background(), employee, s.ID)
	if err != nil || len(hist) != 2 || hist[0].Kind != HistorySent || hist[1].Kind != HistoryResent ||
		hist[1].Text != "Sent again by Ada Admin; the previous join link was replaced." {
		t.Fatalf("history %+v, %v", hist, err)
	}
	evs := h.store.audits()
	last := evs[len(evs)-1]
	if last.Action != ActionInvitationResend || last.ActorOID != admin.ObjectID || !strings.Contains(last.Detail, first.Invitation.ID) {
		t.Fatalf("resend audit %+v", last)
	}

	// Accepted guests are not re-invited.
	acc := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	h.graph.byAddr = func(string) ([]graph.User, error) {
		return []graph.User{{ID: "user-taylor@fabrikam.example", UserType: "Guest", ExternalUserState: "Accepted", ExternalUserStateChangeDateTime: &acc}}, nil
	}
	if _, err := h.svc.Resend(context.Background(), nil, employee, s.ID, meta); !errors.As(err, &re) || re.Preflight.Verdict != VerdictAcceptedGuest {
		t.Fatalf("resend of accepted guest err %v", err)
	}
	_ = h.store.UpdateInvitationState(context.Background(), s.ID, "Accepted", &acc, acc)
	if _, err := h.svc.Resend(context.Background(), nil, employee, s.ID, meta); !errors.Is(err, ErrNotPending) {
		t.Fatalf("resend of a recorded acceptance err %v", err)
	}
	if h.graph.n("create") != 2 {
		t.Fatalf("%d POSTs; want still 2", h.graph.n("create"))
	}
	assertNoSecrets(t, h, first.JoinToken)
	assertNoSecrets(t, h, second.JoinToken)
}

func TestList(t *testing.T) {
	h := newHarness(t, Policy{})
	for i, who := range []Inviter{employee, employee, employee, other} {
		h.clock.Add(time.Minute)
		sendOne(t, h, who, func(r *Request) { r.Email = "guest" + string(rune('a'+i)) + "@fabrikam.example" })
	}
	acc := h.clock.Now()
	first := h.store.invitations()[3] // the oldest
	_ = h.store.UpdateInvitationState(context.Background(), first.ID, "Accepted", &acc, acc)

	p, err := h.svc.List(context.Background(), employee, ListFilter{PageSize: 2})
	if err != nil || p.Total != 3 || p.TotalMore || len(p.Invitations) != 2 || p.NewerCursor != "" || p.OlderCursor == "" ||
		p.Invitations[0].Email != "guestc@fabrikam.example" {
		t.Fatalf("page 1 %+v, %v", p, err)
	}
	p, _ = h.svc.List(context.Background(), employee, ListFilter{PageSize: 2, Before: p.OlderCursor})
	if len(p.Invitations) != 1 || p.Invitations[0].Email != "guesta@fabrikam.example" || p.OlderCursor != "" || p.NewerCursor == "" {
		t.Fatalf("page 2 %+v", p)
	}
	// Newer than the last page's first row is fewer than a page: that is the first page, in full.
	p, _ = h.svc.List(context.Background(), employee, ListFilter{PageSize: 2, After: p.NewerCursor})
	if len(p.Invitations) != 2 || p.Invitations[0].Email != "guestc@fabrikam.example" || p.NewerCursor != "" || p.OlderCursor == "" {
		t.Fatalf("back to page 1 %+v", p)
	}
	p, _ = h.svc.List(context.Background(), employee, ListFilter{State: "accepted"})
	if p.Total != 1 || p.Invitations[0].ID != first.ID {
		t.Fatalf("accepted %+v", p)
	}
	p, _ = h.svc.List(context.Background(), employee, ListFilter{State: "pending"})
	if p.Total != 2 {
		t.Fatalf("pending %+v", p)
	}
	if _, err := h.svc.List(context.Background(), employee, ListFilter{Everyone: true}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("non-admin everyone err %v", err)
	}
	p, _ = h.svc.List(context.Background(), admin, ListFilter{Everyone: true, PageSize: 1000})
	if p.Total != 4 || p.PageSize != MaxPageSize {
		t.Fatalf("admin everyone %+v", p)
	}
	p, _ = h.svc.List(context.Background(), admin, ListFilter{})
	if p.Total != 0 {
		t.Fatalf("admin's own %+v", p)
	}
	for _, bad := range []ListFilter{{Before: "x"}, {After: "12.\x00"}, {Before: "1.a", After: "1.b"}, {After: "notanumber.id"}} {
		if _, err := h.svc.List(context.Background(), employee, bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("List(%+v) err %v; want ErrBadCursor", bad, err)
		}
	}
}

// TestListKeysetPaging walks a long list older and newer by cursors: every invitation once, in
// order, rows created in the same instant kept apart by id, and the count capped.
func TestListKeysetPaging(t *testing.T) {
	h := newHarness(t, Policy{})
	base := h.clock.Now()
	const n = ListCountCap + 3
	for i := range n {
		// Pairs share a creation time, so the id decides their order.
		inv := Invitation{ID: fmt.Sprintf("inv-%05d", i), TenantID: employee.TenantID, InviterOID: employee.ObjectID,
			Email: fmt.Sprintf("g%d@fabrikam.example", i), Outcome: OutcomeCreated, CreatedAt: base.Add(time.Duration(i/2) * time.Second)}
		if err := h.store.CreateInvitation(context.Background(), &inv); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	var pages []*ListPage
	f := ListFilter{PageSize: MaxPageSize}
	for {
		p, err := h.svc.List(context.Background(), employee, f)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != ListCountCap || !p.TotalMore {
			t.Fatalf("count %d more %v; want %d and more", p.Total, p.TotalMore, ListCountCap)
		}
		pages = append(pages, p)
		for _, r := range p.Invitations {
			seen = append(seen, r.ID)
		}
		if p.OlderCursor == "" {
			break
		}
		f.Before = p.OlderCursor
	}
	if len(seen) != n {
		t.Fatalf("walked %d invitations; want %d", len(seen), n)
	}
	for i, id := range seen {
		if want := fmt.Sprintf("inv-%05d", n-1-i); id != want {
			t.Fatalf("row %d is %s; want %s", i, id, want)
		}
	}
	// Newer from the third page is the second page, row for row.
	back, err := h.svc.List(context.Background(), employee, ListFilter{PageSize: MaxPageSize, After: pages[2].NewerCursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Invitations) != MaxPageSize || back.Invitations[0].ID != pages[1].Invitations[0].ID ||
		back.OlderCursor != pages[1].OlderCursor || back.NewerCursor != pages[1].NewerCursor {
		t.Fatalf("newer page starts %s (newer %q older %q); want %s (newer %q older %q)", back.Invitations[0].ID,
			back.NewerCursor, back.OlderCursor, pages[1].Invitations[0].ID, pages[1].NewerCursor, pages[1].OlderCursor)
	}
}

func TestRefreshStates(t *testing.T) {
	h := newHarness(t, Policy{})
	now := h.clock.Now()
	old := now.Add(-time.Hour)
	recent := now.Add(-time.Minute)
	invs := []Invitation{
		{ID: "a", TenantID: "t1", Outcome: OutcomeCreated, GraphUserID: "u-a", ExternalUserState: "PendingAcceptance"},
		{ID: "b", TenantID: "t1", Outcome: OutcomeCreated, GraphUserID: "u-b", ExternalUserState: "PendingAcceptance", StateCheckedAt: &old},
		{ID: "c", TenantID: "t1", Outcome: OutcomeCreated, GraphUserID: "u-c", ExternalUserState: "PendingAcceptance", StateCheckedAt: &recent},
		{ID: "d", TenantID: "t1", Outcome: OutcomeFailed},
		{ID: "e", TenantID: "t1", Outcome: OutcomeCreated, GraphUserID: "u-slow", ExternalUserState: "PendingAcceptance", StateCheckedAt: &old},
		{ID: "f", TenantID: "t1", Outcome: OutcomeCreated, GraphUserID: "u-a", ExternalUserState: "PendingAcceptance"},
	}
	for i := range invs {
		_ = h.store.CreateInvitation(context.Background(), &invs[i])
	}
	for i := 0; i < 10; i++ {
		id := "u-more-" + string(rune('0'+i))
		invs = append(invs, Invitation{ID: "m" + id, TenantID: "t1", Outcome: OutcomeCreated, GraphUserID: id})
	}
	accepted := now.Add(-30 * time.Minute)
	h.graph.getUser = func(ctx context.Context, id string) (*graph.User, error) {
		switch id {
		case "u-a":
			return &graph.User{ID: id, ExternalUserState: "Accepted", ExternalUserStateChangeDateTime: &accepted}, nil
		case "u-slow":
			// One request of the batch failing (a batch answers as a whole, so a Graph that
			// does not answer in time is tested below).
			return nil, &graph.Error{Status: 503, Code: "ServiceUnavailable"}
		}
		time.Sleep(5 * time.Millisecond)
		return &graph.User{ID: id, ExternalUserState: "PendingAcceptance"}, nil
	}
	h.svc.refreshTimeout = 200 * time.Millisecond
	start := time.Now()
	out := h.svc.RefreshStates(context.Background(), nil, invs, 5*time.Minute)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("RefreshStates took %v; it must not wait for a slow Graph", el)
	}
	if n := h.graph.n("getUsers"); n != 1 {
		t.Fatalf("%d GetUsers round trips; want 1 for the whole page", n)
	}
	byID := map[string]Invitation{}
	for _, r := range out {
		byID[r.ID] = r
	}
	if a := byID["a"]; a.ExternalUserState != "Accepted" || !a.ExternalUserStateChangedAt.Equal(accepted) || !a.StateCheckedAt.Equal(now) {
		t.Fatalf("a %+v", a)
	}
	if f := byID["f"]; f.ExternalUserState != "Accepted" {
		t.Fatalf("f shares a's user and was not updated: %+v", f)
	}
	if c := byID["c"]; !c.StateCheckedAt.Equal(recent) {
		t.Fatalf("c was fresh and should not be re-read: %+v", c)
	}
	if e := byID["e"]; !e.StateCheckedAt.Equal(old) || e.ExternalUserState != "PendingAcceptance" {
		t.Fatalf("slow e should keep its stale values: %+v", e)
	}
	if invs[0].ExternalUserState != "PendingAcceptance" {
		t.Fatal("RefreshStates modified its input")
	}
	stored, _ := h.store.GetInvitation(context.Background(), "a")
	if stored.ExternalUserState != "Accepted" || stored.StateCheckedAt == nil {
		t.Fatalf("state not persisted: %+v", stored)
	}
	if got := h.graph.n("getUser"); got != 13 { // u-a once, u-b, u-slow, 10 more; not c, d or f
		t.Fatalf("%d GetUser calls; want 13", got)
	}

	// A Graph that does not answer in time: the page stops waiting at the deadline, values kept.
	h.graph.getUser = func(ctx context.Context, id string) (*graph.User, error) {
		<-ctx.Done()
		time.Sleep(300 * time.Millisecond)
		return nil, ctx.Err()
	}
	h.clock.Add(time.Hour)
	start = time.Now()
	late := h.svc.RefreshStates(context.Background(), nil, out, 5*time.Minute)
	if el := time.Since(start); el > 400*time.Millisecond {
		t.Fatalf("RefreshStates took %v; it must stop at its 200ms deadline", el)
	}
	for i := range late {
		if !reflect.DeepEqual(late[i].StateCheckedAt, out[i].StateCheckedAt) || late[i].ExternalUserState != out[i].ExternalUserState {
			t.Fatalf("%s changed without an answer: %+v", late[i].ID, late[i])
		}
	}
}
