package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"portico/devtenant"
)

var demoGroups = strings.Join([]string{devtenant.GroupProjectFalcon, devtenant.GroupFinancePartners, devtenant.GroupMarketingTeam}, ",")

// groupRows is the invitation page's group assignments: name → status.
func groupRows(p *page) map[string]string {
	out := map[string]string{}
	p.Doc.Find(`[data-testid="group"]`).Each(func(_ int, s *goquery.Selection) {
		name, _, _ := strings.Cut(strings.TrimSpace(s.Text()), ":")
		out[name] = s.AttrOr("data-status", "")
	})
	return out
}

// Delegated mode: the employee names a second sponsor and ticks two groups; the guest gets both
// sponsors in Graph, joins the group the employee owns, and the other group's refusal is shown
// with Graph's message. Megan finds the guest under "Guests you sponsor".
func TestInviteWithSponsorsAndGroups(t *testing.T) {
	tenant := newTenant(t)
	h := start(t, tenant, map[string]string{"PORTICO_GUEST_GROUPS": demoGroups})
	emp := h.browser()
	emp.signIn("employee@contoso.example")

	form := emp.get("/")
	must(t, form.Doc.Find(`input[name="sponsors"]`).Length() == 4, "four sponsor fields")
	var names []string
	form.Doc.Find(`[data-testid="groups"] label`).Each(func(_ int, s *goquery.Selection) { names = append(names, strings.Join(strings.Fields(s.Text()), " ")) })
	must(t, slices.Equal(names, []string{"Project Falcon partners", "Finance partners", "Marketing team (team)"}), "groups by name: %q", names)

	// A guest cannot be a sponsor; an unknown address is not in the organization: per field, nothing sent.
	bad := emp.post("/invitations", inviteForm("sky@fabrikam.example", func(v url.Values) {
		v["sponsors"] = []string{"", "pending.guest@fabrikam.example", "nobody@contoso.example", ""}
	}))
	must(t, bad.Status == http.StatusUnprocessableEntity || bad.Status == http.StatusBadRequest, "invalid sponsors: %d", bad.Status)
	must(t, strings.Contains(text(bad, `[id="sponsors.1-error"]`), "is a guest"), "guest sponsor error: %q", text(bad, `[id="sponsors.1-error"]`))
	must(t, strings.Contains(text(bad, `[id="sponsors.2-error"]`), "not in your organization"), "unknown sponsor error: %q", text(bad, `[id="sponsors.2-error"]`))
	must(t, bad.Doc.Find(`#sponsor-1[aria-invalid="true"]`).Length() == 1, "the field is marked invalid")
	must(t, countPosts(tenant, "/v1.0/invitations") == 0, "nothing sent")

	p := emp.post("/invitations", inviteForm("sky@fabrikam.example", func(v url.Values) {
		v["sponsors"] = []string{"megan@contoso.example", "", "", ""}
		v["groups"] = []string{devtenant.GroupProjectFalcon, devtenant.GroupFinancePartners}
	}))
	must(t, p.Status == http.StatusSeeOther, "invite: %d %s", p.Status, p.Body)
	guest, ok := tenant.UserByMail("sky@fabrikam.example")
	must(t, ok, "the guest exists")
	must(t, slices.Equal(guest.Sponsors, []string{devtenant.StableID("employee@contoso.example"), devtenant.StableID("megan@contoso.example")}),
		"sponsors in Graph: %v", guest.Sponsors)
	falcon, _ := tenant.GroupByID(devtenant.GroupProjectFalcon)
	finance, _ := tenant.GroupByID(devtenant.GroupFinancePartners)
	must(t, slices.Contains(falcon.Members, guest.ID), "added to the group the employee owns")
	must(t, !slices.Contains(finance.Members, guest.ID), "not added to a group the employee may not manage")

	res := emp.get(p.Header.Get("Location"))
	must(t, strings.Contains(text(res, `[data-testid="sponsors"]`), "Megan Bowen") && strings.Contains(text(res, `[data-testid="sponsors"]`), "Erin Employee"),
		"sponsors as Graph has them: %q", text(res, `[data-testid="sponsors"]`))
	rows := groupRows(res)
	must(t, rows["Project Falcon partners"] == "added" && rows["Finance partners"] == "failed", "group statuses: %v", rows)
	must(t, strings.Contains(text(res, `[data-testid="groups"]`), "Insufficient privileges to complete the operation."), "Graph's answer shown: %q", text(res, `[data-testid="groups"]`))

	admin := h.browser()
	admin.signIn("admin@contoso.example")
	audit := admin.get("/admin/audit?action=invitation.group_add")
	must(t, strings.Count(audit.Body, "invitation.group_add") >= 2, "each group's attempt is in the audit trail")

	megan := h.browser()
	megan.signIn("megan@contoso.example")
	list := megan.get("/invitations?scope=sponsored")
	must(t, list.Status == http.StatusOK && strings.Contains(text(list, `[data-testid="invitation-row"]`), "sky@fabrikam.example"),
		"Megan sees the guest she sponsors: %d %q", list.Status, text(list, "main"))
	must(t, list.Doc.Find(`[data-testid="invitation-row"] a`).Length() == 0, "but not a link to Erin's invitation page")
	mine := megan.get("/invitations")
	must(t, !strings.Contains(text(mine, "main"), "sky@fabrikam.example"), "not among her own invitations")

	// The people picker: members only, by name prefix.
	pp := emp.get("/people?q=meg", "Accept", "application/json")
	must(t, pp.Status == http.StatusOK && strings.Contains(pp.Body, `"address":"megan@contoso.example"`) && !strings.Contains(pp.Body, "fabrikam"), "people: %d %s", pp.Status, pp.Body)
	search := graphRequests(tenant, http.MethodGet, "/v1.0/users")
	found := false
	for _, r := range search {
		if r.Query.Get("$search") != "" {
			found = r.Header.Get("ConsistencyLevel") == "eventual"
		}
	}
	must(t, found, "the picker searched Graph with ConsistencyLevel: eventual")
}

