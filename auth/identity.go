// Package auth signs employees in with OpenID Connect, keeps their sessions server-side and
// supplies their delegated Microsoft Graph tokens.
package auth

// Identity is the signed-in employee, taken from a verified ID token.
// Users are keyed on TenantID+ObjectID; Name, UPN and Email are for display only.
type Identity struct {
	TenantID string   `json:"tid"`
	ObjectID string   `json:"oid"`
	Subject  string   `json:"sub"`
	Name     string   `json:"name"`
	UPN      string   `json:"upn"`
	Email    string   `json:"email,omitempty"`
	Roles    []string `json:"roles,omitempty"` // app roles
	Wids     []string `json:"wids,omitempty"`  // directory role template ids
}
