package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/devtenant"
	"portico/graph"
	"portico/invite"
	"portico/keyring"
	"portico/store"
)

// graphBenchLatency is how far away Graph is in BenchmarkGraphRoundTrips.
const graphBenchLatency = 150 * time.Millisecond

// graphBench is the invite service wired as in production (real Graph client, SQLite store)
// against a devtenant that answers every Graph HTTP request graphBenchLatency late.
type graphBench struct {
	tenant *devtenant.Tenant
	svc    *invite.Service
	ts     oauth2.TokenSource
	inv    invite.Inviter
}

func newGraphBench(b *testing.B) *graphBench {
	b.Helper()
	tn, err := devtenant.New(devtenant.Options{ClientSecret: "bench-secret", Latency: graphBenchLatency})
	if err != nil {
		b.Fatal(err)
	}
	if err := tn.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tn.Close(context.Background()) })

	db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ring, err := keyring.New(key)
	if err != nil {
		b.Fatal(err)
	}
	const upn = "employee@contoso.example"
	tok, err := tn.AccessTokenFor(upn)
	if err != nil {
		b.Fatal(err)
	}
	u, ok := tn.UserByMail(upn)
	if !ok {
		b.Fatal("no demo employee")
	}
	svc := invite.NewService(invite.Config{
		Graph:     graph.NewClient(tn.URL(), &http.Client{Timeout: 30 * time.Second}),
		Store:     invite.NewStoreAdapter(db),
		Keys:      ring,
		PublicURL: "http://127.0.0.1:8080",
	})
	return &graphBench{
		tenant: tn,
		svc:    svc,
		ts:     oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}),
		inv:    invite.Inviter{TenantID: tn.TenantID(), ObjectID: u.ID, UPN: upn, Name: u.DisplayName, Email: upn},
	}
}

func (g *graphBench) send(b *testing.B, addr string) *store.Invitation {
	b.Helper()
	res, err := g.svc.Send(context.Background(), g.ts, g.inv, invite.Request{
		Email: addr, RedirectURL: "https://myapps.microsoft.com", SendEmail: true,
	}, invite.Meta{RequestID: "bench"})
	if err != nil {
		b.Fatalf("send %s: %v", addr, err)
	}
	return res.Invitation
}

// graphCounts are the Graph traffic since the last reset: HTTP round trips, how many of them the
// caller waited for one after another, and the Graph requests they carried.
func (g *graphBench) counts() (roundTrips, sequential, requests int) {
	rts := g.tenant.RoundTrips()
	return len(rts), devtenant.SequentialRoundTrips(rts), len(g.tenant.Requests())
}

// BenchmarkGraphRoundTrips reports what an invitation and a list page of 25 stale invitations cost
// in Graph traffic with Graph 150 ms away. An invitation is Send plus the result page's state
// read (RefreshStates of the new record, as handlers/invitation_show.go does).
func BenchmarkGraphRoundTrips(b *testing.B) {
	b.Run("invitation", func(b *testing.B) {
		g := newGraphBench(b)
		// The first invitation also reads the organization's domains (then cached for an hour).
		g.send(b, "warmup@fabrikam.example")
		g.tenant.ResetRequests()
		n := 0
		b.ResetTimer()
		for b.Loop() {
			n++
			rec := g.send(b, fmt.Sprintf("guest%d@fabrikam.example", n))
			g.svc.RefreshStates(context.Background(), g.ts, []store.Invitation{*rec}, 3*time.Minute)
		}
		b.StopTimer()
		rt, seq, req := g.counts()
		b.ReportMetric(float64(seq)/float64(n), "seq-roundtrips/op")
		b.ReportMetric(float64(rt)/float64(n), "roundtrips/op")
		b.ReportMetric(float64(req)/float64(n), "requests/op")
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(n), "ms/op")
	})
	b.Run("list25stale", func(b *testing.B) {
		g := newGraphBench(b)
		var recs []store.Invitation
		for i := range 25 {
			recs = append(recs, *g.send(b, fmt.Sprintf("listed%d@fabrikam.example", i)))
		}
		for i := range recs {
			recs[i].StateCheckedAt = nil // stale: never read
		}
		g.tenant.ResetRequests()
		n := 0
		b.ResetTimer()
		for b.Loop() {
			n++
			out := g.svc.RefreshStates(context.Background(), g.ts, recs, 3*time.Minute)
			for _, r := range out {
				if r.StateCheckedAt == nil {
					b.Fatalf("invitation %s not refreshed", r.ID)
				}
			}
		}
		b.StopTimer()
		rt, seq, req := g.counts()
		b.ReportMetric(float64(seq)/float64(n), "seq-roundtrips/op")
		b.ReportMetric(float64(rt)/float64(n), "roundtrips/op")
		b.ReportMetric(float64(req)/float64(n), "requests/op")
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(n), "ms/op")
	})
}
