package store

import (
	"errors"
	"testing"
	"time"
)

func testTenantInitialDomain(t *testing.T, db *DB) {
	ctx := t.Context()
	if _, err := db.TenantInitialDomain(ctx, "tid-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tenant: %v, want ErrNotFound", err)
	}
	if _, err := db.TenantInitialDomain(ctx, "tid\x00"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tenant id with NUL: %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	for _, d := range []string{"contoso.onmicrosoft.com", "contoso2.onmicrosoft.com"} {
		if err := db.SaveTenantInitialDomain(ctx, "tid-1", d, at); err != nil {
			t.Fatalf("save %s: %v", d, err)
		}
		got, err := db.TenantInitialDomain(ctx, "tid-1")
		if err != nil || got != d {
			t.Fatalf("after saving %s: %q, %v", d, got, err)
		}
	}
	if err := db.SaveTenantInitialDomain(ctx, "tid-2", "bad\xff", at); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("invalid text: %v, want ErrInvalidInput", err)
	}
	if _, err := db.TenantInitialDomain(ctx, "tid-2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused save wrote something: %v", err)
	}
}
