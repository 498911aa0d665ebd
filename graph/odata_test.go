package graph

import (
	"net/url"
	"strings"
	"testing"
)

func TestODataString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"o'brien@x.com", "'o''brien@x.com'"},
		{"", "''"},
		{"'", "''''"},
		{"''", "''''''"},
		{"x' or mail eq 'y", "'x'' or mail eq ''y'"},
	}
	for _, tt := range tests {
		if got := ODataString(tt.in); got != tt.want {
			t.Errorf("ODataString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAddressFilter(t *testing.T) {
	got := AddressFilter("o'neil@fabrikam.example")
	want := "userPrincipalName eq 'o''neil@fabrikam.example' or mail eq 'o''neil@fabrikam.example'" +
		" or proxyAddresses/any(x:x eq 'SMTP:o''neil@fabrikam.example')" +
		" or otherMails/any(x:x eq 'o''neil@fabrikam.example')"
	if got != want {
		t.Errorf("AddressFilter\n got %s\nwant %s", got, want)
	}
}

func TestIdentityFilter(t *testing.T) {
	got := IdentityFilter("l'ocal@contoso.onmicrosoft.com", "contoso.onmicrosoft.com")
	want := "identities/any(c:c/issuerAssignedId eq 'l''ocal@contoso.onmicrosoft.com' and c/issuer eq 'contoso.onmicrosoft.com')"
	if got != want {
		t.Errorf("IdentityFilter\n got %s\nwant %s", got, want)
	}
}

func TestEncodeQuery(t *testing.T) {
	tests := []struct {
		value, want string
	}{
		{"a b", "a%20b"},
		{"a+b", "a%2Bb"},
		{"a#b", "a%23b"},
		{"a&b=c", "a%26b%3Dc"},
		{"o'n", "o%27n"},
		{"é", "%C3%A9"},
	}
	for _, tt := range tests {
		got := encodeQuery(param{"$filter", tt.value}, param{"$count", "true"})
		want := "%24filter=" + tt.want + "&%24count=true"
		if got != want {
			t.Errorf("encodeQuery(%q) = %q, want %q", tt.value, got, want)
		}
		q, err := url.ParseQuery(got)
		if err != nil || q.Get("$filter") != tt.value {
			t.Errorf("%q does not decode back: %q, %v", got, q.Get("$filter"), err)
		}
	}
}

// splitOr splits an OData filter at top-level " or ", outside string literals and parentheses.
func splitOr(f string) []string {
	var parts []string
	inStr, depth, start := false, 0, 0
	for i := 0; i < len(f); i++ {
		switch {
		case f[i] == '\'':
			inStr = !inStr // a doubled quote toggles twice and stays inside
		case inStr:
		case f[i] == '(':
			depth++
		case f[i] == ')':
			depth--
		case depth == 0 && strings.HasPrefix(f[i:], " or "):
			parts = append(parts, f[start:i])
			start = i + len(" or ")
		}
	}
	return append(parts, f[start:])
}

// literalsOf returns the unescaped string literals of an OData expression.
func literalsOf(f string) []string {
	var out []string
	for i := 0; i < len(f); i++ {
		if f[i] != '\'' {
			continue
		}
		var b strings.Builder
		for i++; i < len(f); i++ {
			if f[i] == '\'' {
				if i+1 < len(f) && f[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				break
			}
			b.WriteByte(f[i])
		}
		out = append(out, b.String())
	}
	return out
}

// checkAddressFilter asserts that f has exactly the four clauses, each comparing with addr.
func checkAddressFilter(t *testing.T, f, addr string) {
	t.Helper()
	clauses := splitOr(f)
	prefixes := []string{"userPrincipalName eq '", "mail eq '", "proxyAddresses/any(x:x eq 'SMTP:", "otherMails/any(x:x eq '"}
	if len(clauses) != len(prefixes) {
		t.Fatalf("%q: %d top-level clauses, want 4: %q", addr, len(clauses), clauses)
	}
	for i, c := range clauses {
		if !strings.HasPrefix(c, prefixes[i]) {
			t.Errorf("clause %d = %q", i, c)
		}
	}
	lits := literalsOf(f)
	want := []string{addr, addr, "SMTP:" + addr, addr}
	if strings.Join(lits, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("literals %q, want %q", lits, want)
	}
	if strings.Contains(strings.ToLower(f), "signinnames") && !strings.Contains(strings.ToLower(addr), "signinnames") {
		t.Errorf("filter names signInNames: %s", f)
	}
}

func TestAddressFilterCannotBreakOut(t *testing.T) {
	for _, addr := range []string{
		"x' or mail eq 'y",
		"x' or startswith(mail,'a",
		"'", "''", "'''",
		"a'b'c@d.example",
		"x') or (1 eq 1",
		"x'))or((mail eq 'y",
	} {
		checkAddressFilter(t, AddressFilter(addr), addr)
	}
}

func FuzzODataString(f *testing.F) {
	for _, s := range []string{"", "'", "o'neil@x.example", "a''b", "x' or mail eq 'y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := ODataString(s)
		if len(q) < 2 || q[0] != '\'' || q[len(q)-1] != '\'' {
			t.Fatalf("not quoted: %q", q)
		}
		inner := q[1 : len(q)-1]
		if strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
			t.Fatalf("lone quote inside %q", q)
		}
		if strings.ReplaceAll(inner, "''", "'") != s {
			t.Fatalf("%q does not unescape to %q", q, s)
		}
	})
}

func FuzzAddressFilter(f *testing.F) {
	for _, s := range []string{"a@b.example", "x' or mail eq 'y", "')(' or '"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAddressFilter(t, AddressFilter(s), s)
	})
}
