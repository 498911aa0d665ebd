package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"portico/devtenant"
)

// portalBenchLatency is how far away Graph (devtenant in demo mode) is in BenchmarkPortal.
const portalBenchLatency = "150ms"

// portalBench is Portico started as `portico -demo -demo-latency 150ms` and an employee signed in
// to it over HTTP.
type portalBench struct {
	in     *instance
	tenant *devtenant.Tenant
	br     *browser
}

func newPortalBench(b *testing.B, env map[string]string) *portalBench {
	b.Helper()
	env["PORTICO_LOG_LEVEL"] = "error"
	env["PORTICO_INVITE_QUOTA"] = "off"
	in := launch(b, nil, env, "-demo", "-demo-latency", portalBenchLatency)
	in.await(b)
	pb := &portalBench{in: in, tenant: in.App.Tenant, br: in.browser()}
	pb.br.signIn("employee@contoso.example")
	// Signing in warmed the tenant's domains in the background; that read is the sign-in's.
	pb.awaitGraph(b, "/v1.0/organization")
	return pb
}

// awaitGraph waits until devtenant has answered a Graph request to path.
func (pb *portalBench) awaitGraph(b *testing.B, path string) {
	b.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, rt := range pb.tenant.RoundTrips() {
			if rt.Path == path {
				return
			}
		}
	}
	b.Fatalf("no Graph request to %s", path)
}

// invite submits the form for addr as the employee does: the form, the POST, the result page.
func (pb *portalBench) invite(b *testing.B, addr string) {
	b.Helper()
	form := pb.br.get("/")
	must(b, form.Status == http.StatusOK, "form: %d", form.Status)
	p := pb.br.post("/invitations", inviteForm(addr))
	must(b, p.Status == http.StatusSeeOther && strings.HasPrefix(p.Header.Get("Location"), "/invitations/"), "create %s: %d %s", addr, p.Status, p.Body)
	res := pb.br.get(p.Header.Get("Location"))
	must(b, res.Status == http.StatusOK && strings.Contains(res.Body, addr), "result page of %s: %d", addr, res.Status)
}

// BenchmarkPortal measures the portal end to end over HTTP, with Graph 150 ms away: an employee
// inviting a partner (the form, the POST, the result page), and "My invitations" with 25 invitations
// whose states are stale. It reports the Graph traffic per operation from devtenant's counters:
// roundtrips/op are the round trips waited for one after another, http/op the HTTP requests to
// Graph (a $batch is one), requests/op the Graph requests they carried.
func BenchmarkPortal(b *testing.B) {
	b.Run("invitation", func(b *testing.B) {
		// The first iteration is the first invitation since Portico started.
		pb := newPortalBench(b, map[string]string{})
		var traffic graphTraffic
		n := 0
		for b.Loop() {
			n++
			b.StopTimer()
			pb.tenant.ResetRequests()
			b.StartTimer()
			pb.invite(b, fmt.Sprintf("portal%d@fabrikam.example", n))
			b.StopTimer()
			traffic.add(pb.tenant)
			b.StartTimer()
		}
		b.StopTimer()
		traffic.report(b, n)
	})
	b.Run("list25stale", func(b *testing.B) {
		// States older than a second are stale; each page load waits that long first.
		const refresh = time.Second
		pb := newPortalBench(b, map[string]string{"PORTICO_STATE_REFRESH": refresh.String()})
		const listed = 25
		for i := range listed {
			pb.invite(b, fmt.Sprintf("listed%d@fabrikam.example", i))
		}
		var traffic graphTraffic
		n := 0
		for b.Loop() {
			n++
			b.StopTimer()
			// One guest accepts meanwhile: the page must show what Graph says now.
			u, ok := pb.tenant.UserByMail(fmt.Sprintf("listed%d@fabrikam.example", n%listed))
			must(b, ok, "no guest user for listed%d", n%listed)
			pb.tenant.Accept(u.ID)
			time.Sleep(refresh + 10*time.Millisecond)
			pb.tenant.ResetRequests()
			b.StartTimer()
			p := pb.br.get("/invitations")
			b.StopTimer()
			must(b, p.Status == http.StatusOK, "list: %d", p.Status)
			rows := p.Doc.Find("tbody tr").Length()
			must(b, rows == listed, "%d rows on the page, want %d", rows, listed)
			row := p.Doc.Find("tbody tr").FilterFunction(func(_ int, s *goquery.Selection) bool {
				return strings.Contains(s.Text(), u.Mail)
			})
			must(b, strings.Contains(row.Text(), "Accepted"), "the accepted guest's row reads %q", strings.Join(strings.Fields(row.Text()), " "))
			traffic.add(pb.tenant)
			b.StartTimer()
		}
		b.StopTimer()
		traffic.report(b, n)
	})
}
