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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
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
}

// errUsage marks a command line portico does not understand.
var errUsage = errors.New("portico: usage")

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
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}
