package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrUncertain is wrapped when a non-idempotent request may or may not have been acted on by Graph.
var ErrUncertain = errors.New("graph: outcome unknown; the request may have reached Graph")

// ErrResponseTooLarge is wrapped when an answer exceeds the client's response size limit.
var ErrResponseTooLarge = errors.New("graph: response too large")

// Error is an error answer from Graph, decoded from its error envelope.
type Error struct {
	Status          int
	Code            string
	Message         string
	RequestID       string
	ClientRequestID string
	RetryAfter      time.Duration
}

// Error describes the answer with its status, code, message and request id.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph: ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// uncertainStatus reports an answer to a write after which Graph may have acted: every 500-class
// status but 501 Not Implemented and 505 HTTP Version Not Supported, which refuse the request itself.
func uncertainStatus(s int) bool {
	return s >= 500 && s <= 599 && s != http.StatusNotImplemented && s != http.StatusHTTPVersionNotSupported
}

func retryableStatus(s int) bool {
	return s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout
}

// envelope is Graph's error body.
type envelope struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
			Date            string `json:"date"`
		} `json:"innerError"`
	} `json:"error"`
}

// decodeError builds an *Error from a non-2xx answer; a body that is not Graph's envelope (a proxy's
// HTML page, a truncated body) still gives the status and a generic message.
func decodeError(status int, h http.Header, body []byte, clientRequestID string, retryAfter time.Duration) *Error {
	e := &Error{
		Status:          status,
		RequestID:       h.Get("request-id"),
		ClientRequestID: clientRequestID,
		RetryAfter:      retryAfter,
	}
	var env envelope
	if json.Unmarshal(body, &env) == nil && (env.Error.Code != "" || env.Error.Message != "") {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		if e.RequestID == "" {
			e.RequestID = env.Error.InnerError.RequestID
		}
		if env.Error.InnerError.ClientRequestID != "" {
			e.ClientRequestID = env.Error.InnerError.ClientRequestID
		}
		return e
	}
	e.Message = fmt.Sprintf("unexpected answer (%d %s)", status, http.StatusText(status))
	return e
}

// parseRetryAfter reads Retry-After as delta-seconds or an HTTP date; ok is false when the header
// is absent or unreadable.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		// Anything beyond a day is as good as "never" for Portico; the cap avoids overflow.
		return time.Duration(min(n, 86400)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
