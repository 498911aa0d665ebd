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
	"portico/internal/faultspec"
	"slices"
	"strconv"
	"strings"
	"time"

	"portico/internal/netaddr"
	"portico/keyring"
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
	// SendWait is how long a submit waits for Graph before it answers with the invitation
	// "Still sending…" (PORTICO_SEND_WAIT); at most MaxSendWait, so it fits the write timeout.
	SendWait time.Duration
	// ReconcilePatience is how long an invitation whose outcome was lost is looked up before it
	// is recorded as not sent (PORTICO_RECONCILE_PATIENCE).
	ReconcilePatience time.Duration

	SessionIdleTimeout time.Duration
	SessionMaxLifetime time.Duration
	TrustedProxies     []netip.Prefix

	InviteQuotaHour int
	InviteQuotaDay  int

	LogLevel string
	LogJSON  *bool // nil: JSON when stdout is not a terminal

	// DemoLatency delays every Graph answer of the demo devtenant (-demo-latency, PORTICO_DEMO_LATENCY).
	DemoLatency time.Duration
	// DemoFaults are Graph faults the demo devtenant injects from the start (-demo-fault, repeatable).
	DemoFaults []faultspec.Fault
	// DemoWriteQuota is the demo devtenant's Graph write quota per application (-demo-write-quota
	// N/DURATION); DemoWriteQuotaSet says whether it was given (DemoWriteQuota 0 means off).
	DemoWriteQuota    int
	DemoWriteQuotaPer time.Duration
	DemoWriteQuotaSet bool

	// GraphMode is GraphModeDelegated (default) or GraphModeApplication (PORTICO_GRAPH_MODE, -graph-mode).
	GraphMode string
	// ClientCertificates are the application's certificates, newest first: the first signs client
	// assertions (PORTICO_CLIENT_CERTIFICATE_FILE; a second file during a rotation).
	ClientCertificates []*ClientCertificate
	// Inviters are the app roles, directory role template ids and group ids whose holders may
	// invite (PORTICO_INVITERS); nil: every member of the tenant.
	Inviters []string
	// GuestGroups are the ids of the groups and teams guests may be added to when invited
	// (PORTICO_GUEST_GROUPS); in demo mode, devtenant's demo groups when unset.
	GuestGroups []string
	// BulkInviters are the app roles, directory role template ids and group ids whose holders
	// may use bulk invitations besides administrators (PORTICO_BULK_INVITERS); nil: administrators only.
	BulkInviters []string
	// BulkMaxRows, BulkMaxBytes bound one bulk file (PORTICO_BULK_MAX_ROWS, PORTICO_BULK_MAX_BYTES).
	BulkMaxRows  int
	BulkMaxBytes int64
	// BulkRate is the pace of bulk sending in invitations per second (PORTICO_BULK_RATE).
	BulkRate float64
	// Background lets background work use the application token in delegated mode (PORTICO_BACKGROUND=on).
	Background bool
	// DemoAppPermissions are the application permissions the demo devtenant grants
	// (-demo-app-permissions, PORTICO_DEMO_APP_PERMISSIONS); nil: devtenant's default.
	DemoAppPermissions []string
	// Approval lists which requests go to an approver instead of being refused (PORTICO_APPROVAL:
	// domain, member, quota, all); empty: none, requests outside policy are refused.
	Approval []string
	// Approvers are the app roles, directory role template ids and group ids whose holders approve
	// requests (PORTICO_APPROVERS); administrators always may.
	Approvers []string
	// ApproverManager: the requester's manager approves their requests (PORTICO_APPROVERS=manager),
	// falling back to Approvers when Graph knows no manager.
	ApproverManager bool
	// ApprovalTTL is how long an approval request waits for a decision (PORTICO_APPROVAL_TTL).
	ApprovalTTL time.Duration
	// ApprovalNotify are addresses told when a request waits for approval (PORTICO_APPROVAL_NOTIFY).
	ApprovalNotify []string
	// ReviewEvery is how often sponsors confirm each guest Portico invited (PORTICO_REVIEW_EVERY; 0: no reviews).
	ReviewEvery time.Duration
	// ReviewGrace is how long a due review waits for an answer (PORTICO_REVIEW_GRACE).
	ReviewGrace time.Duration
	// ReviewAction is what a "remove" or an unanswered review does: report, disable or delete (PORTICO_REVIEW_ACTION).
	ReviewAction string
	// DemoAppCredential is how the demo gets its application token: "certificate" (a throwaway
	// certificate made in memory and registered with devtenant; the default) or "secret".
	DemoAppCredential string

	// Notices is how email notices are sent (PORTICO_SMTP_URL or PORTICO_NOTICE_MAILBOX, PORTICO_NOTICES).
	Notices Notices
	// Lifecycle is what happens after the invitation: reminders, expiry, warnings (PORTICO_REMIND_AFTER, …).
	Lifecycle Lifecycle
	// MetricsToken protects /metrics with a bearer token (PORTICO_METRICS_TOKEN); MetricsAddr
	// serves it on a listener of its own instead of the main one (PORTICO_METRICS_ADDR). Neither
	// set: no /metrics at all.
	MetricsToken Secret
	MetricsAddr  string
	// Webhooks are the receivers of Portico's events (PORTICO_WEBHOOK_URL, PORTICO_WEBHOOK_SECRET);
	// WebhookAttempts is how many times one delivery is tried (PORTICO_WEBHOOK_ATTEMPTS).
	Webhooks        []WebhookEndpoint
	WebhookAttempts int

	graphModeFlag string
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

