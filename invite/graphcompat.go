package invite

import (
	"context"
	"errors"
	"net/http"
	"strings"

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

// invitationsBlocked recognises Graph's abuse-protection answer to an invitation: 403 with
// "Invitations are blocked for this directory due to suspicious activity. Please contact Microsoft
// support for help." Its error code varies (Authorization_RequestDenied, Forbidden), so the
// message is what tells it apart from an inviter who may not invite.
func invitationsBlocked(api *graph.Error) bool {
	if api == nil || api.Status != http.StatusForbidden {
		return false
	}
	m := strings.ToLower(api.Message)
	return strings.Contains(m, "invitations are blocked") || strings.Contains(m, "blocked") && strings.Contains(m, "suspicious activity")
}
