// Package graph is Portico's small typed client for the Microsoft Graph v1.0 calls it makes.
package graph

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

const (
	defaultMaxRetries = 4
	defaultMaxWait    = 30 * time.Second
	// defaultTimeout bounds one call, retries and waits included; defaultAttemptTimeout bounds one
	// HTTP exchange within it, so a hung answer to a GET leaves time for a second try. A POST
	// whose attempt times out is never sent again: its outcome is unknown (ErrUncertain).
	// ARCHITECTURE.md ("Time budgets") explains how these fit the submit's bounded wait.
	defaultTimeout        = 30 * time.Second
	defaultAttemptTimeout = 25 * time.Second
	defaultMaxBodyBytes   = 1 << 20
	backoffBase           = 500 * time.Millisecond
	backoffCap            = 8 * time.Second
)

// Client is Portico's typed client for the Microsoft Graph v1.0 calls it makes.
type Client struct {
	base       string
	hc         *http.Client
	maxRetries int
	maxWait    time.Duration
	timeout    time.Duration
	attemptTO  time.Duration
	maxBody    int64
	sleep      func(ctx context.Context, d time.Duration) error
	log        *slog.Logger
	now        func() time.Time
	obs        Observer
}

// Observer hears every attempt of every Graph call and every wait before a retry (metrics). Its
// methods must be quick and safe for concurrent use.
type Observer interface {
	// GraphCall: one attempt. endpoint is the method and a path template such as
	// "POST /invitations", "GET /users/{id}" or "POST /$batch"; status is Graph's HTTP status (0:
	// no answer); attempt counts from 1 (above 1: a retry).
	GraphCall(endpoint string, status, attempt int, d time.Duration)
	// GraphWait: the client waits d before retrying endpoint; throttled says the wait is Graph's
	// Retry-After (429/503), not the client's own backoff.
	GraphWait(endpoint string, d time.Duration, throttled bool)
}

// WithObserver reports each attempt and wait to o.
func WithObserver(o Observer) Option { return func(c *Client) { c.obs = o } }

// Endpoint is the label of a call: the method and its path below /v1.0 with ids replaced by
// "{id}" (a segment that is not letters and "$" only), so labels stay few whatever the ids.
func Endpoint(method, path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range segs {
		if s == "" {
			continue
		}
		plain := true
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '$') {
				plain = false
				break
			}
		}
		if !plain || len(s) > 40 {
			segs[i] = "{id}"
		}
	}
	return method + " /" + strings.Join(segs, "/")
}

// Option configures a Client.
type Option func(*Client)

// WithMaxRetries sets how many times a 429, 503 or 504 answer is retried (default 4; negative
// means 0). A write (POST) is retried only after a 429: Graph did not act on it.
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = max(n, 0) } }

// WithMaxWait bounds the total time one call spends waiting between retries (default 30s).
func WithMaxWait(d time.Duration) Option { return func(c *Client) { c.maxWait = max(d, 0) } }

// WithSleep replaces how the client waits between retries; tests use it to avoid real waits.
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) {
		if f != nil {
			c.sleep = f
		}
	}
}

// WithLogger logs each request at debug level: method, path, status, request ids, attempt, duration.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// WithMaxResponseBytes bounds the size of an answer's body (default 1 MiB).
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) {
		if n > 0 {
			c.maxBody = n
		}
	}
}

// WithTimeout bounds each call, its retries and waits included (default 30s).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithAttemptTimeout bounds each HTTP exchange of a call (default 25s; never more than the call's
// WithTimeout). A GET that times out is tried again within the call's budget; a POST is not.
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.attemptTO = d
		}
	}
}

