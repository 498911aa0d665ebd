package invite

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"portico/internal/netaddr"
)

func TestValidateEmail(t *testing.T) {
	tests := []struct {
		in      string
		want    string // "" means rejected
		msgPart string // part of the message for rejections
	}{
		{in: "taylor@fabrikam.example", want: "taylor@fabrikam.example"},
		{in: "  Taylor@Fabrikam.Example\t", want: "Taylor@Fabrikam.Example"},
		{in: "o'neil@fabrikam.example", want: "o'neil@fabrikam.example"},
		{in: "first.last@sub.fabrikam.example", want: "first.last@sub.fabrikam.example"},
		{in: "_x_@fabrikam.example", want: "_x_@fabrikam.example"},
		{in: "a-b@fab-rikam.example", want: "a-b@fab-rikam.example"},
		{in: strings.Repeat("a", 64) + "@fabrikam.example", want: strings.Repeat("a", 64) + "@fabrikam.example"},

		{in: "", msgPart: "Enter the guest's email"},
		{in: "attacker@x.com\r\nBcc: victim@y.com", msgPart: "line break"},
		{in: "attacker@x.com\nBcc: victim@y.com", msgPart: "line break"},
		{in: "attacker@x.com\r", msgPart: "line break"},
		{in: "a@x.com\x00", msgPart: "line break"},
		{in: "a@x.com\u2028", msgPart: "line break"},
		{in: "a@x.com\u2029b", msgPart: "line break"},
		{in: "a\u0085@x.com", msgPart: "line break"},
		{in: "a\u200b@x.com", msgPart: "line break"},
		{in: "a\u202e@x.com", msgPart: "line break"},
		{in: "a@x.com, b@y.com", msgPart: "only one"},
		{in: "a@x.com;b@y.com", msgPart: "only one"},
		{in: "a@b@x.com", msgPart: "only one"},
		{in: `"a"<b@c.com>, d@e.com`, msgPart: "only one"},
		{in: "Taylor <taylor@fabrikam.example>", msgPart: "without a name"},
		{in: "<taylor@fabrikam.example>", msgPart: "without a name"},
		{in: `"taylor"@fabrikam.example`, msgPart: "without a name"},
		{in: "taylor@fabrikam.example (Taylor)", msgPart: "without a name"},
		{in: "taylor @fabrikam.example", msgPart: "spaces"},
		{in: "a@x.com%0d%0aBcc:b@y.com", msgPart: "only one"},
		{in: "a@x.com%0d%0a", msgPart: "domain"},
		{in: "a%0d%0a@x.com", msgPart: "“%”"},
		{in: "a+tag@x.com", msgPart: "“+”"},
		{in: "a!b@x.com", msgPart: "“!”"},
		{in: "a/b@x.com", msgPart: "“/”"},
		{in: strings.Repeat("a", 1000) + "@x.com", msgPart: "too long"},
		{in: strings.Repeat("a", 65) + "@x.com", msgPart: "at most 64"},
		{in: "a@" + strings.Repeat("b", 250) + ".com", msgPart: "too long"},
		{in: "taylor", msgPart: "Enter one email address"},
		{in: "@fabrikam.example", msgPart: "Enter one email address"},
		{in: "taylor@", msgPart: "Enter one email address"},
		{in: "taylor@localhost", msgPart: "domain"},
		{in: "taylor@[127.0.0.1]", msgPart: "domain"},
		{in: "taylor@fab_rikam.example", msgPart: "domain"},
		{in: "taylor@-fabrikam.example", msgPart: "domain"},
		{in: "taylor@fabrikam..example", msgPart: "domain"},
		{in: "taylor@fabrikam.123", msgPart: "domain"},
		{in: ".taylor@fabrikam.example", msgPart: "dot or hyphen"},
		{in: "taylor.@fabrikam.example", msgPart: "dot or hyphen"},
		{in: "tay..lor@fabrikam.example", msgPart: "dot or hyphen"},
		{in: "-taylor@fabrikam.example", msgPart: "dot or hyphen"},
		{in: "tävlor@fabrikam.example", msgPart: "ASCII"},
		{in: "taylor@fabrikäm.example", msgPart: "ASCII"},
		{in: "\xff@x.com", msgPart: "Enter one email address"},
	}
	for _, tt := range tests {
		got, err := ValidateEmail(tt.in)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("ValidateEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateEmail(%q) = %q; want an error", tt.in, got)
			continue
		}
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != FieldEmail || !strings.Contains(fe.Message, tt.msgPart) {
			t.Errorf("ValidateEmail(%q) error %v; want a %s message containing %q", tt.in, err, FieldEmail, tt.msgPart)
		}
		if !strings.HasPrefix(err.Error(), "invite: ") {
			t.Errorf("error %q not prefixed", err)
		}
	}
}

