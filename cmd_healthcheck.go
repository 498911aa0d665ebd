package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultHealthURL is where a container's Portico answers (the Dockerfile serves on 0.0.0.0:8080).
const defaultHealthURL = "http://127.0.0.1:8080/healthz"

// runHealthcheck is `portico healthcheck`: one GET of /healthz (a container's HEALTHCHECK; the
// image has no curl). Exit status 0 when it answers 200 within the timeout, 1 otherwise.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("portico healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "the health endpoint (default: PORTICO_HEALTHCHECK_URL, else "+defaultHealthURL+")")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w healthcheck: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *target == "" {
		*target = strings.TrimSpace(getenv("PORTICO_HEALTHCHECK_URL"))
	}
	if *target == "" {
		*target = defaultHealthURL
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w healthcheck: -url %q must be an http(s) URL", errUsage, *target)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", u.Redacted(), resp.StatusCode)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
