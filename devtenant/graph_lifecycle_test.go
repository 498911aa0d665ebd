package devtenant

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPatchUserAccountEnabled(t *testing.T) {
	tn := startTenant(t)
	pending := StableID("pending.guest@fabrikam.example")
	path := "/v1.0/users/" + pending
	rw, _ := tn.AppAccessToken("User.ReadWrite.All")
	enableOnly, _ := tn.AppAccessToken("User.EnableDisableAccount.All", "User.Read.All")
	invite, _ := tn.AppAccessToken("User.Invite.All", "User.Read.All")
	inviter := accessToken(t, tn, "inviter@contoso.example", "User.ReadWrite.All")
	admin := accessToken(t, tn, "admin@contoso.example", "User.ReadWrite.All")

	tests := []struct {
		name, token string
		body        any
		status      int
		code        string
	}{
		{"application without a write permission", invite, map[string]any{"accountEnabled": false}, 403, "Authorization_RequestDenied"},
		{"enable/disable permission for another property", enableOnly, map[string]any{"displayName": "X"}, 403, "Authorization_RequestDenied"},
		{"delegated caller without an admin role", inviter, map[string]any{"accountEnabled": false}, 403, "Authorization_RequestDenied"},
		{"unknown property", rw, map[string]any{"accountEnabledd": false}, 400, "Request_BadRequest"},
		{"not a boolean", rw, map[string]any{"accountEnabled": "no"}, 400, "BadRequest"},
		{"not JSON", rw, "{", 400, "BadRequest"},
	}
	for _, tt := range tests {
		g := graphCallT(t, tn, "PATCH", path, tt.token, tt.body)
		if e := g.err(t); g.Status != tt.status || e.Code != tt.code || e.InnerError.RequestID == "" {
			t.Errorf("%s: %d %s, want %d %s with a request id", tt.name, g.Status, g.Body, tt.status, tt.code)
		}
		if u, _ := tn.UserByID(pending); !u.AccountEnabled {
			t.Fatalf("%s: the refused PATCH changed the account", tt.name)
		}
	}
	if g := graphCallT(t, tn, "PATCH", "/v1.0/users/"+StableID("nobody"), rw, map[string]any{"accountEnabled": false}); g.Status != 404 || g.err(t).Code != "Request_ResourceNotFound" {
		t.Errorf("unknown user: %d %s", g.Status, g.Body)
	}
	// User.EnableDisableAccount.All may change accountEnabled alone: 204, no body; twice is the same.
	for range 2 {
		g := graphCallT(t, tn, "PATCH", path, enableOnly, map[string]any{"accountEnabled": false})
		if g.Status != 204 || len(g.Body) != 0 {
			t.Fatalf("disable: %d %q", g.Status, g.Body)
		}
	}
	if u, _ := tn.UserByID(pending); u.AccountEnabled {
		t.Fatal("still enabled")
	}
	if g := graphCallT(t, tn, "GET", path+"?$select=accountEnabled", rw, nil); g.json(t)["accountEnabled"] != false {
		t.Errorf("GET accountEnabled = %s", g.Body)
	}
	if g := graphCallT(t, tn, "PATCH", path, admin, map[string]any{"accountEnabled": true}); g.Status != 204 {
		t.Fatalf("User Administrator enable: %d %s", g.Status, g.Body)
	}
	if u, _ := tn.UserByID(pending); !u.AccountEnabled {
		t.Fatal("not enabled again")
	}
}

