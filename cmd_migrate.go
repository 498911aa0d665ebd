package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"portico/app"
	"portico/config"
	"portico/jobs"
	"portico/store"
)

// runMigrate is `portico migrate`: open the database, apply pending migrations (under PostgreSQL's
// advisory lock, so it is safe while instances run) and exit. It needs only the database settings.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("portico migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("database", "", "database to migrate (default: PORTICO_DATABASE_URL, else "+config.DefaultDatabaseURL+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w migrate: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *dsn == "" {
		*dsn = strings.TrimSpace(getenv("PORTICO_DATABASE_URL"))
	}
	if *dsn == "" {
		*dsn = config.DefaultDatabaseURL
	}
	level := strings.ToLower(strings.TrimSpace(getenv("PORTICO_LOG_LEVEL")))
	if level == "" {
		level = config.DefaultLogLevel
	}
	logger := app.NewLogger(level, nil, stderr)
	db, err := store.Open(ctx, *dsn, logger)
	if err != nil {
		return fmt.Errorf("portico migrate: %s: %w", config.RedactDSN(*dsn), err)
	}
	// The job queue's tables too (River's own migrations).
	if err := jobs.Migrate(ctx, db, logger); err != nil {
		_ = db.Close()
		return fmt.Errorf("portico migrate: %s: %w", config.RedactDSN(*dsn), err)
	}
	fmt.Fprintf(stdout, "portico migrate: %s (%s) is up to date\n", config.RedactDSN(*dsn), db.Dialect())
	return db.Close()
}