// String prints the configuration with secrets redacted (a value receiver, so a Config printed by
// value with %v or %+v is redacted too).
func (c Config) String() string {
	return fmt.Sprintf("addr=%s demo=%t tenant=%s client=%s secret=%s certificates=%d graph_mode=%s public=%s authority=%s graph=%s database=%s session_keys=%d data_keys=%d notices=%s",
		c.Addr, c.Demo, c.TenantID, c.ClientID, c.ClientSecret, len(c.ClientCertificates), c.GraphMode, c.PublicURL, c.Authority, c.GraphURL,
		RedactDSN(c.DatabaseURL), len(c.SessionKeys), len(c.DataKeys), c.Notices.Transport())
}

// GoString redacts for %#v as well, which would otherwise print the keys' bytes.
func (c Config) GoString() string { return c.String() }

// ErrHelp is returned when -h or -help was asked for; usage has been printed.
var ErrHelp = flag.ErrHelp

// Defaults, each written once here; the README's configuration table lists the same values.
const (
	DefaultAddr               = "127.0.0.1:8080"
	DefaultAuthority          = "https://login.microsoftonline.com"
	DefaultGraphURL           = "https://graph.microsoft.com"
	DefaultDatabaseURL        = "portico.db"
	DemoDatabaseURL           = ":memory:"
	DefaultOrgName            = "Contoso"
	DefaultLogLevel           = "info"
	DefaultJoinLinkTTL        = 30 * 24 * time.Hour
	DefaultStateRefresh       = 3 * time.Minute
	DefaultSendWait           = 10 * time.Second
	MaxSendWait               = 40 * time.Second // the server's write timeout is 60 s
	DefaultReconcilePatience  = 10 * time.Minute
	DefaultSessionIdleTimeout = 8 * time.Hour
	DefaultSessionMaxLifetime = 24 * time.Hour
	DefaultInviteQuotaHour    = 20
	DefaultInviteQuotaDay     = 100
	DemoClientID              = "portico-demo"
)

// Problems collects every configuration problem so they are reported at once.
type Problems []string

func (p Problems) Error() string {
	return "config: " + strconv.Itoa(len(p)) + " problem(s):\n  - " + strings.Join(p, "\n  - ")
}

