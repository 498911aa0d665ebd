package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const testToken = "SECRET-ACCESS-TOKEN-0123"

var testTS = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken})

// seen is what the fake Graph recorded about one request.
type seen struct {
	method, path, escapedPath, rawQuery string
	header                              http.Header
	body                                []byte
}

// fakeGraph is an httptest server that records every request and answers with a script.
type fakeGraph struct {
	srv   *httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	reqs  []seen
}

func (f *fakeGraph) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// newFake starts a fake Graph; answer gets the 1-based call number.
func newFake(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *fakeGraph {
	t.Helper()
	f := &fakeGraph{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), body})
		f.mu.Unlock()
		answer(int(f.calls.Add(1)), w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// sleeper records the waits a client asked for instead of waiting.
type sleeper struct {
	mu  sync.Mutex
	got []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, d)
	return ctx.Err()
}

func (s *sleeper) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.got...)
}

// client returns a Client for f that records its waits.
func (f *fakeGraph) client(opts ...Option) (*Client, *sleeper) {
	s := &sleeper{}
	return NewClient(f.srv.URL, f.srv.Client(), append([]Option{WithSleep(s.sleep)}, opts...)...), s
}

// writeEnvelope answers with Graph's error envelope.
func writeEnvelope(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "rid-"+code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]string{"date": "2026-11-23T10:00:00", "request-id": "rid-" + code, "client-request-id": "crid-" + code},
	}})
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "rid-ok")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// hangUp closes the connection without an answer.
func hangUp(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	_ = conn.Close()
}

// countingTS counts Token calls.
type countingTS struct {
	n   atomic.Int32
	tok *oauth2.Token
	err error
}

func (c *countingTS) Token() (*oauth2.Token, error) {
	c.n.Add(1)
	return c.tok, c.err
}
