package devtenant

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as the SHA-1 thumbprint of the certificate.
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// clientAssertionType is the only client_assertion_type Entra accepts (RFC 7523).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionLifetime is how long a client assertion may be valid (exp - nbf), as the contract says.
const maxAssertionLifetime = 10 * time.Minute

// assertionSkew is the clock skew tolerated on a client assertion's times.
const assertionSkew = 5 * time.Minute

// RegisterCertificate adds a certificate to the application registration, so client assertions
// signed with its key are accepted (as uploading it under "Certificates & secrets" does).
func (t *Tenant) RegisterCertificate(cert *x509.Certificate) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.certs = append(t.certs, cert)
}

// SetAppRoles replaces the application permissions granted to the client (admin consent changed).
// Tokens issued before keep the roles they carry, as in Entra.
func (t *Tenant) SetAppRoles(roles ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.opts.AppRoles = slices.Clone(roles)
}

// assertionRefusal is a refused client assertion: Entra's AADSTS code and message.
type assertionRefusal struct {
	code int
	msg  string
}

// verifyClientAssertion checks a client assertion as Entra does: a registered certificate named
// by x5t#S256 (or x5t), a valid RS256/PS256 signature, iss = sub = client id, aud = this token
// endpoint, a jti, and a current lifetime of at most ten minutes.
func (t *Tenant) verifyClientAssertion(r *http.Request, clientID, assertionType, raw string) *assertionRefusal {
	if assertionType != clientAssertionType {
		return &assertionRefusal{50027, "JWT token is invalid or malformed. The client_assertion_type must be '" + clientAssertionType + "'."}
	}
	return t.checkAssertion(r, clientID, raw)
}

func (t *Tenant) checkAssertion(r *http.Request, clientID, raw string) *assertionRefusal {
	malformed := &assertionRefusal{50027, "JWT token is invalid or malformed."}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return malformed
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return malformed
	}
	var hdr struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	if json.Unmarshal(hb, &hdr) != nil {
		return malformed
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	var claims map[string]any
	if dec.Decode(&claims) != nil {
		return malformed
	}
	t.mu.Lock()
	certs := slices.Clone(t.certs)
	t.mu.Unlock()
	var cert *x509.Certificate
	for _, c := range certs {
		s256 := sha256.Sum256(c.Raw)
		s1 := sha1.Sum(c.Raw) //nolint:gosec // thumbprint, not a security boundary
		if hdr.X5tS256 != "" && hdr.X5tS256 == base64.RawURLEncoding.EncodeToString(s256[:]) ||
			hdr.X5tS256 == "" && hdr.X5t != "" && hdr.X5t == base64.RawURLEncoding.EncodeToString(s1[:]) {
			cert = c
		}
	}
	if cert == nil {
		thumb := orElse(hdr.X5tS256, hdr.X5t)
		return &assertionRefusal{700027, fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", thumb, clientID)}
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return &assertionRefusal{700027, "Client assertion failed signature validation."}
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	var verr error
	switch hdr.Alg {
	case "RS256":
		verr = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	case "PS256":
		verr = rsa.VerifyPSS(pub, crypto.SHA256, sum[:], sig, nil)
	default:
		verr = fmt.Errorf("alg %q", hdr.Alg)
	}
	if verr != nil {
		return &assertionRefusal{700027, "Client assertion failed signature validation."}
	}
	if claimString(claims, "iss") != clientID || claimString(claims, "sub") != clientID {
		return &assertionRefusal{700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."}
	}
	aud := t.baseOf(r) + "/" + r.PathValue("tenant") + "/oauth2/v2.0/token"
	if !slices.Contains(claimStrings(claims, "aud"), aud) {
		return &assertionRefusal{700023, "Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."}
	}
	if claimString(claims, "jti") == "" {
		return malformed
	}
	now := t.now()
	exp, okExp := claimInt(claims, "exp")
	nbf, okNbf := claimInt(claims, "nbf")
	if !okNbf {
		nbf, okNbf = claimInt(claims, "iat")
	}
	expT, nbfT := time.Unix(exp, 0), time.Unix(nbf, 0)
	if !okExp || !okNbf || now.After(expT.Add(assertionSkew)) || now.Add(assertionSkew).Before(nbfT) || expT.Sub(nbfT) > maxAssertionLifetime {
		return &assertionRefusal{700024, fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
			now.UTC().Format(time.RFC3339Nano), nbfT.UTC().Format(time.RFC3339), expT.UTC().Format(time.RFC3339))}
	}
	if cert.NotAfter.Before(now) {
		return &assertionRefusal{700027, "Client assertion contains an invalid signature. [Reason - The key used is expired.]"}
	}
	return nil
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
