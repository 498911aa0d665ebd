package devtenant

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGraphAuthentication(t *testing.T) {
	clock := newClock()
	tn := startTenant(t, withClock(clock))
	r := newRP(t, tn)
	tok, err := r.exchange(r.code("employee@contoso.example"))
	if err != nil {
		t.Fatal(err)
	}
	other := startTenant(t)
	foreign := accessToken(t, other, "employee@contoso.example")
	expiring := accessToken(t, tn, "employee@contoso.example")
	tests := []struct {
		name  string
		token func() string
		msg   string
	}{
		{"no token", func() string { return "" }, "Access token is empty."},
		{"not a JWT", func() string { return "opaque" }, "IDX14100"},
		{"ID token (wrong audience)", func() string { return tok.Extra("id_token").(string) }, "Invalid audience"},
		{"another issuer's key", func() string { return foreign }, "Signature validation failed"},
		{"expired", func() string { clock.Add(time.Hour + time.Second); return expiring }, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := graphCallT(t, tn, "GET", "/v1.0/organization", tt.token(), nil, "client-request-id", "crid-1")
			e := g.err(t)
			if g.Status != 401 || e.Code != "InvalidAuthenticationToken" || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("%d %+v", g.Status, e)
			}
			if g.Header.Get("request-id") == "" || g.Header.Get("request-id") != e.InnerError.RequestID ||
				g.Header.Get("client-request-id") != "crid-1" || e.InnerError.ClientRequestID != "crid-1" || len(e.InnerError.Date) != 19 {
				t.Errorf("ids: header %q/%q, inner %+v", g.Header.Get("request-id"), g.Header.Get("client-request-id"), e.InnerError)
			}
			if !strings.HasPrefix(g.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestCreateInvitation(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	body := invite("taylor@fabrikam.example", map[string]any{
		"invitedUserDisplayName": "Taylor Partner",
		"sendInvitationMessage":  true,
		"invitedUserMessageInfo": map[string]any{
			"customizedMessageBody": "Welcome to the project.",
			"messageLanguage":       "fr-FR",
			"ccRecipients": []any{
				map[string]any{"emailAddress": map[string]any{"address": "boss@fabrikam.example", "name": "Boss"}},
				map[string]any{"emailAddress": map[string]any{"address": "second@fabrikam.example"}},
			},
		},
	})
	g := graphCallT(t, tn, "POST", "/v1.0/invitations", tok, body, "client-request-id", "c-42")
	if g.Status != http.StatusCreated {
		t.Fatalf("%d %s", g.Status, g.Body)
	}
	if g.Header.Get("request-id") == "" || g.Header.Get("client-request-id") != "c-42" {
		t.Errorf("headers %v", g.Header)
	}
	m := g.json(t)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wantKeys := []string{"@odata.context", "id", "inviteRedeemUrl", "inviteRedirectUrl", "invitedUser", "invitedUserDisplayName",
		"invitedUserEmailAddress", "invitedUserMessageInfo", "invitedUserType", "resetRedemption", "sendInvitationMessage", "status"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("keys %v", keys)
	}
	user := m["invitedUser"].(map[string]any)["id"].(string)
	mi := m["invitedUserMessageInfo"].(map[string]any)
	if m["@odata.context"] != tn.URL()+"/v1.0/$metadata#invitations/$entity" || m["status"] != "PendingAcceptance" ||
		m["invitedUserType"] != "Guest" || m["invitedUserDisplayName"] != "Taylor Partner" || m["sendInvitationMessage"] != true ||
		m["inviteRedirectUrl"] != "https://portico.example/welcome" || m["invitedUserEmailAddress"] != "taylor@fabrikam.example" ||
		mi["messageLanguage"] != "fr-FR" || len(mi["ccRecipients"].([]any)) != 2 {
		t.Errorf("invitation %s", g.Body)
	}
	redeem, _ := url.Parse(m["inviteRedeemUrl"].(string))
	if !strings.HasPrefix(m["inviteRedeemUrl"].(string), tn.URL()+"/redeem?") || redeem.Query().Get("tenant") != tn.TenantID() ||
		redeem.Query().Get("user") != user || len(redeem.Query().Get("ticket")) < 40 {
		t.Errorf("redeem url %s", redeem)
	}

	u, ok := tn.UserByMail("taylor@fabrikam.example")
	if !ok || u.ID != user || u.UserType != "Guest" || u.ExternalUserState != "PendingAcceptance" || u.ExternalUserStateChangeDateTime == nil ||
		u.CreationType != "Invitation" || u.Mail != "taylor@fabrikam.example" || !slices.Equal(u.OtherMails, []string{"taylor@fabrikam.example"}) ||
		u.UserPrincipalName != "taylor_fabrikam.example#EXT#@contoso.onmicrosoft.com" || u.DisplayName != "Taylor Partner" ||
		!slices.Equal(u.Sponsors, []string{StableID("employee@contoso.example")}) {
		t.Errorf("user %+v", u)
	}
	out := tn.Outbox()
	if len(out) != 1 {
		t.Fatalf("outbox %d", len(out))
	}
	msg := out[0]
	if msg.To != "taylor@fabrikam.example" || msg.ToName != "Taylor Partner" || !slices.Equal(msg.CC, []string{"boss@fabrikam.example"}) ||
		msg.Body != "Welcome to the project." || msg.Language != "" || msg.RedeemURL != m["inviteRedeemUrl"] ||
		msg.InvitedBy != "Erin Employee" || msg.SentAt.IsZero() {
		t.Errorf("message %+v", msg)
	}

	// Without sendInvitationMessage nothing is mailed, and an absent cc is echoed as Graph does.
	g = graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite("quiet@fabrikam.example", nil))
	m = g.json(t)
	if g.Status != 201 || len(tn.Outbox()) != 1 || m["sendInvitationMessage"] != false || m["invitedUserDisplayName"] != nil {
		t.Errorf("quiet invitation: %d %s", g.Status, g.Body)
	}
	if u, _ := tn.UserByMail("quiet@fabrikam.example"); u.DisplayName != "quiet" {
		t.Errorf("default display name %q", u.DisplayName)
	}
}

func TestCreateInvitationRefusals(t *testing.T) {
	tn := startTenant(t)
	tn.BlockInvitationDomains("blocked.example")
	employee := accessToken(t, tn, "employee@contoso.example")
	inviter := accessToken(t, tn, "inviter@contoso.example")
	admin := accessToken(t, tn, "admin@contoso.example")
	readOnly := accessToken(t, tn, "admin@contoso.example", "User.Read", "User.Read.All")
	member := map[string]any{"invitedUserType": "Member"}
	tests := []struct {
		name   string
		token  string
		body   any
		status int
		code   string
		msg    string
	}{
		{"missing address", employee, map[string]any{"inviteRedirectUrl": "https://x.example"}, 400, "BadRequest", "invitedUserEmailAddress"},
		{"missing redirect", employee, map[string]any{"invitedUserEmailAddress": "a@fabrikam.example"}, 400, "BadRequest", "inviteRedirectUrl"},
		{"malformed address", employee, invite("not an address", nil), 400, "BadRequest", "invalid"},
		{"display-name address", employee, invite("Taylor <t@fabrikam.example>", nil), 400, "BadRequest", "invalid"},
		{"two addresses", employee, invite("a@fabrikam.example,b@fabrikam.example", nil), 400, "BadRequest", "invalid"},
		{"relative redirect", employee, map[string]any{"invitedUserEmailAddress": "a@fabrikam.example", "inviteRedirectUrl": "/welcome"}, 400, "BadRequest", "redirect"},
		{"bad cc", employee, invite("a@fabrikam.example", map[string]any{"invitedUserMessageInfo": map[string]any{"ccRecipients": []any{map[string]any{"emailAddress": map[string]any{"address": "nope"}}}}}), 400, "BadRequest", "cc"},
		{"own domain, existing member", employee, invite("megan@contoso.example", nil), 400, "BadRequest", "already exists in the directory as a member"},
		{"own domain, unknown", employee, invite("new.hire@contoso.example", nil), 400, "BadRequest", "verified domain"},
		{"initial domain", employee, invite("x@contoso.onmicrosoft.com", nil), 400, "BadRequest", "verified domain"},
		{"member alias via proxyAddresses", employee, invite("meganb@contoso.example", nil), 400, "BadRequest", "already exists"},
		{"member by employee", employee, invite("m1@fabrikam.example", member), 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
		{"member by guest inviter", inviter, invite("m2@fabrikam.example", member), 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
		{"no invite permission", readOnly, invite("p@fabrikam.example", nil), 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
		{"blocked domain", employee, invite("b@blocked.example", nil), 403, "Authorization_RequestDenied", "blocked"},
		{"unknown property", employee, invite("u@fabrikam.example", map[string]any{"signInNames": "x"}), 400, "BadRequest", "does not exist on type 'microsoft.graph.invitation'"},
		{"wrong type", employee, invite("u@fabrikam.example", map[string]any{"sendInvitationMessage": "yes"}), 400, "BadRequest", "convert"},
		{"bad user type", employee, invite("u@fabrikam.example", map[string]any{"invitedUserType": "Admin"}), 400, "BadRequest", "invitedUserType"},
		{"not JSON", employee, "{", 400, "BadRequest", "Unable to read JSON request payload"},
		{"reset without user", admin, invite("u@fabrikam.example", map[string]any{"resetRedemption": true}), 400, "BadRequest", "invitedUser"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(tn.Users())
			g := graphCallT(t, tn, "POST", "/v1.0/invitations", tt.token, tt.body)
			e := g.err(t)
			if g.Status != tt.status || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("%d %+v", g.Status, e)
			}
			if len(tn.Users()) != n {
				t.Error("a refused invitation must not create a user")
			}
		})
	}
	g := graphCallT(t, tn, "POST", "/v1.0/invitations", admin, invite("m3@fabrikam.example", member))
	if g.Status != 201 || g.json(t)["invitedUserType"] != "Member" {
		t.Fatalf("admin invites a Member: %d %s", g.Status, g.Body)
	}
	if u, _ := tn.UserByMail("m3@fabrikam.example"); u.UserType != "Member" || u.ExternalUserState != "PendingAcceptance" {
		t.Errorf("member user %+v", u)
	}
}

func TestReinviteExistingGuest(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	post := func(tok string, body any) map[string]any {
		t.Helper()
		g := graphCallT(t, tn, "POST", "/v1.0/invitations", tok, body)
		if g.Status != 201 {
			t.Fatalf("%d %s", g.Status, g.Body)
		}
		return g.json(t)
	}
	pendingID := StableID("pending.guest@fabrikam.example")
	before, _ := tn.UserByID(pendingID)
	a := post(tok, invite("Pending.Guest@fabrikam.example", nil))
	b := post(tok, invite("pending.guest@fabrikam.example", map[string]any{"sendInvitationMessage": true}))
	if a["invitedUser"].(map[string]any)["id"] != pendingID || b["invitedUser"].(map[string]any)["id"] != pendingID {
		t.Fatalf("re-invites must refer to the existing guest %s: %v %v", pendingID, a["invitedUser"], b["invitedUser"])
	}
	if a["id"] == b["id"] || a["inviteRedeemUrl"] == b["inviteRedeemUrl"] || a["status"] != "PendingAcceptance" {
		t.Errorf("each invitation is new with a fresh redeem URL: %v %v", a, b)
	}
	if n := len(tn.Outbox()); n != 1 {
		t.Errorf("outbox %d", n)
	}
	after, _ := tn.UserByID(pendingID)
	if !after.ExternalUserStateChangeDateTime.Equal(*before.ExternalUserStateChangeDateTime) {
		t.Error("re-inviting a pending guest does not change its state time")
	}

	// Via otherMails: the renamed guest is found by its old address.
	c := post(tok, invite("other.mail@fabrikam.example", nil))
	if c["invitedUser"].(map[string]any)["id"] != StableID("renamed.guest@fabrikam.example") || c["status"] != "Completed" {
		t.Errorf("otherMails match: %v", c)
	}

	accID := StableID("accepted.guest@fabrikam.example")
	d := post(tok, invite("accepted.guest@fabrikam.example", nil))
	if d["status"] != "Completed" {
		t.Errorf("accepted guest: status %v", d["status"])
	}
	if u, _ := tn.UserByID(accID); u.ExternalUserState != "Accepted" {
		t.Errorf("an accepted guest stays accepted: %s", u.ExternalUserState)
	}
	// Resetting redemption needs User.ReadWrite.All besides the admin role (graph-contract, Lifecycle).
	adminRW := accessToken(t, tn, "admin@contoso.example", "User.ReadWrite.All")
	e := post(adminRW, invite("accepted.guest@fabrikam.example", map[string]any{"resetRedemption": true, "invitedUser": map[string]any{"id": accID}}))
	if e["status"] != "PendingAcceptance" || e["resetRedemption"] != true {
		t.Errorf("reset: %v", e)
	}
	if u, _ := tn.UserByID(accID); u.ExternalUserState != "PendingAcceptance" {
		t.Errorf("reset redemption: %s", u.ExternalUserState)
	}
	if n := len(tn.Invitations()); n != 5 {
		t.Errorf("invitations %d", n)
	}
}

func TestUsersFilter(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	basic := accessToken(t, tn, "employee@contoso.example", "User.Read", "User.ReadBasic.All")
	if g := graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite("o'neil@fabrikam.example", nil)); g.Status != 201 {
		t.Fatalf("invite o'neil: %s", g.Body)
	}
	eventual := []string{"ConsistencyLevel", "eventual"}
	sel := "id,displayName,mail,userPrincipalName,userType,externalUserState,externalUserStateChangeDateTime,creationType"
	const seed = "userPrincipalName eq '{0}' or mail eq '{0}' or proxyAddresses/any(x:x eq 'SMTP:{0}') or signInNames/any(x:x eq '{0}') or otherMails/any(x:x eq '{0}')"
	oneil, _ := tn.UserByMail("o'neil@fabrikam.example")
	tests := []struct {
		name    string
		token   string
		opts    map[string]string
		hdr     []string
		status  int
		code    string
		msg     string
		wantIDs []string
	}{
		{"seed query verbatim", tok, map[string]string{"$filter": strings.ReplaceAll(seed, "{0}", "megan@contoso.example"), "$count": "true"}, eventual,
			400, "Request_BadRequest", "Could not find a property named 'signInNames' on type 'microsoft.graph.user'.", nil},
		{"mail", tok, map[string]string{"$filter": fourClause("megan@contoso.example"), "$count": "true", "$select": sel}, eventual, 200, "", "", []string{StableID("megan@contoso.example")}},
		{"mail ignores case", tok, map[string]string{"$filter": fourClause("MEGAN@Contoso.example"), "$count": "true"}, eventual, 200, "", "", []string{StableID("megan@contoso.example")}},
		{"otherMails", tok, map[string]string{"$filter": fourClause("other.mail@fabrikam.example"), "$count": "true"}, eventual, 200, "", "", []string{StableID("renamed.guest@fabrikam.example")}},
		{"guest UPN", tok, map[string]string{"$filter": fourClause("pending.guest_fabrikam.example#EXT#@contoso.onmicrosoft.com"), "$count": "true"}, eventual, 200, "", "", []string{StableID("pending.guest@fabrikam.example")}},
		{"proxyAddresses alias", tok, map[string]string{"$filter": fourClause("meganb@contoso.example"), "$count": "true"}, eventual, 200, "", "", []string{StableID("megan@contoso.example")}},
		{"nobody", tok, map[string]string{"$filter": fourClause("nobody@fabrikam.example"), "$count": "true"}, eventual, 200, "", "", []string{}},
		{"quote doubled", tok, map[string]string{"$filter": fourClause("o'neil@fabrikam.example"), "$count": "true"}, eventual, 200, "", "", []string{oneil.ID}},
		{"crafted literal stays a literal", tok, map[string]string{"$filter": fourClause("x' or mail eq 'megan@contoso.example"), "$count": "true"}, eventual, 200, "", "", []string{}},
		{"unescaped quote", tok, map[string]string{"$filter": "mail eq 'o'neil@fabrikam.example'"}, nil, 400, "BadRequest", "Invalid filter clause", nil},
		{"advanced without ConsistencyLevel", tok, map[string]string{"$filter": fourClause("megan@contoso.example"), "$count": "true"}, nil, 400, "Request_UnsupportedQuery", "ConsistencyLevel", nil},
		{"advanced without $count", tok, map[string]string{"$filter": fourClause("megan@contoso.example")}, eventual, 400, "Request_UnsupportedQuery", "$count", nil},
		{"single lambda is basic", tok, map[string]string{"$filter": "otherMails/any(m:m eq 'other.mail@fabrikam.example')"}, nil, 200, "", "", []string{StableID("renamed.guest@fabrikam.example")}},
		{"simple or is basic", tok, map[string]string{"$filter": "mail eq 'megan@contoso.example' or userPrincipalName eq 'admin@contoso.example'"}, nil, 200, "", "", []string{StableID("admin@contoso.example"), StableID("megan@contoso.example")}},
		{"parenthesised", tok, map[string]string{"$filter": "(mail eq 'megan@contoso.example')"}, nil, 200, "", "", []string{StableID("megan@contoso.example")}},
		{"identities", tok, map[string]string{"$filter": "identities/any(c:c/issuerAssignedId eq 'local.user@contoso.onmicrosoft.com' and c/issuer eq 'contoso.onmicrosoft.com')"}, nil, 200, "", "", []string{StableID("local.user@contoso.onmicrosoft.com")}},
		{"identities reversed", tok, map[string]string{"$filter": "identities/any(id:id/issuer eq 'mail' and id/issuerAssignedId eq 'accepted.guest@fabrikam.example')"}, nil, 200, "", "", []string{StableID("accepted.guest@fabrikam.example")}},
		{"identities without issuer", tok, map[string]string{"$filter": "identities/any(c:c/issuerAssignedId eq 'local.user@contoso.onmicrosoft.com')"}, nil, 400, "Request_UnsupportedQuery", "Unsupported Query.", nil},
		{"identities joined by or", tok, map[string]string{"$filter": "mail eq 'a@b.example' or identities/any(c:c/issuerAssignedId eq 'a' and c/issuer eq 'b')"}, eventual, 400, "Request_UnsupportedQuery", "Unsupported Query.", nil},
		{"identities unknown member", tok, map[string]string{"$filter": "identities/any(c:c/email eq 'a' and c/issuer eq 'b')"}, nil, 400, "Request_BadRequest", "Could not find a property named 'email' on type 'microsoft.graph.objectIdentity'.", nil},
		{"other property", tok, map[string]string{"$filter": "displayName eq 'Megan Bowen'"}, nil, 400, "Request_UnsupportedQuery", "Unsupported Query.", nil},
		{"function", tok, map[string]string{"$filter": "startswith(mail,'megan')"}, nil, 400, "Request_UnsupportedQuery", "Unsupported Query.", nil},
		{"and", tok, map[string]string{"$filter": "mail eq 'a@b.example' and userType eq 'Guest'"}, nil, 400, "Request_UnsupportedQuery", "Unsupported Query.", nil},
		{"ne", tok, map[string]string{"$filter": "mail ne 'a@b.example'"}, nil, 400, "Request_UnsupportedQuery", "Unsupported Query.", nil},
		{"unknown property", tok, map[string]string{"$filter": "emailAddress eq 'a@b.example'"}, nil, 400, "Request_BadRequest", "Could not find a property named 'emailAddress' on type 'microsoft.graph.user'.", nil},
		{"unknown select", tok, map[string]string{"$select": "id,signInNames"}, nil, 400, "Request_BadRequest", "signInNames", nil},
		{"basic reader, lambda", basic, map[string]string{"$filter": "otherMails/any(x:x eq 'a@b.example')"}, nil, 403, "Authorization_RequestDenied", "Insufficient privileges", nil},
		{"basic reader, mail", basic, map[string]string{"$filter": "mail eq 'megan@contoso.example'"}, nil, 200, "", "", []string{StableID("megan@contoso.example")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := graphCallT(t, tn, "GET", usersPath(tt.opts), tt.token, nil, tt.hdr...)
			if g.Status != tt.status {
				t.Fatalf("status %d: %s", g.Status, g.Body)
			}
			if tt.status != 200 {
				e := g.err(t)
				if e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
					t.Fatalf("error %+v", e)
				}
				return
			}
			m := g.json(t)
			var ids []string
			for _, v := range m["value"].([]any) {
				ids = append(ids, v.(map[string]any)["id"].(string))
			}
			slices.Sort(ids)
			want := slices.Clone(tt.wantIDs)
			slices.Sort(want)
			if !slices.Equal(ids, want) && !(len(ids) == 0 && len(want) == 0) {
				t.Fatalf("ids %v, want %v", ids, want)
			}
			if tt.opts["$count"] == "true" && m["@odata.count"] != float64(len(want)) {
				t.Errorf("@odata.count %v", m["@odata.count"])
			}
			if tt.opts["$select"] != "" && len(ids) > 0 {
				u := m["value"].([]any)[0].(map[string]any)
				if len(u) != len(strings.Split(tt.opts["$select"], ",")) {
					t.Errorf("$select not honoured: %v", u)
				}
				if !strings.HasSuffix(m["@odata.context"].(string), "#users("+tt.opts["$select"]+")") {
					t.Errorf("context %v", m["@odata.context"])
				}
			}
		})
	}
}

func TestSearchLag(t *testing.T) {
	clock := newClock()
	tn := startTenant(t, withClock(clock))
	tn.SetSearchLag(10 * time.Second)
	tok := accessToken(t, tn, "employee@contoso.example")
	graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite("fresh@fabrikam.example", nil))
	path := usersPath(map[string]string{"$filter": fourClause("fresh@fabrikam.example"), "$count": "true"})
	count := func() any {
		return graphCallT(t, tn, "GET", path, tok, nil, "ConsistencyLevel", "eventual").json(t)["@odata.count"]
	}
	if c := count(); c != float64(0) {
		t.Errorf("a brand-new guest is not yet in the index: %v", c)
	}
	clock.Add(11 * time.Second)
	if c := count(); c != float64(1) {
		t.Errorf("after the lag: %v", c)
	}
}

