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
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var files embed.FS

type asset struct {
	body, gz    []byte
	contentType string
	etag        string
}

// byURL maps fingerprinted URL paths to assets; byName maps plain names to their URL paths.
var byURL, byName = load()

func load() (map[string]*asset, map[string]string) {
	urls, names := map[string]*asset{}, map[string]string{}
	entries, err := fs.ReadDir(files, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		body, err := files.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])[:10]
		ext := path.Ext(e.Name())
		u := "/static/" + strings.TrimSuffix(e.Name(), ext) + "." + h + ext
		ct := mime.TypeByExtension(ext)
		if ext == ".svg" {
			ct = "image/svg+xml"
		}
		a := &asset{body: body, contentType: ct, etag: `"` + h + `"`}
		if ext != ".png" {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
			_, _ = zw.Write(body)
			_ = zw.Close()
			if b.Len() < len(body) {
				a.gz = b.Bytes()
			}
		}
		urls[u] = a
		names[e.Name()] = u
	}
	return urls, names
}

// Path returns the fingerprinted URL path of an asset, e.g. /static/app.3f2a1b9c0d.css.
func Path(name string) string {
	if u, ok := byName[name]; ok {
		return u
	}
	return "/static/missing/" + name
}

// Handler serves exactly the fingerprinted asset paths; anything else is 404.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := byURL[r.URL.Path]
		if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("ETag", a.etag)
		h.Add("Vary", "Accept-Encoding")
		body := a.body
		if a.gz != nil && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.Set("Content-Encoding", "gzip")
			body = a.gz
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}
