package auth

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Client assertions (RFC 7523, as Entra takes them): JWT bearer, signed RS256.
const (
	assertionType     = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	assertionLifetime = 5 * time.Minute // Entra accepts at most 10 minutes
	// appRefreshMargin renews the application token this long before it expires.
	appRefreshMargin = 5 * time.Minute
)

// AppCertificate is an application certificate with its private key (RSA).
type AppCertificate struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// AppConfig configures Portico's own application identity (client credentials).
type AppConfig struct {
	TokenURL     string // {authority}/{tenant}/oauth2/v2.0/token
	ClientID     string
	ClientSecret string           // used when there is no certificate
	Certificates []AppCertificate // newest first: the first signs; the next is tried when Entra refuses it
	Scope        string           // {graph resource}/.default
	HTTPClient   *http.Client
	Clock        func() time.Time
	Logger       *slog.Logger
}

// AppTokens is Portico's application token source: tokens by client credentials (a certificate
// assertion or a secret), cached in memory and renewed before they expire, shared by every request
// and job of the instance. It implements oauth2.TokenSource.
type AppTokens struct {
	cfg    AppConfig
	reuse  oauth2.TokenSource
	signed sync.Map // certificate index -> jose.Signer
}

var _ oauth2.TokenSource = (*AppTokens)(nil)

// ErrAppCredentials means the identity platform refused Portico's application credentials
// (unknown application, wrong secret, certificate not registered, assertion refused).
var ErrAppCredentials = errors.New("auth: the identity platform refused the application credentials")

// NewAppTokens returns the application token source; it fetches nothing until asked.
func NewAppTokens(cfg AppConfig) (*AppTokens, error) {
	if cfg.ClientSecret == "" && len(cfg.Certificates) == 0 {
		return nil, errors.New("auth: application tokens need a certificate or a client secret")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &AppTokens{cfg: cfg}
	a.reuse = oauth2.ReuseTokenSourceWithExpiry(nil, fetcher{a}, appRefreshMargin)
	return a, nil
}

// Token returns a valid application token, fetching a new one when the cached one is about to expire.
func (a *AppTokens) Token() (*oauth2.Token, error) { return a.reuse.Token() }

// Credential names how the token is obtained, for logs: "certificate <thumbprint>" or "secret".
func (a *AppTokens) Credential() string {
	if len(a.cfg.Certificates) > 0 {
		return "certificate " + thumbprint(a.cfg.Certificates[0].Cert)
	}
	return "secret"
}

type fetcher struct{ a *AppTokens }

func (f fetcher) Token() (*oauth2.Token, error) { return f.a.fetch(context.Background()) }

// fetch asks the token endpoint once per credential, newest certificate first, until one is accepted.
func (a *AppTokens) fetch(ctx context.Context) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, a.cfg.HTTPClient)
	cc := clientcredentials.Config{
		ClientID:  a.cfg.ClientID,
		TokenURL:  a.cfg.TokenURL,
		Scopes:    []string{a.cfg.Scope},
		AuthStyle: oauth2.AuthStyleInParams,
	}
	if len(a.cfg.Certificates) == 0 {
		cc.ClientSecret = a.cfg.ClientSecret
		tok, err := cc.Token(ctx)
		return tok, a.describe(err, "secret")
	}
	var errs []error
	for i, c := range a.cfg.Certificates {
		assertion, err := a.assertion(i, c)
		if err != nil {
			return nil, err
		}
		cc.EndpointParams = map[string][]string{"client_assertion_type": {assertionType}, "client_assertion": {assertion}}
		tok, err := cc.Token(ctx)
		if err == nil {
			if i > 0 {
				a.cfg.Logger.Warn("application token: the newest certificate was refused, an older one was accepted; upload the new certificate to the app registration",
					"refused", thumbprint(a.cfg.Certificates[0].Cert), "accepted", thumbprint(c.Cert))
			}
			return tok, nil
		}
		err = a.describe(err, "certificate "+thumbprint(c.Cert))
		errs = append(errs, err)
		if !errors.Is(err, ErrAppCredentials) {
			break // not a refusal of this certificate: another one would fare no better
		}
	}
	return nil, errors.Join(errs...)
}

// Assertion signs a client assertion with the newest certificate; the relying party uses it for
// its own token requests when Portico has no client secret.
func (a *AppTokens) Assertion() (string, error) {
	if len(a.cfg.Certificates) == 0 {
		return "", errors.New("auth: no certificate to sign a client assertion")
	}
	return a.assertion(0, a.cfg.Certificates[0])
}

// assertion is a fresh client assertion: RS256, x5t#S256 of the certificate, aud = token
// endpoint, iss = sub = client id, a unique jti, valid for a few minutes. It is never logged.
func (a *AppTokens) assertion(i int, c AppCertificate) (string, error) {
	s, ok := a.signed.Load(i)
	if !ok {
		opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t#S256", thumbprint(c.Cert))
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: c.Key}, opts)
		if err != nil {
			return "", fmt.Errorf("auth: client assertion signer: %w", err)
		}
		s, _ = a.signed.LoadOrStore(i, signer)
	}
	now := a.cfg.Clock()
	claims := jwt.Claims{
		Issuer:    a.cfg.ClientID,
		Subject:   a.cfg.ClientID,
		Audience:  jwt.Audience{a.cfg.TokenURL},
		ID:        random(24),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	out, err := jwt.Signed(s.(jose.Signer)).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("auth: sign client assertion: %w", err)
	}
	return out, nil
}

// describe turns a token endpoint refusal into an error that names the cause (Entra's AADSTS
// line, without trace ids), wrapping ErrAppCredentials when the credentials themselves were refused.
func (a *AppTokens) describe(err error, cred string) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("auth: application token (%s): %w", cred, err)
	}
	desc, _, _ := strings.Cut(re.ErrorDescription, "\r\n")
	desc, _, _ = strings.Cut(desc, "\n")
	out := fmt.Errorf("auth: application token (%s) refused by %s: %s: %s", cred, a.cfg.TokenURL, re.ErrorCode, desc)
	switch re.ErrorCode {
	case "invalid_client", "unauthorized_client":
		return fmt.Errorf("%w: %w", ErrAppCredentials, out)
	}
	return out
}

// thumbprint is the certificate's SHA-256 thumbprint as the x5t#S256 header carries it.
func thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TokenRoles reads the roles claim of an application access token WITHOUT verifying it. Use it
// only to report which application permissions were granted (least privilege); never to authorize.
func TokenRoles(accessToken string) []string {
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var c struct {
		Roles []string `json:"roles"`
	}
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	return c.Roles
}

// Application hands every session Portico's own application token: in application mode every
// Graph call is made as Portico, on behalf of the employee its policy allowed.
type Application struct {
	Source oauth2.TokenSource
}

// ForSession returns the application token source, whoever is signed in.
func (a Application) ForSession(context.Context, *Session) oauth2.TokenSource { return a.Source }