func (p *Problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// source reads one trimmed PORTICO_* variable.
type source func(string) string

func (e source) get(k string) string { return strings.TrimSpace(e(k)) }

// validators run in this order; each reads its variables, fills its part of Config and adds its
// problems, so Load reports every problem at once. Later ones may read what earlier ones filled.
var validators = []func(c *Config, e source, p *Problems){
	loadTenant,
	loadEndpoints,
	loadLogging,
	loadDurations,
	loadQuota,
	loadProxies,
	loadKeys,
	loadPublicURL, // needs the keys (demo mode fills in missing ones)
	loadDatabase,
	loadBranding,
	loadRedirects,
	loadDomains,
	loadApplication,
	loadApprovals,
	loadBulk,
	checkApplicationCredentials, // after the demo settings
	loadNotices,                 // after the application credentials and the demo settings
	loadLifecycle,               // after the application credentials
	loadOperators,
	loadReviews, // after the lifecycle (PORTICO_WARN_BEFORE)
}

// Load parses flags from args and settings from getenv; it returns one error listing every problem.
// In demo mode the tenant settings are derived here and the URLs of devtenant set by the caller.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	c, p, err := parseFlags(args, getenv, usage)
	if err != nil {
		return nil, err
	}
	for _, validate := range validators {
		validate(c, source(getenv), &p)
	}
	if len(p) > 0 {
		return nil, p
	}
	return c, nil
}

