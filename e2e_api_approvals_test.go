package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"portico/devtenant"
	"portico/webhooks"
)

// TestAPIApprovalsWithDevtenantTokens: with devtenant-issued tokens, a request for a partner
// outside the allow-list waits for approval (202); its requester may not approve it, an
// application may not decide, a Guest Inviter (PORTICO_APPROVERS) sees it in GET /api/approvals
// and approves it, which sends exactly one invitation; a denial needs a reason; the requester
// cancels their own.
func TestAPIApprovalsWithDevtenantTokens(t *testing.T) {
	tenant := tenantWith(t, func(o *devtenant.Options) { o.GrantAPIAppRole = true })
	rcv := newReceiver(t, 0)
	h := start(t, tenant, approvalEnv(map[string]string{"PORTICO_WEBHOOK_URL": rcv.srv.URL + "/hooks", "PORTICO_WEBHOOK_SECRET": testWebhookSecret}))
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

	// The receiver got, signed (it verifies each call), one approval.requested per request and
	// one approval.decided per decision (the cancel is none).
	deadline := time.Now().Add(20 * time.Second)
	for len(rcv.events(webhooks.ApprovalRequested)) < 3 || len(rcv.events(webhooks.ApprovalDecided)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("approval events: requested %d, decided %d; problems %v", len(rcv.events(webhooks.ApprovalRequested)),
				len(rcv.events(webhooks.ApprovalDecided)), rcv.problems())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // nothing more comes
	if p := rcv.problems(); len(p) != 0 {
		t.Fatalf("receiver problems: %v", p)
	}
	requested, decided := rcv.events(webhooks.ApprovalRequested), rcv.events(webhooks.ApprovalDecided)
	if len(requested) != 3 || len(decided) != 2 {
		t.Fatalf("requested %d, decided %d; want 3 and 2", len(requested), len(decided))
	}
	byID := map[string]webhooks.ApprovalData{}
	for _, b := range decided {
		var d webhooks.ApprovalData
		if err := json.Unmarshal(b.Data, &d); err != nil || b.ID != "approval.decided:"+d.ApprovalID {
			t.Fatalf("decided event %s: %v", b.ID, err)
		}
		byID[d.ApprovalID] = d
	}
	if d := byID[id]; d.Decision != "approved" || d.DeciderUPN != "inviter@contoso.example" || d.RequesterUPN != "employee@contoso.example" ||
		d.Email != "pat@northwind.example" || d.InvitationID == "" {
		t.Fatalf("approved event: %+v", d)
	}
	if d := byID[id2]; d.Decision != "denied" || d.InvitationID != "" {
		t.Fatalf("denied event: %+v", d)
	}
}
