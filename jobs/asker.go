package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Who may ask for a job (security checklist item 40).
const (
	AskerSchedule = "schedule" // Portico itself, on a schedule
	AskerPartner  = "partner"  // a partner's visit (the welcome page), anonymous
	AskerEmployee = "employee" // a signed-in employee (bulk sends, reminders...)
)

// Asker is who asked for a job. Every job's arguments carry it (JSON field "asker"), so logs and
// the admin page name them, and a job an employee asked for is re-checked against the policy
// for that employee each time it runs.
type Asker struct {
	Kind     string `json:"kind"`
	TenantID string `json:"tid,omitempty"`
	ObjectID string `json:"oid,omitempty"`
	UPN      string `json:"upn,omitempty"`
}

// Recheck decides, when a job an employee asked for is about to run, whether that employee may
// still have it done (still an inviter, within quota...). A non-nil error stops the job for good.
type Recheck func(ctx context.Context, asker Asker, kind string) error

// ErrNoLongerAllowed is what a Recheck returns for an employee who lost the right to ask.
var ErrNoLongerAllowed = errors.New("not run: the person who asked is no longer allowed")

// envelope is the part of every job's arguments the guard reads.
type envelope struct {
	Asker    *Asker     `json:"asker"`
	NotAfter *time.Time `json:"not_after"`
}

// guard runs before every job: it refuses a job without an asker, a job past its not_after
// (cancelled: it does nothing more), and a job an employee asked for whom the policy no longer
// allows; it logs who asked.
type guard struct {
	river.MiddlewareDefaults
	log     *slog.Logger
	recheck Recheck
	now     func() time.Time
}

func (g *guard) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	var env envelope
	if err := json.Unmarshal(job.EncodedArgs, &env); err != nil {
		return river.JobCancel(fmt.Errorf("arguments unreadable: %w", err))
	}
	if env.Asker == nil || env.Asker.Kind == "" {
		return river.JobCancel(errors.New("not run: the job does not say who asked for it"))
	}
	if env.NotAfter != nil && g.now().After(*env.NotAfter) {
		return river.JobCancel(fmt.Errorf("not run: expired at %s", env.NotAfter.UTC().Format(time.RFC3339)))
	}
	switch env.Asker.Kind {
	case AskerSchedule, AskerPartner:
	case AskerEmployee:
		if g.recheck == nil {
			return river.JobCancel(errors.New("not run: no policy to re-check the employee who asked"))
		}
		if err := g.recheck(ctx, *env.Asker, job.Kind); err != nil {
			g.log.WarnContext(ctx, "job refused: asker no longer allowed", "job", job.ID, "kind", job.Kind, "asker", env.Asker.UPN, "err", err)
			return river.JobCancel(err)
		}
	default:
		return river.JobCancel(fmt.Errorf("not run: unknown asker %q", env.Asker.Kind))
	}
	g.log.DebugContext(ctx, "job asker", "job", job.ID, "kind", job.Kind, "asker_kind", env.Asker.Kind, "asker", env.Asker.UPN)
	return doInner(ctx)
}
