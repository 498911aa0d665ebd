package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"portico/devtenant"
	"portico/store"
)

// acceptByLink invites addr by join link as emp, and the partner accepts through devtenant's
// redemption and lands on Portico's welcome page.
func acceptByLink(t *testing.T, in *instance, emp *browser, addr string) {
	t.Helper()
	_, join := inviteByLink(t, emp, addr)
	partner := in.browser()
	acc := partner.post(strings.TrimPrefix(join, in.URL)+"/accept", url.Values{"_csrf": {""}})
	redeemed := partner.post(acc.Header.Get("Location"), url.Values{"_csrf": {""}})
	landing := redeemed.Header.Get("Location")
	must(t, strings.Contains(landing, "/welcome?i="), "lands on Portico's welcome page: %q", landing)
	must(t, partner.get(landing).Status == http.StatusOK, "welcome page")
}

// noticesTo lists the messages devtenant's sendMail recorded for addr.
func noticesTo(tenant *devtenant.Tenant, addr string) []devtenant.Notice {
	var out []devtenant.Notice
	for _, n := range tenant.Notices() {
		for _, to := range n.To {
			if strings.EqualFold(to, addr) {
				out = append(out, n)
			}
		}
	}
	return out
}

// The demo (notices through Graph sendMail from devtenant's notices mailbox): the partner accepts
// → the state sync sees it → the inviter gets exactly one "accepted" notice, with a link to the
// invitation, shown on devtenant's outbox page; seeing the state again sends nothing more.
func TestDemoAcceptedNoticeOverSendMail(t *testing.T) {
	in := launch(t, nil, nil, "-demo", "-graph-mode", "application")
	in.await(t)
	tenant := in.App.Tenant
	emp := in.browser()
	emp.signIn("employee@contoso.example")
	acceptByLink(t, in, emp, "jordan@fabrikam.example")

	deadline := time.Now().Add(10 * time.Second)
	for len(noticesTo(tenant, "employee@contoso.example")) == 0 {
		must(t, time.Now().Before(deadline), "no notice 10 s after the partner landed\n%s", in.Logs)
		time.Sleep(100 * time.Millisecond)
	}
	got := noticesTo(tenant, "employee@contoso.example")
	must(t, len(got) == 1, "one notice, got %d", len(got))
	n := got[0]
	must(t, n.From == devtenant.DemoMailbox && n.ContentType == "HTML" && strings.Contains(n.Subject, "accepted the invitation"),
		"notice %+v", n)
	must(t, strings.Contains(n.Content, `href="`+in.App.PublicURL()+`/invitations/`), "links back to the invitation: %s", n.Content)
	must(t, !strings.Contains(n.Content, "/join/") && !strings.Contains(n.Content, "redeem"), "no join token or redemption URL in a notice")

	// Seen again (the sync runs, a list renders, the partner lands again): nothing more.
	if _, err := in.App.Jobs.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	emp.get("/invitations")
	time.Sleep(time.Second)
	must(t, len(noticesTo(tenant, "employee@contoso.example")) == 1, "still one notice, got %d", len(noticesTo(tenant, "employee@contoso.example")))
	list, err := in.App.Store.RecentNotices(context.Background(), 10)
	must(t, err == nil && len(list) == 1 && list[0].State == store.NoticeSent && list[0].Transport == "graph", "notices table: %+v %v", list, err)
	audit, _ := in.App.Store.ListAudit(context.Background(), store.AuditFilter{Action: "notice.send"})
	must(t, len(audit) == 1 && audit[0].Outcome == "success" && audit[0].Target == "employee@contoso.example", "audit %+v", audit)

	// A newcomer sees it on devtenant's outbox page, linked from devtenant's home page.
	res, err := http.Get(tenant.URL() + "/")
	must(t, err == nil && res.StatusCode == http.StatusOK, "devtenant home: %v", err)
	res.Body.Close()
	page := in.browser().get(tenant.URL() + "/outbox")
	must(t, page.Status == http.StatusOK && page.Doc.Find(`[data-testid="outbox-item"]`).Length() >= 1 &&
		strings.Contains(page.Body, "accepted the invitation"), "outbox page:\n%s", page.Body)
}

// The demo in delegated mode without a background identity: the accepted state is learned when a
// list renders, and the notice still goes out once (Portico's application identity sends it).
func TestDemoDelegatedAcceptedNotice(t *testing.T) {
	in := launch(t, nil, nil, "-demo")
	in.await(t)
	tenant := in.App.Tenant
	emp := in.browser()
	emp.signIn("employee@contoso.example")
	acceptByLink(t, in, emp, "riley@fabrikam.example")
	deadline := time.Now().Add(15 * time.Second)
	for len(noticesTo(tenant, "employee@contoso.example")) == 0 {
		must(t, time.Now().Before(deadline), "no notice 15 s after the partner landed\n%s", in.Logs)
		emp.get("/invitations")
		time.Sleep(200 * time.Millisecond)
	}
	emp.get("/invitations")
	time.Sleep(500 * time.Millisecond)
	must(t, len(noticesTo(tenant, "employee@contoso.example")) == 1, "one notice, got %d", len(noticesTo(tenant, "employee@contoso.example")))
}
