package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestLoadLifecycle(t *testing.T) {
	const day = 24 * time.Hour
	c, err := Load(nil, env(with(validEnv(), map[string]string{"PORTICO_REMIND_AFTER": "7d, 14d", "PORTICO_PENDING_EXPIRY": "30d",
		"PORTICO_PENDING_EXPIRY_ACTION": "Disable", "PORTICO_WARN_BEFORE": "7d"})), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Lifecycle
	if len(l.RemindAfter) != 2 || l.RemindAfter[1] != 14*day || l.PendingExpiry != 30*day || l.PendingExpiryAction != ExpiryDisable || l.WarnBefore != 7*day || !l.Enabled() {
		t.Errorf("lifecycle %+v", l)
	}
	if c, err := Load(nil, env(validEnv()), io.Discard); err != nil || c.Lifecycle.Enabled() || c.Lifecycle.PendingExpiryAction != ExpiryReport {
		t.Errorf("default: %+v %v", c.Lifecycle, err)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PORTICO_REMIND_AFTER": "7d,soon"}, `PORTICO_REMIND_AFTER "7d,soon": "soon" is not a positive duration`},
		{map[string]string{"PORTICO_REMIND_AFTER": "14d,7d"}, "increasing order"},
		{map[string]string{"PORTICO_PENDING_EXPIRY": "-3d"}, "PORTICO_PENDING_EXPIRY \"-3d\" must be a positive duration"},
		{map[string]string{"PORTICO_PENDING_EXPIRY": "30d", "PORTICO_PENDING_EXPIRY_ACTION": "purge"}, "must be report, disable or delete"},
		{map[string]string{"PORTICO_PENDING_EXPIRY_ACTION": "delete"}, "needs PORTICO_PENDING_EXPIRY"},
		{map[string]string{"PORTICO_PENDING_EXPIRY": "30d", "PORTICO_WARN_BEFORE": "30d"}, "shorter than PORTICO_PENDING_EXPIRY"},
		{map[string]string{"PORTICO_REMIND_AFTER": "7d,30d", "PORTICO_PENDING_EXPIRY": "30d"}, "must come before PORTICO_PENDING_EXPIRY"},
	} {
		_, err := Load(nil, env(with(validEnv(), tt.env)), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.env, err, tt.want)
		}
	}
	if _, err := Load([]string{"-demo-clock-offset", "720h"}, env(validEnv()), io.Discard); err == nil || !strings.Contains(err.Error(), "only applies in demo mode") {
		t.Errorf("-demo-clock-offset outside demo: %v", err)
	}
	if c, err := Load([]string{"-demo", "-demo-clock-offset", "30d"}, env(nil), io.Discard); err != nil || c.Lifecycle.DemoClockOffset != 30*day {
		t.Errorf("-demo-clock-offset 30d: %v %v", c, err)
	}
}

func with(base, extra map[string]string) map[string]string {
	for k, v := range extra {
		base[k] = v
	}
	return base
}