// parseFlags reads the command line; -demo-latency falls back to PORTICO_DEMO_LATENCY. An error
// is -h or a flag the command does not know; problems are values that are wrong.
func parseFlags(args []string, getenv func(string) string, usage io.Writer) (*Config, Problems, error) {
	fs := flag.NewFlagSet("portico", flag.ContinueOnError)
	fs.SetOutput(usage)
	addr := fs.String("addr", DefaultAddr, "listen address host:port")
	demo := fs.Bool("demo", false, "run against a built-in local Entra stand-in (devtenant) with demo accounts")
	latency := fs.String("demo-latency", "", "in demo mode, delay every Graph answer of devtenant by this long, e.g. 150ms (default: PORTICO_DEMO_LATENCY, else none)")
	graphMode := fs.String("graph-mode", "", "delegated (the employee's token) or application (Portico's own token); default PORTICO_GRAPH_MODE, else delegated")
	appPerms := fs.String("demo-app-permissions", "", "in demo mode, the application permissions devtenant grants, e.g. User.Invite.All,User.Read.All (default: PORTICO_DEMO_APP_PERMISSIONS, else devtenant's)")
	appCred := fs.String("demo-app-credential", "certificate", "in demo mode, how Portico gets its application token: certificate (a throwaway one) or secret")
	var faultSpecs []string
	fs.Func("demo-fault", "in demo mode, a Graph fault devtenant injects (repeatable), e.g. 'POST /invitations status=503 after rate=0.3'; see README (Fault injection)", func(v string) error {
		faultSpecs = append(faultSpecs, v)
		return nil
	})
	clockOffset := fs.String("demo-clock-offset", "", "in demo mode, run Portico's and devtenant's clocks this far ahead, e.g. 720h or 30d (the lifecycle's 30 days pass at once)")
	writeQuota := fs.String("demo-write-quota", "", "in demo mode, devtenant's Graph write quota per application, writes/duration (e.g. 20/1s) or off")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, Problems{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	c := &Config{Addr: *addr, Demo: *demo, graphModeFlag: strings.TrimSpace(*graphMode), DemoAppCredential: strings.TrimSpace(*appCred)}
	var p Problems
	if v := orDefault(strings.TrimSpace(*appPerms), strings.TrimSpace(getenv("PORTICO_DEMO_APP_PERMISSIONS"))); v != "" {
		if !c.Demo {
			p.addf("-demo-app-permissions (PORTICO_DEMO_APP_PERMISSIONS) only applies in demo mode (-demo)")
		}
		c.DemoAppPermissions = list(v)
	}
	switch c.DemoAppCredential {
	case "certificate", "secret":
	default:
		p.addf("-demo-app-credential %q must be certificate or secret", c.DemoAppCredential)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		p.addf("-addr %q is not host:port", c.Addr)
	}
	for _, spec := range faultSpecs {
		f, err := faultspec.Parse(spec)
		switch {
		case err != nil:
			p.addf("-demo-fault %q: %v", spec, err)
		case !c.Demo:
			p.addf("-demo-fault only applies in demo mode (-demo)")
		default:
			c.DemoFaults = append(c.DemoFaults, f)
		}
	}
	if v := strings.TrimSpace(*writeQuota); v != "" {
		n, per, err := faultspec.ParseWriteQuota(v)
		switch {
		case err != nil:
			p.addf("-demo-write-quota: %v", err)
		case !c.Demo:
			p.addf("-demo-write-quota only applies in demo mode (-demo)")
		default:
			c.DemoWriteQuota, c.DemoWriteQuotaPer, c.DemoWriteQuotaSet = n, per, true
		}
	}
	if v := strings.TrimSpace(*clockOffset); v != "" {
		d, err := parseDuration(v)
		switch {
		case err != nil || d < 0:
			p.addf("-demo-clock-offset %q must be a duration like 720h or 30d", v)
		case !c.Demo:
			p.addf("-demo-clock-offset only applies in demo mode (-demo)")
		default:
			c.Lifecycle.DemoClockOffset = d
		}
	}
	name, v := "-demo-latency", strings.TrimSpace(*latency)
	if v == "" {
		name, v = "PORTICO_DEMO_LATENCY", strings.TrimSpace(getenv("PORTICO_DEMO_LATENCY"))
	}
	if v != "" {
		d, err := parseDuration(v)
		switch {
		case err != nil || d < 0:
			p.addf("%s %q must be a duration like 150ms", name, v)
		case !c.Demo:
			p.addf("%s only applies in demo mode (-demo)", name)
		default:
			c.DemoLatency = d
		}
	}
	return c, p, nil
}

func loadTenant(c *Config, e source, p *Problems) {
	c.TenantID = e.get("PORTICO_TENANT_ID")
	c.ClientID = e.get("PORTICO_CLIENT_ID")
	c.ClientSecret = Secret(e.get("PORTICO_CLIENT_SECRET"))
	if f := e.get("PORTICO_CLIENT_SECRET_FILE"); f != "" {
		if c.ClientSecret != "" {
			p.addf("PORTICO_CLIENT_SECRET and PORTICO_CLIENT_SECRET_FILE are both set; use one")
		} else if b, err := os.ReadFile(f); err != nil {
			p.addf("PORTICO_CLIENT_SECRET_FILE: cannot read %s: %v", f, err)
		} else {
			c.ClientSecret = Secret(strings.TrimSpace(string(b)))
		}
	}
	if !c.Demo && c.TenantID != "" && !isGUID(c.TenantID) {
		p.addf("PORTICO_TENANT_ID %q must be the tenant's id (a GUID), as found in the Entra admin center overview", c.TenantID)
	}
	c.AdminRoles = list(e.get("PORTICO_ADMIN_ROLES"))
	if len(c.AdminRoles) == 0 {
		c.AdminRoles = []string{RoleUserAdministrator, RoleGlobalAdministrator}
	}
}

func loadEndpoints(c *Config, e source, p *Problems) {
	c.Authority = strings.TrimRight(orDefault(e.get("PORTICO_AUTHORITY"), DefaultAuthority), "/")
	c.GraphURL = strings.TrimRight(orDefault(e.get("PORTICO_GRAPH_URL"), DefaultGraphURL), "/")
	for _, kv := range []struct{ key, val string }{{"PORTICO_AUTHORITY", c.Authority}, {"PORTICO_GRAPH_URL", c.GraphURL}} {
		if _, err := parseBaseURL(kv.val); err != nil {
			p.addf("%s %v", kv.key, err)
		}
	}
}

func loadLogging(c *Config, e source, p *Problems) {
	c.LogLevel = strings.ToLower(orDefault(e.get("PORTICO_LOG_LEVEL"), DefaultLogLevel))
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p.addf("PORTICO_LOG_LEVEL %q must be debug, info, warn or error", c.LogLevel)
	}
	switch v := e.get("PORTICO_LOG_FORMAT"); v {
	case "":
	case "json":
		c.LogJSON = ptr(true)
	case "text":
		c.LogJSON = ptr(false)
	default:
		p.addf("PORTICO_LOG_FORMAT %q must be json or text", v)
	}
}

