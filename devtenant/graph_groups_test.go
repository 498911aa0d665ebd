package devtenant

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func memberBody(id string) map[string]any {
	return map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + id}
}

func TestGetGroup(t *testing.T) {
	tn := startTenant(t)
	reader := accessToken(t, tn, "employee@contoso.example", "User.Read", "GroupMember.Read.All")
	noPerm := accessToken(t, tn, "employee@contoso.example", "User.Read")
	appTok, _ := tn.AppAccessToken("GroupMember.Read.All")
	appNone, _ := tn.AppAccessToken("User.Read.All")

	g := graphCallT(t, tn, "GET", "/v1.0/groups/"+GroupMarketingTeam, reader, nil)
	if g.Status != 200 {
		t.Fatalf("get group: %d %s", g.Status, g.Body)
	}
	m := g.json(t)
	if m["displayName"] != "Marketing team" || m["id"] != GroupMarketingTeam {
		t.Errorf("group = %v", m)
	}
	if rpo, _ := m["resourceProvisioningOptions"].([]any); len(rpo) != 1 || rpo[0] != "Team" {
		t.Errorf("resourceProvisioningOptions = %v, want [Team]", m["resourceProvisioningOptions"])
	}
	sel := graphCallT(t, tn, "GET", "/v1.0/groups/"+GroupProjectFalcon+"?$select=id,displayName", appTok, nil).json(t)
	if sel["displayName"] != "Project Falcon partners" || sel["description"] != nil {
		t.Errorf("$select: %v", sel)
	}
	for _, tt := range []struct {
		name, token, path string
		status            int
		code              string
	}{
		{"no permission delegated", noPerm, "/v1.0/groups/" + GroupMarketingTeam, 403, "Authorization_RequestDenied"},
		{"no permission application", appNone, "/v1.0/groups/" + GroupMarketingTeam, 403, "Authorization_RequestDenied"},
		{"unknown group", reader, "/v1.0/groups/" + StableID("nothing"), 404, "Request_ResourceNotFound"},
		{"unknown select", reader, "/v1.0/groups/" + GroupMarketingTeam + "?$select=nope", 400, "Request_BadRequest"},
		{"no token", "", "/v1.0/groups/" + GroupMarketingTeam, 401, "InvalidAuthenticationToken"},
	} {
		g := graphCallT(t, tn, "GET", tt.path, tt.token, nil)
		if g.Status != tt.status || g.err(t).Code != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.name, g.Status, g.Body, tt.status, tt.code)
		}
	}
}

func TestAddGroupMember(t *testing.T) {
	tn := startTenant(t)
	pending := StableID("pending.guest@fabrikam.example")
	accepted := StableID("accepted.guest@fabrikam.example")
	owner := accessToken(t, tn, "employee@contoso.example", "User.Read", "GroupMember.ReadWrite.All")
	ownerNoScope := accessToken(t, tn, "employee@contoso.example", "User.Read", "User.Read.All")
	admin := accessToken(t, tn, "admin@contoso.example", "User.Read", "GroupMember.ReadWrite.All")
	appTok, _ := tn.AppAccessToken("GroupMember.ReadWrite.All")
	appRead, _ := tn.AppAccessToken("GroupMember.Read.All")
	path := func(id string) string { return "/v1.0/groups/" + id + "/members/$ref" }

	// The owner adds a guest: 204, no body; the second add is Graph's "already exist" 400.
	g := graphCallT(t, tn, "POST", path(GroupProjectFalcon), owner, memberBody(pending))
	if g.Status != 204 || len(g.Body) != 0 {
		t.Fatalf("owner add: %d %q", g.Status, g.Body)
	}
	if gr, _ := tn.GroupByID(GroupProjectFalcon); !slices.Contains(gr.Members, pending) {
		t.Errorf("members = %v, want the guest", gr.Members)
	}
	again := graphCallT(t, tn, "POST", path(GroupProjectFalcon), owner, memberBody(pending))
	if e := again.err(t); again.Status != 400 || e.Code != "Request_BadRequest" ||
		e.Message != "One or more added object references already exist for the following modified properties: 'members'." {
		t.Errorf("second add: %d %s", again.Status, again.Body)
	}
	if again.Header.Get("request-id") == "" {
		t.Error("no request-id on the error answer")
	}

	tests := []struct {
		name, token, group string
		body               any
		status             int
		code, msg          string
	}{
		{"not an owner", owner, GroupFinancePartners, memberBody(accepted), 403, "Authorization_RequestDenied", "Insufficient privileges"},
		{"owner without the scope", ownerNoScope, GroupProjectFalcon, memberBody(accepted), 403, "Authorization_RequestDenied", "Insufficient privileges"},
		{"application without write", appRead, GroupFinancePartners, memberBody(accepted), 403, "Authorization_RequestDenied", "Insufficient privileges"},
		{"unknown group", owner, StableID("group:none"), memberBody(accepted), 404, "Request_ResourceNotFound", "does not exist"},
		{"unknown member", owner, GroupProjectFalcon, memberBody(StableID("nobody")), 404, "Request_ResourceNotFound", "does not exist"},
		{"no @odata.id", owner, GroupProjectFalcon, map[string]any{"id": accepted}, 400, "BadRequest", "@odata.id"},
		{"not a reference", owner, GroupProjectFalcon, map[string]any{"@odata.id": accepted}, 400, "Request_BadRequest", "Invalid object identifier"},
		{"not JSON", owner, GroupProjectFalcon, "{", 400, "BadRequest", "JSON"},
	}
	for _, tt := range tests {
		g := graphCallT(t, tn, "POST", path(tt.group), tt.token, tt.body)
		e := g.err(t)
		if g.Status != tt.status || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
			t.Errorf("%s: %d %s, want %d %s %q", tt.name, g.Status, g.Body, tt.status, tt.code, tt.msg)
		}
	}
	// A User Administrator may manage any group; so may the application with its permission.
	if g := graphCallT(t, tn, "POST", path(GroupFinancePartners), admin, memberBody(accepted)); g.Status != 204 {
		t.Errorf("admin add: %d %s", g.Status, g.Body)
	}
	if g := graphCallT(t, tn, "POST", path(GroupMarketingTeam), appTok, memberBody(accepted)); g.Status != 204 {
		t.Errorf("app add: %d %s", g.Status, g.Body)
	}
	if g := graphCallT(t, tn, "GET", path(GroupMarketingTeam), appTok, nil); g.Status != 405 {
		t.Errorf("GET on $ref: %d, want 405", g.Status)
	}
}

