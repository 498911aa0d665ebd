package config

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Graph modes (PORTICO_GRAPH_MODE).
const (
	// GraphModeDelegated: Graph calls use the signed-in employee's delegated token; Graph decides
	// who may invite (today's behaviour, the default).
	GraphModeDelegated = "delegated"
	// GraphModeApplication: Graph calls use Portico's own application token (client credentials);
	// Portico's policy decides who may invite.
	GraphModeApplication = "application"
)

// MaxGuestGroups bounds PORTICO_GUEST_GROUPS: the form lists them all as checkboxes.
const MaxGuestGroups = 20

// InvitersAll is the PORTICO_INVITERS value that lets every member of the tenant invite.
const InvitersAll = "all"

// maxCertificateFiles is how many certificates PORTICO_CLIENT_CERTIFICATE_FILE may list: the
// current one and, during a rotation, the next (newest first).
const maxCertificateFiles = 2

// ClientCertificate is one application certificate with its private key, read from a PEM file.
type ClientCertificate struct {
	Path string
	Cert *x509.Certificate
	Key  crypto.Signer // an *rsa.PrivateKey (client assertions are signed RS256)
}

// String names the certificate without its key (a value receiver, so the key never prints,
// whether the certificate is printed by value or by pointer).
func (c ClientCertificate) String() string {
	if c.Cert == nil {
		return c.Path
	}
	return fmt.Sprintf("%s (subject %q, expires %s)", c.Path, c.Cert.Subject.String(), c.Cert.NotAfter.UTC().Format(time.DateOnly))
}

// GoString keeps the key out of %#v.
func (c ClientCertificate) GoString() string { return c.String() }

// Application reports whether Graph calls use Portico's application token.
func (c *Config) Application() bool { return c.GraphMode == GraphModeApplication }

// HasAppCredentials reports whether Portico can get an application token (a secret or a certificate).
func (c *Config) HasAppCredentials() bool {
	return c.ClientSecret != "" || len(c.ClientCertificates) > 0
}

// AppTokensEnabled reports whether Portico fetches its own application token: always in
// application mode, and in delegated mode when background work is switched on.
func (c *Config) AppTokensEnabled() bool { return c.Application() || c.Background }

// loadApplication reads the Graph mode, the application's certificates, who may invite and
// whether background work uses the application identity.
func loadApplication(c *Config, e source, p *Problems) {
	name := "PORTICO_GRAPH_MODE"
	c.GraphMode = strings.ToLower(orDefault(e.get(name), GraphModeDelegated))
	if c.graphModeFlag != "" {
		name, c.GraphMode = "-graph-mode", strings.ToLower(c.graphModeFlag)
	}
	switch c.GraphMode {
	case GraphModeDelegated, GraphModeApplication:
	default:
		p.addf("%s %q must be delegated or application", name, c.GraphMode)
	}

	paths := list(e.get("PORTICO_CLIENT_CERTIFICATE_FILE"))
	if len(paths) > maxCertificateFiles {
		p.addf("PORTICO_CLIENT_CERTIFICATE_FILE lists %d files; give the current certificate and, during a rotation, the next one (newest first)", len(paths))
		paths = paths[:maxCertificateFiles]
	}
	now := time.Now()
	for _, path := range paths {
		cc, err := ReadClientCertificate(path, now)
		if err != nil {
			p.addf("PORTICO_CLIENT_CERTIFICATE_FILE: %v", err)
			continue
		}
		c.ClientCertificates = append(c.ClientCertificates, cc)
	}

	inviters := list(e.get("PORTICO_INVITERS"))
	switch {
	case len(inviters) == 0, len(inviters) == 1 && strings.EqualFold(inviters[0], InvitersAll):
		c.Inviters = nil
	case slices.ContainsFunc(inviters, func(s string) bool { return strings.EqualFold(s, InvitersAll) }):
		p.addf("PORTICO_INVITERS: %q cannot be combined with roles or groups; use all, or a list of app roles, directory role template ids and group ids", InvitersAll)
	default:
		for _, s := range inviters {
			if strings.ContainsAny(s, " \t\"'") {
				p.addf("PORTICO_INVITERS: %q is not an app role name, a directory role template id or a group id", s)
				continue
			}
			c.Inviters = append(c.Inviters, s)
		}
	}

	for _, g := range list(e.get("PORTICO_GUEST_GROUPS")) {
		switch g = strings.ToLower(g); {
		case !isGUID(g):
			p.addf("PORTICO_GUEST_GROUPS: %q is not a group object id (a GUID)", g)
		case slices.Contains(c.GuestGroups, g):
		case len(c.GuestGroups) == MaxGuestGroups:
			p.addf("PORTICO_GUEST_GROUPS: at most %d groups", MaxGuestGroups)
		default:
			c.GuestGroups = append(c.GuestGroups, g)
		}
	}

	switch v := strings.ToLower(e.get("PORTICO_BACKGROUND")); v {
	case "", "off":
	case "on":
		c.Background = true
	default:
		p.addf("PORTICO_BACKGROUND %q must be on or off", v)
	}
}