func loadDurations(c *Config, e source, p *Problems) {
	c.JoinLinkTTL = duration(e, "PORTICO_JOIN_LINK_TTL", DefaultJoinLinkTTL, p)
	c.StateRefresh = duration(e, "PORTICO_STATE_REFRESH", DefaultStateRefresh, p)
	c.SendWait = duration(e, "PORTICO_SEND_WAIT", DefaultSendWait, p)
	if c.SendWait > MaxSendWait {
		p.addf("PORTICO_SEND_WAIT must not exceed %s (a submit must answer before the server's 60 s write timeout)", MaxSendWait)
	}
	c.ReconcilePatience = duration(e, "PORTICO_RECONCILE_PATIENCE", DefaultReconcilePatience, p)
	c.SessionIdleTimeout = duration(e, "PORTICO_SESSION_IDLE_TIMEOUT", DefaultSessionIdleTimeout, p)
	c.SessionMaxLifetime = duration(e, "PORTICO_SESSION_MAX_LIFETIME", DefaultSessionMaxLifetime, p)
	if c.SessionIdleTimeout > c.SessionMaxLifetime {
		p.addf("PORTICO_SESSION_IDLE_TIMEOUT must not exceed PORTICO_SESSION_MAX_LIFETIME")
	}
}

func loadQuota(c *Config, e source, p *Problems) {
	c.InviteQuotaHour, c.InviteQuotaDay = quota(e.get("PORTICO_INVITE_QUOTA"), p)
}