func TestValidateRedirectURL(t *testing.T) {
	allowed := []string{"allowed.example", "apps.allowed.example:8443"}
	tests := []struct {
		name     string
		in       string
		allowed  []string
		loopback bool
		want     string // "" means rejected
		msgPart  string
	}{
		{name: "allowed", in: "https://allowed.example/path?x=1", allowed: allowed, want: "https://allowed.example/path?x=1"},
		{name: "case folded", in: "HTTPS://Allowed.EXAMPLE/Path", allowed: allowed, want: "https://allowed.example/Path"},
		{name: "default port dropped", in: "https://allowed.example:443/", allowed: allowed, want: "https://allowed.example/"},
		{name: "listed port", in: "https://apps.allowed.example:8443/x", allowed: allowed, want: "https://apps.allowed.example:8443/x"},
		{name: "any https host without list", in: "https://myapps.microsoft.com", want: "https://myapps.microsoft.com"},
		{name: "loopback http in demo", in: "http://127.0.0.1:8080/welcome", loopback: true, want: "http://127.0.0.1:8080/welcome"},
		{name: "localhost http in demo", in: "http://localhost:8080/welcome", loopback: true, want: "http://localhost:8080/welcome"},
		{name: "fragment kept", in: "https://allowed.example/#/home", allowed: allowed, want: "https://allowed.example/#/home"},

		{name: "javascript", in: "javascript:alert(1)", allowed: allowed, msgPart: "must start with https://"},
		{name: "javascript no list", in: "javascript:alert(1)", msgPart: "must start with https://"},
		{name: "data", in: "data:text/html;base64,PHNjcmlwdD4=", msgPart: "must start with https://"},
		{name: "vbscript", in: "vbscript:msgbox", msgPart: "must start with https://"},
		{name: "http allowed host", in: "http://allowed.example", allowed: allowed, msgPart: "must start with https://"},
		{name: "http non-loopback in demo", in: "http://evil.example/", loopback: true, msgPart: "must start with https:// (http:// is allowed only for this machine, e.g. http://localhost)."},
		{name: "no exception named outside demo", in: "http://evil.example/", msgPart: "must start with https://."},
		{name: "http loopback outside demo", in: "http://127.0.0.1/", msgPart: "must start with https://"},
		{name: "protocol relative", in: "//evil.com", allowed: allowed, msgPart: "must start with https://"},
		{name: "protocol relative no list", in: "//evil.com", msgPart: "must start with https://"},
		{name: "single slash", in: "https:/evil.com", msgPart: "must start with https://"},
		{name: "opaque", in: "https:evil.com", msgPart: "must start with https://"},
		{name: "similar domain", in: "https://allowed.example.evil.com", allowed: allowed, msgPart: "allowed.example.evil.com is not on the list of allowed landing pages"},
		{name: "fragment at", in: "https://evil.com#@allowed.example", allowed: allowed, msgPart: "evil.com is not on the list"},
		{name: "userinfo", in: "https://allowed.example@evil.com", allowed: allowed, msgPart: "user name or password"},
		{name: "userinfo no list", in: "https://user:pass@allowed.example/", msgPart: "user name or password"},
		{name: "encoded at", in: "https://allowed.example%40evil.com/", allowed: allowed, msgPart: "full web address"},
		{name: "query mention", in: "https://evil.com/?u=allowed.example", allowed: allowed, msgPart: "evil.com is not on the list"},
		{name: "unknown host", in: "https://example.org/", allowed: allowed, msgPart: "example.org is not on the list of allowed landing pages"},
		{name: "unlisted port", in: "https://allowed.example:8443/", allowed: allowed, msgPart: "not on the list"},
		{name: "listed host other port", in: "https://apps.allowed.example/", allowed: allowed, msgPart: "not on the list"},
		{name: "backslash", in: "https://allowed.example\\@evil.com", allowed: allowed, msgPart: "not allowed in a web address"},
		{name: "CRLF", in: "https://allowed.example/\r\nSet-Cookie: x", allowed: allowed, msgPart: "line break"},
		{name: "tab inside", in: "https://allowed.example/a\tb", allowed: allowed, msgPart: "line break"},
		{name: "space inside", in: "https://allowed.example/a b", allowed: allowed, msgPart: "ASCII"},
		{name: "U+2028", in: "https://allowed.example/\u2028", allowed: allowed, msgPart: "line break"},
		{name: "IDN", in: "https://allowеd.example/", allowed: allowed, msgPart: "ASCII"},
		{name: "punycode unlisted", in: "https://xn--allwed-9ja.example/", msgPart: "international domain name"},
		{name: "trailing dot", in: "https://allowed.example./", allowed: allowed, msgPart: "full web address"},
		{name: "IP address", in: "https://192.0.2.1/", msgPart: "IP address"},
		{name: "no host", in: "https://", msgPart: "must start with https://"},
		{name: "empty", in: "", msgPart: "Enter the page"},
		{name: "too long", in: "https://allowed.example/" + strings.Repeat("a", 2100), allowed: allowed, msgPart: "too long"},
		{name: "bad port", in: "https://allowed.example:99999/", allowed: allowed, msgPart: "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := validateRedirectURL(tt.in, tt.allowed, tt.loopback)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("validateRedirectURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("validateRedirectURL(%q) = %q; want an error", tt.in, got)
			}
			if fe, ok := err.(*FieldError); !ok || !strings.Contains(fe.Message, tt.msgPart) {
				t.Fatalf("validateRedirectURL(%q) error %v; want message containing %q", tt.in, err, tt.msgPart)
			}
		})
	}
}

