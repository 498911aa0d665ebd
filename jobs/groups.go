package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"portico/invite"
)

// Job kinds of group assignments.
const (
	KindGroupAssign = "group_assign"
	KindGroupSweep  = "group_sweep"
)

// DefaultGroupSweep is how often the sweep looks for group assignments that are due: delegated
// adds that failed transiently, and those a restart interrupted between the invitation and the add
// (application mode's own retries are the group_assign job's).
const DefaultGroupSweep = 2 * time.Minute

// GroupAssignArgs adds one invitation's guest to the groups chosen with it. The invitation was
// allowed and audited when it was sent; this is its follow-up, so Portico itself is the asker
// (the inviter is named in each group's audit event).
type GroupAssignArgs struct {
	InvitationID string `json:"invitation_id" river:"unique"`
	Asker        Asker  `json:"asker"`
}

// Kind implements river.JobArgs.
func (GroupAssignArgs) Kind() string { return KindGroupAssign }

// InsertOpts: one job per invitation while it is queued or running.
func (GroupAssignArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: unfinishedStates()}}
}

// GroupSweepArgs is the periodic sweep of due group assignments.
type GroupSweepArgs struct {
	Asker Asker `json:"asker"`
}

// Kind implements river.JobArgs.
func (GroupSweepArgs) Kind() string { return KindGroupSweep }

// InsertOpts keeps at most one sweep queued or running at a time.
func (GroupSweepArgs) InsertOpts() river.InsertOpts { return StateSyncArgs{}.InsertOpts() }

type groupAssignWorker struct {
	river.WorkerDefaults[GroupAssignArgs]
	r *Runner
}

// Work makes one attempt at each of the invitation's pending groups; a transient failure stays
// pending with its own next attempt time, which the sweep honours.
func (w *groupAssignWorker) Work(ctx context.Context, job *river.Job[GroupAssignArgs]) error {
	if w.r.cfg.Tokens == nil {
		return river.JobSnooze(noIdentitySnooze)
	}
	_, err := w.r.cfg.Invites.AssignGroups(ctx, w.r.cfg.Tokens, job.Args.InvitationID, "application")
	var re *invite.GroupRetryError
	if errors.As(err, &re) {
		return river.JobSnooze(max(time.Until(re.At), time.Second))
	}
	return err
}

type groupSweepWorker struct {
	river.WorkerDefaults[GroupSweepArgs]
	r *Runner
}

func (w *groupSweepWorker) Work(ctx context.Context, _ *river.Job[GroupSweepArgs]) error {
	if w.r.cfg.Tokens == nil {
		return river.JobSnooze(noIdentitySnooze)
	}
	if ids, err := w.r.cfg.Invites.PendingGroupInvitations(ctx, 1); err != nil || len(ids) == 0 {
		return err
	}
	for range 20 { // at most 1,000 assignments per sweep
		n, err := w.r.cfg.Invites.AssignGroups(ctx, w.r.cfg.Tokens, "", "application")
		if err != nil || n == 0 {
			return err
		}
	}
	return nil
}

// QueueGroups queues the group assignments of a recorded invitation.
func (r *Runner) QueueGroups(ctx context.Context, invitationID string) error {
	_, err := r.Insert(ctx, GroupAssignArgs{InvitationID: invitationID, Asker: Asker{Kind: AskerSchedule}}, nil)
	return err
}
