package invite

import "testing"

func TestNewInviter(t *testing.T) {
	const userAdmin = "fe930be7-5e62-47db-91af-98c3a49a38b1" // User Administrator template id
	admins := []string{userAdmin, "Portico.Admin"}
	tests := []struct {
		name   string
		claims Claims
		admins []string
		want   bool
	}{
		{"no roles", Claims{}, admins, false},
		{"directory role", Claims{Wids: []string{"other", userAdmin}}, admins, true},
		{"app role", Claims{AppRoles: []string{"Portico.Admin"}}, admins, true},
		{"app role name is case-sensitive", Claims{AppRoles: []string{"portico.admin"}}, admins, false},
		{"unrelated roles", Claims{Wids: []string{"x"}, AppRoles: []string{"Reader"}}, admins, false},
		{"no admin roles configured", Claims{Wids: []string{userAdmin}}, nil, false},
		{"empty configured role never matches", Claims{AppRoles: []string{""}}, []string{""}, false},
	}
	for _, tt := range tests {
		tt.claims.TenantID, tt.claims.ObjectID, tt.claims.UPN = "t1", "oid-1", "a@contoso.example"
		inv := NewInviter(tt.claims, tt.admins)
		if inv.TenantID != "t1" || inv.ObjectID != "oid-1" || inv.UPN != "a@contoso.example" {
			t.Errorf("%s: identity not carried over: %+v", tt.name, inv)
		}
		for what, got := range map[string]bool{
			"Has(RoleAdministrator)": inv.Has(RoleAdministrator),
			"CanInviteMember":        inv.CanInviteMember(),
			"SeesAll":                inv.SeesAll(),
			"CanReadAudit":           inv.CanReadAudit(),
		} {
			if got != tt.want {
				t.Errorf("%s: %s = %v, want %v", tt.name, what, got, tt.want)
			}
		}
	}
}
