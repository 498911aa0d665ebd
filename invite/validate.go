package invite

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"portico/internal/netaddr"
)

// Form field names; FieldErrors are keyed by them and they match Graph's property names.
const (
	FieldDisplayName    = "invitedUserDisplayName"
	FieldEmail          = "invitedUserEmailAddress"
	FieldMessage        = "customizedMessageBody"
	FieldCC             = "ccRecipient"
	FieldIdempotencyKey = "idempotencyKey"
	FieldRedirectURL    = "inviteRedirectUrl"
	FieldLanguage       = "messageLanguage"
	FieldUserType       = "invitedUserType"
	FieldSendEmail      = "sendInvitationMessage"
)

// User types Graph knows.
const (
	UserTypeGuest  = "Guest"
	UserTypeMember = "Member"
)

// Limits applied when the policy leaves them zero.
const (
	// DefaultMaxMessageRunes caps customizedMessageBody. Graph documents no limit, and messages of a
	// few thousand characters have been reported to be dropped silently from the email, so Portico
	// keeps well below that.
	DefaultMaxMessageRunes = 1000
	// DefaultMaxDisplayNameRunes caps invitedUserDisplayName, as Entra caps a user's displayName.
	DefaultMaxDisplayNameRunes = 256

	maxEmailLen     = 254
	maxLocalPartLen = 64
	maxRedirectLen  = 2048
)

// Request is the raw invitation form (or JSON body) as the user sent it.
type Request struct {
	DisplayName string // invitedUserDisplayName
	Email       string // invitedUserEmailAddress
	Message     string // customizedMessageBody
	CC          string // ccRecipient
	RedirectURL string // inviteRedirectUrl
	Language    string // messageLanguage
	UserType    string // invitedUserType
	SendEmail   bool   // sendInvitationMessage
	Resend      bool   // the user confirmed a re-invitation of a pending guest
	// IdempotencyKey (optional, at most 200 characters, unique per tenant) names one send: a second
	// Send with the same key never writes to Graph again but returns the first send's result
	// (waiting briefly while it is still in flight). Bulk rows and API clients set it; the form
	// leaves it empty.
	IdempotencyKey string
	Sponsors       []string // addresses of sponsors besides the inviter (invitedUserSponsors)
	Groups         []string // ids of groups (of Config.GuestGroups) to add the guest to
}

// Valid is a request that passed validation: every field is normalised and safe to send to Graph.
type Valid struct {
	DisplayName   string
	Email         string // trimmed, as typed: what Graph receives
	Key           string // Email in lower case: how Portico compares and records addresses
	Message       string // line breaks normalised to \n
	CC            string // "" or one address, as typed
	Language      string // "" or a code from the policy's languages
	RedirectURL   string // re-serialised from the parsed URL
	RequestedType string // what the request asked for ("" when nothing)
	UserType      string // effective: Guest or Member
	SendEmail     bool
	Resend        bool
}

// FieldErrors maps form field names to a message for the person filling in the form.
type FieldErrors map[string]string

// FieldError is the error returned by ValidateEmail and ValidateRedirect.
type FieldError struct {
	Field   string
	Message string // a sentence for the person filling in the form
}

func (e *FieldError) Error() string { return "invite: " + e.Field + ": " + e.Message }

// Policy holds the invitation rules taken from configuration.
type Policy struct {
	DefaultRedirectURL   string
	AllowedRedirectHosts []string // host or host:port; empty allows any https host
	AllowHTTPLoopback    bool     // demo mode: plain http to loopback hosts
	AllowedDomains       []string // exact domains or *.suffix forms; empty allows every domain
	BlockedDomains       []string
	MaxMessageRunes      int
	MaxDisplayNameRunes  int
	Languages            []Language
}

func (p Policy) withDefaults() Policy {
	if p.MaxMessageRunes <= 0 {
		p.MaxMessageRunes = DefaultMaxMessageRunes
	}
	if p.MaxDisplayNameRunes <= 0 {
		p.MaxDisplayNameRunes = DefaultMaxDisplayNameRunes
	}
	if len(p.Languages) == 0 {
		p.Languages = DefaultLanguages
	}
	p.AllowedDomains = lowerAll(p.AllowedDomains)
	p.BlockedDomains = lowerAll(p.BlockedDomains)
	p.AllowedRedirectHosts = lowerAll(p.AllowedRedirectHosts)
	return p
}

