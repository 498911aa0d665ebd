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
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ErrUncertain marks a POST whose outcome is unknown: it may have reached Graph.
var ErrUncertain = errors.New("graph: outcome unknown; the request may have reached Graph")

// Error is an error answer from Graph, decoded from its error envelope.
type Error struct {
	Status          int
	Code            string
	Message         string
	RequestID       string
	ClientRequestID string
	RetryAfter      time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("graph: %d %s: %s (request-id %s)", e.Status, e.Code, e.Message, e.RequestID)
}

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// IsThrottled reports a 429, 503 or 504 answer.
func IsThrottled(err error) bool {
	e := asError(err)
	return e != nil && (e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable || e.Status == http.StatusGatewayTimeout)
}

// IsNotFound reports a 404 answer.
func IsNotFound(err error) bool {
	e := asError(err)
	return e != nil && e.Status == http.StatusNotFound
}

// IsForbidden reports a 403 answer.
func IsForbidden(err error) bool {
	e := asError(err)
	return e != nil && e.Status == http.StatusForbidden
}

// IsUnauthorized reports a 401 answer.
func IsUnauthorized(err error) bool {
	e := asError(err)
	return e != nil && e.Status == http.StatusUnauthorized
}

// Client is Portico's typed client for the Microsoft Graph v1.0 calls it makes.
type Client struct {
	base       string
	hc         *http.Client
	maxRetries int
	maxWait    time.Duration
	timeout    time.Duration
	maxBody    int64
	sleep      func(ctx context.Context, d time.Duration) error
	log        *slog.Logger
}

// Option configures a Client.
type Option func(*Client)

// WithMaxRetries bounds how often a throttled or unavailable request is retried.
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = n } }

// WithMaxWait bounds the total time spent waiting between retries.
func WithMaxWait(d time.Duration) Option { return func(c *Client) { c.maxWait = d } }

// WithSleep replaces the wait between retries (tests).
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = f }
}

// WithLogger logs each call at debug level (never bodies or tokens).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithMaxResponseBytes bounds the size of a response body.
func WithMaxResponseBytes(n int64) Option { return func(c *Client) { c.maxBody = n } }

// WithTimeout bounds each call, retries included.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// NewClient returns a client for baseURL (without /v1.0), e.g. https://graph.microsoft.com.
func NewClient(baseURL string, hc *http.Client, opts ...Option) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{base: strings.TrimRight(baseURL, "/") + "/v1.0", hc: hc, maxRetries: 4, maxWait: 30 * time.Second,
		timeout: 30 * time.Second, maxBody: 1 << 20, sleep: sleepCtx, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(c)
	}
	return c
}

func sleepCtx(ctx context.Context, d time.Duration) error {
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

// WithPriority marks requests made with ctx as user-initiated ("high") or background ("low").
func WithPriority(ctx context.Context, p string) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// ODataString quotes s as an OData string literal: a single quote inside is doubled.
func ODataString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// AddressFilter is the directory lookup for an address: the seed's query without signInNames,
// which Microsoft Graph's user does not have.
func AddressFilter(email string) string {
	v := strings.ReplaceAll(email, "'", "''")
	return "userPrincipalName eq '" + v + "' or mail eq '" + v + "' or proxyAddresses/any(x:x eq 'SMTP:" + v +
		"') or otherMails/any(x:x eq '" + v + "')"
}

// IdentityFilter finds a user by a local sign-in name; both parts are required by Graph.
func IdentityFilter(issuerAssignedID, issuer string) string {
	return "identities/any(c:c/issuerAssignedId eq " + ODataString(issuerAssignedID) + " and c/issuer eq " + ODataString(issuer) + ")"
}

// query encodes parameters with %20 for spaces: Graph reads '+' in a query as a space.
func query(params [][2]string) string {
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p[0]))
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
	}
	return b.String()
}

const userSelect = "id,displayName,mail,userPrincipalName,userType,externalUserState,externalUserStateChangeDateTime,creationType,otherMails"

// CreateInvitation invites a user: POST /invitations.
func (c *Client) CreateInvitation(ctx context.Context, ts oauth2.TokenSource, in *Invitation) (*Invitation, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("graph: encode invitation: %w", err)
	}
	var out Invitation
	rid, err := c.do(ctx, ts, http.MethodPost, "/invitations", "", nil, body, http.StatusCreated, &out)
	if err != nil {
		return nil, err
	}
	out.RequestID = rid
	return &out, nil
}

// FindUsersByAddress looks an address up as userPrincipalName, mail, proxy address or other mail.
func (c *Client) FindUsersByAddress(ctx context.Context, ts oauth2.TokenSource, email string) ([]User, error) {
	q := query([][2]string{{"$filter", AddressFilter(email)}, {"$count", "true"}, {"$select", userSelect}})
	var out struct {
		Value []User `json:"value"`
	}
	// Lambda filters joined by or are advanced queries: Graph requires eventual consistency for them.
	_, err := c.do(ctx, ts, http.MethodGet, "/users", q, http.Header{"ConsistencyLevel": {"eventual"}}, nil, http.StatusOK, &out)
	return out.Value, err
}