func TestPolicyRedirectDefault(t *testing.T) {
	p := Policy{DefaultRedirectURL: "http://127.0.0.1:8080/welcome", AllowedRedirectHosts: []string{"allowed.example"}}
	for _, in := range []string{"", "  ", "http://127.0.0.1:8080/welcome", "HTTP://127.0.0.1:8080/welcome"} {
		got, err := p.ValidateRedirect(in)
		if err != nil || got != "http://127.0.0.1:8080/welcome" {
			t.Errorf("ValidateRedirect(%q) = %q, %v; want the default", in, got, err)
		}
	}
	if _, err := p.ValidateRedirect("http://127.0.0.1:8080/other"); err == nil {
		t.Error("a non-default loopback http URL was accepted outside demo mode")
	}
	if _, err := (Policy{}).ValidateRedirect(""); err == nil {
		t.Error("empty redirect without a default was accepted")
	}
}

func TestValidate(t *testing.T) {
	pol := Policy{DefaultRedirectURL: "https://portico.example/welcome", AllowedRedirectHosts: []string{"portico.example", "allowed.example"}}
	long := func(n int) string { return strings.Repeat("é", n) }
	tests := []struct {
		name   string
		mutate func(r *Request)
		fields []string // expected bad fields; none means valid
		check  func(t *testing.T, v Valid)
	}{
		{name: "good minimal", mutate: func(r *Request) {}, check: func(t *testing.T, v Valid) {
			if v.Email != "Taylor@Fabrikam.example" || v.Key != "taylor@fabrikam.example" {
				t.Errorf("email %q key %q", v.Email, v.Key)
			}
			if v.UserType != UserTypeGuest || v.RequestedType != "" {
				t.Errorf("type %q requested %q", v.UserType, v.RequestedType)
			}
			if v.RedirectURL != "https://portico.example/welcome" {
				t.Errorf("redirect %q", v.RedirectURL)
			}
		}},
		{name: "good full", mutate: func(r *Request) {
			r.CC = " manager@fabrikam.example "
			r.Language = "FR-fr"
			r.UserType = "member"
			r.RedirectURL = "https://allowed.example/start"
			r.Message = "Line one\r\nLine two\u2028three"
			r.DisplayName = " Taylor  Partner "
		}, check: func(t *testing.T, v Valid) {
			if v.CC != "manager@fabrikam.example" || v.Language != "fr-FR" || v.UserType != UserTypeMember || v.RequestedType != UserTypeMember {
				t.Errorf("got %+v", v)
			}
			if v.Message != "Line one\nLine two\nthree" || v.DisplayName != "Taylor  Partner" {
				t.Errorf("message %q name %q", v.Message, v.DisplayName)
			}
		}},
		{name: "guest case-insensitive", mutate: func(r *Request) { r.UserType = "GUEST" }, check: func(t *testing.T, v Valid) {
			if v.UserType != UserTypeGuest || v.RequestedType != UserTypeGuest {
				t.Errorf("got %+v", v)
			}
		}},
		{name: "max lengths", mutate: func(r *Request) { r.DisplayName = long(256); r.Message = long(1000) }},

		{name: "missing email", mutate: func(r *Request) { r.Email = "" }, fields: []string{FieldEmail}},
		{name: "CRLF email", mutate: func(r *Request) { r.Email = "a@x.com\r\nBcc: b@y.com" }, fields: []string{FieldEmail}},
		{name: "two cc", mutate: func(r *Request) { r.CC = "a@x.com, b@y.com" }, fields: []string{FieldCC}},
		{name: "two cc semicolon", mutate: func(r *Request) { r.CC = "a@x.com;b@y.com" }, fields: []string{FieldCC}},
		{name: "cc CRLF", mutate: func(r *Request) { r.CC = "a@x.com\r\nBcc: c@d.com" }, fields: []string{FieldCC}},
		{name: "cc angle", mutate: func(r *Request) { r.CC = "Boss <boss@x.com>" }, fields: []string{FieldCC}},
		{name: "name CRLF", mutate: func(r *Request) { r.DisplayName = "Taylor\r\nX-Injected: 1" }, fields: []string{FieldDisplayName}},
		{name: "name forged json", mutate: func(r *Request) { r.DisplayName = "Taylor\n{\"forged\":true}" }, fields: []string{FieldDisplayName}},
		{name: "name U+2028", mutate: func(r *Request) { r.DisplayName = "Taylor\u2028Partner" }, fields: []string{FieldDisplayName}},
		{name: "name bidi", mutate: func(r *Request) { r.DisplayName = "Taylor\u202eigam" }, fields: []string{FieldDisplayName}},
		{name: "name too long", mutate: func(r *Request) { r.DisplayName = long(257) }, fields: []string{FieldDisplayName}},
		{name: "message too long", mutate: func(r *Request) { r.Message = long(1001) }, fields: []string{FieldMessage}},
		{name: "message NUL", mutate: func(r *Request) { r.Message = "hi\x00there" }, fields: []string{FieldMessage}},
		{name: "message invalid utf8", mutate: func(r *Request) { r.Message = "hi\xff" }, fields: []string{FieldMessage}},
		{name: "unknown language", mutate: func(r *Request) { r.Language = "xx-YY" }, fields: []string{FieldLanguage}},
		{name: "bad type", mutate: func(r *Request) { r.UserType = "Admin" }, fields: []string{FieldUserType}},
		{name: "javascript redirect", mutate: func(r *Request) { r.RedirectURL = "javascript:alert(1)" }, fields: []string{FieldRedirectURL}},
		{name: "unknown host", mutate: func(r *Request) { r.RedirectURL = "https://example.org/" }, fields: []string{FieldRedirectURL}},
		{name: "everything wrong", mutate: func(r *Request) {
			r.Email, r.CC, r.RedirectURL, r.UserType = "x", "a@b.com,c@d.com", "//evil.com", "root"
		}, fields: []string{FieldEmail, FieldCC, FieldRedirectURL, FieldUserType}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validReq()
			tt.mutate(&req)
			v, fe := pol.Validate(req, employee)
			if len(tt.fields) == 0 {
				if fe != nil {
					t.Fatalf("unexpected field errors %v", fe)
				}
				if tt.check != nil {
					tt.check(t, v)
				}
				return
			}
			if len(fe) != len(tt.fields) {
				t.Fatalf("field errors %v; want exactly %v", fe, tt.fields)
			}
			for _, f := range tt.fields {
				if fe[f] == "" {
					t.Errorf("no message for %s in %v", f, fe)
				}
			}
			if v != (Valid{}) {
				t.Errorf("Valid returned alongside errors: %+v", v)
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	pol := Policy{DefaultRedirectURL: "https://portico.example/welcome", AllowedRedirectHosts: []string{"portico.example"}}
	req := validReq()
	req.Email = "a@x.com, b@y.com"
	req.CC = "a@x.com; b@y.com"
	req.RedirectURL = "https://example.org/"
	_, fe := pol.Validate(req, employee)
	want := map[string]string{
		FieldEmail:       "Enter only one email address.",
		FieldCC:          "Only one cc address is supported.",
		FieldRedirectURL: "example.org is not on the list of allowed landing pages.",
	}
	for k, w := range want {
		if fe[k] != w {
			t.Errorf("%s: %q; want %q", k, fe[k], w)
		}
	}
	req = validReq()
	req.Email = "not-an-address"
	req.RedirectURL = "ftp://portico.example/"
	_, fe = pol.Validate(req, employee)
	if fe[FieldEmail] != "Enter one email address, like name@fabrikam.com." || fe[FieldRedirectURL] != "The landing page must start with https://." {
		t.Errorf("messages %v", fe)
	}
}

func TestDefaultLanguages(t *testing.T) {
	if len(DefaultLanguages) < 20 {
		t.Fatalf("only %d languages", len(DefaultLanguages))
	}
	seen := map[string]bool{}
	for _, l := range DefaultLanguages {
		if seen[strings.ToLower(l.Code)] || l.Name == "" || !strings.Contains(l.Code, "-") {
			t.Errorf("bad or duplicate language %+v", l)
		}
		seen[strings.ToLower(l.Code)] = true
	}
	if !seen["en-us"] {
		t.Error("en-US missing")
	}
}

func TestDomainRules(t *testing.T) {
	tests := []struct {
		allowed, blocked []string
		domain           string
		want             string
	}{
		{domain: "fabrikam.example", want: ""},
		{allowed: []string{"fabrikam.example"}, domain: "fabrikam.example", want: ""},
		{allowed: []string{"fabrikam.example"}, domain: "sub.fabrikam.example", want: "not in PORTICO_ALLOWED_DOMAINS"},
		{allowed: []string{"*.fabrikam.example"}, domain: "sub.fabrikam.example", want: ""},
		{allowed: []string{"*.fabrikam.example"}, domain: "fabrikam.example", want: "not in PORTICO_ALLOWED_DOMAINS"},
		{allowed: []string{"*.fabrikam.example"}, domain: "evilfabrikam.example", want: "not in PORTICO_ALLOWED_DOMAINS"},
		{allowed: []string{"Fabrikam.Example"}, domain: "FABRIKAM.example", want: ""},
		{blocked: []string{"gmail.example"}, domain: "gmail.example", want: "matches blocked gmail.example"},
		{blocked: []string{"gmail.example"}, domain: "mail.gmail.example", want: ""},
		{blocked: []string{"*.x.example"}, domain: "a.b.x.example", want: "matches blocked *.x.example"},
		{blocked: []string{"*.x.example"}, domain: "x.example", want: ""},
	}
	for _, tt := range tests {
		p := Policy{AllowedDomains: tt.allowed, BlockedDomains: tt.blocked}.withDefaults()
		if got := p.domainRule(tt.domain); got != tt.want {
			t.Errorf("allowed %v blocked %v domain %s: %q; want %q", tt.allowed, tt.blocked, tt.domain, got, tt.want)
		}
	}
}

func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{"taylor@fabrikam.example", "a@x.com\r\nBcc: b@y.com", "a@x.com, b@y.com", "<a@b.com>",
		"a%0d%0a@x.com", "a@x.com\u2028", "o'neil@fabrikam.example", `"a b"@x.com`, "a@[1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ValidateEmail(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(got, "\r\n,;<>\"\x00 \t") || strings.ContainsRune(got, '\u2028') || strings.ContainsRune(got, '\u2029') {
			t.Fatalf("accepted %q with a forbidden character", got)
		}
		if strings.Count(got, "@") != 1 || len(got) > 254 || !utf8.ValidString(got) {
			t.Fatalf("accepted %q", got)
		}
		if again, err := ValidateEmail(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q, %v", got, again, err)
		}
	})
}

