package invite

import (
	"context"
	"errors"

	"portico/graph"
)

// highPriority marks the Graph calls of a user waiting for the answer.
func highPriority(ctx context.Context) context.Context { return graph.WithPriority(ctx, "high") }

// isUncertain reports a POST that may or may not have reached Graph.
func isUncertain(err error) bool { return errors.Is(err, graph.ErrUncertain) }

func graphErrorOf(err error) *graph.Error {
	var ge *graph.Error
	if errors.As(err, &ge) {
		return ge
	}
	return nil
}