func TestGetUserMeOrganization(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	id := StableID("accepted.guest@fabrikam.example")
	g := graphCallT(t, tn, "GET", "/v1.0/users/"+id+"?$select=externalUserState,externalUserStateChangeDateTime,userType", tok, nil)
	m := g.json(t)
	if g.Status != 200 || len(m) != 5 || m["id"] != id || m["externalUserState"] != "Accepted" || m["userType"] != "Guest" {
		t.Fatalf("%d %s", g.Status, g.Body)
	}
	changed, err := time.Parse(time.RFC3339, m["externalUserStateChangeDateTime"].(string))
	if err != nil || time.Since(changed) < 71*time.Hour || time.Since(changed) > 73*time.Hour {
		t.Errorf("accepted three days ago: %v %v", changed, err)
	}
	if m["@odata.context"] != tn.URL()+"/v1.0/$metadata#users(externalUserState,externalUserStateChangeDateTime,userType)/$entity" {
		t.Errorf("context %v", m["@odata.context"])
	}
	g = graphCallT(t, tn, "GET", "/v1.0/users/"+url.PathEscape("pending.guest_fabrikam.example#EXT#@contoso.onmicrosoft.com"), tok, nil)
	if g.Status != 200 || g.json(t)["id"] != StableID("pending.guest@fabrikam.example") {
		t.Errorf("by UPN: %d %s", g.Status, g.Body)
	}
	g = graphCallT(t, tn, "GET", "/v1.0/users/00000000-0000-0000-0000-000000000000", tok, nil)
	if e := g.err(t); g.Status != 404 || e.Code != "Request_ResourceNotFound" {
		t.Errorf("404: %d %+v", g.Status, e)
	}
	g = graphCallT(t, tn, "GET", "/v1.0/me", tok, nil)
	if g.Status != 200 || g.json(t)["userPrincipalName"] != "employee@contoso.example" {
		t.Errorf("/me: %d %s", g.Status, g.Body)
	}
	g = graphCallT(t, tn, "GET", "/v1.0/organization", tok, nil)
	org := g.json(t)["value"].([]any)[0].(map[string]any)
	domains := org["verifiedDomains"].([]any)
	d0, d1 := domains[0].(map[string]any), domains[1].(map[string]any)
	if g.Status != 200 || org["id"] != tn.TenantID() || org["displayName"] != "Contoso" || len(domains) != 2 ||
		d0["name"] != "contoso.example" || d0["isDefault"] != true || d1["name"] != "contoso.onmicrosoft.com" || d1["isInitial"] != true {
		t.Errorf("organization %s", g.Body)
	}
	inviteOnly := accessToken(t, tn, "employee@contoso.example", "User.Invite.All")
	for _, p := range []string{"/v1.0/organization", "/v1.0/users", "/v1.0/users/" + id} {
		if g := graphCallT(t, tn, "GET", p, inviteOnly, nil); g.Status != 403 || g.err(t).Code != "Authorization_RequestDenied" {
			t.Errorf("%s without read permission: %d", p, g.Status)
		}
	}
	if g := graphCallT(t, tn, "GET", "/v1.0/groups", tok, nil); g.Status != 400 {
		t.Errorf("unknown segment: %d", g.Status)
	}
	if g := graphCallT(t, tn, "POST", "/v1.0/users/"+id, tok, nil); g.Status != 405 {
		t.Errorf("POST on a user: %d", g.Status)
	}
	if g := graphCallT(t, tn, "DELETE", "/v1.0/users/"+id, tok, nil); g.Status != 403 {
		t.Errorf("DELETE without User.ReadWrite.All: %d", g.Status)
	}
}