func lowerAll(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Validate checks and normalises a request; it returns FieldErrors when anything is wrong. The cc
// address must pass the allowed and blocked domains as the invitee does (Service.Send checks the
// invitee's domain, and more, in its preflight). Whether the inviter may send a Member invitation
// is decided by Service.Send, not here.
func (p Policy) Validate(req Request, _ Inviter) (Valid, FieldErrors) {
	p = p.withDefaults()
	fe := FieldErrors{}
	v := Valid{SendEmail: req.SendEmail, Resend: req.Resend}
	if k := req.IdempotencyKey; utf8.RuneCountInString(k) > MaxIdempotencyKey || !utf8.ValidString(k) || strings.ContainsFunc(k, unicode.IsControl) {
		fe[FieldIdempotencyKey] = fmt.Sprintf("Use at most %d printable characters.", MaxIdempotencyKey)
	}

	if email, err := ValidateEmail(req.Email); err != nil {
		fe[FieldEmail] = err.(*FieldError).Message
	} else {
		v.Email, v.Key = email, strings.ToLower(email)
	}

	if strings.TrimSpace(req.CC) != "" {
		if cc, err := validateAddress(FieldCC, req.CC); err != nil {
			fe[FieldCC] = err.(*FieldError).Message
		} else if msg := p.ccDomainMessage(cc); msg != "" {
			// The cc receives the invitation email and its redemption link, so it is held to the
			// same domain rules as the invitee.
			fe[FieldCC] = msg
		} else {
			v.CC = cc
		}
	}

	if name, msg := cleanLine(req.DisplayName, p.MaxDisplayNameRunes, "name"); msg != "" {
		fe[FieldDisplayName] = msg
	} else {
		v.DisplayName = name
	}

	if body, msg := cleanMessage(req.Message, p.MaxMessageRunes); msg != "" {
		fe[FieldMessage] = msg
	} else {
		v.Message = body
	}

	if lang := strings.TrimSpace(req.Language); lang != "" {
		for _, l := range p.Languages {
			if strings.EqualFold(l.Code, lang) {
				v.Language = l.Code
				break
			}
		}
		if v.Language == "" {
			fe[FieldLanguage] = "Choose a language from the list."
		}
	}

	if redirect, err := p.ValidateRedirect(req.RedirectURL); err != nil {
		fe[FieldRedirectURL] = err.(*FieldError).Message
	} else {
		v.RedirectURL = redirect
	}

	if t, ok := parseUserType(req.UserType); !ok {
		fe[FieldUserType] = "Choose Guest or Member."
	} else {
		v.UserType = t
		if strings.TrimSpace(req.UserType) != "" {
			v.RequestedType = t
		}
	}

	if len(fe) > 0 {
		return Valid{}, fe
	}
	return v, nil
}

func parseUserType(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "guest":
		return UserTypeGuest, true
	case "member":
		return UserTypeMember, true
	}
	return "", false
}

// ValidateEmail checks that s is exactly one bare address Graph accepts and returns it trimmed.
// The address keeps the case it was typed in; compare addresses in lower case.
func ValidateEmail(s string) (string, error) { return validateAddress(FieldEmail, s) }