// FindUsersByIdentity looks a local sign-in name up in the identities collection.
func (c *Client) FindUsersByIdentity(ctx context.Context, ts oauth2.TokenSource, issuerAssignedID, issuer string) ([]User, error) {
	q := query([][2]string{{"$filter", IdentityFilter(issuerAssignedID, issuer)}, {"$select", userSelect}})
	var out struct {
		Value []User `json:"value"`
	}
	_, err := c.do(ctx, ts, http.MethodGet, "/users", q, nil, nil, http.StatusOK, &out)
	return out.Value, err
}

// GetUser reads one user's invitation-related properties.
func (c *Client) GetUser(ctx context.Context, ts oauth2.TokenSource, id string) (*User, error) {
	var out User
	_, err := c.do(ctx, ts, http.MethodGet, "/users/"+url.PathEscape(id), query([][2]string{{"$select", userSelect}}), nil, nil, http.StatusOK, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Organization reads the signed-in user's organization with its verified domains.
func (c *Client) Organization(ctx context.Context, ts oauth2.TokenSource) (*Organization, error) {
	var out struct {
		Value []Organization `json:"value"`
	}
	if _, err := c.do(ctx, ts, http.MethodGet, "/organization", query([][2]string{{"$select", "id,displayName,verifiedDomains"}}), nil, nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	if len(out.Value) == 0 {
		return nil, errors.New("graph: no organization returned")
	}
	return &out.Value[0], nil
}

// do sends one request with retries on 429/503/504 and decodes the answer into out.
func (c *Client) do(ctx context.Context, ts oauth2.TokenSource, method, path, rawQuery string, hdr http.Header, body []byte, want int, out any) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	waited := time.Duration(0)
	for attempt := 0; ; attempt++ {
		rid, err := c.once(ctx, ts, method, path, rawQuery, hdr, body, want, out, attempt)
		if err == nil {
			return rid, nil
		}
		ge := asError(err)
		retryable := IsThrottled(err) || (ge == nil && method == http.MethodGet && !errors.Is(err, errNoRetry) && ctx.Err() == nil)
		if !retryable || attempt >= c.maxRetries {
			return rid, err
		}
		wait := backoff(attempt)
		if ge != nil && ge.RetryAfter > 0 {
			wait = ge.RetryAfter
		}
		if waited+wait > c.maxWait {
			return rid, err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return rid, err
		}
		if err := c.sleep(ctx, wait); err != nil {
			return rid, fmt.Errorf("graph: %s %s: %w", method, path, err)
		}
		waited += wait
	}
}

var errNoRetry = errors.New("graph: not retryable")

func backoff(attempt int) time.Duration {
	d := time.Duration(float64(500*time.Millisecond) * math.Pow(2, float64(attempt)))
	d = min(d, 8*time.Second)
	return d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
}

func (c *Client) once(ctx context.Context, ts oauth2.TokenSource, method, path, rawQuery string, hdr http.Header, body []byte, want int, out any, attempt int) (string, error) {
	tok, err := ts.Token()
	if err != nil {
		return "", fmt.Errorf("graph: token: %w", errors.Join(err, errNoRetry))
	}
	u := c.base + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return "", fmt.Errorf("graph: %w", errors.Join(err, errNoRetry))
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	crid := uuid()
	req.Header.Set("client-request-id", crid)
	req.Header.Set("return-client-request-id", "true")
	if p, ok := ctx.Value(priorityKey{}).(string); ok && p != "" {
		req.Header.Set("x-ms-throttle-priority", p)
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.log.DebugContext(ctx, "graph call failed", "method", method, "path", path, "attempt", attempt, "err", err)
		if method != http.MethodGet {
			// The request may have arrived and been acted on: never resend it blindly.
			return "", fmt.Errorf("%w: %s %s: %w", ErrUncertain, method, path, err)
		}
		return "", fmt.Errorf("graph: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	rid := resp.Header.Get("request-id")
	c.log.DebugContext(ctx, "graph call", "method", method, "path", path, "status", resp.StatusCode, "request_id", rid, "attempt", attempt, "duration", time.Since(start))
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		if method != http.MethodGet && resp.StatusCode == want {
			return rid, fmt.Errorf("%w: %s %s: reading the answer: %w", ErrUncertain, method, path, err)
		}
		return rid, fmt.Errorf("graph: %s %s: read: %w", method, path, err)
	}
	if int64(len(data)) > c.maxBody {
		return rid, fmt.Errorf("graph: %s %s: response too large: %w", method, path, errNoRetry)
	}
	if resp.StatusCode != want {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return rid, fmt.Errorf("graph: %s %s: unexpected status %d: %w", method, path, resp.StatusCode, errNoRetry)
		}
		return rid, decodeError(resp, data, crid)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return rid, fmt.Errorf("graph: %s %s: decode: %w", method, path, errors.Join(err, errNoRetry))
		}
	}
	return rid, nil
}

func decodeError(resp *http.Response, data []byte, crid string) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("request-id"), ClientRequestID: crid, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	var env struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				RequestID       string `json:"request-id"`
				ClientRequestID string `json:"client-request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		if e.RequestID == "" {
			e.RequestID = env.Error.InnerError.RequestID
		}
		if env.Error.InnerError.ClientRequestID != "" {
			e.ClientRequestID = env.Error.InnerError.ClientRequestID
		}
	} else {
		e.Code, e.Message = http.StatusText(resp.StatusCode), "Graph answered with status "+strconv.Itoa(resp.StatusCode)
	}
	return e
}

// retryAfter reads delta-seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