func loadProxies(c *Config, e source, p *Problems) {
	for _, s := range list(e.get("PORTICO_TRUSTED_PROXIES")) {
		if !strings.Contains(s, "/") {
			if a, err := netip.ParseAddr(s); err == nil {
				c.TrustedProxies = append(c.TrustedProxies, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			p.addf("PORTICO_TRUSTED_PROXIES: %q is not an IP address or CIDR range", s)
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx.Masked())
	}
}

// loadKeys reads the session and data keys, refusing short, low-entropy and documented example keys.
func loadKeys(c *Config, e source, p *Problems) {
	for i, k := range list(e.get("PORTICO_SESSION_KEYS")) {
		if why := weakSessionKey(k); why != "" {
			p.addf("PORTICO_SESSION_KEYS: key %d %s; %s", i+1, why, keyHint)
			continue
		}
		c.SessionKeys = append(c.SessionKeys, Secret(k))
	}
	for i, k := range list(e.get("PORTICO_DATA_KEY")) {
		b, err := keyring.DecodeKey(k)
		if err != nil {
			p.addf("PORTICO_DATA_KEY: key %d is not usable: %s; %s", i+1, strings.TrimPrefix(err.Error(), "keyring: "), keyHint)
			continue
		}
		if why := weakDataKey(b); why != "" {
			p.addf("PORTICO_DATA_KEY: key %d %s; %s", i+1, why, keyHint)
			continue
		}
		c.DataKeys = append(c.DataKeys, b)
	}
}

// loadPublicURL derives the demo settings, or checks that every required setting is there.
func loadPublicURL(c *Config, e source, p *Problems) {
	pub := e.get("PORTICO_PUBLIC_URL")
	if c.Demo {
		if err := c.applyDemo(pub); err != nil {
			p.addf("%v", err)
		}
		return
	}
	var missing []string
	for _, kv := range []struct{ key, val string }{
		{"PORTICO_TENANT_ID", c.TenantID},
		{"PORTICO_CLIENT_ID", c.ClientID},
		{"PORTICO_CLIENT_SECRET (or PORTICO_CLIENT_SECRET_FILE, or PORTICO_CLIENT_CERTIFICATE_FILE)", string(c.ClientSecret) + e.get("PORTICO_CLIENT_CERTIFICATE_FILE")},
		{"PORTICO_PUBLIC_URL", pub},
		{"PORTICO_SESSION_KEYS", strings.Join(list(e.get("PORTICO_SESSION_KEYS")), "")},
		{"PORTICO_DATA_KEY", strings.Join(list(e.get("PORTICO_DATA_KEY")), "")},
	} {
		if kv.val == "" {
			missing = append(missing, kv.key)
		}
	}
	for _, m := range missing {
		p.addf("%s is not set", m)
	}
	if len(missing) > 0 {
		p.addf("to try Portico without a tenant, run: go run . -demo")
	}
	if pub != "" {
		u, err := parseBaseURL(pub)
		if err != nil {
			p.addf("PORTICO_PUBLIC_URL %v", err)
		} else {
			c.PublicURL = u
		}
	}
}

func loadDatabase(c *Config, e source, _ *Problems) {
	c.DatabaseURL = e.get("PORTICO_DATABASE_URL")
	if c.DatabaseURL == "" {
		c.DatabaseURL = DefaultDatabaseURL
		if c.Demo {
			c.DatabaseURL = DemoDatabaseURL
		}
	}
}

func loadBranding(c *Config, e source, p *Problems) {
	c.OrgName = orDefault(e.get("PORTICO_ORG_NAME"), DefaultOrgName)
	c.OrgLogoURL = e.get("PORTICO_ORG_LOGO_URL")
	if c.OrgLogoURL != "" && !strings.HasPrefix(c.OrgLogoURL, "/") {
		if _, err := parseBaseURL(c.OrgLogoURL); err != nil {
			p.addf("PORTICO_ORG_LOGO_URL %v", err)
		}
	}
	for _, l := range list(e.get("PORTICO_WELCOME_LINKS")) {
		label, u, _ := strings.Cut(l, "|")
		label, u = strings.TrimSpace(label), strings.TrimSpace(u)
		if _, err := parseBaseURL(u); err != nil || label == "" {
			p.addf("PORTICO_WELCOME_LINKS: %q must be Label|https://url", l)
			continue
		}
		c.WelcomeLinks = append(c.WelcomeLinks, Link{Label: label, URL: u})
	}
}

func loadRedirects(c *Config, e source, p *Problems) {
	c.DefaultRedirectURL = e.get("PORTICO_DEFAULT_REDIRECT_URL")
	c.AllowedRedirectHosts = list(e.get("PORTICO_ALLOWED_REDIRECT_HOSTS"))
	if c.DefaultRedirectURL != "" {
		if _, err := parseBaseURL(c.DefaultRedirectURL); err != nil {
			p.addf("PORTICO_DEFAULT_REDIRECT_URL %v", err)
		}
	}
}

func loadDomains(c *Config, e source, p *Problems) {
	c.AllowedDomains = lowerList(e.get("PORTICO_ALLOWED_DOMAINS"))
	c.BlockedDomains = lowerList(e.get("PORTICO_BLOCKED_DOMAINS"))
	if len(c.AllowedDomains) > 0 && len(c.BlockedDomains) > 0 {
		p.addf("PORTICO_ALLOWED_DOMAINS and PORTICO_BLOCKED_DOMAINS are both set; use one")
	}
	for _, d := range slices.Concat(c.AllowedDomains, c.BlockedDomains) {
		if !validDomainPattern(d) {
			p.addf("domain rule %q must be a domain (fabrikam.com) or a suffix (*.fabrikam.com)", d)
		}
	}
}

// applyDemo fills in what demo mode derives: the tenant, random keys, and the public URL from -addr.
// Authority and Graph URLs are set by the caller once devtenant listens.
func (c *Config) applyDemo(pub string) error {
	if c.TenantID == "" {
		c.TenantID = DemoTenantID
	}
	if c.ClientID == "" {
		c.ClientID = DemoClientID
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
		if !netaddr.IsLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("%q must use https (plain http is accepted for loopback hosts only)", s)
		}
	default:
		return nil, fmt.Errorf("%q must use https", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

func duration(e source, key string, def time.Duration, p *Problems) time.Duration {
	v := e.get(key)
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
	hour, day = DefaultInviteQuotaHour, DefaultInviteQuotaDay
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
			return DefaultInviteQuotaHour, DefaultInviteQuotaDay
		}
		switch strings.TrimSpace(unit) {
		case "h", "hour":
			hour = num
		case "d", "day":
			day = num
		default:
			*p = append(*p, fmt.Sprintf("PORTICO_INVITE_QUOTA %q: unit must be h or d", v))
			return DefaultInviteQuotaHour, DefaultInviteQuotaDay
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

// RedactDSN hides the password of a database URL for printing.
func RedactDSN(s string) string {
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
