package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"portico/auth"
	"portico/config"
	"portico/handlers"
)

// Application permissions (Microsoft Graph), each with the broader ones that include it, as
// Microsoft's API pages list them (invitation-post, user-list, user-get, organization-get).
var (
	permInvite       = []string{"User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}
	permReadUsers    = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permOrganization = []string{"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	// permGroupMembers adds guests to PORTICO_GUEST_GROUPS (group-post-members).
	permGroupMembers = []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
	// broaderThanNeeded are grants Portico never needs for what it does today; they are logged.
	broaderThanNeeded = []string{"Directory.ReadWrite.All", "Directory.Read.All", "User.ReadWrite.All", "Organization.ReadWrite.All", "Directory.AccessAsUser.All"}
)

// appIdentityCheckTimeout bounds the one token request made at start.
const appIdentityCheckTimeout = 15 * time.Second

// buildAppIdentity makes Portico's own application token source from the configured certificate
// or secret. App.AppTokens is set when application mode or background work uses it (nil
// otherwise); the source also signs the sign-in's client assertions when there is no secret.
func (a *App) buildAppIdentity(outbound *http.Client) (*auth.AppTokens, error) {
	cfg := a.Config
	if !cfg.HasAppCredentials() {
		return nil, nil
	}
	certs := make([]auth.AppCertificate, 0, len(cfg.ClientCertificates))
	for _, c := range cfg.ClientCertificates {
		certs = append(certs, auth.AppCertificate{Cert: c.Cert, Key: c.Key})
	}
	at, err := auth.NewAppTokens(auth.AppConfig{
		TokenURL:     strings.TrimRight(cfg.Authority, "/") + "/" + cfg.TenantID + "/oauth2/v2.0/token",
		ClientID:     cfg.ClientID,
		ClientSecret: string(cfg.ClientSecret),
		Certificates: certs,
		Scope:        graphResource(cfg.GraphURL) + "/.default",
		HTTPClient:   outbound,
		Logger:       a.Logger,
	})
	if err != nil {
		return nil, err
	}
	if cfg.AppTokensEnabled() {
		a.AppTokens = at
	}
	return at, nil
}

// checkAppIdentity fetches one application token at start, so wrong credentials stop Portico with
// a message naming the cause, and reads which application permissions were granted (once, for
// this report; never to authorize anything). A token endpoint that cannot be reached is logged
// and left to the first call.
func (a *App) checkAppIdentity(ctx context.Context, at *auth.AppTokens) error {
	cfg := a.Config
	if !cfg.AppTokensEnabled() {
		a.Logger.Info("background work that needs Graph is off: it needs application credentials and PORTICO_BACKGROUND=on (or PORTICO_GRAPH_MODE=application)")
		return nil
	}
	if at == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, appIdentityCheckTimeout)
	defer cancel()
	type result struct {
		roles []string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := at.Token()
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{roles: auth.TokenRoles(tok.AccessToken)}
	}()
	var res result
	select {
	case res = <-done:
	case <-cctx.Done():
		res.err = fmt.Errorf("no answer from the token endpoint within %s", appIdentityCheckTimeout)
	}
	if res.err != nil {
		if errors.Is(res.err, auth.ErrAppCredentials) || cfg.Demo {
			return fmt.Errorf("portico: application identity (%s): %w", at.Credential(), res.err)
		}
		a.Logger.Error("application token not available yet; Graph calls that need it will fail until it is", "credential", at.Credential(), "err", res.err)
		return nil
	}
	a.appRoles = res.roles
	if a.appRoles == nil {
		a.appRoles = []string{}
	}
	return a.reportPermissions(at, res.roles)
}

// reportPermissions refuses to start in application mode without the permissions invitations
// need, names background features that are off, and warns about broader grants.
func (a *App) reportPermissions(at *auth.AppTokens, roles []string) error {
	cfg := a.Config
	has := func(perms []string) bool {
		return slices.ContainsFunc(roles, func(r string) bool {
			return slices.ContainsFunc(perms, func(p string) bool { return strings.EqualFold(p, r) })
		})
	}
	granted := strings.Join(roles, ", ")
	if granted == "" {
		granted = "none"
	}
	if cfg.Application() {
		var missing []string
		for _, need := range []struct {
			perms []string
			what  string
		}{
			{permInvite, "send invitations"},
			{permReadUsers, "check addresses and read invitation states"},
			{permOrganization, "read the organization's verified domains"},
		} {
			if !has(need.perms) {
				missing = append(missing, need.perms[0]+" (to "+need.what+")")
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("portico: application mode needs the Microsoft Graph application permission(s) %s, but the app registration %s was granted: %s; add them under API permissions and grant admin consent",
				strings.Join(missing, ", "), cfg.ClientID, granted)
		}
	} else if !has(permReadUsers) {
		a.Logger.Warn("background work is off: it needs the Microsoft Graph application permission User.Read.All", "granted", granted)
	}
	if len(guestGroups(cfg)) > 0 && !has(permGroupMembers) {
		// Not fatal: invitations work; each group assignment fails with Graph's 403 and says so.
		a.Logger.Warn("guests cannot be added to PORTICO_GUEST_GROUPS by Portico's application identity: it needs the Microsoft Graph application permission GroupMember.ReadWrite.All",
			"granted", granted, "graph_mode", cfg.GraphMode)
	}
	if cfg.Notices.Transport() == "graph" && !has([]string{"Mail.Send"}) {
		a.Logger.Warn("notices sent with Graph sendMail will fail: they need the Microsoft Graph application permission Mail.Send (limit it to the mailbox with an application access policy)",
			"mailbox", cfg.Notices.Mailbox, "granted", granted)
	}
	for _, r := range roles {
		if slices.ContainsFunc(broaderThanNeeded, func(b string) bool { return strings.EqualFold(b, r) }) {
			a.Logger.Warn("the application holds a broader Graph permission than Portico needs; remove it from the app registration", "permission", r)
		}
	}
	a.Logger.Info("application identity ready", "graph_mode", cfg.GraphMode, "background", cfg.AppTokensEnabled(), "credential", at.Credential(), "permissions", granted)
	return nil
}

// handlerTokens is the token provider of the handlers: Portico's own token in application mode,
// the employee's delegated token otherwise.
func (a *App) handlerTokens() handlers.Tokens {
	if a.Config.Application() && a.AppTokens != nil {
		return auth.Application{Source: a.AppTokens}
	}
	return auth.Delegated{Sessions: a.Sessions, RP: a.RP}
}

// demoCertificate makes a throwaway application certificate in memory for demo mode; devtenant
// registers it, as uploading it to the app registration would.
func demoCertificate(now time.Time) (*config.ClientCertificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("portico: demo certificate key: %w", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "Portico demo application"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("portico: demo certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &config.ClientCertificate{Path: "(demo, in memory)", Cert: cert, Key: key}, nil
}

// writeIdentityBanner says, at start, how Portico calls Graph.
func (a *App) writeIdentityBanner(w io.Writer) {
	if a.Config.Application() {
		fmt.Fprintf(w, "Graph mode: application (Portico's own token; who may invite: %s).\n", invitersText(a.Config.Inviters))
	}
}

func invitersText(inviters []string) string {
	if len(inviters) == 0 {
		return "every member"
	}
	return strings.Join(inviters, ", ")
}
