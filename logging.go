package main

import (
	"crypto/rand"
	"encoding/base64"
	"flag"
	"io"
	"log/slog"
	"os"

	"portico/config"
	"portico/invite"
)

// newLogger logs JSON when the output is not a terminal (services, containers) and text otherwise.
func newLogger(level string, forceJSON *bool, w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	useJSON := !isTerminal(w)
	if forceJSON != nil {
		useJSON = *forceJSON
	}
	if useJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// invitePolicy turns configuration into the invitation rules.
func invitePolicy(cfg *config.Config) invite.Policy {
	def := cfg.DefaultRedirectURL
	if def == "" {
		def = cfg.PublicPath("/welcome")
	}
	return invite.Policy{
		DefaultRedirectURL:   def,
		AllowedRedirectHosts: cfg.AllowedRedirectHosts,
		AllowHTTPLoopback:    config.IsLoopbackHost(cfg.PublicURL.Hostname()),
		AllowedDomains:       cfg.AllowedDomains,
		BlockedDomains:       cfg.BlockedDomains,
	}
}
