package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"portico/devtenant"
	"portico/store"
)

// apiError is Graph's error envelope as the JSON API answers it.
type apiErrorEnvelope struct {
	Error struct {
		Code       string            `json:"code"`
		Message    string            `json:"message"`
		Details    map[string]string `json:"details"`
		InnerError map[string]string `json:"innerError"`
	} `json:"error"`
}

func decodeAPIError(t *testing.T, p *page) apiErrorEnvelope {
	t.Helper()
	var e apiErrorEnvelope
	must(t, json.Unmarshal([]byte(p.Body), &e) == nil && e.Error.Message != "" && e.Error.InnerError["request-id"] != "",
		"not Graph's error envelope (%d): %s", p.Status, p.Body)
	return e
}

// TestAPISponsorsAndGroups: the JSON API takes Graph's invitedUserSponsors ([{"id": ...}], by object
// id or address) and Portico's porticoGroups; bad sponsors and groups are refused in Graph's error
// envelope, by field, with nothing sent; a good request reaches Graph with the caller first and
// adds the guest to the group once.
func TestAPISponsorsAndGroups(t *testing.T) {
	tenant := newTenant(t)
	h := launch(t, tenant, map[string]string{"PORTICO_GUEST_GROUPS": demoGroups})
	h.await(t)
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	megan, admin := oidOf(t, tenant, "megan@contoso.example"), oidOf(t, tenant, "admin@contoso.example")

	body := func(email, extra string) string {
		return `{"invitedUserEmailAddress":"` + email + `","inviteRedirectUrl":"","sendInvitationMessage":false` + extra + `}`
	}
	for name, tc := range map[string]struct {
		extra, field, says string
		status             int
	}{
		"unknown id":     {`,"invitedUserSponsors":[{"id":"00000000-0000-0000-0000-0000000000ff"}]`, "invitedUserSponsors[0]", "not in your organization", 400},
		"guest":          {`,"invitedUserSponsors":[{"id":"` + megan + `"},{"id":"pending.guest@fabrikam.example"}]`, "invitedUserSponsors[1]", "is a guest", 400},
		"not an address": {`,"invitedUserSponsors":[{"id":"megan"}]`, "invitedUserSponsors[0]", "Not an email address", 400},
		"empty id":       {`,"invitedUserSponsors":[{"id":""}]`, "invitedUserSponsors[0]", "sponsor's id", 400},
		"too many": {`,"invitedUserSponsors":[{"id":"` + megan + `"},{"id":"` + admin + `"},{"id":"inviter@contoso.example"},` +
			`{"id":"megan@contoso.example"},{"id":"meganb@contoso.example"},{"id":"alex@contoso.example"}]`, "invitedUserSponsors", "at most 4", 400},
		"group not listed": {`,"porticoGroups":["` + devtenant.StableID("group:elsewhere") + `"]`, "porticoGroups", "only groups from the list", 400},
	} {
		t.Run(name, func(t *testing.T) {
			p := emp.postJSON("/invitations", body("api.bad@fabrikam.example", tc.extra))
			e := decodeAPIError(t, p)
			must(t, p.Status == tc.status && strings.Contains(e.Error.Details[tc.field], tc.says),
				"%s: %d, details %v, want %s: %q", name, p.Status, e.Error.Details, tc.field, tc.says)
		})
	}
	wrongType := emp.postJSON("/invitations", body("api.bad@fabrikam.example", `,"porticoGroups":"`+devtenant.GroupProjectFalcon+`"`))
	must(t, wrongType.Status == http.StatusBadRequest && strings.Contains(decodeAPIError(t, wrongType).Error.Message, "porticoGroups"),
		"a group that is not a list: %d %s", wrongType.Status, wrongType.Body)
	must(t, countPosts(tenant, "/v1.0/invitations") == 0, "nothing sent for a refused request")

	// By object id and by address; the caller named again counts once.
	p := emp.postJSON("/invitations", body("api.sky@fabrikam.example",
		`,"invitedUserSponsors":[{"id":"`+megan+`"},{"id":"admin@contoso.example"},{"id":"employee@contoso.example"}],"porticoGroups":["`+devtenant.GroupProjectFalcon+`"]`))
	must(t, p.Status == http.StatusCreated, "created: %d %s", p.Status, p.Body)
	var created struct {
		ID string `json:"id"`
	}
	must(t, json.Unmarshal([]byte(p.Body), &created) == nil && created.ID != "", "the record's id: %s", p.Body)
	must(t, countPosts(tenant, "/v1.0/invitations") == 1, "one invitation")
	guest, ok := tenant.UserByMail("api.sky@fabrikam.example")
	must(t, ok && slices.Equal(guest.Sponsors, []string{oidOf(t, tenant, "employee@contoso.example"), megan, admin}), "sponsors in Graph: %+v", guest.Sponsors)
	deadline := time.Now().Add(10 * time.Second)
	for {
		gs, err := h.App.Store.InvitationGroups(t.Context(), created.ID)
		must(t, err == nil, "groups: %v", err)
		if len(gs) == 1 && gs[0].Status == store.GroupAdded {
			break
		}
		must(t, time.Now().Before(deadline), "group not added: %+v", gs)
		time.Sleep(100 * time.Millisecond)
	}
	g, _ := tenant.GroupByID(devtenant.GroupProjectFalcon)
	must(t, slices.Contains(g.Members, guest.ID), "the guest is in the group")
	sps, err := h.App.Store.InvitationSponsors(t.Context(), created.ID)
	must(t, err == nil && len(sps) == 3 && sps[1].Address == "megan@contoso.example" && sps[2].Address == "admin@contoso.example",
		"sponsors recorded with their addresses: %+v %v", sps, err)
}

