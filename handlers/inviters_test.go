package handlers

import (
	"context"
	"net/http"
	"testing"

	"golang.org/x/oauth2"

	"portico/auth"
	"portico/config"
	"portico/invite"
)

// Portico's own policy decides who may invite in application mode; the handlers build the
// Inviter from the verified identity only, and a barred employee's refusal is a 403 page.
func TestInvitersPolicyThroughTheRouter(t *testing.T) {
	const inviterRole = "Portico.Invite"
	appMode := func(c *config.Config) {
		c.GraphMode = config.GraphModeApplication
		c.Inviters = []string{inviterRole, "grp-1"}
	}
	guest := &auth.Identity{TenantID: testIssuerTenant, ObjectID: "oid-g", UPN: "pat_fabrikam.example#EXT#@contoso.onmicrosoft.com", Name: "Pat", Roles: []string{inviterRole}}
	byRole := &auth.Identity{TenantID: testIssuerTenant, ObjectID: "oid-r", UPN: "rob@contoso.example", Name: "Rob", Roles: []string{inviterRole}}
	byGroup := &auth.Identity{TenantID: testIssuerTenant, ObjectID: "oid-h", UPN: "hal@contoso.example", Name: "Hal", Groups: []string{"grp-1"}}
	tests := []struct {
		name    string
		who     *auth.Identity
		wantBar invite.Bar
		status  int
		texts   []string
	}{
		{"employee outside PORTICO_INVITERS", ann, invite.BarNotInviter, http.StatusForbidden, []string{"You can&#39;t invite partners here", "not among those allowed to invite"}},
		{"guest, even with the role", guest, invite.BarGuest, http.StatusForbidden, []string{"Guest accounts cannot invite partners"}},
		{"inviter by app role", byRole, "", http.StatusOK, nil},
		{"inviter by group", byGroup, "", http.StatusOK, nil},
		{"admin", admin, "", http.StatusOK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			en := newEnv(t, appMode)
			b := en.signIn(tt.who)
			want(t, b.get("/"), tt.status, tt.texts...)
			var got invite.Inviter
			en.inv.SendFn = func(_ context.Context, _ oauth2.TokenSource, inv invite.Inviter, _ invite.Request, _ invite.Meta) (*invite.Result, error) {
				got = inv
				if may := inv.MayInvite(); !may.Allowed {
					return nil, may.Err()
				}
				return nil, invite.ErrMemberNotAllowed // any refusal: the decision is what is checked
			}
			rec := b.post("/invitations", inviteForm("pat@fabrikam.example"))
			if got.Barred != tt.wantBar || got.ObjectID != tt.who.ObjectID {
				t.Fatalf("Send got %+v; want bar %q", got, tt.wantBar)
			}
			if tt.wantBar != "" {
				want(t, rec, http.StatusForbidden, tt.texts...)
			}
			if len(en.inv.Warmed()) != 0 && tt.wantBar != "" {
				t.Errorf("the organization was read for a barred employee: %v", en.inv.Warmed())
			}
		})
	}
	// Delegated mode keeps today's behaviour: Graph decides, so a guest is not barred by Portico.
	en := newEnv(t)
	want(t, en.signIn(guest).get("/"), http.StatusOK)
}
