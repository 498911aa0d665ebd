package store

import (
	"context"
	"fmt"
	"time"
)

// TenantInitialDomain returns the tenant's initial domain as last saved, or ErrNotFound.
func (q *Queries) TenantInitialDomain(ctx context.Context, tenantID string) (string, error) {
	if !validText(tenantID) {
		return "", ErrNotFound
	}
	var domain string
	if err := q.queryRow(ctx, "SELECT initial_domain FROM tenant_domains WHERE tenant_id = ?", tenantID).Scan(&domain); err != nil {
		return "", notFound("tenant initial domain", err)
	}
	return domain, nil
}

// SaveTenantInitialDomain records the tenant's initial domain as read from Graph at at.
func (q *Queries) SaveTenantInitialDomain(ctx context.Context, tenantID, domain string, at time.Time) error {
	if !validText(tenantID) || !validText(domain) {
		return fmt.Errorf("store: save tenant initial domain: %w", &InputError{Field: "tenant"})
	}
	_, err := q.exec(ctx, `INSERT INTO tenant_domains (tenant_id, initial_domain, updated_at) VALUES (?, ?, ?)
ON CONFLICT (tenant_id) DO UPDATE SET initial_domain = excluded.initial_domain, updated_at = excluded.updated_at`,
		tenantID, domain, q.ts(at))
	if err != nil {
		return fmt.Errorf("store: save tenant initial domain: %w", err)
	}
	return nil
}
