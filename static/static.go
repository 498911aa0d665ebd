// Package static serves Portico's CSS, JavaScript and icons from the binary under fingerprinted
// names with long cache lifetimes.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var files embed.FS

// hashLen is how many hex digits of the SHA-256 of a file go into its name.
const hashLen = 8

var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
}

type asset struct {
	body, gz          []byte
	contentType, etag string
}

type catalog struct {
	byURL  map[string]*asset // "/static/app.1a2b3c4d.css" → the file
	byName map[string]string // "app.css" → "/static/app.1a2b3c4d.css"
}

// assets is computed once, on first use, from the embedded files, and never changes after.
var assets = sync.OnceValue(func() catalog {
	c, err := load(files)
	if err != nil {
		panic("static: " + err.Error()) // the files are compiled in: this cannot fail at run time
	}
	return c
})

func load(fsys fs.FS) (catalog, error) {
	c := catalog{byURL: map[string]*asset{}, byName: map[string]string{}}
	entries, err := fs.ReadDir(fsys, "assets")
	if err != nil {
		return c, err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := fs.ReadFile(fsys, "assets/"+e.Name())
		if err != nil {
			return c, err
		}
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])[:hashLen]
		ext := path.Ext(e.Name())
		ct, ok := contentTypes[ext]
		if !ok {
			ct = "application/octet-stream"
		}
		a := &asset{body: body, contentType: ct, etag: `"` + h + `"`}
		if strings.HasPrefix(ct, "text/") || ext == ".svg" {
			a.gz = compress(body)
		}
		u := "/static/" + strings.TrimSuffix(e.Name(), ext) + "." + h + ext
		c.byURL[u] = a
		c.byName[e.Name()] = u
	}
	return c, nil
}

// compress gzips b, or returns nil when that does not make it smaller.
func compress(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid: no error
	_, _ = zw.Write(b)                                       // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	if buf.Len() >= len(b) {
		return nil
	}
	return buf.Bytes()
}

// Path returns the fingerprinted URL path of an asset, e.g. /static/app.3f2a1b9c.css.
func Path(name string) string {
	if u, ok := assets().byName[name]; ok {
		return u
	}
	return "/static/missing/" + name // a visible 404 rather than a wrong file
}

// Handler serves exactly the fingerprinted asset paths; anything else is 404.
func Handler() http.Handler {
	c := assets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only exact known names: no file system lookups, so no directory listing or traversal.
		a, ok := c.byURL[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("X-Content-Type-Options", "nosniff")
		body, etag := a.body, a.etag
		if a.gz != nil {
			h.Add("Vary", "Accept-Encoding")
			if acceptsGzip(r.Header.Values("Accept-Encoding")) {
				h.Set("Content-Encoding", "gzip")
				body, etag = a.gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
			}
		}
		h.Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}

// acceptsGzip reports whether Accept-Encoding allows gzip with a non-zero quality; an explicit
// gzip entry decides over "*".
func acceptsGzip(values []string) bool {
	star := false
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "x-gzip" && name != "*" {
				continue
			}
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			if name == "*" {
				star = q > 0
				continue
			}
			return q > 0
		}
	}
	return star
}