func TestRedemption(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "inviter@contoso.example")
	g := graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite("redeem.me@fabrikam.example", nil))
	m := g.json(t)
	redeemURL := m["inviteRedeemUrl"].(string)
	userID := m["invitedUser"].(map[string]any)["id"].(string)

	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, redeemURL, nil)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", method, resp.StatusCode)
		}
		if method == "GET" {
			for _, want := range []string{"Contoso", "Ines Inviter", `method="post"`, "Accept"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("consent page lacks %q", want)
				}
			}
		}
		if u, _ := tn.UserByID(userID); u.ExternalUserState != "PendingAcceptance" {
			t.Fatalf("%s must not redeem: %s", method, u.ExternalUserState)
		}
	}
	q, _ := url.Parse(redeemURL)
	resp, err := noRedirect.PostForm(tn.URL()+"/redeem", q.Query())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://portico.example/welcome" {
		t.Fatalf("accept: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	u, _ := tn.UserByID(userID)
	if u.ExternalUserState != "Accepted" || u.ExternalUserStateChangeDateTime == nil || time.Since(*u.ExternalUserStateChangeDateTime) > time.Minute {
		t.Errorf("after accept: %+v", u)
	}
	// Graph shows it too.
	g = graphCallT(t, tn, "GET", "/v1.0/users/"+userID+"?$select=externalUserState", tok, nil)
	if g.json(t)["externalUserState"] != "Accepted" {
		t.Errorf("graph state: %s", g.Body)
	}
	for name, u := range map[string]string{"used ticket": redeemURL, "unknown ticket": tn.URL() + "/redeem?ticket=nope&user=" + userID} {
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	resp, err = noRedirect.PostForm(tn.URL()+"/redeem", q.Query())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("second POST: %d", resp.StatusCode)
	}

	// Accept (the hook) does the same as the page.
	tn.Accept(StableID("pending.guest@fabrikam.example"))
	if u, _ := tn.UserByMail("pending.guest@fabrikam.example"); u.ExternalUserState != "Accepted" {
		t.Errorf("Accept hook: %s", u.ExternalUserState)
	}
}

