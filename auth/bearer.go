package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// The permissions Portico's own app registration exposes for its API.
const (
	// APIScope is the delegated scope (Expose an API → scope) a user's client asks for:
	// api://<client-id>/Invitations.ReadWrite. The token's scp claim carries the short name.
	APIScope = "Invitations.ReadWrite"
	// APIAppRole is the application permission (an app role with allowed member type
	// Applications) a daemon is granted; the token's roles claim carries it.
	APIAppRole = "Invitations.ReadWrite.All"
)

// bearerSkew is how far the API tolerates the issuer's clock being ahead or behind on exp and nbf.
const bearerSkew = 30 * time.Second

// Errors of a bearer token; handlers answer ErrBearerInvalid with 401 and ErrBearerForbidden with 403.
var (
	ErrBearerInvalid   = errors.New("auth: access token missing, invalid or not for Portico")
	ErrBearerForbidden = errors.New("auth: the access token grants no access to Portico's API")
)

// BearerError says why a token was refused; it is ErrBearerInvalid or ErrBearerForbidden for errors.Is.
type BearerError struct {
	Forbidden bool
	Reason    string // for the caller: safe to show, never the token
}

func (e *BearerError) Error() string {
	if e.Forbidden {
		return ErrBearerForbidden.Error() + ": " + e.Reason
	}
	return ErrBearerInvalid.Error() + ": " + e.Reason
}

// Is makes errors.Is(err, ErrBearerInvalid) or ErrBearerForbidden hold.
func (e *BearerError) Is(target error) bool {
	return target == ErrBearerInvalid && !e.Forbidden || target == ErrBearerForbidden && e.Forbidden
}

func invalid(format string, args ...any) error {
	return &BearerError{Reason: fmt.Sprintf(format, args...)}
}

// Caller is who called the API with a verified access token: a user through a client (delegated,
// App false) or an application acting as itself (a daemon, App true).
type Caller struct {
	Identity        // the user (delegated); for a daemon: tenant, its service principal's oid, Name "application <appid>"
	App      bool   // an app-only token (the Invitations.ReadWrite.All app role)
	AppID    string // the client application that asked for the token (azp, or appid in v1 tokens)
	Scopes   []string
	Expiry   time.Time
	raw      string
}

// Raw is the access token itself, for the on-behalf-of exchange only; never log it.
func (c *Caller) Raw() string { return c.raw }

