package invite

// TEMPORARY stand-ins until package graph lands; replaced by graph.WithPriority, graph.ErrUncertain,
// graph.IsThrottled and *graph.Error.

import (
	"context"
	"errors"
	"time"
)

type graphAPIError struct {
	Status                                    int
	Code, Message, RequestID, ClientRequestID string
	RetryAfter                                time.Duration
}

func (e *graphAPIError) Error() string { return "graph: " + e.Code + ": " + e.Message }

var errGraphUncertain = errors.New("graph: request may or may not have reached Graph")

func highPriority(ctx context.Context) context.Context { return ctx }

func isUncertain(err error) bool { return errors.Is(err, errGraphUncertain) }

func isThrottled(err error) bool {
	ge := graphErrorOf(err)
	return ge != nil && (ge.Status == 429 || ge.Status == 503 || ge.Status == 504)
}

func graphErrorOf(err error) *graphAPIError {
	var ge *graphAPIError
	if errors.As(err, &ge) {
		return ge
	}
	return nil
}
