package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"time"

	"portico/app"
	"portico/devtenant"
)

// runDevtenant serves the Entra stand-in on its own so several Portico instances can share it.
func runDevtenant(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("portico devtenant", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9999", "listen address host:port (loopback)")
	secret := fs.String("client-secret", "", "client secret to accept (default: random, printed)")
	latency := fs.Duration("latency", 0, "delay every Graph answer by this long, e.g. 150ms (a Graph far away)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w devtenant: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *latency < 0 {
		return fmt.Errorf("%w devtenant: -latency %s must not be negative", errUsage, *latency)
	}
	if *secret == "" {
		*secret = randomSecret()
	}
	t, err := devtenant.New(devtenant.Options{ClientSecret: *secret, Latency: *latency, Logger: app.NewLogger("info", nil, stderr)})
	if err != nil {
		return err
	}
	if err := t.Start(*addr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "devtenant: a local stand-in for an Entra tenant is running at %s\n", t.URL())
	if *latency > 0 {
		fmt.Fprintf(stdout, "Every Graph answer is delayed by %s.\n", *latency)
	}
	fmt.Fprintln(stdout, "Point Portico instances at it with these settings (plus PORTICO_PUBLIC_URL, PORTICO_SESSION_KEYS, PORTICO_DATA_KEY):")
	t.WriteSettings(stdout)
	fmt.Fprintln(stdout, "Accounts:")
	for _, a := range t.Accounts() {
		fmt.Fprintf(stdout, "  %-28s %s\n", a.UPN, a.Description)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.Close(sctx)
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
