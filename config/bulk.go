package config

import (
	"strconv"
	"strings"
)

// Defaults of the bulk invitation settings.
const (
	DefaultBulkMaxRows  = 5000
	DefaultBulkMaxBytes = 10 << 20
	// DefaultBulkRate is Graph's documented write limit per application and tenant (3,000 writes
	// per 2 min 30 s).
	DefaultBulkRate = 20.0
)

// loadBulk reads PORTICO_BULK_INVITERS, PORTICO_BULK_MAX_ROWS, PORTICO_BULK_MAX_BYTES and
// PORTICO_BULK_RATE.
func loadBulk(c *Config, e source, p *Problems) {
	c.BulkMaxRows, c.BulkMaxBytes, c.BulkRate = DefaultBulkMaxRows, DefaultBulkMaxBytes, DefaultBulkRate
	if v := strings.TrimSpace(e.get("PORTICO_BULK_MAX_ROWS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			p.addf("PORTICO_BULK_MAX_ROWS %q must be a number of rows from 1 to 100000", v)
		} else {
			c.BulkMaxRows = n
		}
	}
	if v := strings.TrimSpace(e.get("PORTICO_BULK_MAX_BYTES")); v != "" {
		n, err := parseSize(v)
		if err != nil || n < 1<<10 || n > 1<<30 {
			p.addf("PORTICO_BULK_MAX_BYTES %q must be a size from 1KB to 1GB, such as 10MB", v)
		} else {
			c.BulkMaxBytes = n
		}
	}
	if v := strings.TrimSpace(e.get("PORTICO_BULK_RATE")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 20 {
			p.addf("PORTICO_BULK_RATE %q must be invitations per second, more than 0 and at most 20 (Graph's write limit per application)", v)
		} else {
			c.BulkRate = f
		}
	}
	for _, s := range list(e.get("PORTICO_BULK_INVITERS")) {
		if strings.EqualFold(s, InvitersAll) || strings.ContainsAny(s, " \t\"'") {
			p.addf("PORTICO_BULK_INVITERS: %q is not an app role name, a directory role template id or a group id (administrators may always send bulk invitations)", s)
			continue
		}
		c.BulkInviters = append(c.BulkInviters, s)
	}
}

// parseSize reads "10MB", "512KB", "1GB" or a number of bytes.
func parseSize(v string) (int64, error) {
	u := strings.ToUpper(strings.TrimSpace(v))
	mult := int64(1)
	for _, s := range []struct {
		suffix string
		m      int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if n, ok := strings.CutSuffix(u, s.suffix); ok {
			u, mult = strings.TrimSpace(n), s.m
			break
		}
	}
	n, err := strconv.ParseInt(u, 10, 64)
	if err != nil {
		return 0, err
	}
	return n * mult, nil
}