func TestGetManager(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "admin@contoso.example", "User.Read", "User.Read.All")
	basic := accessToken(t, tn, "admin@contoso.example", "User.Read")
	appTok, _ := tn.AppAccessToken("User.Read.All")
	g := graphCallT(t, tn, "GET", "/v1.0/users/"+StableID("employee@contoso.example")+"/manager", tok, nil)
	if m := g.json(t); g.Status != 200 || m["id"] != StableID("megan@contoso.example") || m["displayName"] != "Megan Bowen" {
		t.Errorf("manager: %d %s", g.Status, g.Body)
	}
	if g := graphCallT(t, tn, "GET", "/v1.0/users/employee@contoso.example/manager", appTok, nil); g.Status != 200 {
		t.Errorf("by UPN, application: %d %s", g.Status, g.Body)
	}
	none := graphCallT(t, tn, "GET", "/v1.0/users/"+StableID("admin@contoso.example")+"/manager", tok, nil)
	if e := none.err(t); none.Status != 404 || e.Code != "Request_ResourceNotFound" || !strings.Contains(e.Message, "'manager'") {
		t.Errorf("no manager: %d %s", none.Status, none.Body)
	}
	if g := graphCallT(t, tn, "GET", "/v1.0/users/"+StableID("employee@contoso.example")+"/manager", basic, nil); g.Status != 403 {
		t.Errorf("User.Read only: %d, want 403", g.Status)
	}
	tn.SetManager(StableID("admin@contoso.example"), StableID("employee@contoso.example"))
	if g := graphCallT(t, tn, "GET", "/v1.0/users/"+StableID("admin@contoso.example")+"/manager", tok, nil); g.json(t)["id"] != StableID("employee@contoso.example") {
		t.Errorf("after SetManager: %s", g.Body)
	}
}

