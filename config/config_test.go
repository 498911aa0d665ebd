package config

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func validEnv() map[string]string {
	return map[string]string{
		"PORTICO_TENANT_ID":     "7f4c2d8e-1b3a-4c5d-9e6f-0a1b2c3d4e5f",
		"PORTICO_CLIENT_ID":     "11111111-2222-3333-4444-555555555555",
		"PORTICO_CLIENT_SECRET": "s3cret-value",
		"PORTICO_PUBLIC_URL":    "https://portal.contoso.com/",
		"PORTICO_SESSION_KEYS":  "0123456789abcdef0123456789abcdef",
		"PORTICO_DATA_KEY":      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	}
}

func TestLoadValid(t *testing.T) {
	c, err := Load(nil, env(validEnv()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.RedirectURL(), "https://portal.contoso.com/auth/callback"; got != want {
		t.Errorf("RedirectURL = %q, want %q", got, want)
	}
	if got, want := c.Issuer(), "https://login.microsoftonline.com/7f4c2d8e-1b3a-4c5d-9e6f-0a1b2c3d4e5f/v2.0"; got != want {
		t.Errorf("Issuer = %q, want %q", got, want)
	}
	if !c.SecureCookies() {
		t.Error("https public URL must mean secure cookies")
	}
	if c.DatabaseURL != "portico.db" || c.GraphURL != "https://graph.microsoft.com" || c.Addr != "127.0.0.1:8080" {
		t.Errorf("defaults wrong: %s", c)
	}
	if len(c.AdminRoles) != 2 || c.JoinLinkTTL != 30*24*time.Hour || c.InviteQuotaHour != 20 || c.InviteQuotaDay != 100 {
		t.Errorf("defaults wrong: roles=%v ttl=%v quota=%d/%d", c.AdminRoles, c.JoinLinkTTL, c.InviteQuotaHour, c.InviteQuotaDay)
	}
	if strings.Contains(c.String(), "s3cret") || strings.Contains(c.String(), "0123456789abcdef") {
		t.Errorf("String leaks a secret: %s", c)
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Load(nil, env(map[string]string{}), io.Discard)
	var p Problems
	if !errors.As(err, &p) {
		t.Fatalf("want Problems, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"PORTICO_TENANT_ID", "PORTICO_CLIENT_ID", "PORTICO_CLIENT_SECRET", "PORTICO_PUBLIC_URL", "PORTICO_SESSION_KEYS", "PORTICO_DATA_KEY", "-demo"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %s:\n%s", want, msg)
		}
	}
}

func TestLoadMalformed(t *testing.T) {
	tests := []struct {
		name, key, val, want string
	}{
		{"tenant not a guid", "PORTICO_TENANT_ID", "contoso.onmicrosoft.com", "PORTICO_TENANT_ID"},
		{"public url http", "PORTICO_PUBLIC_URL", "http://portal.contoso.com", "PORTICO_PUBLIC_URL"},
		{"public url relative", "PORTICO_PUBLIC_URL", "/portal", "PORTICO_PUBLIC_URL"},
		{"short session key", "PORTICO_SESSION_KEYS", "tooshort", "PORTICO_SESSION_KEYS"},
		{"second session key short", "PORTICO_SESSION_KEYS", "0123456789abcdef0123456789abcdef,short", "key 2"},
		{"data key wrong size", "PORTICO_DATA_KEY", "AAECAwQ=", "PORTICO_DATA_KEY"},
		{"data key not base64", "PORTICO_DATA_KEY", "!!!", "PORTICO_DATA_KEY"},
		{"authority http", "PORTICO_AUTHORITY", "http://login.example.com", "PORTICO_AUTHORITY"},
		{"graph javascript", "PORTICO_GRAPH_URL", "javascript:alert(1)", "PORTICO_GRAPH_URL"},
		{"ttl", "PORTICO_JOIN_LINK_TTL", "forever", "PORTICO_JOIN_LINK_TTL"},
		{"proxies", "PORTICO_TRUSTED_PROXIES", "10.0.0.0/33", "PORTICO_TRUSTED_PROXIES"},
		{"quota", "PORTICO_INVITE_QUOTA", "lots", "PORTICO_INVITE_QUOTA"},
		{"log level", "PORTICO_LOG_LEVEL", "loud", "PORTICO_LOG_LEVEL"},
		{"domain rule", "PORTICO_BLOCKED_DOMAINS", "*.", "domain rule"},
		{"redirect default", "PORTICO_DEFAULT_REDIRECT_URL", "ftp://x", "PORTICO_DEFAULT_REDIRECT_URL"},
		{"welcome link without label", "PORTICO_WELCOME_LINKS", "|https://apps.contoso.com", "PORTICO_WELCOME_LINKS"},
		{"welcome link without url", "PORTICO_WELCOME_LINKS", "Apps", "PORTICO_WELCOME_LINKS"},
		{"welcome link http", "PORTICO_WELCOME_LINKS", "Apps|http://apps.contoso.com", "PORTICO_WELCOME_LINKS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEnv()
			e[tt.key] = tt.val
			_, err := Load(nil, env(e), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error naming %s, got %v", tt.want, err)
			}
		})
	}
}

func TestLoadWelcomeLinks(t *testing.T) {
	e := validEnv()
	e["PORTICO_WELCOME_LINKS"] = "My Apps | https://myapps.microsoft.com , Wiki|https://wiki.contoso.com/partners"
	c, err := Load(nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []Link{{"My Apps", "https://myapps.microsoft.com"}, {"Wiki", "https://wiki.contoso.com/partners"}}
	if len(c.WelcomeLinks) != 2 || c.WelcomeLinks[0] != want[0] || c.WelcomeLinks[1] != want[1] {
		t.Errorf("WelcomeLinks = %+v, want %+v", c.WelcomeLinks, want)
	}
}

func TestLoadAllowsLoopbackHTTP(t *testing.T) {
	e := validEnv()
	e["PORTICO_AUTHORITY"] = "http://127.0.0.1:9999"
	e["PORTICO_GRAPH_URL"] = "http://localhost:9999"
	e["PORTICO_PUBLIC_URL"] = "http://127.0.0.1:8081"
	c, err := Load(nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.SecureCookies() {
		t.Error("http public URL cannot use Secure cookies")
	}
}

func TestLoadSecretFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := validEnv()
	delete(e, "PORTICO_CLIENT_SECRET")
	e["PORTICO_CLIENT_SECRET_FILE"] = f
	c, err := Load(nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientSecret != "from-file" {
		t.Errorf("secret = %q", string(c.ClientSecret))
	}
	e["PORTICO_CLIENT_SECRET"] = "both"
	if _, err := Load(nil, env(e), io.Discard); err == nil {
		t.Error("both secret and secret file must be refused")
	}
}

func TestLoadDemoDerivesEverything(t *testing.T) {
	c, err := Load([]string{"-demo", "-addr", "127.0.0.1:9090"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Demo || c.TenantID != DemoTenantID || c.ClientSecret == "" || len(c.SessionKeys) != 1 || len(c.DataKeys) != 1 {
		t.Fatalf("demo config incomplete: %s", c)
	}
	if c.PublicURL.String() != "http://127.0.0.1:9090" || c.DatabaseURL != ":memory:" {
		t.Errorf("public=%s db=%s", c.PublicURL, c.DatabaseURL)
	}
}

func TestLoadFlags(t *testing.T) {
	if _, err := Load([]string{"-nope"}, env(validEnv()), io.Discard); err == nil {
		t.Error("unknown flag must fail")
	}
	if _, err := Load([]string{"-addr", "nonsense"}, env(validEnv()), io.Discard); err == nil || !strings.Contains(err.Error(), "-addr") {
		t.Errorf("bad addr: %v", err)
	}
	if _, err := Load([]string{"-h"}, env(validEnv()), io.Discard); !errors.Is(err, ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 720 * time.Hour, "90m": 90 * time.Minute, "8h": 8 * time.Hour} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
