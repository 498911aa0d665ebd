package auth

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// assertionTransport authenticates the relying party's token requests (code exchange, refresh)
// with a client assertion instead of a secret: x/oauth2's Config has no hook for per-request
// client authentication parameters, so they are added to the form on the way out.
type assertionTransport struct {
	base      http.RoundTripper
	assertion func() (string, error)
}

func (t *assertionTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if r.Method != http.MethodPost || r.Body == nil || !strings.HasSuffix(r.URL.Path, "/token") ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return base.RoundTrip(r)
	}
	b, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(b))
	if err != nil || form.Get("client_secret") != "" || form.Get("client_assertion") != "" {
		return base.RoundTrip(withBody(r, b))
	}
	a, err := t.assertion()
	if err != nil {
		return nil, err
	}
	form.Set("client_assertion_type", assertionType)
	form.Set("client_assertion", a)
	return base.RoundTrip(withBody(r, []byte(form.Encode())))
}

func withBody(r *http.Request, b []byte) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	r2.ContentLength = int64(len(b))
	r2.Header.Set("Content-Length", strconv.Itoa(len(b)))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return r2
}
