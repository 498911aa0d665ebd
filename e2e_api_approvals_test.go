package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"portico/devtenant"
)

// TestAPIApprovalsWithDevtenantTokens: with devtenant-issued tokens, a request for a partner
// outside the allow-list waits for approval (202); its requester may not approve it, an
// application may not decide, a Guest Inviter (PORTICO_APPROVERS) sees it in GET /api/approvals
// and approves it, which sends exactly one invitation; a denial needs a reason; the requester
// cancels their own.
func TestAPIApprovalsWithDevtenantTokens(t *testing.T) {
	tenant := tenantWith(t, func(o *devtenant.Options) { o.GrantAPIAppRole = true })
	h := start(t, tenant, approvalEnv(nil))
	posts := func() int { return len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations")) }
	employee := userAPIToken(t, tenant, "employee@contoso.example", nil)
	approver := userAPIToken(t, tenant, "inviter@contoso.example", nil)

	ask := func(email string) string {
		t.Helper()
		a := apiCall(t, h.URL, "POST", "/api/invitations", employee, map[string]any{"invitedUserEmailAddress": email, "sendInvitationMessage": false}, nil)
		if a.Status != http.StatusAccepted {
			t.Fatalf("ask for %s: %d %s", email, a.Status, a.Body)
		}
		ar, _ := a.json(t)["approvalRequest"].(map[string]any)
		id, _ := ar["id"].(string)
		if id == "" || ar["state"] != "pending" {
			t.Fatalf("asked: %s", a.Body)
		}
		return id
	}
	id := ask("pat@northwind.example")
	if n := posts(); n != 0 {
		t.Fatalf("Graph POSTs before approval: %d", n)
	}

	// The requester may not approve or deny their own request.
	if a := apiCall(t, h.URL, "POST", "/api/approvals/"+id+"/approve", employee, nil, nil); a.Status != http.StatusForbidden || envelopeCode(a) == "" {
		t.Fatalf("self-approval: %d %s", a.Status, a.Body)
	}
	// An application acting as itself may not decide.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"portico-demo"}, "client_secret": {testClientSecret},
		"scope": {"api://portico-demo/.default"}}
	resp, err := http.PostForm(tenant.URL()+"/"+tenant.TenantID()+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if a := apiCall(t, h.URL, "POST", "/api/approvals/"+id+"/approve", tr.AccessToken, nil, nil); a.Status != http.StatusForbidden || envelopeCode(a) == "" {
		t.Fatalf("a daemon approves: %d %s", a.Status, a.Body)
	}
	if n := posts(); n != 0 {
		t.Fatalf("refused approvals reached Graph: %d POSTs", n)
	}

	// The approver's view lists it, decidable.
	list := apiCall(t, h.URL, "GET", "/api/approvals", approver, nil, nil)
	var page struct {
		Value []struct {
			ID      string          `json:"id"`
			State   string          `json:"state"`
			Actions map[string]bool `json:"actions"`
		} `json:"value"`
	}
	if list.Status != http.StatusOK || json.Unmarshal(list.Body, &page) != nil {
		t.Fatalf("list: %d %s", list.Status, list.Body)
	}
	found := false
	for _, r := range page.Value {
		if r.ID == id {
			found = r.State == "pending" && r.Actions["approve"] && r.Actions["deny"] && !r.Actions["cancel"]
		}
	}
	if !found {
		t.Fatalf("the approver's list: %s", list.Body)
	}
	a := apiCall(t, h.URL, "POST", "/api/approvals/"+id+"/approve", approver, nil, nil)
	if a.Status != http.StatusCreated {
		t.Fatalf("approve: %d %s", a.Status, a.Body)
	}
	if n := posts(); n != 1 {
		t.Fatalf("Graph POSTs after the approval: %d, want 1", n)
	}
	if again := apiCall(t, h.URL, "POST", "/api/approvals/"+id+"/approve", approver, nil, nil); again.Status != http.StatusConflict || posts() != 1 {
		t.Fatalf("approved twice: %d %s, %d POSTs", again.Status, again.Body, posts())
	}
	got := apiCall(t, h.URL, "GET", "/api/approvals/"+id, employee, nil, nil)
	if got.Status != http.StatusOK || got.json(t)["state"] != "approved" || got.json(t)["invitationId"] == nil {
		t.Fatalf("the requester reads it: %d %s", got.Status, got.Body)
	}

	// Deny needs a reason.
	id2 := ask("sam@northwind.example")
	if a := apiCall(t, h.URL, "POST", "/api/approvals/"+id2+"/deny", approver, map[string]any{"reason": ""}, nil); a.Status != http.StatusBadRequest || envelopeCode(a) == "" {
		t.Fatalf("deny without a reason: %d %s", a.Status, a.Body)
	}
	if a := apiCall(t, h.URL, "POST", "/api/approvals/"+id2+"/deny", approver, map[string]any{"reason": "Not a partner of ours."}, nil); a.Status != http.StatusOK ||
		a.json(t)["state"] != "denied" || a.json(t)["decisionReason"] != "Not a partner of ours." {
		t.Fatalf("deny: %d %s", a.Status, a.Body)
	}
	// The requester cancels their own.
	id3 := ask("kim@northwind.example")
	if a := apiCall(t, h.URL, "POST", "/api/approvals/"+id3+"/cancel", approver, nil, nil); a.Status != http.StatusForbidden {
		t.Fatalf("the approver cancels someone's request: %d %s", a.Status, a.Body)
	}
	if a := apiCall(t, h.URL, "POST", "/api/approvals/"+id3+"/cancel", employee, nil, nil); a.Status != http.StatusOK || a.json(t)["state"] != "cancelled" {
		t.Fatalf("cancel: %d %s", a.Status, a.Body)
	}
	if n := posts(); n != 1 {
		t.Fatalf("Graph POSTs at the end: %d, want 1", n)
	}
}
