package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/invite"
)

// The join page knows the link's state (issue 14, item 9 and the partner journeys): pending →
// Accept, with the address to sign in with; accepted → "You're already in" and the landing page,
// no Accept; superseded, expired, revoked → 410, naming the inviter to contact; Accept on those
// never redirects; unknown tokens keep the one 404. No partner page says Portico.
func TestJoinPageStates(t *testing.T) {
	en := newEnv(t)
	view := func(state invite.JoinState) *invite.JoinView {
		return &invite.JoinView{State: state, InviterName: "Ann", InviterEmail: "ann@contoso.example", InviteeEmail: "taylor@fabrikam.example",
			Message: "Welcome aboard", RedirectURL: "https://apps.contoso.example/start", ExpiresAt: en.now.Add(time.Hour)}
	}
	states := map[string]invite.JoinState{}
	for _, s := range []invite.JoinState{invite.JoinPending, invite.JoinAccepted, invite.JoinSuperseded, invite.JoinExpired, invite.JoinRevoked} {
		states[strings.Repeat(strings.ToUpper(string(s[:1])), 43)] = s
	}
	en.inv.OpenJoinFn = func(_ context.Context, tok string, _ invite.Meta) (*invite.JoinView, error) {
		if s, ok := states[tok]; ok {
			return view(s), nil
		}
		return nil, invite.ErrJoinGone
	}
	en.inv.AcceptJoinFn = func(_ context.Context, tok string, _ invite.Meta) (string, error) {
		s, ok := states[tok]
		switch {
		case !ok:
			return "", invite.ErrJoinGone
		case s != invite.JoinPending:
			return "", &invite.JoinClosedError{View: view(s)}
		}
		return "https://login.microsoftonline.com/redeem?ticket=NEW", nil
	}
	p := en.anon()
	tests := []struct {
		state  invite.JoinState
		status int
		texts  []string
		accept bool
	}{
		{invite.JoinPending, http.StatusOK, []string{"This invitation is for <strong>taylor@fabrikam.example</strong> — sign in with that address.", "Welcome aboard"}, true},
		{invite.JoinAccepted, http.StatusOK, []string{"You&#39;re already in", `href="https://apps.contoso.example/start"`, "taylor@fabrikam.example"}, false},
		{invite.JoinSuperseded, http.StatusGone, []string{"This invitation was replaced by a newer one", "check your email", "Ann", "mailto:ann@contoso.example"}, false},
		{invite.JoinExpired, http.StatusGone, []string{"This invitation link has expired", "contact", "Ann"}, false},
		{invite.JoinRevoked, http.StatusGone, []string{"This invitation link was withdrawn", "contact", "Ann"}, false},
	}
	for _, tc := range tests {
		tok := strings.Repeat(strings.ToUpper(string(tc.state[:1])), 43)
		rec := p.get("/join/" + tok)
		body := strings.ReplaceAll(rec.Body.String(), "Check your email", "check your email")
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.state, rec.Code, tc.status)
		}
		for _, s := range tc.texts {
			if !strings.Contains(body, s) {
				t.Errorf("%s: page lacks %q", tc.state, s)
			}
		}
		if got := strings.Contains(body, `data-testid="join-accept"`); got != tc.accept {
			t.Errorf("%s: Accept button shown %t, want %t", tc.state, got, tc.accept)
		}
		if strings.Contains(strings.ToLower(body), "portico") {
			t.Errorf("%s: the partner's page says Portico", tc.state)
		}
		if !strings.Contains(body, "<title>"+map[invite.JoinState]string{invite.JoinPending: "You&#39;re invited", invite.JoinAccepted: "You&#39;re already in",
			invite.JoinSuperseded: "This invitation was replaced by a newer one", invite.JoinExpired: "This invitation link has expired",
			invite.JoinRevoked: "This invitation link was withdrawn"}[tc.state]+" — Contoso</title>") {
			t.Errorf("%s: title not branded with the organization", tc.state)
		}
		acc := p.post("/join/"+tok+"/accept", nil)
		if tc.state == invite.JoinPending {
			if acc.Code != http.StatusFound || acc.Header().Get("Location") != "https://login.microsoftonline.com/redeem?ticket=NEW" {
				t.Errorf("accept while pending: %d %q", acc.Code, acc.Header().Get("Location"))
			}
			continue
		}
		if acc.Code != tc.status || acc.Header().Get("Location") != "" {
			t.Errorf("accept when %s: %d → %q; want %d and no redirect", tc.state, acc.Code, acc.Header().Get("Location"), tc.status)
		}
	}
	unknown := p.get("/join/" + strings.Repeat("Z", 43))
	want(t, unknown, http.StatusNotFound, "This link no longer works")
	if strings.Contains(strings.ToLower(unknown.Body.String()), "portico") {
		t.Error("the 404 join page says Portico")
	}
}

// The history part of the invitation page shows what invite.History returns: a line about other
// employees' records carries no time (issue 14, item 8).
func TestInvitationHistoryLines(t *testing.T) {
	en := newEnv(t)
	id := newID()
	sent := en.now.Add(-time.Hour)
	en.inv.GetFn = func(context.Context, invite.Inviter, string) (*invitation, error) {
		return &invitation{ID: id, TenantID: testIssuerTenant, InviterOID: ann.ObjectID, InviterName: "Ann", Email: "p@fabrikam.example",
			Outcome: invite.OutcomeCreated, CreatedAt: sent, SentAt: sent}, nil
	}
	en.inv.JoinURLFn = func(context.Context, invite.Inviter, string) (string, *joinLink, error) { return "", nil, nil }
	en.inv.HistoryFn = func(context.Context, invite.Inviter, string) ([]invite.HistoryEntry, error) {
		return []invite.HistoryEntry{
			{Kind: invite.HistoryOthers, Text: "Invited earlier by someone in your organization."},
			{Kind: invite.HistorySent, Time: sent, Text: "Sent by Ann.", RequestID: "req-1"},
		}, nil
	}
	rec := en.signIn(ann).get("/invitations/" + id)
	want(t, rec, http.StatusOK, `<li data-kind="others">`, "Invited earlier by someone in your organization.", "Sent by Ann.", "req-1")
	body := rec.Body.String()
	_, others, found := strings.Cut(body, `<li data-kind="others">`)
	others, _, closed := strings.Cut(others, "</li>")
	if !found || !closed {
		t.Fatalf("no complete line about others' records in %s", body)
	}
	if strings.Contains(others, "<time") {
		t.Errorf("the line about others' records has a time: %s", others)
	}
}
