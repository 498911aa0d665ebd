package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/app"
	"portico/bulk"
	"portico/graph"
	"portico/invite"
	"portico/jobs"
	"portico/keyring"
	"portico/store"
)

// Environment of the bulk child process (TestBulkChildProcess).
const (
	bulkChildEnv   = "PORTICO_TEST_BULK_CHILD"
	bulkChildDSN   = "PORTICO_TEST_BULK_DSN"
	bulkChildGraph = "PORTICO_TEST_BULK_GRAPH"
	bulkChildToken = "PORTICO_TEST_BULK_TOKEN"
	bulkChildID    = "PORTICO_TEST_BULK_ID"
	bulkChildAhead = "PORTICO_TEST_BULK_AHEAD" // the invite service's clock runs this far ahead
)

// bulkServices are Portico's invite and bulk services and job queue as a child process (or the
// test itself) builds them on db, against devtenant at graphURL.
func bulkServices(db *store.DB, graphURL string, ts oauth2.TokenSource, id string, ahead time.Duration) (*invite.Service, *bulk.Service, jobs.Config, error) {
	keys, err := keyring.New(bytes.Repeat([]byte{5}, keyring.KeySize))
	if err != nil {
		return nil, nil, jobs.Config{}, err
	}
	inv := invite.NewService(invite.Config{
		Graph: graph.NewClient(graphURL, &http.Client{Timeout: 10 * time.Second}), Store: invite.NewStoreAdapter(db), Keys: keys,
		PublicURL: "http://portico.test", Policy: invite.Policy{DefaultRedirectURL: "https://myapps.microsoft.com"}, JoinTTL: time.Hour,
		Clock: func() time.Time { return time.Now().Add(ahead) },
	})
	b := bulk.NewService(bulk.Config{
		Store: db, Invites: inv, Tokens: ts, Rate: 100, Idempotent: true,
		Send: func(ctx context.Context, ts oauth2.TokenSource, who invite.Inviter, req invite.Request, key string, meta invite.Meta) (*invite.Result, error) {
			req.IdempotencyKey = key
			return inv.Send(ctx, ts, who, req, meta)
		},
	})
	cfg := jobs.Config{Store: db, Invites: inv, Tokens: ts, ID: id, SyncInterval: -1, Bulk: b,
		Recheck:    func(context.Context, jobs.Asker, string) error { return nil },
		JobTimeout: 10 * time.Second, RescueAfter: 11 * time.Second, PollInterval: 100 * time.Millisecond}
	return inv, b, cfg, nil
}

// TestBulkChildProcess is not a test on its own: TestBulkSurvivesKill9 runs the test binary again
// with it selected, as the process it kills.
func TestBulkChildProcess(t *testing.T) {
	if os.Getenv(bulkChildEnv) != "1" {
		t.Skip("the child process of TestBulkSurvivesKill9")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, os.Getenv(bulkChildDSN), nil)
	if err != nil {
		t.Fatal(err)
	}
	ahead, _ := time.ParseDuration(os.Getenv(bulkChildAhead))
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: os.Getenv(bulkChildToken), Expiry: time.Now().Add(time.Hour)})
	_, b, cfg, err := bulkServices(db, os.Getenv(bulkChildGraph), ts, os.Getenv(bulkChildID), ahead)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = app.NewLogger("info", nil, os.Stderr)
	r, err := jobs.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.SetQueue(r)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {} // until killed
}

// kill -9 at row 500 of 1,000, then another process: exactly 1,000 invitations in devtenant,
// none twice, every row invited.
func TestBulkSurvivesKill9(t *testing.T) {
	t.Parallel() // mostly waiting in real time: overlaps the other waiting tests (TestMain)
	if testing.Short() {
		t.Skip("slow: two processes and 1,000 invitations")
	}
	dsn := sqliteFile(t)
	tenant := newTenant(t)
	db := openStore(t, dsn)
	appTok, err := tenant.AppAccessToken()
	if err != nil {
		t.Fatal(err)
	}
	userTok, err := tenant.AccessTokenFor("admin@contoso.example")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := tenant.UserByMail("admin@contoso.example")
	owner := invite.Inviter{TenantID: tenant.TenantID(), ObjectID: u.ID, UPN: "admin@contoso.example", Name: u.DisplayName,
		Roles: []invite.Role{invite.RoleAdministrator}}

	// The dry run and the confirmation, as the page does them; the queue is only written to here.
	_, b, cfg, err := bulkServices(db, tenant.URL(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: appTok}), "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	q, err := jobs.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	b.SetQueue(q)
	var file strings.Builder
	file.WriteString("email,display name\n")
	const n = 1000
	for i := range n {
		fmt.Fprintf(&file, "k9-%04d@fabrikam.example,Partner %d\n", i, i)
	}
	j, err := b.Prepare(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: userTok}), owner,
		strings.NewReader(file.String()), bulk.Source{Name: "kill9.csv"}, invite.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Confirm(context.Background(), owner, j.ID, invite.Meta{}); err != nil {
		t.Fatal(err)
	}

	child := func(id, ahead string) (*exec.Cmd, *syncBuffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBulkChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), bulkChildEnv+"=1", bulkChildDSN+"="+dsn, bulkChildGraph+"="+tenant.URL(),
			bulkChildToken+"="+appTok, bulkChildID+"="+id, bulkChildAhead+"="+ahead)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd, out
	}
	first, out1 := child("first", "0s")
	deadline := time.Now().Add(60 * time.Second)
	for len(tenant.Invitations()) < n/2 {
		if time.Now().After(deadline) {
			c, _ := db.BulkRowCounts(context.Background(), j.ID)
			rows, _ := db.BulkRows(context.Background(), j.ID, 0, 3)
			t.Fatalf("the first process did not reach row 500: rows %v %+v\n%s", c, rows, out1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	must(t, first.Process.Kill() == nil, "kill -9")
	_ = first.Wait()
	atKill := len(tenant.Invitations())
	must(t, atKill < n, "killed before the end: %d invitations", atKill)

	// The second process comes after the first one's send leases (2 min) would have passed: its
	// clock runs ahead, so its reconciler may settle the sends the first left open at once.
	_, out2 := child("second", "3m")
	deadline = time.Now().Add(150 * time.Second)
	for {
		got, err := db.GetBulkJob(context.Background(), j.ID)
		must(t, err == nil, "get: %v", err)
		if got.State == store.BulkDone {
			break
		}
		must(t, time.Now().Before(deadline), "the second process did not finish the job (state %s)\n%s", got.State, out2)
		time.Sleep(200 * time.Millisecond)
	}
	counts, _ := db.BulkRowCounts(context.Background(), j.ID)
	must(t, counts[store.RowInvited] == n, "every row invited: %v", counts)
	per := map[string]int{}
	for _, inv := range tenant.Invitations() {
		per[strings.ToLower(inv.Email)]++
	}
	must(t, len(tenant.Invitations()) == n && len(per) == n, "exactly %d invitations in devtenant: %d (%d partners)", n, len(tenant.Invitations()), len(per))
	for addr, c := range per {
		must(t, c == 1, "%s invited %d times", addr, c)
	}
	t.Logf("killed at %d invitations; the second process sent the other %d", atKill, n-atKill)
}