func TestDeleteRestoreAndPurge(t *testing.T) {
	clock := newClock()
	tn := startTenant(t, withClock(clock))
	pending := StableID("pending.guest@fabrikam.example")
	rw, _ := tn.AppAccessToken("User.ReadWrite.All")
	readOnly, _ := tn.AppAccessToken("User.Read.All")
	list := "/v1.0/directory/deletedItems/microsoft.graph.user"

	if g := graphCallT(t, tn, "DELETE", "/v1.0/users/"+pending, readOnly, nil); g.Status != 403 || g.err(t).Code != "Authorization_RequestDenied" {
		t.Fatalf("delete without permission: %d %s", g.Status, g.Body)
	}
	// Microsoft's user-delete page: User.ReadWrite.All, no higher permission; Directory.ReadWrite.All
	// may not delete users.
	dirRW, _ := tn.AppAccessToken("Directory.ReadWrite.All")
	if g := graphCallT(t, tn, "DELETE", "/v1.0/users/"+pending, dirRW, nil); g.Status != 403 || g.err(t).Code != "Authorization_RequestDenied" {
		t.Fatalf("delete with Directory.ReadWrite.All: %d %s", g.Status, g.Body)
	}
	if g := graphCallT(t, tn, "DELETE", "/v1.0/users/"+pending, rw, nil); g.Status != 204 || len(g.Body) != 0 {
		t.Fatalf("delete: %d %s", g.Status, g.Body)
	}
	if _, ok := tn.UserByID(pending); ok {
		t.Fatal("deleted user still in the directory")
	}
	if g := graphCallT(t, tn, "DELETE", "/v1.0/users/"+pending, rw, nil); g.Status != 404 {
		t.Errorf("second delete: %d, want 404", g.Status)
	}
	if g := graphCallT(t, tn, "GET", "/v1.0/users/"+pending, rw, nil); g.Status != 404 {
		t.Errorf("GET deleted user: %d, want 404", g.Status)
	}
	noRead, _ := tn.AppAccessToken("User.Invite.All")
	if g := graphCallT(t, tn, "GET", list, noRead, nil); g.Status != 403 {
		t.Errorf("list without permission: %d", g.Status)
	}
	g := graphCallT(t, tn, "GET", list+"?$select=id,displayName,mail", readOnly, nil)
	vals, _ := g.json(t)["value"].([]any)
	if g.Status != 200 || len(vals) != 1 || vals[0].(map[string]any)["id"] != pending || vals[0].(map[string]any)["deletedDateTime"] == nil {
		t.Fatalf("deleted items: %d %s", g.Status, g.Body)
	}
	restore := "/v1.0/directory/deletedItems/" + pending + "/restore"
	if g := graphCallT(t, tn, "POST", restore, readOnly, nil); g.Status != 403 {
		t.Errorf("restore without permission: %d", g.Status)
	}
	if g := graphCallT(t, tn, "POST", restore, dirRW, nil); g.Status != 403 {
		t.Errorf("restore with Directory.ReadWrite.All: %d, want 403", g.Status)
	}
	if g := graphCallT(t, tn, "POST", restore, rw, nil); g.Status != 200 || g.json(t)["id"] != pending {
		t.Fatalf("restore: %d %s", g.Status, g.Body)
	}
	if _, ok := tn.UserByID(pending); !ok {
		t.Fatal("restored user not in the directory")
	}
	if g := graphCallT(t, tn, "POST", restore, rw, nil); g.Status != 404 {
		t.Errorf("second restore: %d, want 404", g.Status)
	}

	// Deleted items are purged 30 days after the delete: the directory clock moves, tokens still work.
	if g := graphCallT(t, tn, "DELETE", "/v1.0/users/"+pending, rw, nil); g.Status != 204 {
		t.Fatal(g.Status)
	}
	tn.AdvanceClock(29 * 24 * time.Hour)
	if len(tn.DeletedUsers()) != 1 {
		t.Fatal("purged before 30 days")
	}
	tn.AdvanceClock(24 * time.Hour)
	if g := graphCallT(t, tn, "POST", restore, rw, nil); g.Status != 404 {
		t.Errorf("restore after 30 days: %d, want 404", g.Status)
	}
	if g := graphCallT(t, tn, "GET", list, readOnly, nil); len(g.json(t)["value"].([]any)) != 0 {
		t.Errorf("deleted items after 30 days: %s", g.Body)
	}
}