func TestFaults(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	tests := []struct {
		name    string
		fault   Fault
		method  string
		path    string
		status  int
		code    string
		headers map[string]string
	}{
		{"429 with Retry-After", Fault{Method: "POST", PathPrefix: "/v1.0/invitations", Status: 429, RetryAfter: "7", Times: 1}, "POST", "/v1.0/invitations", 429, "TooManyRequests",
			map[string]string{"Retry-After": "7", "x-ms-throttle-information": "ResourceUnitLimitExceeded"}},
		{"503 without Retry-After", Fault{Status: 503, Times: 1}, "GET", "/v1.0/organization", 503, "ServiceUnavailable", map[string]string{"Retry-After": ""}},
		{"custom error", Fault{PathPrefix: "/users", Status: 400, Code: "Request_BadRequest", Message: "custom", Times: 1}, "GET", "/v1.0/users", 400, "Request_BadRequest", nil},
		{"path mismatch is untouched", Fault{PathPrefix: "/v1.0/invitations", Status: 500, Times: 1}, "GET", "/v1.0/organization", 200, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn.ClearFaults()
			tn.InjectFault(tt.fault)
			g := graphCallT(t, tn, tt.method, tt.path, tok, invite("fault@fabrikam.example", nil))
			if g.Status != tt.status {
				t.Fatalf("status %d: %s", g.Status, g.Body)
			}
			if tt.code != "" {
				if e := g.err(t); e.Code != tt.code || e.InnerError.RequestID != g.Header.Get("request-id") {
					t.Errorf("envelope %+v", e)
				}
			}
			for k, v := range tt.headers {
				if g.Header.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, g.Header.Get(k), v)
				}
			}
		})
	}
	tn.ClearFaults()

	// Times: the fault answers twice, then Graph does.
	tn.InjectFault(Fault{PathPrefix: "/organization", Status: 503, Times: 2})
	var got []int
	for range 3 {
		got = append(got, graphCallT(t, tn, "GET", "/v1.0/organization", tok, nil).Status)
	}
	if !slices.Equal(got, []int{503, 503, 200}) {
		t.Errorf("statuses %v", got)
	}

	// Delay.
	tn.InjectFault(Fault{PathPrefix: "/organization", Delay: 150 * time.Millisecond, Times: 1})
	start := time.Now()
	if g := graphCallT(t, tn, "GET", "/v1.0/organization", tok, nil); g.Status != 200 || time.Since(start) < 150*time.Millisecond {
		t.Errorf("delay: %d after %v", g.Status, time.Since(start))
	}

	// Drop the connection after doing the work: the invitation exists, the client got no answer.
	tn.InjectFault(Fault{Method: "POST", PathPrefix: "/invitations", DropConnection: true, Times: 1})
	n := len(tn.Invitations())
	req, _ := http.NewRequest("POST", tn.URL()+"/v1.0/invitations", strings.NewReader(`{"invitedUserEmailAddress":"dropped@fabrikam.example","inviteRedirectUrl":"https://portico.example/"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("want a transport error, got %d", resp.StatusCode)
	}
	if len(tn.Invitations()) != n+1 {
		t.Error("the dropped request must still have created the invitation")
	}
	if _, ok := tn.UserByMail("dropped@fabrikam.example"); !ok {
		t.Error("the dropped request must still have created the user")
	}
	reqs := tn.Requests()
	if last := reqs[len(reqs)-1]; last.Status != 0 || last.Method != "POST" {
		t.Errorf("recorded %+v", last)
	}
}

func TestWriteQuota(t *testing.T) {
	clock := newClock()
	tn := startTenant(t, withClock(clock))
	tn.SetWriteQuota(2, 10*time.Second)
	tok := accessToken(t, tn, "employee@contoso.example")
	var statuses []int
	var last graphResp
	for i := range 3 {
		last = graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite("q"+strconv.Itoa(i)+"@fabrikam.example", nil))
		statuses = append(statuses, last.Status)
	}
	if !slices.Equal(statuses, []int{201, 201, 429}) {
		t.Fatalf("statuses %v", statuses)
	}
	e := last.err(t)
	if e.Code != "TooManyRequests" || last.Header.Get("Retry-After") != "5" || last.Header.Get("x-ms-throttle-information") != "WriteLimitExceeded" ||
		!strings.HasPrefix(last.Header.Get("x-ms-throttle-scope"), "Tenant_Application/Write/portico-demo/") {
		t.Errorf("429: %+v %v", e, last.Header)
	}
	if _, ok := tn.UserByMail("q2@fabrikam.example"); ok {
		t.Error("a throttled write must not take effect")
	}
	// Reads are not writes.
	if g := graphCallT(t, tn, "GET", "/v1.0/organization", tok, nil); g.Status != 200 {
		t.Errorf("read while write-throttled: %d", g.Status)
	}
	clock.Add(5 * time.Second)
	if g := graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite("q3@fabrikam.example", nil)); g.Status != 201 {
		t.Errorf("after Retry-After: %d", g.Status)
	}
}

func TestRequestsRecorded(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	tn.ResetRequests()
	filter := fourClause("a+b@fabrikam.example")
	graphCallT(t, tn, "GET", usersPath(map[string]string{"$filter": filter, "$count": "true"}), tok, nil, "ConsistencyLevel", "eventual", "x-ms-throttle-priority", "high")
	graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite("rec@fabrikam.example", nil))
	reqs := tn.Requests()
	if len(reqs) != 2 {
		t.Fatalf("requests %d", len(reqs))
	}
	r0, r1 := reqs[0], reqs[1]
	if r0.Method != "GET" || r0.Path != "/v1.0/users" || r0.Query.Get("$filter") != filter || r0.Header.Get("ConsistencyLevel") != "eventual" ||
		r0.Header.Get("x-ms-throttle-priority") != "high" || r0.Status != 200 || r0.RequestID == "" || !strings.Contains(r0.RawQuery, "%2B") {
		t.Errorf("GET %+v", r0)
	}
	if r1.Method != "POST" || !strings.Contains(string(r1.Body), "rec@fabrikam.example") || r1.Status != 201 {
		t.Errorf("POST %+v", r1)
	}
	tn.ResetRequests()
	if len(tn.Requests()) != 0 {
		t.Error("ResetRequests")
	}
}

func TestConcurrentUse(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			addr := "c" + strconv.Itoa(i%4) + "@fabrikam.example"
			graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite(addr, map[string]any{"sendInvitationMessage": true}))
			graphCallT(t, tn, "GET", usersPath(map[string]string{"$filter": fourClause(addr), "$count": "true"}), tok, nil, "ConsistencyLevel", "eventual")
			_ = tn.Outbox()
			_ = tn.Requests()
			_, _ = tn.UserByMail(addr)
		})
	}
	wg.Wait()
	seen := map[string]string{}
	for _, inv := range tn.Invitations() {
		if id, ok := seen[inv.Email]; ok && id != inv.UserID {
			t.Errorf("%s got two users", inv.Email)
		}
		seen[inv.Email] = inv.UserID
	}
	if len(seen) != 4 || len(tn.Outbox()) != 16 {
		t.Errorf("users %d, outbox %d", len(seen), len(tn.Outbox()))
	}
}

func TestCloseEndsDelays(t *testing.T) {
	tn, err := New(Options{ClientSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	tn.InjectFault(Fault{Delay: time.Hour})
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(tn.URL() + "/v1.0/organization")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the request reach the delay
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := tn.Close(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("Close waited %v for an injected delay", time.Since(start))
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the delayed request never ended")
	}
}

func TestNoGoroutineLeakOnClose(t *testing.T) {
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	tn, err := New(Options{ClientSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Get(tn.URL() + "/v1.0/organization")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := tn.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	client.CloseIdleConnections()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("goroutines: %d before, %d after Close", before, n)
	}
	if err := tn.Close(context.Background()); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}
