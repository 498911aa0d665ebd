// Command portico is a self-hosted portal for self-service guest onboarding on Microsoft Entra ID.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is stamped in by scripts/build (-X main.version=…).
var version = "dev"

func main() { os.Exit(exitCode(os.Args[1:])) }

// exitCode runs the command until SIGINT or SIGTERM and turns its result into an exit status:
// 0 (or -h), 2 for a command line portico does not understand, 1 for anything else.
func exitCode(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, args, os.Getenv, os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, err)
		return 2
	default:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
}

// command is one of portico's subcommands.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

// commands lists the subcommands; the first is the default. `portico invite` comes later.
var commands = []command{
	{"serve", "serve the portal (the default; flags -addr, -demo, -demo-latency)", runServe},
	{"devtenant", "run the local Entra stand-in on its own (flags -addr, -client-secret, -latency)", runDevtenant},
	{"migrate", "apply pending database migrations to PORTICO_DATABASE_URL and exit", runMigrate},
	{"healthcheck", "GET /healthz once and exit 0 when it answers 200 (a container's HEALTHCHECK; flag -url)", runHealthcheck},
}

// errUsage marks a command line portico does not understand.
var errUsage = errors.New("portico")

// run parses the command and runs it until ctx ends; tests call it as main does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		writeUsage(stdout)
		return nil
	}
	if name == "version" {
		fmt.Fprintln(stdout, "portico", version)
		return nil
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, args, getenv, stdout, stderr)
		}
	}
	var b strings.Builder
	writeUsage(&b)
	return fmt.Errorf("%w: unknown command %q\n%s", errUsage, name, b.String())
}

func writeUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: portico [command] [flags]   (portico <command> -h lists a command's flags)")
	fmt.Fprintln(w, "commands (also: version, help):")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}
