package static

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServesFingerprintedAssets(t *testing.T) {
	h := Handler()
	for name, ctype := range map[string]string{"app.css": "text/css", "app.js": "text/javascript", "favicon.svg": "image/svg+xml", "logo.svg": "image/svg+xml"} {
		p := Path(name)
		if !strings.HasPrefix(p, "/static/") || p == "/static/"+name {
			t.Fatalf("Path(%q) = %q: not fingerprinted", name, p)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %q", p, rec.Code, rec.Header().Get("Content-Type"))
		}
		if rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s cache: %q", p, rec.Header().Get("Cache-Control"))
		}
	}
}

func TestGzip(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, Path("app.css"), nil)
	req.Header.Set("Accept-Encoding", "gzip, br")
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatal("no gzip")
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	if !strings.Contains(string(b), "prefers-color-scheme") {
		t.Error("gzip body is not the stylesheet")
	}
}

func TestUnknownAndTraversal404(t *testing.T) {
	for _, p := range []string{"/static/app.css", "/static/../static.go", "/static/..%2fstatic.go", "/static/", "/static/assets/app.css", "/static/nope.123.css"} {
		rec := httptest.NewRecorder()
		Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
}