type accessClaims struct {
	TenantID          string   `json:"tid"`
	ObjectID          string   `json:"oid"`
	Subject           string   `json:"sub"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	UPN               string   `json:"upn"`
	Email             string   `json:"email"`
	Scp               string   `json:"scp"`
	Roles             []string `json:"roles"`
	Wids              []string `json:"wids"`
	Groups            []string `json:"groups"`
	IDP               string   `json:"idp"`
	Acct              any      `json:"acct"`
	AuthorizedParty   string   `json:"azp"`
	AppID             string   `json:"appid"`
	IDType            string   `json:"idtyp"`
	Nonce             string   `json:"nonce"`
	Expiry            int64    `json:"exp"`
}

// VerifyAccessToken checks an access token sent to Portico's API the way Entra's are checked:
// signature by the tenant's keys (RS256 only), issuer (the tenant's v2.0 issuer), audience
// (Portico's client id or api://<client-id>), expiry with a minute's skew, nbf, tenant, that it
// is an access token for an application (azp or appid; an ID token has neither), and then the
// permission: the delegated scope Invitations.ReadWrite in scp, or, for an app-only token, the
// app role Invitations.ReadWrite.All in roles. Errors are *BearerError.
func (rp *RelyingParty) VerifyAccessToken(ctx context.Context, raw string) (*Caller, error) {
	if raw == "" {
		return nil, invalid("no access token")
	}
	if strings.Count(raw, ".") != 2 || len(raw) > 16<<10 {
		return nil, invalid("the access token is not a signed JWT")
	}
	if _, _, err := rp.loaded(ctx); err != nil {
		return nil, err
	}
	rp.mu.Lock()
	verifiers := rp.apiVerifiers
	rp.mu.Unlock()
	var tok *oidc.IDToken
	var err error
	for _, v := range verifiers { // audience client id, then api://<client-id>
		if tok, err = v.Verify(rp.ctx(ctx), raw); err == nil || !strings.Contains(err.Error(), "expected audience") {
			break
		}
	}
	if err != nil {
		var exp *oidc.TokenExpiredError
		switch {
		case errors.As(err, &exp):
			return nil, invalid("the access token expired")
		case strings.Contains(err.Error(), "expected audience"):
			return nil, invalid("the access token is for another audience")
		}
		return nil, invalid("the access token did not verify (issuer, signature or lifetime)")
	}
	var c accessClaims
	if err := tok.Claims(&c); err != nil {
		return nil, invalid("the access token's claims cannot be read")
	}
	if !strings.EqualFold(c.TenantID, rp.cfg.TenantID) {
		return nil, invalid("the access token is from another tenant")
	}
	client := c.AuthorizedParty
	if client == "" {
		client = c.AppID
	}
	if client == "" || c.Nonce != "" {
		// Access tokens name the client that asked for them; ID tokens do not (and carry a nonce).
		return nil, invalid("this is not an access token")
	}
	if c.ObjectID == "" {
		return nil, invalid("the access token has no oid claim")
	}
	caller := &Caller{AppID: client, Scopes: strings.Fields(c.Scp), Expiry: time.Unix(c.Expiry, 0), raw: raw}
	// An app-only token has no scp; its subject is the application's service principal (sub ==
	// oid), and idtyp says "app" where that optional claim is configured.
	if c.Scp == "" && (c.IDType == "app" || c.Subject == c.ObjectID) {
		if !slices.Contains(c.Roles, APIAppRole) {
			return nil, &BearerError{Forbidden: true, Reason: "the application has not been granted the " + APIAppRole + " permission"}
		}
		caller.App = true
		caller.Identity = Identity{TenantID: c.TenantID, ObjectID: c.ObjectID, Subject: c.Subject,
			Name: "application " + client, UPN: "app:" + client, Roles: c.Roles}
		return caller, nil
	}
	if !slices.Contains(caller.Scopes, APIScope) {
		return nil, &BearerError{Forbidden: true, Reason: "the access token lacks the " + APIScope + " scope"}
	}
	upn := c.PreferredUsername
	if upn == "" {
		upn = c.UPN
	}
	ic := idClaims{Acct: c.Acct}
	caller.Identity = Identity{TenantID: c.TenantID, ObjectID: c.ObjectID, Subject: c.Subject, Name: c.Name, UPN: upn,
		Email: c.Email, Roles: c.Roles, Wids: c.Wids, Groups: c.Groups, IDP: c.IDP, Acct: ic.acct()}
	return caller, nil
}

// APIScopes are the scopes a command-line client asks for: Portico's API scope, and
// offline_access for a refresh token.
func APIScopes(clientID string) []string {
	return []string{"api://" + clientID + "/" + APIScope, oidc.ScopeOfflineAccess}
}

// API authenticates calls to Portico's API and supplies their Graph tokens.
type API struct {
	RP *RelyingParty
	// AppTokens is Portico's own application token (nil when no application credentials are
	// configured for it); Application says whether Graph calls use it for everyone.
	AppTokens   oauth2.TokenSource
	Application bool
}

// Verify checks the caller's access token (VerifyAccessToken).
func (a API) Verify(ctx context.Context, raw string) (*Caller, error) {
	return a.RP.VerifyAccessToken(ctx, raw)
}

// GraphTokens is the Graph token source for an API caller: Portico's own token in application
// mode (its policy is the gate); in delegated mode the user's own Graph token by On-Behalf-Of, and
// for an application caller Portico's application token when one is configured
// (PORTICO_BACKGROUND=on), else a refusal.
func (a API) GraphTokens(ctx context.Context, c *Caller) (oauth2.TokenSource, error) {
	switch {
	case a.Application && a.AppTokens != nil:
		return a.AppTokens, nil
	case c.App && a.AppTokens != nil:
		return a.AppTokens, nil
	case c.App:
		return nil, &BearerError{Forbidden: true, Reason: "application callers need Portico's own application credentials (PORTICO_BACKGROUND=on or PORTICO_GRAPH_MODE=application)"}
	}
	return a.RP.OnBehalfOf(ctx, c), nil
}