// TestAPIApprovalKeepsSponsorsAndGroups: a JSON request that needs approval is checked like any
// other (a guest sponsor is refused, nothing recorded) and, accepted (202), keeps its sponsors and
// groups until an approver sends them.
func TestAPIApprovalKeepsSponsorsAndGroups(t *testing.T) {
	h := startApprovals(t, map[string]string{"PORTICO_GUEST_GROUPS": devtenant.GroupProjectFalcon})
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	megan := oidOf(t, h.tenant, "megan@contoso.example")
	const partner = "api.pat@northwind.example"
	body := func(sponsor string) string {
		return `{"invitedUserEmailAddress":"` + partner + `","inviteRedirectUrl":"","sendInvitationMessage":true,` +
			`"invitedUserSponsors":[{"id":"` + sponsor + `"}],"porticoGroups":["` + devtenant.GroupProjectFalcon + `"]}`
	}
	bad := emp.postJSON("/invitations", body("pending.guest@fabrikam.example"))
	e := decodeAPIError(t, bad)
	must(t, bad.Status == http.StatusBadRequest && strings.Contains(e.Error.Details["invitedUserSponsors[0]"], "is a guest"), "guest sponsor: %d %v", bad.Status, e.Error.Details)
	n, err := h.App.Store.CountApprovalRequests(t.Context(), store.ApprovalFilter{TenantID: h.tenant.TenantID()})
	must(t, err == nil && n == 0, "nothing recorded for a refused request: %d %v", n, err)

	ok := emp.postJSON("/invitations", body(megan))
	must(t, ok.Status == http.StatusAccepted && strings.Contains(ok.Body, `"state":"pending"`), "asked: %d %s", ok.Status, ok.Body)
	var got struct {
		ApprovalRequest struct {
			ID string `json:"id"`
		} `json:"approvalRequest"`
	}
	must(t, json.Unmarshal([]byte(ok.Body), &got) == nil && got.ApprovalRequest.ID != "", "the request's id: %s", ok.Body)
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	req := "/approvals/" + got.ApprovalRequest.ID
	page := admin.get(req)
	must(t, strings.Contains(text(page, `[data-testid="approval-sponsors"]`), "megan@contoso.example"), "sponsor by address on the page: %q", text(page, `[data-testid="approval-sponsors"]`))
	must(t, admin.post(req+"/approve", nil).Status == http.StatusSeeOther, "approved")
	guest, found := h.tenant.UserByMail(partner)
	must(t, found && slices.Equal(guest.Sponsors, []string{oidOf(t, h.tenant, "employee@contoso.example"), megan, oidOf(t, h.tenant, "admin@contoso.example")}),
		"sponsors: %+v", guest.Sponsors)
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, _ := h.tenant.GroupByID(devtenant.GroupProjectFalcon)
		if slices.Contains(g.Members, guest.ID) {
			break
		}
		must(t, time.Now().Before(deadline), "the guest was not added to the group")
		time.Sleep(100 * time.Millisecond)
	}
}
