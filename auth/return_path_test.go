package auth

import (
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestSafeReturnPathAccepts(t *testing.T) {
	for _, p := range []string{"/", "/invitations", "/invitations?state=pending&page=2", "/invitations/abc123", "/admin/audit?actor=a%40b.com", "/x#frag"} {
		if got := SafeReturnPath(p); got != p {
			t.Errorf("SafeReturnPath(%q) = %q, want it kept", p, got)
		}
	}
}

func TestSafeReturnPathRejects(t *testing.T) {
	for _, p := range []string{
		"", "//evil.com", "/\\evil.com", "\\\\evil.com", "/%09/evil.com", "/%2f%2fevil.com", "/%5cevil.com",
		"https://evil.com", "http://portal.example.com.evil.com", "javascript:alert(1)", "evil.com", "./x",
		"/ /evil.com", "/./evil.com", "/../evil.com", "/\t/evil.com", "/%0a/evil.com", "/%252f%252fevil.com",
		"/x\r\nSet-Cookie: a=b", "/\u2028/evil.com", "/%E2%80%A8/evil.com", "data:text/html,hi", strings.Repeat("/a", 1100),
	} {
		if got := SafeReturnPath(p); got != "/" {
			t.Errorf("SafeReturnPath(%q) = %q, want /", p, got)
		}
	}
}

// openRedirectCorpus builds payloads the way attackers vary them: a scheme-relative or absolute
// start, separators and white space between slashes, userinfo and look-alike hosts, then the same
// strings percent-encoded once and twice.
func openRedirectCorpus() []string {
	starts := []string{"//", "/\\", "\\/", "\\\\", "/ /", "/\t/", "/\v/", "/./", "/../", "/%09/", "/%20/", "/%0d/", "/%0a/",
		"https://", "http://", "https:", "http:/", "javascript:", "JaVaScRiPt:", "data:", "vbscript:", "//\\", "/\\/", "///", "////", " //", "\t//"}
	hosts := []string{"evil.com", "evil.com/", "evil.com/invitations", "portal.example.com.evil.com", "portal.example.com@evil.com",
		"evil.com#@portal.example.com", "evil.com?@portal.example.com", "127.0.0.1", "[::1]", "0x7f.1", "evil%2ecom", "alert(1)", "%65vil.com"}
	var out []string
	for _, s := range starts {
		for _, h := range hosts {
			p := s + h
			out = append(out, p, url.PathEscape(p), strings.ReplaceAll(p, "/", "%2f"), strings.ReplaceAll(p, "/", "%252f"), strings.ReplaceAll(p, "\\", "%5c"))
		}
	}
	return out
}

func TestSafeReturnPathCorpus(t *testing.T) {
	corpus := openRedirectCorpus()
	if len(corpus) < 1000 {
		t.Fatalf("corpus has %d payloads; expected a large one", len(corpus))
	}
	for _, p := range corpus {
		if got := SafeReturnPath(p); got != "/" {
			t.Errorf("payload %q let through as %q", p, got)
		}
	}
}

// corpusFile is the corpus as a data file, one payload per line, shared with the end-to-end test
// of /login?return= in the root package. PORTICO_UPDATE_TESTDATA=1 rewrites it from openRedirectCorpus.
const corpusFile = "testdata/openredirects.txt"

func TestOpenRedirectCorpusFile(t *testing.T) {
	corpus := openRedirectCorpus()
	if os.Getenv("PORTICO_UPDATE_TESTDATA") == "1" {
		var unique []string
		seen := map[string]bool{}
		for _, p := range corpus {
			if !seen[p] {
				seen[p] = true
				unique = append(unique, p)
			}
		}
		if err := os.WriteFile(corpusFile, []byte(strings.Join(unique, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(corpusFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	inFile := map[string]bool{}
	for _, p := range lines {
		inFile[p] = true
		if got := SafeReturnPath(p); got != "/" {
			t.Errorf("%s: payload %q let through as %q", corpusFile, p, got)
		}
	}
	for _, p := range corpus {
		if !inFile[p] {
			t.Fatalf("%s lacks %q: regenerate it with PORTICO_UPDATE_TESTDATA=1 go test ./auth", corpusFile, p)
		}
	}
}

// isHarmlessLocal is the property every accepted value must have, checked independently of the
// validator: after any number of decodings it is a single-slash path with no scheme or host.
func isHarmlessLocal(p string) bool {
	for range 4 {
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\t\r\n ") {
			return false
		}
		u, err := url.Parse(p)
		if err != nil || u.Host != "" || u.Scheme != "" {
			return false
		}
		d, err := url.PathUnescape(p)
		if err != nil {
			return false
		}
		p = d
	}
	return true
}

func FuzzSafeReturnPath(f *testing.F) {
	for _, s := range []string{"/", "/invitations?x=1", "//evil.com", "/%2f%2fevil", "/\\evil", "https://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := SafeReturnPath(p)
		if got != "/" && got != p {
			t.Fatalf("SafeReturnPath(%q) = %q: must be the input or /", p, got)
		}
		if got != "/" && !isHarmlessLocal(got) {
			t.Fatalf("SafeReturnPath(%q) accepted a path that can leave the site", p)
		}
	})
}
