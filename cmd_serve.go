package main

import (
	"context"
	"io"

	"portico/app"
	"portico/config"
)

// runServe is `portico` and `portico serve`: load the configuration, build the app, serve until ctx ends.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, app.Options{Log: stdout})
	if err != nil {
		return err
	}
	a.WriteBanner(stdout)
	return a.Serve(ctx)
}