// NewClient returns a client for baseURL without /v1.0 (e.g. https://graph.microsoft.com); a nil hc
// gets an http.Client with a 30-second timeout.
func NewClient(baseURL string, hc *http.Client, opts ...Option) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	c := &Client{
		base:       strings.TrimRight(baseURL, "/") + "/v1.0",
		hc:         hc,
		maxRetries: defaultMaxRetries,
		maxWait:    defaultMaxWait,
		timeout:    defaultTimeout,
		attemptTO:  defaultAttemptTimeout,
		maxBody:    defaultMaxBodyBytes,
		sleep:      sleepContext,
		log:        slog.New(slog.DiscardHandler),
		now:        time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type priorityKey struct{}

// WithPriority returns a ctx whose Graph requests carry x-ms-throttle-priority p ("high" or "low").
func WithPriority(ctx context.Context, p string) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityOf is the x-ms-throttle-priority ctx asks for ("" when none).
func PriorityOf(ctx context.Context) string { return priorityOf(ctx) }

func priorityOf(ctx context.Context) string {
	p, _ := ctx.Value(priorityKey{}).(string)
	switch p = strings.ToLower(strings.TrimSpace(p)); p {
	case "high", "low":
		return p
	}
	return ""
}

// request is one logical Graph call; body is kept as bytes so a retry re-sends exactly the same.
type request struct {
	method string
	path   string // below /v1.0, without query
	query  string // already encoded
	header http.Header
	body   []byte
	want   int
	// idempotent marks a POST that may safely be sent again (a $batch of GETs).
	idempotent bool
	maxBody    int64 // answer size limit; 0 means the client's
}

// result is what one attempt produced.
type result struct {
	requestID  string
	err        error
	retry      bool          // a retry is allowed
	retryAfter time.Duration // Graph's Retry-After, when hasWait
	hasWait    bool
}

// do runs req with retries and decodes the successful answer into out; it returns Graph's request-id.
func (c *Client) do(ctx context.Context, ts oauth2.TokenSource, req request, out any) (string, error) {
	if ts == nil {
		return "", errors.New("graph: no token source")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		r := c.attempt(ctx, ts, req, out, attempt)
		if r.err == nil || !r.retry || attempt > c.maxRetries {
			return r.requestID, r.err
		}
		wait := r.retryAfter
		if !r.hasWait {
			wait = backoff(attempt)
		}
		// A wait that cannot fit in the budget would only delay the same failure: return it now.
		if waited+wait > c.maxWait {
			return r.requestID, r.err
		}
		if dl, ok := ctx.Deadline(); ok && dl.Sub(c.now()) < wait {
			return r.requestID, r.err
		}
		c.log.DebugContext(ctx, "graph retry", "method", req.method, "path", "/v1.0"+req.path, "attempt", attempt, "wait", wait)
		if c.obs != nil {
			c.obs.GraphWait(Endpoint(req.method, req.path), wait, r.hasWait)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return r.requestID, fmt.Errorf("graph: %s %s: stopped waiting to retry: %w (last answer: %w)", req.method, "/v1.0"+req.path, err, r.err)
		}
		waited += wait
	}
}

// backoff is exponential with "equal jitter": attempt n waits between half and all of
// base·2^(n-1), capped, so waits grow yet clients do not retry in lockstep.
func backoff(attempt int) time.Duration {
	d := backoffCap
	if attempt <= 5 {
		d = min(backoffBase<<(attempt-1), backoffCap)
	}
	return d/2 + mrand.N(d/2+1) // jitter needs no cryptographic randomness
}

func (c *Client) attempt(ctx context.Context, ts oauth2.TokenSource, req request, out any, attempt int) result {
	path := "/v1.0" + req.path
	// The call's ctx stays the reference for "may we try again"; the exchange has its own deadline.
	actx, cancel := context.WithTimeout(ctx, c.attemptTO)
	defer cancel()
	tok, err := ts.Token()
	if err != nil {
		return result{err: fmt.Errorf("graph: access token: %w", err)}
	}
	if tok == nil || tok.AccessToken == "" {
		return result{err: errors.New("graph: access token: token source returned no access token")}
	}

	// connected becomes true once a connection is in hand: from then on the request may have been
	// written, so a failure of a non-idempotent request leaves its outcome unknown.
	var connected atomic.Bool
	tctx := httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	})
	u := c.base + req.path
	if req.query != "" {
		u += "?" + req.query
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(tctx, req.method, u, body)
	if err != nil {
		return result{err: fmt.Errorf("graph: %s %s: %w", req.method, path, redactURL(err))}
	}
	for k, v := range req.header {
		hr.Header[k] = v
	}
	hr.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	hr.Header.Set("Accept", "application/json")
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	crid := newUUID()
	hr.Header.Set("client-request-id", crid)
	hr.Header.Set("return-client-request-id", "true")
	if p := priorityOf(ctx); p != "" {
		hr.Header.Set("x-ms-throttle-priority", p)
	}
	idempotent := req.method == http.MethodGet || req.idempotent
	maxBody := c.maxBody
	if req.maxBody > 0 {
		maxBody = req.maxBody
	}

	start := time.Now()
	resp, err := c.hc.Do(hr)
	if c.obs != nil {
		status := 0
		if err == nil {
			status = resp.StatusCode
		}
		c.obs.GraphCall(Endpoint(req.method, req.path), status, attempt, time.Since(start))
	}
	if err != nil {
		err = redactURL(err)
		c.log.DebugContext(ctx, "graph request failed", "method", req.method, "path", path,
			"client_request_id", crid, "attempt", attempt, "duration", time.Since(start), "err", err)
		switch {
		case !idempotent && connected.Load():
			return result{err: fmt.Errorf("%w: %s %s: %w", ErrUncertain, req.method, path, err)}
		case idempotent && ctx.Err() == nil:
			return result{err: fmt.Errorf("graph: %s %s: %w", req.method, path, err), retry: true}
		default:
			return result{err: fmt.Errorf("graph: %s %s: %w", req.method, path, err)}
		}
	}
	defer resp.Body.Close()
	rid := resp.Header.Get("request-id")
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	tooLarge := int64(len(data)) > maxBody
	c.log.DebugContext(ctx, "graph request", "method", req.method, "path", path, "status", resp.StatusCode,
		"request_id", rid, "client_request_id", crid, "attempt", attempt, "duration", time.Since(start))

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if readErr != nil || tooLarge {
			data = nil // the status is known; the body is only an explanation
		}
		wait, hasWait := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		ge := decodeError(resp.StatusCode, resp.Header, data, crid, wait)
		if !idempotent && uncertainStatus(resp.StatusCode) {
			// A 500-class answer to a write says nothing about whether Graph acted on it (a 503 can
			// come after the invitation was created): never send it again; the caller confirms by
			// lookup. Only a 429 means Graph did not act, so only a 429 is retried for a write.
			return result{requestID: rid, err: fmt.Errorf("%w: %w", ErrUncertain, ge)}
		}
		return result{requestID: rid, err: ge, retry: retryableStatus(resp.StatusCode), retryAfter: wait, hasWait: hasWait}
	}

	// From here Graph accepted the request: for a POST, any failure to read the answer means it
	// probably acted and the caller must find out what it did, not send again.
	fail := func(err error) result {
		if !idempotent {
			return result{requestID: rid, err: fmt.Errorf("%w: %s %s: %w", ErrUncertain, req.method, path, err)}
		}
		return result{requestID: rid, err: fmt.Errorf("graph: %s %s: %w", req.method, path, err)}
	}
	switch {
	case readErr != nil:
		return fail(fmt.Errorf("reading the answer: %w", readErr))
	case tooLarge:
		return fail(ErrResponseTooLarge)
	case resp.StatusCode != req.want:
		return fail(fmt.Errorf("unexpected status %d, want %d", resp.StatusCode, req.want))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fail(fmt.Errorf("decoding the answer: %w", err))
		}
	}
	return result{requestID: rid}
}

// redactURL drops the query from a *url.Error: filters carry people's addresses.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if i := strings.IndexByte(ue.URL, '?'); i >= 0 {
			ue.URL = ue.URL[:i]
		}
	}
	return err
}

// newUUID returns a random (version 4) UUID for client-request-id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