func validateAddress(field, s string) (string, error) {
	bad := func(msg string) (string, error) { return "", &FieldError{Field: field, Message: msg} }
	const example = "Enter one email address, like name@fabrikam.com."
	// Trim only ASCII blanks: strings.TrimSpace would also remove U+2028, U+0085 and friends,
	// which must be refused, not silently dropped.
	s = strings.Trim(s, " \t")
	switch {
	case s == "":
		if field == FieldCC {
			return "", nil
		}
		return bad("Enter the guest's email address, like name@fabrikam.com.")
	case !utf8.ValidString(s):
		return bad(example)
	case strings.ContainsFunc(s, isBreakOrControl):
		return bad("The address contains a line break or an invisible character.")
	case strings.ContainsAny(s, ",;") || strings.Count(s, "@") > 1:
		if field == FieldCC {
			return bad("Only one cc address is supported.")
		}
		return bad("Enter only one email address.")
	case strings.ContainsAny(s, "<>\"()"):
		return bad("Enter only the address, without a name, quotes or angle brackets.")
	case strings.ContainsFunc(s, unicode.IsSpace):
		return bad("The address must not contain spaces.")
	case len(s) > maxEmailLen:
		return bad("The address is too long: at most 254 characters.")
	}
	for _, r := range s {
		if r > unicode.MaxASCII {
			return bad("Enter the address in plain ASCII letters; internationalised addresses are not supported.")
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return bad(example)
	}
	local, domain := s[:at], s[at+1:]
	if local == "" || domain == "" {
		return bad(example)
	}
	if len(local) > maxLocalPartLen {
		return bad("The part before @ is too long: at most 64 characters.")
	}
	// Graph refuses these characters in invitedUserEmailAddress (invitation resource reference).
	if i := strings.IndexAny(local, "~!#$%^&*()+=[]{}\\/|;:\"<>?,`"); i >= 0 {
		return bad("Microsoft Entra does not accept “" + local[i:i+1] + "” in an email address.")
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.HasPrefix(local, "-") ||
		strings.HasSuffix(local, "-") || strings.Contains(local, "..") {
		return bad("The part before @ must not start or end with a dot or hyphen, or contain two dots in a row.")
	}
	if !validDomain(domain) {
		return bad("The part after @ must be a domain name, like fabrikam.com.")
	}
	// net/mail has the last word: the address must parse as one bare addr-spec equal to the input.
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return bad(example)
	}
	return s, nil
}

// isBreakOrControl reports control characters, line and paragraph separators, and format
// characters (bidi overrides, zero-width, BOM), none of which belong in an address or a URL.
func isBreakOrControl(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Cf)
}

// validDomain reports whether d is an ASCII DNS name of at least two labels with a non-numeric TLD.
func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.ContainsFunc(tld, func(r rune) bool { return r < '0' || r > '9' })
}

// cleanLine trims a one-line text field and refuses control characters and overlong input.
func cleanLine(s string, maxRunes int, what string) (string, string) {
	s = strings.Trim(s, " \t")
	switch {
	case !utf8.ValidString(s):
		return "", "The " + what + " contains invalid characters."
	case strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) || isBidiControl(r)
	}):
		return "", "The " + what + " must be one line without control characters."
	case utf8.RuneCountInString(s) > maxRunes:
		return "", "The " + what + " is too long: at most " + strconv.Itoa(maxRunes) + " characters."
	}
	return s, ""
}

// cleanMessage normalises line breaks in the plain-text message and enforces its length.
func cleanMessage(s string, maxRunes int) (string, string) {
	if !utf8.ValidString(s) {
		return "", "The message contains invalid characters."
	}
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n").Replace(s)
	s = strings.TrimSpace(s)
	if strings.ContainsFunc(s, func(r rune) bool { return (unicode.IsControl(r) && r != '\n' && r != '\t') || isBidiControl(r) }) {
		return "", "The message must be plain text without control characters."
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return "", "The message is too long: " + strconv.Itoa(n) + " characters, at most " + strconv.Itoa(maxRunes) + "."
	}
	return s, ""
}

// isBidiControl reports the explicit bidirectional formatting characters, which can make text
// display differently from what it says.
func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C
}

// ValidateRedirect applies the policy to a landing page: empty means the default; the default is
// always accepted; anything else must pass validateRedirectURL.
func (p Policy) ValidateRedirect(raw string) (string, error) {
	raw = strings.Trim(raw, " \t")
	def := ""
	if p.DefaultRedirectURL != "" {
		if d, err := normaliseURL(p.DefaultRedirectURL); err == nil {
			def = d
		}
	}
	if raw == "" {
		if def == "" {
			return "", &FieldError{Field: FieldRedirectURL, Message: "Enter the page the guest lands on after accepting, like https://myapps.microsoft.com."}
		}
		return def, nil
	}
	if n, err := normaliseURL(raw); err == nil && n == def {
		return def, nil
	}
	return validateRedirectURL(raw, p.AllowedRedirectHosts, p.AllowHTTPLoopback)
}

