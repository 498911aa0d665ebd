package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
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
	perms := fs.String("app-permissions", "", "application permissions granted to Portico's client-credentials tokens, e.g. User.Invite.All,User.Read.All,Organization.Read.All (default: those three and GroupMember.ReadWrite.All)")
	certFile := fs.String("client-certificate", "", "PEM file whose certificate is registered on the application (client assertions signed with its key are accepted); the key in it is not read")
	var faults []devtenant.Fault
	fs.Func("fault", "inject a Graph fault (repeatable), e.g. 'POST /invitations status=503 after rate=0.3'; see README (Fault injection)", func(v string) error {
		f, err := devtenant.ParseFault(v)
		if err != nil {
			return err
		}
		faults = append(faults, f)
		return nil
	})
	writeQuota := fs.String("write-quota", "", "Graph write quota per application, writes/duration, e.g. 20/1s (default Graph's 3000/150s), or off")
	seed := fs.Uint64("fault-seed", 1, "seed deciding which requests a fault with rate= meets (same seed, same order of requests: same faults)")
	clockOffset := fs.Duration("clock-offset", 0, "start the directory clock this far ahead, e.g. 720h (30 days pass at once; PUT /_devtenant/clock moves it later)")
	control := fs.String("control-token", "", "bearer token of the operator's control endpoint /_devtenant/ (default: random, printed; loopback callers only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w devtenant: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *latency < 0 {
		return fmt.Errorf("%w devtenant: -latency %s must not be negative", errUsage, *latency)
	}
	if *clockOffset < 0 {
		return fmt.Errorf("%w devtenant: -clock-offset %s must not be negative", errUsage, *clockOffset)
	}
	if *secret == "" {
		*secret = randomSecret()
	}
	quotaN, quotaPer := 0, time.Duration(0)
	if *writeQuota != "" {
		n, per, err := devtenant.ParseWriteQuota(*writeQuota)
		if err != nil {
			return fmt.Errorf("%w devtenant: -write-quota: %w", errUsage, err)
		}
		quotaN, quotaPer = max(n, -1), per
		if n == 0 {
			quotaN = -1 // off
		}
	}
	if *control == "" {
		*control = randomSecret()
	}
	opts := devtenant.Options{ClientSecret: *secret, Latency: *latency, Logger: app.NewLogger("info", nil, stderr),
		FaultSeed: *seed, ControlToken: *control, ClockOffset: *clockOffset}
	for _, p := range strings.Split(*perms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			opts.AppRoles = append(opts.AppRoles, p)
		}
	}
	if *certFile != "" {
		cert, err := readCertificate(*certFile)
		if err != nil {
			return fmt.Errorf("%w devtenant: -client-certificate: %w", errUsage, err)
		}
		opts.ClientCertificates = append(opts.ClientCertificates, cert)
	}
	t, err := devtenant.New(opts)
	if err != nil {
		return err
	}
	for _, f := range faults {
		t.InjectFault(f)
	}
	if quotaN != 0 {
		t.SetWriteQuota(quotaN, quotaPer)
	}
	if err := t.Start(*addr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "devtenant: a local stand-in for an Entra tenant is running at %s\n", t.URL())
	if *latency > 0 {
		fmt.Fprintf(stdout, "Every Graph answer is delayed by %s.\n", *latency)
	}
	for _, f := range faults {
		fmt.Fprintf(stdout, "Fault injected: %s\n", f)
	}
	if n, per := t.WriteQuota(); *writeQuota != "" {
		if n > 0 {
			fmt.Fprintf(stdout, "Graph write quota: %d per %s.\n", n, per)
		} else {
			fmt.Fprintln(stdout, "Graph write quota: off.")
		}
	}
	if *clockOffset > 0 {
		fmt.Fprintf(stdout, "The directory clock runs %s ahead: it reads %s.\n", *clockOffset, t.DirectoryNow().UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "Control endpoint (loopback only): %s/_devtenant/faults, /_devtenant/write-quota and /_devtenant/clock with Authorization: Bearer %s\n", t.URL(), *control)
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

// readCertificate reads the first CERTIFICATE block of a PEM file.
func readCertificate(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			return nil, fmt.Errorf("%s holds no PEM CERTIFICATE block", path)
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
