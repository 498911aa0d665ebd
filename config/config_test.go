package config

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
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
		"PORTICO_DATA_KEY":      "QnMLerm6+NU1dJ9XcSqT8J00WpJSn8UW7SMmNDsgAQY=", // openssl rand -base64 32
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

// TestLoadRefusesWeakKeys plays an operator (or an attacker who wrote the deployment) handing
// Portico guessable keys: each must stop the start with a message naming the variable and saying
// how to make a good key, and no key may be echoed back.
func TestLoadRefusesWeakKeys(t *testing.T) {
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	counting := make([]byte, 32)
	for i := range counting {
		counting[i] = byte(100 + 3*i)
	}
	fewBytes := []byte(strings.Repeat("\x01\x02\x03\x04\x05\x06\x07\x08", 4))
	tests := []struct {
		name, key, val, want string
	}{
		{"32 zero bytes", "PORTICO_DATA_KEY", b64(make([]byte, 32)), "32 bytes of the same value"},
		{"32 zero bytes, URL alphabet unpadded", "PORTICO_DATA_KEY", base64.RawURLEncoding.EncodeToString(make([]byte, 32)), "same value"},
		{"one repeated byte", "PORTICO_DATA_KEY", b64(bytes.Repeat([]byte{'k'}, 32)), "same value"},
		{"eight distinct bytes", "PORTICO_DATA_KEY", b64(fewBytes), "only 8 different byte values"},
		{"counting sequence", "PORTICO_DATA_KEY", b64(counting), "counting sequence"},
		{"README example data key", "PORTICO_DATA_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "example key"},
		{"README example data key, URL alphabet", "PORTICO_DATA_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "example key"},
		{"weak second data key", "PORTICO_DATA_KEY", "QnMLerm6+NU1dJ9XcSqT8J00WpJSn8UW7SMmNDsgAQY=," + b64(make([]byte, 32)), "key 2"},
		{"repeated character session key", "PORTICO_SESSION_KEYS", strings.Repeat("a", 40), "repeats one character"},
		{"two characters session key", "PORTICO_SESSION_KEYS", strings.Repeat("ab", 20), "only 2 different characters"},
		{"README example session key", "PORTICO_SESSION_KEYS", "shared-session-key-0123456789abcdef0123", "example key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, demo := range []bool{false, true} {
				e := validEnv()
				e[tt.key] = tt.val
				var args []string
				if demo {
					args = []string{"-demo"}
				}
				_, err := Load(args, env(e), io.Discard)
				if err == nil {
					t.Fatalf("demo=%t: %s=%q was accepted", demo, tt.key, tt.val)
				}
				msg := err.Error()
				for _, want := range []string{tt.key, tt.want, "openssl rand -base64 32"} {
					if !strings.Contains(msg, want) {
						t.Errorf("demo=%t: error does not say %q:\n%s", demo, want, msg)
					}
				}
				if first, _, _ := strings.Cut(tt.val, ","); strings.Contains(msg, first) {
					t.Errorf("demo=%t: error echoes the key:\n%s", demo, msg)
				}
			}
		})
	}
	// Generated keys pass: 200 random ones of each kind (a false refusal would break a deployment).
	for range 200 {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		e := validEnv()
		e["PORTICO_DATA_KEY"], e["PORTICO_SESSION_KEYS"] = b64(k), b64(k)
		if _, err := Load(nil, env(e), io.Discard); err != nil {
			t.Fatalf("a random key was refused: %v", err)
		}
	}
}

func TestLoadDemoLatency(t *testing.T) {
	c, err := Load([]string{"-demo", "-demo-latency", "150ms"}, env(nil), io.Discard)
	if err != nil || c.DemoLatency != 150*time.Millisecond {
		t.Fatalf("flag: latency=%v err=%v", c, err)
	}
	c, err = Load([]string{"-demo"}, env(map[string]string{"PORTICO_DEMO_LATENCY": "2s"}), io.Discard)
	if err != nil || c.DemoLatency != 2*time.Second {
		t.Fatalf("env: %v", err)
	}
	c, err = Load([]string{"-demo", "-demo-latency", "10ms"}, env(map[string]string{"PORTICO_DEMO_LATENCY": "2s"}), io.Discard)
	if err != nil || c.DemoLatency != 10*time.Millisecond {
		t.Fatalf("the flag must win over the variable: %v", err)
	}
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-demo", "-demo-latency", "slow"}, nil, "-demo-latency"},
		{[]string{"-demo"}, map[string]string{"PORTICO_DEMO_LATENCY": "-1s"}, "PORTICO_DEMO_LATENCY"},
		{nil, map[string]string{"PORTICO_DEMO_LATENCY": "150ms"}, "only applies in demo mode"},
	} {
		e := validEnv()
		maps.Copy(e, tt.env)
		if _, err := Load(tt.args, env(e), io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v %v: want an error naming %q, got %v", tt.args, tt.env, tt.want, err)
		}
	}
}

