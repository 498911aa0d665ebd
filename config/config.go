// Package config loads and validates Portico's configuration from PORTICO_* environment variables and flags.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Directory role template ids Portico knows by name.
const (
	RoleGlobalAdministrator = "62e90394-69f5-4237-9190-012177145e10"
	RoleUserAdministrator   = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	RoleGuestInviter        = "95e79109-95c0-4d8e-aee3-d01accf2d47b"
)

// DemoTenantID is the tenant id devtenant uses unless told otherwise.
const DemoTenantID = "7f4c2d8e-1b3a-4c5d-9e6f-0a1b2c3d4e5f"

// Secret is a string that never prints its value.
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return s.String() }

// Link is a labelled link, e.g. one of PORTICO_WELCOME_LINKS.
type Link struct{ Label, URL string }

// Config is Portico's whole configuration, validated once at start.
type Config struct {
	Addr string
	Demo bool

	TenantID     string
	ClientID     string
	ClientSecret Secret
	PublicURL    *url.URL
	// PublicURLFromAddr is set in demo mode when the public URL was derived from -addr, so it can
	// follow the port actually bound (e.g. -addr 127.0.0.1:0 in tests).
	PublicURLFromAddr bool
	Authority         string
	GraphURL          string

	SessionKeys []Secret // newest first: the first signs, all verify
	DataKeys    [][]byte // newest first: 32-byte AES keys
	DatabaseURL string

	AdminRoles           []string
	DefaultRedirectURL   string
	AllowedRedirectHosts []string
	AllowedDomains       []string
	BlockedDomains       []string

	OrgName      string
	OrgLogoURL   string
	WelcomeLinks []Link
	JoinLinkTTL  time.Duration
	// StateRefresh is how old a stored invitation state may be before a page re-reads it from Graph.
	StateRefresh time.Duration

	SessionIdleTimeout time.Duration
	SessionMaxLifetime time.Duration
	TrustedProxies     []netip.Prefix

	InviteQuotaHour int
	InviteQuotaDay  int

	LogLevel string
	LogJSON  *bool // nil: JSON when stdout is not a terminal
}

// Issuer is the OpenID Connect issuer for the configured tenant.
func (c *Config) Issuer() string {
	return strings.TrimRight(c.Authority, "/") + "/" + c.TenantID + "/v2.0"
}

// RedirectURL is the OIDC redirect URI: the public URL plus /auth/callback, never derived from a request.
func (c *Config) RedirectURL() string { return c.PublicPath("/auth/callback") }

// PublicPath joins the public URL and an absolute path.
func (c *Config) PublicPath(p string) string {
	return strings.TrimRight(c.PublicURL.String(), "/") + p
}

// SecureCookies reports whether cookies must carry the Secure attribute.
func (c *Config) SecureCookies() bool { return c.PublicURL != nil && c.PublicURL.Scheme == "https" }

// String prints the configuration with secrets redacted.
func (c *Config) String() string {
	return fmt.Sprintf("addr=%s demo=%t tenant=%s client=%s secret=%s public=%s authority=%s graph=%s database=%s session_keys=%d data_keys=%d",
		c.Addr, c.Demo, c.TenantID, c.ClientID, c.ClientSecret, c.PublicURL, c.Authority, c.GraphURL,
		redactDSN(c.DatabaseURL), len(c.SessionKeys), len(c.DataKeys))
}

// ErrHelp is returned when -h or -help was asked for; usage has been printed.
var ErrHelp = flag.ErrHelp

// Problems collects every configuration problem so they are reported at once.
type Problems []string

func (p Problems) Error() string {
	return "config: " + strconv.Itoa(len(p)) + " problem(s):\n  - " + strings.Join(p, "\n  - ")
}

