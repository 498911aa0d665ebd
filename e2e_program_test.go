package main

// The program as its users start it: commands, configuration errors, demo mode, health.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/store"
)

func TestHealthAndReady(t *testing.T) {
	h := start(t, nil, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		must(t, resp.StatusCode == http.StatusOK, "%s: %d", path, resp.StatusCode)
	}
}

func TestRunRefusesMissingConfig(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), nil, func(string) string { return "" }, &out, &out)
	must(t, err != nil, "run without configuration must fail")
	for _, want := range []string{"PORTICO_TENANT_ID", "PORTICO_CLIENT_ID", "PORTICO_CLIENT_SECRET", "PORTICO_PUBLIC_URL", "PORTICO_SESSION_KEYS", "PORTICO_DATA_KEY", "-demo"} {
		must(t, strings.Contains(err.Error(), want), "error lacks %s: %v", want, err)
	}
}

func TestDemoMode(t *testing.T) {
	in := launch(t, nil, nil, "-demo")
	in.await(t)
	out := in.Logs
	addr := in.App.Addr().String()
	must(t, strings.Contains(out.String(), "Portico is running at http://"+addr), "banner names the bound address %s: %s", addr, out)
	must(t, in.URL == "http://"+addr, "the app's URL follows the listener: %s", in.URL)
	for _, upn := range []string{"employee@contoso.example", "admin@contoso.example", "inviter@contoso.example"} {
		must(t, strings.Contains(out.String(), upn), "banner lacks %s", upn)
	}
	h := in.harness
	b := h.browser()
	p := b.get("/")
	must(t, p.Doc.Find(`[data-testid="demo-ribbon"]`).Length() == 1, "demo ribbon on the landing page")
	must(t, p.Doc.Find(`[data-testid="demo-account"]`).Length() == 3, "one button per demo account: %d", p.Doc.Find(`[data-testid="demo-account"]`).Length())
	p = b.signIn("admin@contoso.example")
	must(t, strings.Contains(p.Body, "Avery Admin"), "signed in as the admin")
}

func TestUnknownCommandIsAUsageError(t *testing.T) {
	var out bytes.Buffer
	err := run(t.Context(), []string{"frobnicate", "-addr", "127.0.0.1:0"}, func(string) string { return "" }, &out, &out)
	must(t, errors.Is(err, errUsage), "want a usage error, got %v", err)
	for _, want := range []string{`unknown command "frobnicate"`, "serve", "devtenant", "migrate"} {
		must(t, strings.Contains(err.Error(), want), "usage error lacks %q: %v", want, err)
	}
	out.Reset()
	must(t, run(t.Context(), []string{"help"}, func(string) string { return "" }, &out, &out) == nil, "help fails")
	must(t, strings.Contains(out.String(), "migrate"), "help lists the commands: %s", out.String())
}

func TestMigrateCommand(t *testing.T) {
	for name, location := range engines() {
		t.Run(name, func(t *testing.T) {
			dsn := location(t)
			want := countMigrations(t, map[string]string{"sqlite": store.DialectSQLite, "postgres": store.DialectPostgres}[name])
			for round := range 2 { // the second run finds nothing to do
				var out, logs syncBuffer
				env := map[string]string{"PORTICO_DATABASE_URL": dsn, "PORTICO_LOG_LEVEL": "info"}
				err := run(t.Context(), []string{"migrate"}, func(k string) string { return env[k] }, &out, &logs)
				must(t, err == nil, "round %d: migrate: %v\n%s", round, err, logs.String())
				must(t, strings.Contains(out.String(), "is up to date"), "round %d: output: %s", round, out.String())
				applied := strings.Count(logs.String(), "store: migration applied")
				must(t, applied == map[int]int{0: want, 1: 0}[round], "round %d: %d migrations applied, want %d", round, applied, map[int]int{0: want, 1: 0}[round])
			}
			raw, err := sql.Open(map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[name], dsn)
			must(t, err == nil, "open: %v", err)
			defer raw.Close()
			var rows int
			must(t, raw.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&rows) == nil, "read schema_migrations")
			must(t, rows == want, "schema_migrations holds %d rows, want %d", rows, want)
		})
	}
	var out bytes.Buffer
	err := run(t.Context(), []string{"migrate", "extra"}, func(string) string { return "" }, &out, &out)
	must(t, errors.Is(err, errUsage), "an extra argument is a usage error: %v", err)
}

// graphRoundTrip times one Graph request (answered 401 without a token, after the injected delay).
func graphRoundTrip(t *testing.T, base string) time.Duration {
	t.Helper()
	began := time.Now()
	resp, err := http.Get(base + "/v1.0/organization")
	must(t, err == nil, "graph request: %v", err)
	resp.Body.Close()
	return time.Since(began)
}

func TestDevtenantLatencyFlag(t *testing.T) {
	out, errs := &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"devtenant", "-addr", "127.0.0.1:0", "-latency", "120ms"}, func(string) string { return "" }, out, errs)
	}()
	t.Cleanup(func() {
		cancel()
		must(t, <-done == nil, "devtenant did not stop cleanly")
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Accounts:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	must(t, strings.Contains(out.String(), "delayed by 120ms"), "devtenant does not say it delays Graph:\n%s", out)
	d := graphRoundTrip(t, printedSettings(out.String())["PORTICO_GRAPH_URL"])
	must(t, d >= 120*time.Millisecond, "a Graph answer took %s, want at least the 120ms latency", d)

	err := run(t.Context(), []string{"devtenant", "-latency", "-1s"}, func(string) string { return "" }, out, errs)
	must(t, errors.Is(err, errUsage), "a negative latency is a usage error: %v", err)
}

func TestDemoLatency(t *testing.T) {
	in := launch(t, nil, map[string]string{"PORTICO_LOG_LEVEL": "warn"}, "-demo", "-demo-latency", "120ms")
	in.await(t)
	must(t, strings.Contains(in.Logs.String(), "delays every Graph answer by 120ms"), "banner: %s", in.Logs)
	d := graphRoundTrip(t, in.App.Tenant.URL())
	must(t, d >= 120*time.Millisecond, "a demo Graph answer took %s, want at least 120ms", d)
}
