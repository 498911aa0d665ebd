package config

import (
	"io"
	"maps"
	"strings"
	"testing"
)

const (
	hookSecretA = "whsec-0123456789abcdef0123456789abcdef"
	hookSecretB = "whsec-fedcba9876543210fedcba9876543210"
	metricsTok  = "mtok-0123456789abcdef0123456789abcdef"
)

func TestLoadOperators(t *testing.T) {
	e := validEnv()
	c, err := Load(nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsEnabled() || len(c.Webhooks) != 0 || c.WebhookAttempts != DefaultWebhookAttempts {
		t.Fatalf("defaults: metrics %v webhooks %v attempts %d", c.MetricsEnabled(), c.Webhooks, c.WebhookAttempts)
	}

	e = maps.Clone(validEnv())
	maps.Copy(e, map[string]string{
		"PORTICO_METRICS_TOKEN":    metricsTok,
		"PORTICO_METRICS_ADDR":     "127.0.0.1:9090",
		"PORTICO_WEBHOOK_URL":      "https://hooks.contoso.com/portico, http://127.0.0.1:9999/hook\nhttps://tickets.contoso.com/in",
		"PORTICO_WEBHOOK_SECRET":   hookSecretA,
		"PORTICO_WEBHOOK_ATTEMPTS": "7",
	})
	c, err = Load(nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.MetricsToken) != metricsTok || c.MetricsAddr != "127.0.0.1:9090" || !c.MetricsEnabled() || c.WebhookAttempts != 7 {
		t.Fatalf("metrics/attempts: %+v", c)
	}
	if len(c.Webhooks) != 3 || c.Webhooks[1].URL != "http://127.0.0.1:9999/hook" || string(c.Webhooks[2].Secret) != hookSecretA {
		t.Fatalf("webhooks: %+v", c.Webhooks)
	}
	if s := c.String() + c.Webhooks[0].Secret.String(); strings.Contains(s, hookSecretA) || strings.Contains(s, metricsTok) {
		t.Fatalf("a secret is printed: %s", s)
	}

	// One secret per URL, in order.
	e["PORTICO_WEBHOOK_URL"] = "https://a.example/h https://b.example/h"
	e["PORTICO_WEBHOOK_SECRET"] = hookSecretA + "," + hookSecretB
	c, err = Load(nil, env(e), io.Discard)
	if err != nil || string(c.Webhooks[1].Secret) != hookSecretB {
		t.Fatalf("per-URL secrets: %v %+v", err, c)
	}
}

func TestLoadOperatorsRefuses(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"short metrics token", map[string]string{"PORTICO_METRICS_TOKEN": "short"}, "PORTICO_METRICS_TOKEN must be at least 32"},
		{"metrics token with a space", map[string]string{"PORTICO_METRICS_TOKEN": "0123456789abcdef 0123456789abcdef0"}, "PORTICO_METRICS_TOKEN"},
		{"metrics address", map[string]string{"PORTICO_METRICS_ADDR": "9090"}, "PORTICO_METRICS_ADDR \"9090\" is not host:port"},
		{"http to a remote host", map[string]string{"PORTICO_WEBHOOK_URL": "http://hooks.example/x", "PORTICO_WEBHOOK_SECRET": hookSecretA}, "must use https"},
		{"not a URL", map[string]string{"PORTICO_WEBHOOK_URL": "hooks.example/x", "PORTICO_WEBHOOK_SECRET": hookSecretA}, "is not an absolute URL"},
		{"other scheme", map[string]string{"PORTICO_WEBHOOK_URL": "ftp://hooks.example/x", "PORTICO_WEBHOOK_SECRET": hookSecretA}, "must be an https URL"},
		{"credentials", map[string]string{"PORTICO_WEBHOOK_URL": "https://u:p@hooks.example/x", "PORTICO_WEBHOOK_SECRET": hookSecretA}, "must not carry credentials"},
		{"fragment", map[string]string{"PORTICO_WEBHOOK_URL": "https://hooks.example/x#y", "PORTICO_WEBHOOK_SECRET": hookSecretA}, "must not have a fragment"},
		{"twice", map[string]string{"PORTICO_WEBHOOK_URL": "https://hooks.example/x,https://hooks.example/x", "PORTICO_WEBHOOK_SECRET": hookSecretA}, "twice"},
		{"no secret", map[string]string{"PORTICO_WEBHOOK_URL": "https://hooks.example/x"}, "PORTICO_WEBHOOK_SECRET is required"},
		{"short secret", map[string]string{"PORTICO_WEBHOOK_URL": "https://hooks.example/x", "PORTICO_WEBHOOK_SECRET": "too-short"}, "at least 32 bytes"},
		{"secret count", map[string]string{"PORTICO_WEBHOOK_URL": "https://a.example/x https://b.example/x https://c.example/x", "PORTICO_WEBHOOK_SECRET": hookSecretA + "," + hookSecretB}, "2 secrets for 3 URLs"},
		{"secret without URL", map[string]string{"PORTICO_WEBHOOK_SECRET": hookSecretA}, "PORTICO_WEBHOOK_URL is not"},
		{"attempts", map[string]string{"PORTICO_WEBHOOK_ATTEMPTS": "0"}, "PORTICO_WEBHOOK_ATTEMPTS"},
		{"attempts too many", map[string]string{"PORTICO_WEBHOOK_ATTEMPTS": "99"}, "from 1 to 25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEnv()
			maps.Copy(e, tt.env)
			_, err := Load(nil, env(e), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			for _, v := range tt.env {
				if len(v) >= 32 && strings.Contains(err.Error(), v) && strings.Contains(v, "whsec") {
					t.Fatalf("the error prints a secret: %v", err)
				}
			}
		})
	}
}