// Application mode: the group add is a job. Graph fails while the first instance runs; it is
// stopped with the assignment pending; the next instance adds the guest exactly once.
func TestGroupAssignmentSurvivesRestart(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			tenant := newTenant(t)
			env := map[string]string{"PORTICO_GRAPH_MODE": "application", "PORTICO_GUEST_GROUPS": devtenant.GroupFinancePartners,
				"PORTICO_DATABASE_URL": dsn(t)}
			tenant.InjectFault(devtenant.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/groups/", Status: http.StatusServiceUnavailable, RetryAfter: "1"})
			first := launch(t, tenant, env)
			first.await(t)
			emp := first.browser()
			emp.signIn("employee@contoso.example")
			p := emp.post("/invitations", inviteForm("river@fabrikam.example", func(v url.Values) {
				v["groups"] = []string{devtenant.GroupFinancePartners}
			}))
			must(t, p.Status == http.StatusSeeOther, "invite: %d %s", p.Status, p.Body)
			invPath := p.Header.Get("Location")
			deadline := time.Now().Add(20 * time.Second)
			for {
				page := emp.get(invPath)
				if strings.Contains(text(page, `[data-testid="groups"]`), "Last attempt") {
					must(t, groupRows(page)["Finance partners"] == "pending", "pending after a transient failure: %v", groupRows(page))
					break
				}
				must(t, time.Now().Before(deadline), "the job never tried\n%s", first.Logs)
				time.Sleep(200 * time.Millisecond)
			}
			first.stop(t)
			tenant.ClearFaults()

			second := launch(t, tenant, env)
			second.await(t)
			emp2 := second.browser()
			emp2.signIn("employee@contoso.example")
			deadline = time.Now().Add(30 * time.Second)
			for groupRows(emp2.get(invPath))["Finance partners"] != "added" {
				must(t, time.Now().Before(deadline), "not added after the restart\n%s", second.Logs)
				time.Sleep(200 * time.Millisecond)
			}
			guest, _ := tenant.UserByMail("river@fabrikam.example")
			finance, _ := tenant.GroupByID(devtenant.GroupFinancePartners)
			n := 0
			for _, m := range finance.Members {
				if m == guest.ID {
					n++
				}
			}
			must(t, n == 1, "the guest is a member once: %v", finance.Members)
			added := 0
			for _, r := range tenant.Requests() {
				if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/members/$ref") && r.Status == http.StatusNoContent {
					added++
				}
			}
			must(t, added == 1, "one successful add, not %d", added)
			// The application is the sponsor's only witness: the employee is the guest's sponsor.
			must(t, slices.Equal(guest.Sponsors, []string{devtenant.StableID("employee@contoso.example")}), "sponsors %v", guest.Sponsors)
		})
	}
}
