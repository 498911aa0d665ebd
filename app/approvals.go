package app

import (
	"context"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/handlers"
	"portico/invite"
	"portico/jobs"
)

// buildApprovals makes the approval requests service when PORTICO_APPROVAL names any (nil: off).
func (a *App) buildApprovals() *invite.Approvals {
	cfg := a.Config
	if len(cfg.Approval) == 0 {
		return nil
	}
	pol := invite.ApprovalPolicy{Manager: cfg.ApproverManager, TTL: cfg.ApprovalTTL, Notify: cfg.ApprovalNotify}
	for _, k := range cfg.Approval {
		pol.For = append(pol.For, invite.ApprovalKind(k))
	}
	var managers invite.Managers
	if cfg.ApproverManager {
		if mg, ok := any(a.Graph).(managerGraph); ok {
			managers = graphManagers{g: mg}
		} else {
			a.Logger.Warn("PORTICO_APPROVERS=manager: this build's Graph client cannot read managers; the approvers decide every request")
		}
	}
	return invite.NewApprovals(invite.ApprovalsConfig{
		Service:  a.Invites,
		Store:    invite.NewApprovalStore(a.Store),
		Policy:   pol,
		Managers: managers,
	})
}

// managerGraph is Graph's GET /users/{id}/manager (nil when the user has none).
type managerGraph interface {
	Manager(ctx context.Context, ts oauth2.TokenSource, userID string) (*graph.User, error)
}

// graphManagers adapts the Graph client to invite.Managers.
type graphManagers struct{ g managerGraph }

func (m graphManagers) Manager(ctx context.Context, ts oauth2.TokenSource, userID string) (*invite.Person, error) {
	u, err := m.g.Manager(ctx, ts, userID)
	if err != nil || u == nil {
		return nil, err
	}
	return &invite.Person{ObjectID: u.ID, UPN: u.UserPrincipalName, Name: u.DisplayName, Email: u.Mail}, nil
}

// handlerApprovals is the handlers' view of approvals (a nil interface when off).
func (a *App) handlerApprovals() handlers.Approvals {
	if a.Approvals == nil {
		return nil
	}
	return a.Approvals
}

// approvalSweeper is the job queue's view of approvals (a nil interface when off).
func (a *App) approvalSweeper() jobs.ApprovalSweeper {
	if a.Approvals == nil {
		return nil
	}
	return a.Approvals
}

// approvalSweep is how often expiry runs: every 5 minutes, more often for short lifetimes (a
// tenth of it, at least every second), so a request never outlives its expiry by much.
func approvalSweep(ttl time.Duration) time.Duration {
	return min(jobs.DefaultApprovalSweep, max(ttl/10, time.Second))
}
