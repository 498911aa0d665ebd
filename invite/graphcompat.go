package invite

import (
	"context"
	"errors"

	"portico/graph"
)

// highPriority marks a user's own request as high priority, unless the caller chose a priority
// already (bulk sending runs at low priority).
func highPriority(ctx context.Context) context.Context {
	if graph.PriorityOf(ctx) != "" {
		return ctx
	}
	return graph.WithPriority(ctx, "high")
}

// isUncertain reports a POST that may or may not have reached Graph.
func isUncertain(err error) bool { return errors.Is(err, graph.ErrUncertain) }

func graphErrorOf(err error) *graph.Error {
	var ge *graph.Error
	if errors.As(err, &ge) {
		return ge
	}
	return nil
}
