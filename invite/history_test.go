package invite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"portico/graph"
)

// pendingInDirectory makes the directory know taylor@fabrikam.example as a pending guest.
func pendingInDirectory(h *harness) {
	h.graph.byAddr = func(string) ([]graph.User, error) {
		return []graph.User{{ID: "user-taylor@fabrikam.example", UserType: "Guest", ExternalUserState: "PendingAcceptance"}}, nil
	}
}

// newTicketEachTime makes Graph answer every invitation with a new, numbered ticket.
func newTicketEachTime(h *harness) {
	n := 0
	h.graph.create = func(in *graph.Invitation) (*graph.Invitation, error) {
		n++
		out := *in
		out.ID, out.Status, out.RequestID = fmt.Sprintf("graph-inv-%d", n), "PendingAcceptance", fmt.Sprintf("req-create-%d", n)
		out.InviteRedeemURL = fmt.Sprintf("https://login.example/redeem?ticket=TICKET-%d", n)
		out.InvitedUser = &graph.DirectoryObject{ID: "user-taylor@fabrikam.example"}
		return &out, nil
	}
}

func kinds(hist []HistoryEntry) string {
	var ks []string
	for _, e := range hist {
		ks = append(ks, string(e.Kind))
	}
	return strings.Join(ks, ",")
}

// Issue 14, item 9: after "Send again" the previous join link no longer works: it says it was
// replaced and never leads to the old redemption ticket; the new link does.
func TestResendSupersedesTheOldLink(t *testing.T) {
	h := newHarness(t, Policy{})
	newTicketEachTime(h)
	first := sendOne(t, h, employee, nil)
	pendingInDirectory(h)
	h.clock.Add(time.Hour)
	second, err := h.svc.Resend(context.Background(), nil, employee, first.Invitation.ID, meta)
	if err != nil {
		t.Fatal(err)
	}
	if second.Invitation.ID != first.Invitation.ID || second.JoinToken == first.JoinToken || second.Invitation.GraphInvitationID != "graph-inv-2" {
		t.Fatalf("resend result %+v", second.Invitation)
	}

	v, err := h.svc.OpenJoin(context.Background(), first.JoinToken, meta)
	if err != nil || v.State != JoinSuperseded || v.InviterName != employee.Name || v.InviterEmail != employee.UPN {
		t.Fatalf("old link: %+v, %v; want superseded, naming the inviter", v, err)
	}
	u, err := h.svc.AcceptJoin(context.Background(), first.JoinToken, meta)
	var closed *JoinClosedError
	if u != "" || !errors.As(err, &closed) || closed.View.State != JoinSuperseded {
		t.Fatalf("accepting the old link = %q, %v; want no redirect, superseded", u, err)
	}
	u, err = h.svc.AcceptJoin(context.Background(), second.JoinToken, meta)
	if err != nil || u != "https://login.example/redeem?ticket=TICKET-2" {
		t.Fatalf("accepting the new link = %q, %v; want the new ticket", u, err)
	}
	for _, l := range h.store.links() {
		if l.InvitationID == first.Invitation.ID && l.ID == first.JoinLink.ID && (l.RevokedAt == nil || !l.Superseded || l.OpenCount != 0) {
			t.Errorf("old link %+v; want revoked as superseded and no open counted", l)
		}
	}
	if n := len(h.store.invitations()); n != 1 {
		t.Fatalf("%d records; want one per partner", n)
	}
	page, err := h.svc.List(context.Background(), employee, ListFilter{})
	if err != nil || page.Total != 1 || len(page.Invitations) != 1 {
		t.Fatalf("My invitations: %+v, %v; want the partner once", page, err)
	}
}

// "Already invited → send again" from the form by the same inviter updates their record too.
func TestFormResendUpdatesOwnRecord(t *testing.T) {
	h := newHarness(t, Policy{})
	newTicketEachTime(h)
	first := sendOne(t, h, employee, nil)
	pendingInDirectory(h)
	h.clock.Add(time.Minute)
	res := sendOne(t, h, employee, func(r *Request) { r.Resend = true; r.Message = "A second try." })
	if res.Invitation.ID != first.Invitation.ID || res.Invitation.Message != "A second try." || len(h.store.invitations()) != 1 {
		t.Fatalf("form resend made %+v (%d records); want the first record updated", res.Invitation, len(h.store.invitations()))
	}
	hist, err := h.svc.History(context.Background(), employee, first.Invitation.ID)
	if err != nil || kinds(hist) != "sent,resent" {
		t.Fatalf("history %s, %v", kinds(hist), err)
	}
}

// A resend Graph refuses leaves the record (and its live link) as it was and says so in the history.
func TestFailedResendKeepsTheRecord(t *testing.T) {
	h := newHarness(t, Policy{})
	newTicketEachTime(h)
	first := sendOne(t, h, employee, nil)
	pendingInDirectory(h)
	h.graph.create = func(*graph.Invitation) (*graph.Invitation, error) {
		return nil, &graph.Error{Status: 400, Code: "BadRequest", Message: "no", RequestID: "req-bad"}
	}
	_, err := h.svc.Resend(context.Background(), nil, employee, first.Invitation.ID, meta)
	var ge *GraphError
	if !errors.As(err, &ge) || ge.Invitation == nil || ge.Invitation.ID != first.Invitation.ID {
		t.Fatalf("failed resend err %v", err)
	}
	got, _ := h.store.GetInvitation(context.Background(), first.Invitation.ID)
	if got.GraphInvitationID != first.Invitation.GraphInvitationID || got.Outcome != OutcomeCreated || len(h.store.invitations()) != 1 {
		t.Fatalf("record after a failed resend %+v", got)
	}
	if v, err := h.svc.OpenJoin(context.Background(), first.JoinToken, meta); err != nil || v.State != JoinPending {
		t.Fatalf("link after a failed resend: %+v, %v; want still pending", v, err)
	}
	hist, _ := h.svc.History(context.Background(), employee, first.Invitation.ID)
	if kinds(hist) != "sent,resend_failed,opened" || hist[1].RequestID != "req-bad" ||
		hist[1].Text != "Sending again by Erin Employee failed; the invitation and its link are unchanged." {
		t.Fatalf("history %s %+v", kinds(hist), hist)
	}
}