func FuzzValidateRedirect(f *testing.F) {
	allowed := []string{"allowed.example", "apps.allowed.example:8443"}
	for _, s := range []string{"https://allowed.example/x", "javascript:alert(1)", "//evil.com", "https://allowed.example@evil.com",
		"https://evil.com#@allowed.example", "https://allowed.example.evil.com", "http://127.0.0.1:8080/", "https://apps.allowed.example:8443/",
		"https://allowed.example\\@evil.com", "HTTPS://ALLOWED.EXAMPLE:443/%2e%2e/"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, loopback bool) {
		for _, list := range [][]string{allowed, nil} {
			got, err := validateRedirectURL(raw, list, loopback)
			if err != nil {
				continue
			}
			u, perr := url.Parse(got)
			if perr != nil {
				t.Fatalf("accepted %q → %q does not parse: %v", raw, got, perr)
			}
			if u.User != nil || strings.ContainsAny(got, "\r\n\\ \x00") {
				t.Fatalf("accepted %q → %q with userinfo or forbidden characters", raw, got)
			}
			switch {
			case u.Scheme == "https":
			case u.Scheme == "http" && loopback && netaddr.IsLoopbackHost(u.Hostname()):
			default:
				t.Fatalf("accepted %q → %q with scheme %q (loopback %v)", raw, got, u.Scheme, loopback)
			}
			if list != nil && !hostAllowed(u.Hostname(), u.Port(), list) {
				t.Fatalf("accepted %q → %q with host %q not on %v", raw, got, u.Host, list)
			}
			if again, err := validateRedirectURL(got, list, loopback); err != nil || again != got {
				t.Fatalf("not idempotent: %q → %q → %q, %v", raw, got, again, err)
			}
		}
	})
}
