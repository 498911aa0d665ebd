package config

import (
	"net"
	"net/url"
	"strings"
	"unicode"

	"portico/internal/netaddr"
)

// Operator settings: metrics and webhooks.
const (
	// MinMetricsToken is the shortest PORTICO_METRICS_TOKEN accepted (characters).
	MinMetricsToken = 32
	// MinWebhookSecret is the shortest PORTICO_WEBHOOK_SECRET accepted (bytes).
	MinWebhookSecret = 32
	// MaxWebhookURLs bounds PORTICO_WEBHOOK_URL.
	MaxWebhookURLs = 10
	// DefaultWebhookAttempts is how many times one delivery is tried before it is recorded as failed.
	DefaultWebhookAttempts = 15
)

// WebhookEndpoint is one receiver of Portico's webhooks and the secret its calls are signed with.
type WebhookEndpoint struct {
	URL    string
	Secret Secret
}

// MetricsEnabled reports whether /metrics is served at all: only with a token (on the main
// listener, bearer-protected) or on a separate address (PORTICO_METRICS_ADDR).
func (c *Config) MetricsEnabled() bool { return c.MetricsToken != "" || c.MetricsAddr != "" }

// loadOperators reads PORTICO_METRICS_TOKEN, PORTICO_METRICS_ADDR, PORTICO_WEBHOOK_URL,
// PORTICO_WEBHOOK_SECRET and PORTICO_WEBHOOK_ATTEMPTS.
func loadOperators(c *Config, e source, p *Problems) {
	if tok := e.get("PORTICO_METRICS_TOKEN"); tok != "" {
		if len(tok) < MinMetricsToken || strings.IndexFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || r > unicode.MaxASCII }) >= 0 {
			p.addf("PORTICO_METRICS_TOKEN must be at least %d printable ASCII characters without spaces (e.g. openssl rand -hex 32)", MinMetricsToken)
		} else {
			c.MetricsToken = Secret(tok)
		}
	}
	if addr := e.get("PORTICO_METRICS_ADDR"); addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			p.addf("PORTICO_METRICS_ADDR %q is not host:port (e.g. 127.0.0.1:9090)", addr)
		} else {
			c.MetricsAddr = addr
		}
	}

	urls := strings.FieldsFunc(e.get("PORTICO_WEBHOOK_URL"), func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	secrets := strings.FieldsFunc(e.get("PORTICO_WEBHOOK_SECRET"), func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	c.WebhookAttempts = DefaultWebhookAttempts
	if v := e.get("PORTICO_WEBHOOK_ATTEMPTS"); v != "" {
		n, ok := smallInt(v)
		if !ok || n < 1 || n > 25 {
			p.addf("PORTICO_WEBHOOK_ATTEMPTS %q must be a number from 1 to 25", v)
		} else {
			c.WebhookAttempts = n
		}
	}
	if len(urls) == 0 {
		if len(secrets) > 0 {
			p.addf("PORTICO_WEBHOOK_SECRET is set but PORTICO_WEBHOOK_URL is not")
		}
		return
	}
	if len(urls) > MaxWebhookURLs {
		p.addf("PORTICO_WEBHOOK_URL lists %d URLs; at most %d", len(urls), MaxWebhookURLs)
		return
	}
	switch {
	case len(secrets) == 0:
		p.addf("PORTICO_WEBHOOK_SECRET is required with PORTICO_WEBHOOK_URL (at least %d bytes, e.g. openssl rand -hex 32)", MinWebhookSecret)
		return
	case len(secrets) != 1 && len(secrets) != len(urls):
		p.addf("PORTICO_WEBHOOK_SECRET lists %d secrets for %d URLs: give one for all, or one per URL in the same order", len(secrets), len(urls))
		return
	}
	seen := map[string]bool{}
	var eps []WebhookEndpoint
	for i, raw := range urls {
		u, problem := webhookURL(raw)
		if problem != "" {
			p.addf("PORTICO_WEBHOOK_URL %q %s", raw, problem)
			continue
		}
		if seen[u] {
			p.addf("PORTICO_WEBHOOK_URL lists %q twice", raw)
			continue
		}
		seen[u] = true
		sec := secrets[0]
		if len(secrets) > 1 {
			sec = secrets[i]
		}
		if len(sec) < MinWebhookSecret {
			p.addf("PORTICO_WEBHOOK_SECRET must be at least %d bytes (secret %d of %d is %d)", MinWebhookSecret, min(i+1, len(secrets)), len(secrets), len(sec))
			continue
		}
		eps = append(eps, WebhookEndpoint{URL: u, Secret: Secret(sec)})
	}
	c.Webhooks = eps
}

// webhookURL checks one receiver's URL: absolute https (http only for a loopback host), no
// credentials, no fragment. It returns the URL as Portico calls it, or what is wrong.
func webhookURL(raw string) (string, string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "", "is not an absolute URL"
	case u.User != nil:
		return "", "must not carry credentials (sign with PORTICO_WEBHOOK_SECRET instead)"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", "must not have a fragment"
	case u.Scheme == "https":
	case u.Scheme == "http" && netaddr.IsLoopbackHost(u.Hostname()):
	case u.Scheme == "http":
		return "", "must use https (http only for localhost or a loopback address)"
	default:
		return "", "must be an https URL"
	}
	return u.String(), ""
}

func smallInt(v string) (int, bool) {
	n := 0
	if v == "" || len(v) > 4 {
		return 0, false
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}
