package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portico/app"
	"portico/config"
	"portico/devtenant"
	"portico/invite"
	"portico/store"
)

// appCert is an application certificate for tests: the parsed certificate and a PEM file (key +
// certificate, mode 0600) as PORTICO_CLIENT_CERTIFICATE_FILE takes it.
type appCert struct {
	cert *x509.Certificate
	file string
}

func newAppCert(t *testing.T, notBefore, notAfter time.Time) appCert {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "Portico test app"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	b := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	f := filepath.Join(t.TempDir(), "portico-app.pem")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return appCert{cert: c, file: f}
}

// startupError builds Portico the way `portico serve` does and returns why it would not start.
func startupError(t *testing.T, tenant *devtenant.Tenant, env map[string]string) (logs string, err error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := baseEnv(tenant, ln.Addr().String())
	for k, v := range env {
		e[k] = v
	}
	out := &syncBuffer{}
	cfg, err := config.Load([]string{"-addr", ln.Addr().String()}, func(k string) string { return e[k] }, out)
	if err != nil {
		_ = ln.Close()
		return out.String(), err
	}
	a, err := app.New(context.Background(), cfg, app.Options{Listener: ln, Log: out})
	if err == nil {
		_ = a.Close()
		t.Fatalf("Portico started; want a start-up error\n%s", out)
	}
	return out.String(), err
}