func TestSearchUsers(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example", "User.Read", "User.Read.All")
	eventual := []string{"ConsistencyLevel", "eventual"}
	search := func(s string) string {
		return "/v1.0/users?$search=" + url.QueryEscape(s) + "&$select=id,displayName,mail,userType"
	}
	ids := func(g graphResp) []string {
		var out []string
		for _, v := range g.json(t)["value"].([]any) {
			out = append(out, v.(map[string]any)["id"].(string))
		}
		return out
	}
	g := graphCallT(t, tn, "GET", search(`"displayName:meg" OR "mail:meg"`), tok, nil, eventual...)
	if g.Status != 200 || !slices.Equal(ids(g), []string{StableID("megan@contoso.example")}) {
		t.Errorf("search meg: %d %s", g.Status, g.Body)
	}
	// Word prefixes match: "bow" finds Megan Bowen; "fabrikam" finds the guests by their names.
	if g := graphCallT(t, tn, "GET", search(`"displayName:bow"`), tok, nil, eventual...); !slices.Equal(ids(g), []string{StableID("megan@contoso.example")}) {
		t.Errorf("search bow: %s", g.Body)
	}
	if g := graphCallT(t, tn, "GET", search(`"mail:nobody"`), tok, nil, eventual...); g.Status != 200 || len(ids(g)) != 0 {
		t.Errorf("no match: %s", g.Body)
	}
	without := graphCallT(t, tn, "GET", search(`"displayName:meg"`), tok, nil)
	if e := without.err(t); without.Status != 400 || e.Code != "Request_UnsupportedQuery" || !strings.Contains(e.Message, "ConsistencyLevel: eventual") {
		t.Errorf("without ConsistencyLevel: %d %s", without.Status, without.Body)
	}
	for _, bad := range []string{`displayName:meg`, `"shoeSize:42"`, `"displayName:meg" XOR "mail:meg"`, `"displayName:meg`} {
		if g := graphCallT(t, tn, "GET", search(bad), tok, nil, eventual...); g.Status != 400 {
			t.Errorf("search %q: %d, want 400", bad, g.Status)
		}
	}
	noPerm := accessToken(t, tn, "employee@contoso.example", "User.Read")
	if g := graphCallT(t, tn, "GET", search(`"displayName:meg"`), noPerm, nil, eventual...); g.Status != 403 {
		t.Errorf("User.Read only: %d, want 403", g.Status)
	}
}

func TestInvitationSponsors(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	employee, megan, admin := StableID("employee@contoso.example"), StableID("megan@contoso.example"), StableID("admin@contoso.example")
	sp := func(ids ...string) []map[string]string {
		var out []map[string]string
		for _, id := range ids {
			out = append(out, map[string]string{"id": id})
		}
		return out
	}
	g := graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite("sponsored@fabrikam.example", map[string]any{"invitedUserSponsors": sp(employee, megan)}))
	if g.Status != 201 {
		t.Fatalf("invite: %d %s", g.Status, g.Body)
	}
	userID := g.json(t)["invitedUser"].(map[string]any)["id"].(string)
	list := graphCallT(t, tn, "GET", "/v1.0/users/"+userID+"/sponsors", tok, nil)
	var got []string
	for _, v := range list.json(t)["value"].([]any) {
		got = append(got, v.(map[string]any)["id"].(string))
	}
	if !slices.Equal(got, []string{employee, megan}) {
		t.Errorf("sponsors = %v, want employee and megan", got)
	}
	six := sp(employee, megan, admin, StableID("inviter@contoso.example"), StableID("local.user@contoso.onmicrosoft.com"), StableID("accepted.guest@fabrikam.example"))
	if g := graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite("six@fabrikam.example", map[string]any{"invitedUserSponsors": six})); g.Status != 400 || g.err(t).Code != "BadRequest" {
		t.Errorf("six sponsors: %d %s", g.Status, g.Body)
	}
	if g := graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite("ghost@fabrikam.example", map[string]any{"invitedUserSponsors": sp(StableID("ghost"))})); g.Status != 400 {
		t.Errorf("unknown sponsor: %d %s", g.Status, g.Body)
	}
	// A group can be a sponsor too; Graph lists it as a group.
	g = graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite("team.sponsored@fabrikam.example", map[string]any{"invitedUserSponsors": sp(employee, GroupMarketingTeam)}))
	if g.Status != 201 {
		t.Fatalf("group sponsor: %d %s", g.Status, g.Body)
	}
	userID = g.json(t)["invitedUser"].(map[string]any)["id"].(string)
	vals := graphCallT(t, tn, "GET", "/v1.0/users/"+userID+"/sponsors", tok, nil).json(t)["value"].([]any)
	if len(vals) != 2 || vals[1].(map[string]any)["@odata.type"] != "#microsoft.graph.group" || vals[1].(map[string]any)["displayName"] != "Marketing team" {
		t.Errorf("sponsors with a group: %v", vals)
	}
}

func TestIndexListsGroups(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example", "User.Read", "GroupMember.ReadWrite.All")
	if g := graphCallT(t, tn, "POST", "/v1.0/groups/"+GroupProjectFalcon+"/members/$ref", tok, memberBody(StableID("accepted.guest@fabrikam.example"))); g.Status != 204 {
		t.Fatalf("add: %d", g.Status)
	}
	g := graphCallT(t, tn, "GET", "/", "", nil)
	body := string(g.Body)
	if g.Status != 200 || !strings.Contains(body, "Project Falcon partners") || !strings.Contains(body, "members: Erin Employee, Alex Accepted (Fabrikam)") {
		t.Errorf("index: %d %s", g.Status, body)
	}
}
