package invite

import "strings"

// domainRule applies PORTICO_BLOCKED_DOMAINS and PORTICO_ALLOWED_DOMAINS to an address's domain;
// it returns the rule that refuses the domain, or "" when the domain may be invited.
func (p Policy) domainRule(domain string) string {
	domain = strings.ToLower(domain)
	for _, rule := range p.BlockedDomains {
		if domainMatches(rule, domain) {
			return "matches blocked " + rule
		}
	}
	if len(p.AllowedDomains) == 0 {
		return ""
	}
	for _, rule := range p.AllowedDomains {
		if domainMatches(rule, domain) {
			return ""
		}
	}
	return ruleNotAllowed
}

// ruleNotAllowed is domainRule's answer for a domain outside a non-empty PORTICO_ALLOWED_DOMAINS.
const ruleNotAllowed = "not in PORTICO_ALLOWED_DOMAINS"

// domainMatches reports whether domain matches rule: an exact domain, or "*.suffix", which matches
// every subdomain of suffix but not suffix itself.
// ccDomainMessage returns why the cc address's domain may not receive the invitation, or "".
func (p Policy) ccDomainMessage(cc string) string {
	domain := domainOf(cc)
	switch rule := p.domainRule(domain); {
	case rule == "":
		return ""
	case strings.HasPrefix(rule, "not in"):
		return "cc: " + domain + " is not on your organization's list of allowed domains."
	default:
		return "cc: " + domain + " is blocked by your organization's policy."
	}
}

func domainMatches(rule, domain string) bool {
	if suffix, ok := strings.CutPrefix(rule, "*."); ok {
		return strings.HasSuffix(domain, "."+suffix)
	}
	return rule == domain
}

func domainOf(email string) string {
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		return strings.ToLower(email[at+1:])
	}
	return ""
}
