package devtenant

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as the SHA-1 thumbprint of the certificate.
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// signingKey is an RSA key with the self-signed certificate Entra publishes alongside it.
type signingKey struct {
	kid  string // Entra uses the certificate thumbprint (x5t) as key id
	x5t  string
	priv *rsa.PrivateKey
	cert []byte
}

func newSigningKey(now time.Time) (*signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("devtenant: generate signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("devtenant: certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "devtenant token signing"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, fmt.Errorf("devtenant: self-signed certificate: %w", err)
	}
	sum := sha1.Sum(der) //nolint:gosec // thumbprint, not a security boundary
	x5t := base64.RawURLEncoding.EncodeToString(sum[:])
	return &signingKey{kid: x5t, x5t: x5t, priv: priv, cert: der}, nil
}

func (k *signingKey) jwk(issuer string) map[string]any {
	pub := k.priv.PublicKey
	return map[string]any{
		"kty":    "RSA",
		"use":    "sig",
		"kid":    k.kid,
		"x5t":    k.x5t,
		"n":      base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		"x5c":    []string{base64.StdEncoding.EncodeToString(k.cert)},
		"issuer": issuer,
	}
}

// signJWT serialises claims as a compact RS256 JWS.
func signJWT(k *signingKey, claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": k.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("devtenant: encode claims: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("devtenant: sign token: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

var (
	errTokenMalformed = errors.New("devtenant: token malformed")
	errTokenSignature = errors.New("devtenant: token signature invalid")
)

// verifyJWT checks an RS256 signature against keys and returns the claims (numbers as json.Number).
func verifyJWT(keys []*signingKey, raw string) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errTokenMalformed
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errTokenMalformed
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hb, &hdr) != nil {
		return nil, errTokenMalformed
	}
	if hdr.Alg != "RS256" {
		return nil, errTokenSignature
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errTokenMalformed
	}
	var key *signingKey
	for _, k := range keys {
		if k.kid == hdr.Kid {
			key = k
		}
	}
	if key == nil {
		return nil, errTokenSignature
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&key.priv.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return nil, errTokenSignature
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errTokenMalformed
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	var claims map[string]any
	if dec.Decode(&claims) != nil {
		return nil, errTokenMalformed
	}
	return claims, nil
}

func claimInt(c map[string]any, name string) (int64, bool) {
	switch v := c[name].(type) {
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			f, ferr := v.Float64()
			return int64(f), ferr == nil
		}
		return n, true
	case float64:
		return int64(v), true
	case int64:
		return v, true
	}
	return 0, false
}

func claimString(c map[string]any, name string) string {
	s, _ := c[name].(string)
	return s
}

func claimStrings(c map[string]any, name string) []string {
	switch v := c[name].(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	case string:
		return []string{v}
	}
	return nil
}

// RotateSigningKey puts a new key first in the JWKS and signs with it; old keys keep verifying.
func (t *Tenant) RotateSigningKey() {
	k, err := newSigningKey(t.now())
	if err != nil {
		t.log.Error("devtenant: rotate signing key", "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys = append([]*signingKey{k}, t.keys...)
}

// SignNextIDTokenWithUnknownKey makes the next ID token carry a signature by a key absent from the JWKS.
func (t *Tenant) SignNextIDTokenWithUnknownKey() {
	t.mu.Lock()
	need := t.unknownKey == nil
	t.mu.Unlock()
	var k *signingKey
	if need {
		var err error
		if k, err = newSigningKey(t.now()); err != nil {
			t.log.Error("devtenant: unknown key", "err", err)
			return
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.unknownKey == nil {
		t.unknownKey = k
	}
	t.unknownNext++
}

// TamperNextIDToken lets fn edit the claims of the next ID token before it is signed (refusal tests).
func (t *Tenant) TamperNextIDToken(fn func(claims map[string]any)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.idTamper = append(t.idTamper, fn)
}

// KeyIDs lists the key ids in the JWKS, signing key first.
func (t *Tenant) KeyIDs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, len(t.keys))
	for i, k := range t.keys {
		out[i] = k.kid
	}
	return out
}