// checkApplicationCredentials runs after the demo settings are filled in: application mode and
// background work need a secret or a certificate.
func checkApplicationCredentials(c *Config, _ source, p *Problems) {
	if c.AppTokensEnabled() && !c.HasAppCredentials() {
		what := "PORTICO_GRAPH_MODE=application"
		if !c.Application() {
			what = "PORTICO_BACKGROUND=on"
		}
		p.addf("%s needs application credentials: PORTICO_CLIENT_CERTIFICATE_FILE (recommended) or PORTICO_CLIENT_SECRET", what)
	}
}

// ReadClientCertificate reads a PEM file holding a certificate and its RSA private key. It refuses
// a file others may read, a key that does not belong to the certificate, and a certificate that is
// expired or not yet valid at now.
func ReadClientCertificate(path string, now time.Time) (*ClientCertificate, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s holds a private key but is readable by group or others (mode %04o); run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	cc := &ClientCertificate{Path: path}
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CERTIFICATE":
			if cc.Cert != nil {
				continue // a chain: the first certificate is the application's
			}
			if cc.Cert, err = x509.ParseCertificate(blk.Bytes); err != nil {
				return nil, fmt.Errorf("%s: the certificate does not parse: %w", path, err)
			}
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: the private key does not parse: %w", path, err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("%s: the private key is %T; Entra client assertions need an RSA key (openssl req -x509 -newkey rsa:2048 ...)", path, k)
			}
			cc.Key = rk
		case "RSA PRIVATE KEY":
			rk, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: the private key does not parse: %w", path, err)
			}
			cc.Key = rk
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%s: the private key is encrypted; store it unencrypted in a file only Portico can read (openssl ... -noenc)", path)
		}
	}
	switch {
	case cc.Cert == nil:
		return nil, fmt.Errorf("%s holds no PEM CERTIFICATE block; it must hold the certificate and its private key", path)
	case cc.Key == nil:
		return nil, fmt.Errorf("%s holds no PEM PRIVATE KEY block; it must hold the certificate and its private key", path)
	}
	pub, ok := cc.Cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(cc.Key.Public()) {
		return nil, fmt.Errorf("%s: the private key does not belong to the certificate (subject %q)", path, cc.Cert.Subject.String())
	}
	if now.After(cc.Cert.NotAfter) {
		return nil, fmt.Errorf("%s: the certificate (subject %q) expired on %s; make a new one and upload it to the app registration", path, cc.Cert.Subject.String(), cc.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cc.Cert.NotBefore) {
		return nil, fmt.Errorf("%s: the certificate (subject %q) is not valid before %s", path, cc.Cert.Subject.String(), cc.Cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return cc, nil
}
