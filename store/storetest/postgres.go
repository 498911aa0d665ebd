// Package storetest gives tests a real, empty PostgreSQL database of their own.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"portico/internal/skipreport"
)

// EnvURL names the server tests may create databases on, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const EnvURL = "PORTICO_TEST_POSTGRES_URL"

// FreshPostgres creates an empty database on the server named by PORTICO_TEST_POSTGRES_URL, drops
// it when the test ends, and returns its URL. Without the variable the test is skipped, except in
// CI (CI=true), where a missing or unreachable server fails it. Call it before starting anything
// that uses the database, so the drop runs after those have stopped.
func FreshPostgres(t testing.TB) string {
	t.Helper()
	raw := os.Getenv(EnvURL)
	if raw == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvURL + " is not set: in CI the PostgreSQL tests must run")
		}
		skipreport.Note("PostgreSQL tests", EnvURL+" is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)")
		t.Skip("PostgreSQL test skipped: set " + EnvURL + ", e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		t.Fatal(EnvURL + " must be a postgres:// URL")
	}
	admin, err := sql.Open("pgx", raw)
	if err != nil {
		t.Fatalf("%s (%s): %v", EnvURL, base.Redacted(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		t.Fatalf("%s (%s) is unreachable: %v", EnvURL, base.Redacted(), err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "portico_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u := *base
	u.Path = "/" + name
	return u.String()
}