// validateRedirectURL checks a landing page URL and returns it re-serialised from its parsed parts:
// absolute https (plain http only to loopback hosts when allowHTTPLoopback), no user name or
// password, and a host on allowedHosts ("host" or "host:port", case-insensitive) when that list is
// not empty.
func validateRedirectURL(raw string, allowedHosts []string, allowHTTPLoopback bool) (string, error) {
	bad := func(msg string) (string, error) {
		return "", &FieldError{Field: FieldRedirectURL, Message: msg}
	}
	mustHTTPS := "The landing page must start with https://."
	if allowHTTPLoopback {
		mustHTTPS = "The landing page must start with https:// (http:// is allowed only for this machine, e.g. http://localhost)."
	}
	raw = strings.Trim(raw, " \t")
	switch {
	case raw == "":
		return bad("Enter the page the guest lands on after accepting, like https://myapps.microsoft.com.")
	case len(raw) > maxRedirectLen:
		return bad("The landing page address is too long: at most 2048 characters.")
	case !utf8.ValidString(raw) || strings.ContainsFunc(raw, isBreakOrControl):
		return bad("The landing page contains a line break or an invisible character.")
	case strings.ContainsFunc(raw, func(r rune) bool { return r > unicode.MaxASCII || unicode.IsSpace(r) }):
		return bad("Enter the landing page in plain ASCII, without spaces (use the xn-- form for international domain names).")
	case strings.ContainsAny(raw, "\\\"<>^`{|}"):
		// Browsers read a backslash as a slash; the rest are never valid in a URL.
		return bad("The landing page contains characters that are not allowed in a web address.")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("Enter a full web address, like https://myapps.microsoft.com.")
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	switch {
	case scheme == "https":
	case scheme == "http" && allowHTTPLoopback && netaddr.IsLoopbackHost(host):
	default:
		return bad(mustHTTPS)
	}
	if u.Opaque != "" || u.Host == "" || !strings.HasPrefix(raw[len(u.Scheme):], "://") {
		return bad(mustHTTPS)
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return bad("The landing page must not contain a user name or password.")
	}
	if host == "" || strings.HasSuffix(host, ".") {
		return bad("Enter a full web address, like https://myapps.microsoft.com.")
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return bad("The landing page must use a host name, not an IP address.")
		}
	} else if !validDomain(host) && host != "localhost" {
		return bad("Enter a full web address, like https://myapps.microsoft.com.")
	}
	if port != "" {
		if !isPort(port) {
			return bad("The landing page has an invalid port.")
		}
		if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
			port = ""
		}
	}
	if len(allowedHosts) > 0 {
		if !hostAllowed(host, port, allowedHosts) {
			return bad(host + " is not on the list of allowed landing pages.")
		}
	} else if strings.Contains(host, "xn--") {
		// Punycode host names can imitate other names; accept them only when an operator listed them.
		return bad(host + " is an international domain name; ask an administrator to add it to the allowed landing pages.")
	}
	out := url.URL{Scheme: scheme, Host: host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery, Fragment: u.Fragment, RawFragment: u.RawFragment}
	if strings.Contains(host, ":") {
		out.Host = "[" + host + "]"
	}
	if port != "" {
		out.Host += ":" + port
	}
	return out.String(), nil
}

// normaliseURL re-serialises an absolute URL the way validateRedirectURL does, without policy.
func normaliseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "", &FieldError{Field: FieldRedirectURL, Message: "invalid URL"}
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	out := url.URL{Scheme: scheme, Host: host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery, Fragment: u.Fragment, RawFragment: u.RawFragment}
	if strings.Contains(host, ":") {
		out.Host = "[" + host + "]"
	}
	if port != "" {
		out.Host += ":" + port
	}
	return out.String(), nil
}

func hostAllowed(host, port string, allowed []string) bool {
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSpace(a))
		ah, ap := a, ""
		if h, p, err := net.SplitHostPort(a); err == nil {
			ah, ap = h, p
		}
		if ah == host && ap == port {
			return true
		}
	}
	return false
}

func isPort(p string) bool {
	if len(p) == 0 || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n > 0 && n <= 65535
}