func TestSignInActivityNeedsAuditLog(t *testing.T) {
	tn := startTenant(t)
	accepted := StableID("accepted.guest@fabrikam.example")
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	tn.SetLastSignIn(accepted, at)
	readOnly, _ := tn.AppAccessToken("User.Read.All")
	audit, _ := tn.AppAccessToken("User.Read.All", "AuditLog.Read.All")
	sel := "/v1.0/users/" + accepted + "?$select=id,signInActivity"
	if g := graphCallT(t, tn, "GET", sel, readOnly, nil); g.Status != 403 || g.err(t).Code != "Authorization_RequestDenied" {
		t.Errorf("signInActivity without AuditLog.Read.All: %d %s", g.Status, g.Body)
	}
	if g := graphCallT(t, tn, "GET", "/v1.0/users?$select=id,signInActivity", readOnly, nil); g.Status != 403 {
		t.Errorf("list with signInActivity without AuditLog.Read.All: %d", g.Status)
	}
	g := graphCallT(t, tn, "GET", sel, audit, nil)
	sia, _ := g.json(t)["signInActivity"].(map[string]any)
	if g.Status != 200 || sia["lastSignInDateTime"] != "2026-11-01T09:00:00Z" {
		t.Errorf("signInActivity: %d %s", g.Status, g.Body)
	}
	// Without $select it is not returned (Graph returns it only when selected).
	if g := graphCallT(t, tn, "GET", "/v1.0/users/"+accepted, audit, nil); strings.Contains(string(g.Body), "signInActivity") {
		t.Errorf("signInActivity without $select: %s", g.Body)
	}
}

func TestResetRedemptionPermission(t *testing.T) {
	tn := startTenant(t)
	accepted := StableID("accepted.guest@fabrikam.example")
	body := invite("new.address@fabrikam.example", map[string]any{"resetRedemption": true, "invitedUser": map[string]any{"id": accepted}})
	inviteOnly, _ := tn.AppAccessToken("User.Invite.All")
	rw, _ := tn.AppAccessToken("User.ReadWrite.All")
	guestInviter := accessToken(t, tn, "inviter@contoso.example", "User.ReadWrite.All")
	if g := graphCallT(t, tn, "POST", "/v1.0/invitations", inviteOnly, body); g.Status != 403 || g.err(t).Code != "Authorization_RequestDenied" {
		t.Errorf("reset with User.Invite.All: %d %s", g.Status, g.Body)
	}
	if g := graphCallT(t, tn, "POST", "/v1.0/invitations", guestInviter, body); g.Status != 403 {
		t.Errorf("reset by a Guest Inviter: %d %s", g.Status, g.Body)
	}
	g := graphCallT(t, tn, "POST", "/v1.0/invitations", rw, body)
	if g.Status != 201 || g.json(t)["resetRedemption"] != true || g.json(t)["invitedUser"].(map[string]any)["id"] != accepted {
		t.Fatalf("reset: %d %s", g.Status, g.Body)
	}
	if u, _ := tn.UserByID(accepted); u.ExternalUserState != "PendingAcceptance" || u.Mail != "new.address@fabrikam.example" {
		t.Errorf("after reset: state %q mail %q", u.ExternalUserState, u.Mail)
	}
}

func TestControlClock(t *testing.T) {
	tn := startTenant(t, func(o *Options) { o.ControlToken = "ctl" })
	do := func(method, body string) (int, string) {
		req, _ := http.NewRequest(method, tn.URL()+"/_devtenant/clock", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer ctl")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, b := do("PUT", "720h"); st != 200 || !strings.Contains(b, `"offset":"720h0m0s"`) || tn.ClockOffset() != 720*time.Hour {
		t.Fatalf("PUT 720h: %d %s", st, b)
	}
	if st, _ := do("PUT", "+24h"); st != 200 || tn.ClockOffset() != 744*time.Hour {
		t.Fatalf("PUT +24h: %d, offset %s", st, tn.ClockOffset())
	}
	if st, _ := do("PUT", "+1d"); st != 200 || tn.ClockOffset() != 768*time.Hour {
		t.Fatalf("PUT +1d: %d, offset %s", st, tn.ClockOffset())
	}
	if st, _ := do("PUT", "-1d"); st != 400 || tn.ClockOffset() != 768*time.Hour {
		t.Fatalf("PUT -1d: %d, offset %s", st, tn.ClockOffset())
	}
	if st, b := do("PUT", "-1h"); st != 400 || !strings.Contains(b, "negative") || tn.ClockOffset() != 768*time.Hour {
		t.Errorf("PUT -1h: %d %s", st, b)
	}
	if st, b := do("PUT", "soon"); st != 400 || !strings.Contains(b, "not a duration") {
		t.Errorf("PUT soon: %d %s", st, b)
	}
	if st, _ := do("PUT", "off"); st != 200 || tn.ClockOffset() != 0 {
		t.Errorf("PUT off: %d", st)
	}
	req, _ := http.NewRequest("PUT", tn.URL()+"/_devtenant/clock", strings.NewReader("720h"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("no token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
