package config

import (
	"slices"
	"strings"
	"time"
)

// Pending expiry actions (PORTICO_PENDING_EXPIRY_ACTION).
const (
	ExpiryReport  = "report"
	ExpiryDisable = "disable"
	ExpiryDelete  = "delete"
)

// Lifecycle is what Portico does after an invitation (issue 19).
type Lifecycle struct {
	// RemindAfter are the ages of a pending invitation at which it is resent (PORTICO_REMIND_AFTER,
	// e.g. 7d,14d), strictly increasing; nil: no reminders.
	RemindAfter []time.Duration
	// PendingExpiry is the age at which a never-accepted guest expires (PORTICO_PENDING_EXPIRY,
	// e.g. 30d); 0: never.
	PendingExpiry time.Duration
	// PendingExpiryAction is report (default), disable or delete (PORTICO_PENDING_EXPIRY_ACTION).
	PendingExpiryAction string
	// WarnBefore is how long before an expiry action the inviter is warned (PORTICO_WARN_BEFORE); 0: no warning.
	WarnBefore time.Duration
	// DemoClockOffset moves the demo's clock (Portico's and devtenant's) forward (-demo-clock-offset).
	DemoClockOffset time.Duration
}

// Enabled reports whether any lifecycle rule is configured.
func (l Lifecycle) Enabled() bool { return len(l.RemindAfter) > 0 || l.PendingExpiry > 0 }

func loadLifecycle(c *Config, e source, p *Problems) {
	l := &c.Lifecycle
	l.PendingExpiryAction = ExpiryReport
	if v := e.get("PORTICO_REMIND_AFTER"); v != "" && v != "off" {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			d, err := parseDuration(part)
			switch {
			case err != nil || d <= 0:
				p.addf("PORTICO_REMIND_AFTER %q: %q is not a positive duration like 7d or 36h (list them comma-separated, e.g. 7d,14d)", v, part)
				return
			case len(l.RemindAfter) > 0 && d <= l.RemindAfter[len(l.RemindAfter)-1]:
				p.addf("PORTICO_REMIND_AFTER %q: reminders must be listed in increasing order (e.g. 7d,14d)", v)
				return
			}
			l.RemindAfter = append(l.RemindAfter, d)
		}
		if len(l.RemindAfter) > 10 {
			p.addf("PORTICO_REMIND_AFTER %q lists %d reminders; at most 10", v, len(l.RemindAfter))
		}
	}
	if v := e.get("PORTICO_PENDING_EXPIRY"); v != "" && v != "off" {
		d, err := parseDuration(v)
		if err != nil || d <= 0 {
			p.addf("PORTICO_PENDING_EXPIRY %q must be a positive duration like 30d, or off", v)
		} else {
			l.PendingExpiry = d
		}
	}
	if v := strings.ToLower(e.get("PORTICO_PENDING_EXPIRY_ACTION")); v != "" {
		if !slices.Contains([]string{ExpiryReport, ExpiryDisable, ExpiryDelete}, v) {
			p.addf("PORTICO_PENDING_EXPIRY_ACTION %q must be report, disable or delete", v)
		} else {
			l.PendingExpiryAction = v
		}
		if l.PendingExpiry == 0 && v != ExpiryReport {
			p.addf("PORTICO_PENDING_EXPIRY_ACTION=%s needs PORTICO_PENDING_EXPIRY (e.g. 30d)", v)
		}
	}
	if v := e.get("PORTICO_WARN_BEFORE"); v != "" && v != "off" {
		d, err := parseDuration(v)
		switch {
		case err != nil || d <= 0:
			p.addf("PORTICO_WARN_BEFORE %q must be a positive duration like 7d, or off", v)
		case l.PendingExpiry > 0 && d >= l.PendingExpiry:
			p.addf("PORTICO_WARN_BEFORE %q must be shorter than PORTICO_PENDING_EXPIRY", v)
		default:
			l.WarnBefore = d
		}
	}
	if n := len(l.RemindAfter); n > 0 && l.PendingExpiry > 0 && l.RemindAfter[n-1] >= l.PendingExpiry {
		p.addf("PORTICO_REMIND_AFTER: the last reminder (%s) must come before PORTICO_PENDING_EXPIRY", e.get("PORTICO_REMIND_AFTER"))
	}
	if l.PendingExpiryAction != ExpiryReport && !c.HasAppCredentials() && !c.Demo {
		p.addf("PORTICO_PENDING_EXPIRY_ACTION=%s needs application credentials (PORTICO_CLIENT_CERTIFICATE_FILE or PORTICO_CLIENT_SECRET) with the application permission User.ReadWrite.All", l.PendingExpiryAction)
	}
}
