package app

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/config"
)

func demoConfig(t *testing.T, env map[string]string, args ...string) *config.Config {
	t.Helper()
	cfg, err := config.Load(append([]string{"-demo", "-addr", "127.0.0.1:0"}, args...), func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestServeOnTheCallersListener(t *testing.T) {
	ln := listen(t)
	a, err := New(t.Context(), demoConfig(t, nil, "-demo-latency", "5ms"), Options{Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	want := "http://" + ln.Addr().String()
	if a.URL() != want || a.PublicURL() != want {
		t.Errorf("URL() = %q, PublicURL() = %q; want both %q (demo mode follows the listener)", a.URL(), a.PublicURL(), want)
	}
	if a.Tenant == nil || a.Config.Authority != a.Tenant.URL() || a.Config.GraphURL != a.Tenant.URL() {
		t.Errorf("demo mode must point sign-in and Graph at devtenant: %s", a.Config)
	}
	var banner strings.Builder
	a.WriteBanner(&banner)
	for _, s := range []string{"Portico is running at " + want, "employee@contoso.example", "delays every Graph answer by 5ms"} {
		if !strings.Contains(banner.String(), s) {
			t.Errorf("banner lacks %q:\n%s", s, banner.String())
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	resp, err := http.Get(a.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the listener still accepts after Serve returned")
	}
	if err := a.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

func TestNewClosesWhatItOpenedOnError(t *testing.T) {
	ln := listen(t)
	// A directory is not a database: store.Open fails after devtenant has started.
	cfg := demoConfig(t, map[string]string{"PORTICO_DATABASE_URL": t.TempDir()})
	a, err := New(t.Context(), cfg, Options{Listener: ln})
	if err == nil || a != nil {
		t.Fatalf("New with an unusable database: app=%v err=%v", a, err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the listener was left open: %v", err)
	}
	if resp, err := http.Get(cfg.Authority + "/" + cfg.TenantID + "/v2.0/.well-known/openid-configuration"); err == nil {
		resp.Body.Close()
		t.Errorf("devtenant still answers at %s after New failed", cfg.Authority)
	}
}

// brokenListener fails every Accept, as a listener whose socket went away does.
type brokenListener struct{ net.Listener }

func (brokenListener) Accept() (net.Conn, error) { return nil, errors.New("accept: socket gone") }

func TestServeStopsTheJobQueueWhenServingFails(t *testing.T) {
	ln := listen(t)
	a, err := New(t.Context(), demoConfig(t, nil), Options{Listener: brokenListener{ln}})
	if err != nil {
		t.Fatal(err)
	}
	events, _ := a.Jobs.Subscribe() // closed by River when its client stops
	if err := a.Serve(t.Context()); err == nil || !strings.Contains(err.Error(), "socket gone") {
		t.Fatalf("Serve on a broken listener: %v; want its accept error", err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return // the queue stopped with the server
			}
		case <-deadline:
			t.Fatal("the job queue kept running after Serve returned with an error (its goroutines outlive the app)")
		}
	}
}