// Load parses flags from args and settings from getenv; it returns one error listing every problem.
// In demo mode the tenant settings are filled in by the caller (see ApplyDemo) after Load.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("portico", flag.ContinueOnError)
	fs.SetOutput(usage)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address host:port")
	demo := fs.Bool("demo", false, "run against a built-in local Entra stand-in (devtenant) with demo accounts")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, Problems{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}

	c := &Config{Addr: *addr, Demo: *demo}
	var p Problems
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }

	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		p = append(p, fmt.Sprintf("-addr %q is not host:port", c.Addr))
	}

	c.TenantID = get("PORTICO_TENANT_ID")
	c.ClientID = get("PORTICO_CLIENT_ID")
	c.ClientSecret = Secret(get("PORTICO_CLIENT_SECRET"))
	if f := get("PORTICO_CLIENT_SECRET_FILE"); f != "" {
		if c.ClientSecret != "" {
			p = append(p, "PORTICO_CLIENT_SECRET and PORTICO_CLIENT_SECRET_FILE are both set; use one")
		} else if b, err := os.ReadFile(f); err != nil {
			p = append(p, fmt.Sprintf("PORTICO_CLIENT_SECRET_FILE: cannot read %s: %v", f, err))
		} else {
			c.ClientSecret = Secret(strings.TrimSpace(string(b)))
		}
	}
	c.Authority = strings.TrimRight(orDefault(get("PORTICO_AUTHORITY"), "https://login.microsoftonline.com"), "/")
	c.GraphURL = strings.TrimRight(orDefault(get("PORTICO_GRAPH_URL"), "https://graph.microsoft.com"), "/")
	c.DatabaseURL = get("PORTICO_DATABASE_URL")
	c.OrgName = orDefault(get("PORTICO_ORG_NAME"), "Contoso")
	c.OrgLogoURL = get("PORTICO_ORG_LOGO_URL")
	c.DefaultRedirectURL = get("PORTICO_DEFAULT_REDIRECT_URL")
	c.AllowedRedirectHosts = list(get("PORTICO_ALLOWED_REDIRECT_HOSTS"))
	c.AllowedDomains = lowerList(get("PORTICO_ALLOWED_DOMAINS"))
	c.BlockedDomains = lowerList(get("PORTICO_BLOCKED_DOMAINS"))
	c.AdminRoles = list(get("PORTICO_ADMIN_ROLES"))
	if len(c.AdminRoles) == 0 {
		c.AdminRoles = []string{RoleUserAdministrator, RoleGlobalAdministrator}
	}
	c.LogLevel = strings.ToLower(orDefault(get("PORTICO_LOG_LEVEL"), "info"))
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p = append(p, fmt.Sprintf("PORTICO_LOG_LEVEL %q must be debug, info, warn or error", c.LogLevel))
	}
	if v := get("PORTICO_LOG_FORMAT"); v != "" {
		switch v {
		case "json":
			c.LogJSON = ptr(true)
		case "text":
			c.LogJSON = ptr(false)
		default:
			p = append(p, fmt.Sprintf("PORTICO_LOG_FORMAT %q must be json or text", v))
		}
	}

	c.JoinLinkTTL = duration(get, "PORTICO_JOIN_LINK_TTL", 30*24*time.Hour, &p)
	c.StateRefresh = duration(get, "PORTICO_STATE_REFRESH", 3*time.Minute, &p)
	c.SessionIdleTimeout = duration(get, "PORTICO_SESSION_IDLE_TIMEOUT", 8*time.Hour, &p)
	c.SessionMaxLifetime = duration(get, "PORTICO_SESSION_MAX_LIFETIME", 24*time.Hour, &p)
	if c.SessionIdleTimeout > c.SessionMaxLifetime {
		p = append(p, "PORTICO_SESSION_IDLE_TIMEOUT must not exceed PORTICO_SESSION_MAX_LIFETIME")
	}
	c.InviteQuotaHour, c.InviteQuotaDay = quota(get("PORTICO_INVITE_QUOTA"), &p)

	for _, s := range list(get("PORTICO_TRUSTED_PROXIES")) {
		if !strings.Contains(s, "/") {
			if a, err := netip.ParseAddr(s); err == nil {
				c.TrustedProxies = append(c.TrustedProxies, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			p = append(p, fmt.Sprintf("PORTICO_TRUSTED_PROXIES: %q is not an IP address or CIDR range", s))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx.Masked())
	}

	for i, k := range list(get("PORTICO_SESSION_KEYS")) {
		if len(k) < 32 {
			p = append(p, fmt.Sprintf("PORTICO_SESSION_KEYS: key %d is %d characters; each key needs at least 32 (generate one with: openssl rand -base64 32)", i+1, len(k)))
			continue
		}
		c.SessionKeys = append(c.SessionKeys, Secret(k))
	}
	for i, k := range list(get("PORTICO_DATA_KEY")) {
		b, err := decodeKey(k)
		if err != nil {
			p = append(p, fmt.Sprintf("PORTICO_DATA_KEY: key %d %v (generate one with: openssl rand -base64 32)", i+1, err))
			continue
		}
		c.DataKeys = append(c.DataKeys, b)
	}

	pub := get("PORTICO_PUBLIC_URL")
	if c.Demo {
		if err := c.applyDemo(pub); err != nil {
			p = append(p, err.Error())
		}
	} else {
		var missing []string
		for _, kv := range []struct{ key, val string }{
			{"PORTICO_TENANT_ID", c.TenantID},
			{"PORTICO_CLIENT_ID", c.ClientID},
			{"PORTICO_CLIENT_SECRET (or PORTICO_CLIENT_SECRET_FILE)", string(c.ClientSecret)},
			{"PORTICO_PUBLIC_URL", pub},
			{"PORTICO_SESSION_KEYS", strings.Join(list(get("PORTICO_SESSION_KEYS")), "")},
			{"PORTICO_DATA_KEY", strings.Join(list(get("PORTICO_DATA_KEY")), "")},
		} {
			if kv.val == "" {
				missing = append(missing, kv.key)
			}
		}
		for _, m := range missing {
			p = append(p, m+" is not set")
		}
		if len(missing) > 0 {
			p = append(p, "to try Portico without a tenant, run: go run . -demo")
		}
		if c.TenantID != "" && !isGUID(c.TenantID) {
			p = append(p, fmt.Sprintf("PORTICO_TENANT_ID %q must be the tenant's id (a GUID), as found in the Entra admin center overview", c.TenantID))
		}
		if pub != "" {
			u, err := parseBaseURL(pub)
			if err != nil {
				p = append(p, "PORTICO_PUBLIC_URL "+err.Error())
			} else {
				c.PublicURL = u
			}
		}
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "portico.db"
		if c.Demo {
			c.DatabaseURL = ":memory:"
		}
	}
	for _, kv := range []struct{ key, val string }{{"PORTICO_AUTHORITY", c.Authority}, {"PORTICO_GRAPH_URL", c.GraphURL}} {
		if c.Demo && kv.val == "" {
			continue
		}
		if _, err := parseBaseURL(kv.val); err != nil {
			p = append(p, kv.key+" "+err.Error())
		}
	}
	if c.OrgLogoURL != "" {
		if _, err := parseBaseURL(c.OrgLogoURL); err != nil && !strings.HasPrefix(c.OrgLogoURL, "/") {
			p = append(p, "PORTICO_ORG_LOGO_URL "+err.Error())
		}
	}
	for _, l := range list(get("PORTICO_WELCOME_LINKS")) {
		label, u, _ := strings.Cut(l, "|")
		label, u = strings.TrimSpace(label), strings.TrimSpace(u)
		if _, err := parseBaseURL(u); err != nil || label == "" {
			p = append(p, fmt.Sprintf("PORTICO_WELCOME_LINKS: %q must be Label|https://url", l))
			continue
		}
		c.WelcomeLinks = append(c.WelcomeLinks, Link{Label: label, URL: u})
	}
	if c.DefaultRedirectURL != "" {
		if _, err := parseBaseURL(c.DefaultRedirectURL); err != nil {
			p = append(p, "PORTICO_DEFAULT_REDIRECT_URL "+err.Error())
		}
	}
	if len(c.AllowedDomains) > 0 && len(c.BlockedDomains) > 0 {
		p = append(p, "PORTICO_ALLOWED_DOMAINS and PORTICO_BLOCKED_DOMAINS are both set; use one")
	}
	for _, d := range append(append([]string{}, c.AllowedDomains...), c.BlockedDomains...) {
		if !validDomainPattern(d) {
			p = append(p, fmt.Sprintf("domain rule %q must be a domain (fabrikam.com) or a suffix (*.fabrikam.com)", d))
		}
	}
	if len(p) > 0 {
		return nil, p
	}
	return c, nil
}

// applyDemo fills in what demo mode derives: the tenant, random keys, and the public URL from -addr.
// Authority and Graph URLs are set by the caller once devtenant listens.
func (c *Config) applyDemo(pub string) error {
	if c.TenantID == "" {
		c.TenantID = DemoTenantID
	}
	if c.ClientID == "" {
		c.ClientID = "portico-demo"
	}
	if c.ClientSecret == "" {
		c.ClientSecret = Secret(randomString(32))
	}
	if len(c.SessionKeys) == 0 {
		c.SessionKeys = []Secret{Secret(randomString(32))}
	}
	if len(c.DataKeys) == 0 {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		c.DataKeys = [][]byte{k}
	}
	if pub == "" {
		pub = "http://" + c.Addr
		c.PublicURLFromAddr = true
	}
	u, err := parseBaseURL(pub)
	if err != nil {
		return errors.New("PORTICO_PUBLIC_URL " + err.Error())
	}
	c.PublicURL = u
	return nil
}

// IsLoopbackHost reports whether host (without port) is localhost or a loopback address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// parseBaseURL accepts an absolute https URL, or http for loopback hosts only.
func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%q must be an absolute URL like https://portal.contoso.com", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q must not carry user info, a query or a fragment", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("%q must use https (plain http is accepted for loopback hosts only)", s)
		}
	default:
		return nil, fmt.Errorf("%q must use https", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("decodes to %d bytes; it must be 32 bytes, base64-encoded", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("is not base64")
}

func duration(get func(string) string, key string, def time.Duration, p *Problems) time.Duration {
	v := get(key)
	if v == "" {
		return def
	}
	d, err := parseDuration(v)
	if err != nil || d <= 0 {
		*p = append(*p, fmt.Sprintf("%s %q must be a positive duration like 30m, 8h or 30d", key, v))
		return def
	}
	return d
}

func parseDuration(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// quota parses "H/hour,D/day" style limits ("20/h,100/d"); "0" or "off" disables.
func quota(v string, p *Problems) (hour, day int) {
	hour, day = 20, 100
	if v == "" {
		return hour, day
	}
	if v == "0" || v == "off" {
		return 0, 0
	}
	hour, day = 0, 0
	for _, part := range list(v) {
		n, unit, ok := strings.Cut(part, "/")
		num, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || err != nil || num < 1 {
			*p = append(*p, fmt.Sprintf("PORTICO_INVITE_QUOTA %q must look like 20/h,100/d", v))
			return 20, 100
		}
		switch strings.TrimSpace(unit) {
		case "h", "hour":
			hour = num
		case "d", "day":
			day = num
		default:
			*p = append(*p, fmt.Sprintf("PORTICO_INVITE_QUOTA %q: unit must be h or d", v))
			return 20, 100
		}
	}
	return hour, day
}

func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func lowerList(v string) []string {
	out := list(v)
	for i := range out {
		out[i] = strings.ToLower(out[i])
	}
	return out
}

func validDomainPattern(d string) bool {
	d = strings.TrimPrefix(d, "*.")
	if !strings.Contains(d, ".") || strings.ContainsAny(d, "*/@ :") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return false
		}
	}
	return true
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

func redactDSN(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }
