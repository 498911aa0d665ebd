package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Delivery limits.
const (
	// DefaultTimeout bounds one attempt: connecting, sending and reading the answer.
	DefaultTimeout = 10 * time.Second
	// maxAnswer is how much of a receiver's answer is read (for the delivery log); the rest is dropped.
	maxAnswer = 4 << 10
	// UserAgent names Portico's calls.
	UserAgent = "Portico-Webhooks/1"
)

// Endpoint is one receiver and its signing secret.
type Endpoint struct {
	URL    string
	Secret []byte
}

// Sender posts signed bodies to endpoints: no redirects followed (a 3xx is a failed attempt), a
// timeout per attempt, the answer's body capped.
type Sender struct {
	hc        *http.Client
	endpoints map[string]Endpoint
	now       func() time.Time
}

// NewSender returns a Sender for the configured endpoints; hc nil: a client with DefaultTimeout.
func NewSender(endpoints []Endpoint, hc *http.Client) *Sender {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	m := map[string]Endpoint{}
	for _, e := range endpoints {
		m[e.URL] = e
	}
	return &Sender{hc: &c, endpoints: m, now: time.Now}
}

// Endpoints lists the configured receivers' URLs.
func (s *Sender) Endpoints() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.endpoints))
	for u := range s.endpoints {
		out = append(out, u)
	}
	return out
}

// ErrUnknownEndpoint is returned for a delivery to an endpoint no longer configured.
var ErrUnknownEndpoint = errors.New("webhooks: the endpoint is no longer configured")

// Post sends one attempt of body (an event's payload) to the endpoint with url, signed now. It
// returns the answer's status (0: no answer) and nil for a 2xx answer, else what went wrong.
func (s *Sender) Post(ctx context.Context, url, eventID, eventType string, body []byte) (int, error) {
	if s == nil {
		return 0, ErrUnknownEndpoint
	}
	ep, ok := s.endpoints[url]
	if !ok {
		return 0, ErrUnknownEndpoint
	}
	ctx, cancel := context.WithTimeout(ctx, s.hc.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("webhooks: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(EventIDHeader, eventID)
	req.Header.Set(EventTypeHeader, eventType)
	req.Header.Set(SignatureHeader, Sign(ep.Secret, body, s.now()))
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("no answer: %w", stripURL(err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp.StatusCode, nil
	}
	msg := fmt.Sprintf("answered %d", resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		msg += " (redirects are not followed)"
	} else if len(answer) > 0 {
		msg += ": " + string(bytes.TrimSpace(answer[:min(len(answer), 200)]))
	}
	return resp.StatusCode, errors.New(msg)
}

// stripURL keeps the error of a failed request without the URL (which the log page shows anyway).
func stripURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// Backoff is the wait before attempt n+1 after attempt n failed: 1 s doubling, capped at an hour.
// With the default 15 attempts a receiver may be down for about four hours before a delivery fails.
func Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 12 {
		return time.Hour
	}
	return min(time.Second<<(attempt-1), time.Hour)
}
