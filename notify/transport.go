package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Transport hands one message to a mail system. Send calls begin exactly once, just before the
// point after which the message may have been handed over (the SMTP DATA, Graph's POST); an error
// from begin stops the send with nothing handed over. Send's error says what happened (see
// Outcome): by default a failure after begin counts as uncertain.
type Transport interface {
	Name() string // "smtp" or "graph", recorded with each notice
	Send(ctx context.Context, m Message, begin func() error) error
}

// Errors a Transport wraps to say what became of a message it could not send.
var (
	// ErrNotSent: the message was certainly not accepted, and a later attempt may succeed (the
	// server is down, a 4xx answer, throttling).
	ErrNotSent = errors.New("notify: not sent; will try again")
	// ErrRefused: the message was certainly not accepted, and trying again cannot help (the
	// recipient or the sender refused, a permission missing).
	ErrRefused = errors.New("notify: refused")
	// ErrUncertain: the message may have been accepted; it is never sent again.
	ErrUncertain = errors.New("notify: outcome unknown; not sent again so nobody gets it twice")
)

// RetryAfterError is ErrNotSent with the wait the mail system asked for (Graph's Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("notify: not sent; the mail system asks to wait %s: %v", e.After, e.Err)
}

// Unwrap makes errors.Is(err, ErrNotSent) true and exposes the cause.
func (e *RetryAfterError) Unwrap() []error { return []error{ErrNotSent, e.Err} }