// bearerClaims decodes the claims of the access token a recorded Graph request carried.
func bearerClaims(t *testing.T, r devtenant.RecordedRequest) map[string]any {
	t.Helper()
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%s %s carried no bearer token", r.Method, r.Path)
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func oidOf(t *testing.T, tenant *devtenant.Tenant, mail string) string {
	t.Helper()
	u, ok := tenant.UserByMail(mail)
	if !ok {
		t.Fatalf("no %s in devtenant", mail)
	}
	return u.ID
}

// assertAppInvitation checks the one invitation devtenant received: sent with Portico's
// application token, the employee as sponsor, and an audit event naming the employee.
func assertAppInvitation(t *testing.T, tenant *devtenant.Tenant, db *store.DB, upn string) {
	t.Helper()
	posts := graphRequests(tenant, http.MethodPost, "/v1.0/invitations")
	must(t, len(posts) == 1, "devtenant got %d invitations, want 1", len(posts))
	c := bearerClaims(t, posts[0])
	must(t, c["idtyp"] == "app" && c["scp"] == nil && c["upn"] == nil, "the invitation was not sent with the application token: %v", c)
	oid := oidOf(t, tenant, upn)
	body := invitationBodies(t, tenant)[0]
	sp, _ := body["invitedUserSponsors"].([]any)
	must(t, len(sp) == 1 && sp[0].(map[string]any)["id"] == oid, "invitedUserSponsors = %v, want [{id: %s}]", body["invitedUserSponsors"], oid)
	for _, r := range tenant.Requests() {
		if strings.HasPrefix(r.Path, "/v1.0/") {
			must(t, bearerClaims(t, r)["idtyp"] == "app", "%s %s used a delegated token in application mode", r.Method, r.Path)
		}
	}
	evs := auditEvents(t, db, store.AuditFilter{Action: invite.ActionInvitationCreate, Limit: 10})
	must(t, len(evs) == 1 && evs[0].ActorUPN == upn && evs[0].ActorOID == oid && evs[0].Outcome == string(invite.OutcomeCreated) &&
		strings.Contains(evs[0].Detail, `"graphIdentity":"application"`), "audit trail: %+v", evs)
	guest, ok := tenant.UserByMail(body["invitedUserEmailAddress"].(string))
	must(t, ok && len(guest.Sponsors) == 1 && guest.Sponsors[0] == oid, "guest's sponsors in the directory: %+v", guest.Sponsors)
}

// The demo in application mode (throwaway certificate): an employee with no directory role
// invites; devtenant records an app-token POST with the employee as sponsor; the audit names them.
func TestAppModeDemoEmployeeInvitesWithCertificate(t *testing.T) {
	in := launch(t, nil, nil, "-demo", "-graph-mode", "application")
	in.await(t)
	tenant := in.App.Tenant
	b := in.browser()
	b.signIn("employee@contoso.example")
	p := b.post("/invitations", inviteForm("taylor@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther, "create: %d %s", p.Status, p.Body)
	assertAppInvitation(t, tenant, in.App.Store, "employee@contoso.example")
	must(t, strings.Contains(in.Logs.String(), `"credential":"certificate `), "the demo fetched its token with a certificate:\n%s", in.Logs)
	must(t, in.App.AppTokens != nil, "App.AppTokens is set in application mode")
	// Member stays admin-only although the application could invite members.
	p = b.post("/invitations", inviteForm("member@fabrikam.example", func(v url.Values) { v.Set("invitedUserType", "Member") }))
	must(t, p.Status == http.StatusForbidden && len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations")) == 1, "member by an employee: %d", p.Status)
}

// A secret works too, against a devtenant of its own; a certificate-only registration signs in
// and invites with client assertions.
func TestAppModeSecretAndCertificate(t *testing.T) {
	t.Run("secret", func(t *testing.T) {
		tenant := newTenant(t)
		in := launch(t, tenant, map[string]string{"PORTICO_GRAPH_MODE": "application"})
		in.await(t)
		b := in.browser()
		b.signIn("employee@contoso.example")
		p := b.post("/invitations", inviteForm("sasha@fabrikam.example"))
		must(t, p.Status == http.StatusSeeOther, "create: %d %s", p.Status, p.Body)
		assertAppInvitation(t, tenant, in.App.Store, "employee@contoso.example")
		must(t, strings.Contains(in.Logs.String(), `"credential":"secret"`), "token by secret")
	})
	t.Run("certificate only", func(t *testing.T) {
		cert := newAppCert(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
		tenant := tenantWith(t, func(o *devtenant.Options) { o.ClientCertificates = []*x509.Certificate{cert.cert} })
		in := launch(t, tenant, map[string]string{"PORTICO_GRAPH_MODE": "application", "PORTICO_CLIENT_SECRET": "",
			"PORTICO_CLIENT_CERTIFICATE_FILE": cert.file})
		in.await(t)
		b := in.browser()
		b.signIn("employee@contoso.example") // the code exchange is authenticated by an assertion too
		p := b.post("/invitations", inviteForm("casey@fabrikam.example"))
		must(t, p.Status == http.StatusSeeOther, "create: %d %s", p.Status, p.Body)
		assertAppInvitation(t, tenant, in.App.Store, "employee@contoso.example")
		for _, s := range []string{testClientSecret, "client_assertion", "eyJ"} {
			must(t, !strings.Contains(in.Logs.String(), s), "logs hold %q", s)
		}
	})
}

// Wrong credentials and missing permissions stop Portico at start with a message naming the cause.
func TestAppModeStartupErrorsNameTheCause(t *testing.T) {
	registered := newAppCert(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	other := newAppCert(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	expired := newAppCert(t, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	tenant := tenantWith(t, func(o *devtenant.Options) { o.ClientCertificates = []*x509.Certificate{registered.cert} })
	narrow := tenantWith(t, func(o *devtenant.Options) { o.AppRoles = []string{"User.Read.All", "Organization.Read.All"} })
	tests := []struct {
		name   string
		tenant *devtenant.Tenant
		env    map[string]string
		want   []string
	}{
		{"certificate not registered", tenant, map[string]string{"PORTICO_CLIENT_CERTIFICATE_FILE": other.file},
			[]string{"application identity (certificate", "invalid_client: AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application"}},
		{"expired certificate", tenant, map[string]string{"PORTICO_CLIENT_CERTIFICATE_FILE": expired.file},
			[]string{"PORTICO_CLIENT_CERTIFICATE_FILE: " + expired.file + ": the certificate (subject \"CN=Portico test app\") expired on"}},
		{"wrong secret", tenant, map[string]string{"PORTICO_CLIENT_SECRET": "not-the-secret"},
			[]string{"application identity (secret)", "AADSTS7000215: Invalid client secret provided"}},
		{"missing permission", narrow, nil,
			[]string{"application mode needs the Microsoft Graph application permission(s) User.Invite.All (to send invitations)", "was granted: User.Read.All, Organization.Read.All"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"PORTICO_GRAPH_MODE": "application"}
			for k, v := range tt.env {
				env[k] = v
			}
			logs, err := startupError(t, tt.tenant, env)
			for _, w := range tt.want {
				must(t, strings.Contains(err.Error(), w), "start-up error lacks %q:\n%v", w, err)
			}
			must(t, !strings.Contains(err.Error(), "Trace ID") && !strings.Contains(err.Error(), "goroutine"), "error is a message, not a dump: %v", err)
			must(t, !strings.Contains(logs+err.Error(), testClientSecret), "the secret leaked")
		})
	}
}

// An employee outside PORTICO_INVITERS gets a clear 403 page and Portico makes no Graph call;
// one inside invites.
func TestAppModeNonInviterRefusedWithoutGraphCall(t *testing.T) {
	in := launch(t, nil, map[string]string{"PORTICO_INVITERS": config.RoleGuestInviter}, "-demo", "-graph-mode", "application")
	in.await(t)
	tenant := in.App.Tenant
	b := in.browser()
	before := len(tenant.Requests())
	// Signing in lands on the invite form, which a non-inviter is refused.
	landing := b.follow("/login?login_hint=employee%40contoso.example")
	must(t, landing.Status == http.StatusForbidden, "landing after sign-in: %d", landing.Status)

	home := b.get("/")
	must(t, home.Status == http.StatusForbidden, "invite form for a non-inviter: %d", home.Status)
	must(t, strings.Contains(home.Body, "You can&#39;t invite partners here") || strings.Contains(home.Body, "You can't invite partners here"), "403 page title: %s", home.Body)
	must(t, strings.Contains(home.Body, "not among those allowed to invite partners"), "403 page says why")

	p := b.post("/invitations", inviteForm("taylor@fabrikam.example"))
	must(t, p.Status == http.StatusForbidden, "POST /invitations by a non-inviter: %d %s", p.Status, p.Body)
	// Roles come from the verified ID token only: forged form fields change nothing.
	p = b.post("/invitations", inviteForm("taylor@fabrikam.example", func(v url.Values) {
		v.Set("wids", config.RoleGuestInviter)
		v.Set("roles", config.RoleGuestInviter)
		v.Set("groups", config.RoleGuestInviter)
	}))
	must(t, p.Status == http.StatusForbidden, "forged role fields: %d", p.Status)
	chk := b.get("/invitations/check?email=taylor@fabrikam.example")
	must(t, chk.Status != http.StatusOK || !strings.Contains(chk.Body, `"ok":true`), "address check for a non-inviter: %d %s", chk.Status, chk.Body)
	must(t, len(tenant.Requests()) == before, "a non-inviter caused %d Graph calls", len(tenant.Requests())-before)
	evs := auditEvents(t, in.App.Store, store.AuditFilter{Action: invite.ActionInvitationCreate, Limit: 10})
	must(t, len(evs) == 2 && evs[0].Outcome == string(invite.OutcomeDenied) && evs[0].ActorUPN == "employee@contoso.example", "refusals audited: %+v", evs)

	g := in.browser()
	g.signIn("inviter@contoso.example")
	p = g.post("/invitations", inviteForm("robin@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther, "a listed inviter invites: %d %s", p.Status, p.Body)
	body := invitationBodies(t, tenant)
	must(t, len(body) == 1, "one invitation sent")
	sp, _ := body[0]["invitedUserSponsors"].([]any)
	must(t, len(sp) == 1 && sp[0].(map[string]any)["id"] == oidOf(t, tenant, "inviter@contoso.example"), "sponsor is the inviter: %v", sp)
}

// A guest of the tenant (here one who accepted an invitation) is never an inviter in
// application mode, whatever PORTICO_INVITERS says; sign-in asks for no Graph permission.
func TestAppModeGuestRefusedAndSignInScopes(t *testing.T) {
	in := launch(t, nil, nil, "-demo", "-graph-mode", "application")
	in.await(t)
	tenant := in.App.Tenant
	b := in.browser()
	scope := mustURL(b.get("/login").Header.Get("Location")).Query().Get("scope")
	must(t, scope == "openid profile email offline_access", "application-mode sign-in scope %q", scope)

	before := len(tenant.Requests())
	landing := b.follow("/login?login_hint=accepted.guest%40fabrikam.example")
	must(t, landing.Status == http.StatusForbidden && strings.Contains(landing.Body, "Guest accounts cannot invite partners"), "guest landing: %d %s", landing.Status, landing.Body)
	p := b.post("/invitations", inviteForm("friend@fabrikam.example"))
	must(t, p.Status == http.StatusForbidden, "a guest's POST /invitations: %d", p.Status)
	p = b.postJSON("/invitations", `{"invitedUserEmailAddress":"friend@fabrikam.example","inviteRedirectUrl":"","invitedUserType":"Member"}`)
	must(t, p.Status == http.StatusForbidden, "a guest's JSON Member invitation: %d %s", p.Status, p.Body)
	must(t, len(tenant.Requests()) == before, "a guest caused %d Graph calls", len(tenant.Requests())-before)
}