func TestDefaultsAreUsed(t *testing.T) {
	c, err := Load(nil, env(validEnv()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.JoinLinkTTL != DefaultJoinLinkTTL || c.StateRefresh != DefaultStateRefresh || c.SessionIdleTimeout != DefaultSessionIdleTimeout ||
		c.SessionMaxLifetime != DefaultSessionMaxLifetime || c.InviteQuotaHour != DefaultInviteQuotaHour || c.InviteQuotaDay != DefaultInviteQuotaDay {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestPrintingRedactsSecrets(t *testing.T) {
	e := validEnv()
	e["PORTICO_DATABASE_URL"] = "postgres://portico:db-password-SENTINEL@db.contoso.com/portico"
	c, err := Load(nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	key := c.DataKeys[0]
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%v|%+v|%#v", c, *c, c), fmt.Sprintf("%+v|%#v", *c, *c)} {
		for _, secret := range []string{"s3cret-value", e["PORTICO_SESSION_KEYS"], e["PORTICO_DATA_KEY"], "db-password-SENTINEL", fmt.Sprintf("%d", key), fmt.Sprintf("%#v", key)} {
			if strings.Contains(out, secret) {
				t.Errorf("printing the config shows %q:\n%s", secret, out)
			}
		}
	}
}

func TestBulkSettings(t *testing.T) {
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	base := func() map[string]string {
		return map[string]string{}
	}
	c, err := Load([]string{"-demo"}, get(base()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.BulkMaxRows != DefaultBulkMaxRows || c.BulkMaxBytes != DefaultBulkMaxBytes || c.BulkRate != DefaultBulkRate || c.BulkInviters != nil {
		t.Fatalf("defaults: %d %d %v %v", c.BulkMaxRows, c.BulkMaxBytes, c.BulkRate, c.BulkInviters)
	}
	env := base()
	env["PORTICO_BULK_MAX_ROWS"], env["PORTICO_BULK_MAX_BYTES"], env["PORTICO_BULK_RATE"], env["PORTICO_BULK_INVITERS"] = "200", "2MB", "5", "Portico.Bulk, 95e79109-95c0-4d8e-aee3-d01accf2d47b"
	c, err = Load([]string{"-demo"}, get(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.BulkMaxRows != 200 || c.BulkMaxBytes != 2<<20 || c.BulkRate != 5 || len(c.BulkInviters) != 2 || c.BulkInviters[0] != "Portico.Bulk" {
		t.Fatalf("set: %d %d %v %v", c.BulkMaxRows, c.BulkMaxBytes, c.BulkRate, c.BulkInviters)
	}
	env["PORTICO_BULK_MAX_ROWS"], env["PORTICO_BULK_MAX_BYTES"], env["PORTICO_BULK_RATE"], env["PORTICO_BULK_INVITERS"] = "0", "lots", "50", "all"
	_, err = Load([]string{"-demo"}, get(env), io.Discard)
	for _, want := range []string{"PORTICO_BULK_MAX_ROWS", "PORTICO_BULK_MAX_BYTES", "PORTICO_BULK_RATE", "PORTICO_BULK_INVITERS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestLoadDemoFaults(t *testing.T) {
	c, err := Load([]string{"-demo", "-demo-fault", "POST /invitations status=503 after rate=0.3", "-demo-fault", "abuse times=1", "-demo-write-quota", "20/1s"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.DemoFaults) != 2 || c.DemoFaults[0].Status != 503 || !c.DemoFaults[0].AfterActing || c.DemoFaults[1].Status != 403 {
		t.Errorf("faults %+v", c.DemoFaults)
	}
	if !c.DemoWriteQuotaSet || c.DemoWriteQuota != 20 || c.DemoWriteQuotaPer != time.Second {
		t.Errorf("quota %d/%v", c.DemoWriteQuota, c.DemoWriteQuotaPer)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-demo", "-demo-fault", "status=200"}, "-demo-fault"},
		{[]string{"-demo-fault", "status=503"}, "only applies in demo mode"},
		{[]string{"-demo", "-demo-write-quota", "lots"}, "-demo-write-quota"},
		{[]string{"-demo-write-quota", "20/1s"}, "only applies in demo mode"},
	} {
		_, err := Load(tt.args, env(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v", tt.args, err)
		}
	}
}
