package app

import (
	"context"
	"time"

	"golang.org/x/oauth2"

	"portico/config"
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
	pol := invite.ApprovalPolicy{Manager: cfg.ApproverManager, TTL: cfg.ApprovalTTL, Notify: approvalNotify(cfg)}
	if len(pol.Notify) == 0 && !pol.Manager {
		a.Logger.Warn("approvals: nobody is emailed when a request waits; set PORTICO_APPROVAL_NOTIFY to the approvers' mailbox or list " +
			"(the header's Approvals count still shows waiting requests to approvers who sign in)")
	}
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

// DemoApprovalNotify is who is told of waiting requests in demo mode when PORTICO_APPROVAL_NOTIFY
// is not set: devtenant's administrator (Avery Admin), the demo's approver.
const DemoApprovalNotify = "admin@contoso.example"

// approvalNotify are the addresses told when a request waits: PORTICO_APPROVAL_NOTIFY, or in demo
// mode the demo administrator. Portico does not guess the approvers in a real tenant: the holders
// of a role or group are not in any token it sees, and listing them would need more Graph
// permissions (README, Approvals).
func approvalNotify(cfg *config.Config) []string {
	if len(cfg.ApprovalNotify) > 0 || !cfg.Demo {
		return cfg.ApprovalNotify
	}
	return []string{DemoApprovalNotify}
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
