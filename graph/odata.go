package graph

import (
	"net/url"
	"strings"
)

// ODataString quotes s as an OData string literal, doubling every single quote inside.
func ODataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// odataBody is the inside of ODataString(s), for literals that carry a fixed prefix such as 'SMTP:…'.
func odataBody(s string) string { return strings.ReplaceAll(s, "'", "''") }

// AddressFilter is the $filter value (not URL-encoded) that finds a user by an email address.
func AddressFilter(email string) string {
	// The seed's query without signInNames: that property belonged to the retired Azure AD Graph,
	// and Microsoft Graph answers a filter naming it with 400 Request_BadRequest.
	lit := ODataString(email)
	return "userPrincipalName eq " + lit +
		" or mail eq " + lit +
		" or proxyAddresses/any(x:x eq 'SMTP:" + odataBody(email) + "')" +
		" or otherMails/any(x:x eq " + lit + ")"
}

// IdentityFilter is the $filter value that finds a user by a sign-in identity; Graph requires both parts.
func IdentityFilter(issuerAssignedID, issuer string) string {
	return "identities/any(c:c/issuerAssignedId eq " + ODataString(issuerAssignedID) +
		" and c/issuer eq " + ODataString(issuer) + ")"
}

// param is one query parameter; a slice keeps the order stable for logs and tests.
type param struct{ key, value string }

// encodeQuery percent-encodes the parameters like url.Values, except that a space becomes %20:
// Graph reads '+' in a query as a space, and a literal '+' must arrive as %2B.
func encodeQuery(params ...param) string {
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escapeQuery(p.key))
		b.WriteByte('=')
		b.WriteString(escapeQuery(p.value))
	}
	return b.String()
}

func escapeQuery(s string) string {
	// QueryEscape turns a literal '+' into %2B, so every '+' left afterwards stands for a space.
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
