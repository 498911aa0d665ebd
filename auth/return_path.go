package auth

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// slashesRE matches two path separators with only white space or dots between them: a path that a
// browser may read as protocol-relative ("//evil", "/\evil", "/ /evil", "/./evil").
var slashesRE = regexp.MustCompile(`[/\\](?:[\s\v]*|\.{1,2})[/\\]`)

// SafeReturnPath returns p if it is a path on this site, and "/" otherwise. It is checked before and
// after percent-decoding, so encoded separators and white space cannot smuggle in another origin.
func SafeReturnPath(p string) string {
	if p == "" || len(p) > 2048 {
		return "/"
	}
	candidates := []string{p}
	cur := p
	for range 3 {
		dec, err := url.PathUnescape(cur)
		if err != nil {
			return "/"
		}
		if dec == cur {
			break
		}
		candidates = append(candidates, dec)
		cur = dec
	}
	for _, c := range candidates {
		if !localPath(c) {
			return "/"
		}
	}
	return p
}

func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
		return false
	}
	for _, r := range p {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	if slashesRE.MatchString(p) {
		return false
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	return true
}