// Issue 14, item 8 (attacker): employee B resends A's partner through "Already invited → send
// again". B gets a record of their own, and its history shows A's only as one line, without A's
// name, message, cc or dates; A's history says a newer invitation replaced the link without naming
// B; an administrator sees both in full.
func TestHistoryHidesOtherEmployeesRecords(t *testing.T) {
	h := newHarness(t, Policy{})
	newTicketEachTime(h)
	secretMsg, secretCC := "Secret project Bluebird budget", "ceo@fabrikam.example"
	a := sendOne(t, h, employee, func(r *Request) { r.Message = secretMsg; r.CC = secretCC })
	pendingInDirectory(h)
	h.clock.Add(time.Hour)
	b := sendOne(t, h, other, func(r *Request) { r.Resend = true; r.Message = "Hello from Oscar" })
	if b.Invitation.ID == a.Invitation.ID || b.Invitation.InviterOID != other.ObjectID {
		t.Fatalf("B's resend changed A's record: %+v", b.Invitation)
	}
	if _, err := h.svc.Get(context.Background(), other, a.Invitation.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("B reads A's record: %v", err)
	}

	hist, err := h.svc.History(context.Background(), other, b.Invitation.ID)
	if err != nil || kinds(hist) != "others,sent" {
		t.Fatalf("B's history %s, %v; want others,sent", kinds(hist), err)
	}
	if !hist[0].Time.IsZero() || hist[0].Text != "Invited earlier by someone in your organization." || hist[0].RequestID != "" {
		t.Errorf("the line about A's record says more than that: %+v", hist[0])
	}
	dump := fmt.Sprintf("%+v", hist)
	aSent := a.Invitation.CreatedAt.Format(time.RFC3339)
	for _, secret := range []string{employee.Name, employee.UPN, employee.ObjectID, secretMsg, secretCC, a.Invitation.ID, "req-create-1", aSent} {
		if strings.Contains(dump, secret) {
			t.Errorf("B's history reveals %q: %s", secret, dump)
		}
	}
	for _, e := range hist {
		if e.Time.Equal(a.Invitation.CreatedAt) {
			t.Errorf("B's history holds the time of A's invitation: %+v", e)
		}
	}

	// A's link was replaced by B's newer invitation: A sees that, not who.
	hist, err = h.svc.History(context.Background(), employee, a.Invitation.ID)
	if err != nil || kinds(hist) != "sent,superseded,others" {
		t.Fatalf("A's history %s, %v", kinds(hist), err)
	}
	if d := fmt.Sprintf("%+v", hist); strings.Contains(d, other.Name) || strings.Contains(d, "Hello from Oscar") {
		t.Errorf("A's history reveals B's invitation: %s", d)
	}
	if v, err := h.svc.OpenJoin(context.Background(), a.JoinToken, meta); err != nil || v.State != JoinSuperseded {
		t.Errorf("A's link after B's invitation: %+v, %v; want superseded", v, err)
	}

	hist, err = h.svc.History(context.Background(), admin, b.Invitation.ID)
	if err != nil || kinds(hist) != "sent,superseded,sent" || !strings.Contains(fmt.Sprintf("%+v", hist), employee.Name) {
		t.Fatalf("admin's history %s, %v", kinds(hist), err)
	}
}

// A partner who accepted is told so, with their landing page, and never sent to the ticket again.
func TestJoinAfterAcceptance(t *testing.T) {
	h := newHarness(t, Policy{})
	res := sendOne(t, h, employee, func(r *Request) { r.RedirectURL = "https://apps.contoso.example/start" })
	acc := h.clock.Now()
	if err := h.store.UpdateInvitationState(context.Background(), res.Invitation.ID, "Accepted", &acc, acc); err != nil {
		t.Fatal(err)
	}
	v, err := h.svc.OpenJoin(context.Background(), res.JoinToken, meta)
	if err != nil || v.State != JoinAccepted || v.RedirectURL != "https://apps.contoso.example/start" || v.InviteeEmail != "taylor@fabrikam.example" {
		t.Fatalf("OpenJoin after acceptance: %+v, %v", v, err)
	}
	var closed *JoinClosedError
	if u, err := h.svc.AcceptJoin(context.Background(), res.JoinToken, meta); u != "" || !errors.As(err, &closed) || closed.View.State != JoinAccepted {
		t.Fatalf("AcceptJoin after acceptance = %q, %v", u, err)
	}
	// Accepted wins over a link revoked since.
	if err := h.svc.RevokeJoinLink(context.Background(), employee, res.Invitation.ID, meta); err != nil {
		t.Fatal(err)
	}
	if v, err := h.svc.OpenJoin(context.Background(), res.JoinToken, meta); err != nil || v.State != JoinAccepted {
		t.Fatalf("revoked link of an accepted partner: %+v, %v", v, err)
	}
	hist, _ := h.svc.History(context.Background(), employee, res.Invitation.ID)
	// Opening the page of an accepted invitation counts no open.
	if kinds(hist) != "sent,link_revoked,accepted" {
		t.Fatalf("history %s", kinds(hist))
	}
}
