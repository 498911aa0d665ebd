package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"portico/store"
	"portico/webhooks"
)

// Job kinds of webhooks.
const (
	KindWebhookDispatch = "webhook_dispatch"
	KindWebhookDeliver  = "webhook_deliver"
)

// Webhook defaults.
const (
	DefaultWebhookInterval = 2 * time.Second
	DefaultWebhookAttempts = 15
	dispatchBatch          = 100
	// WebhookRetention is how long ended deliveries stay in the log (/admin/webhooks).
	WebhookRetention = 30 * 24 * time.Hour
)

// WebhookDispatchArgs fans the outbox's new events out: one delivery row and one
// webhook_deliver job per (event, endpoint), then marks the event dispatched.
type WebhookDispatchArgs struct {
	Asker Asker `json:"asker"`
}

// Kind implements river.JobArgs.
func (WebhookDispatchArgs) Kind() string { return KindWebhookDispatch }

// InsertOpts keeps at most one dispatcher queued or running.
func (WebhookDispatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByState: unfinishedStates()}}
}

// WebhookDeliverArgs delivers one event to one endpoint (a webhook_deliveries row).
type WebhookDeliverArgs struct {
	DeliveryID string `json:"delivery_id" river:"unique"`
	Asker      Asker  `json:"asker"`
}

// Kind implements river.JobArgs.
func (WebhookDeliverArgs) Kind() string { return KindWebhookDeliver }

// InsertOpts: one job per delivery, ever (River's default unique states include completed).
func (WebhookDeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type webhookDispatchWorker struct {
	river.WorkerDefaults[WebhookDispatchArgs]
	r *Runner
}

func (w *webhookDispatchWorker) Work(ctx context.Context, job *river.Job[WebhookDispatchArgs]) error {
	if _, err := w.r.DispatchWebhooks(ctx); err != nil {
		return err
	}
	// The outbox only grows when events come, so it is trimmed then: events whose deliveries all
	// ended more than WebhookRetention ago go, with their deliveries.
	if n, err := w.r.cfg.Store.PruneWebhookEvents(ctx, time.Now().Add(-WebhookRetention)); err != nil {
		w.r.log.WarnContext(ctx, "webhook outbox not pruned", "err", err)
	} else if n > 0 {
		w.r.log.InfoContext(ctx, "webhook outbox pruned", "events", n)
	}
	return nil
}

// DispatchWebhooks fans out the events waiting in the outbox and returns how many deliveries it
// queued. Safe to run anywhere, any number of times: deliveries are unique per (event, endpoint)
// and their jobs unique per delivery; an event is marked dispatched only once all of its
// deliveries are queued, so a crash in between is finished by the next run.
func (r *Runner) DispatchWebhooks(ctx context.Context) (int, error) {
	db := r.cfg.Store
	endpoints := r.cfg.Webhooks.Endpoints()
	queued := 0
	for {
		evs, err := db.DueWebhookEvents(ctx, dispatchBatch)
		if err != nil {
			return queued, err
		}
		for _, ev := range evs {
			for _, ep := range endpoints {
				id, err := db.CreateWebhookDelivery(ctx, ev.ID, ep, time.Now())
				if err != nil {
					return queued, err
				}
				res, err := r.client.Insert(ctx, WebhookDeliverArgs{DeliveryID: id, Asker: Asker{Kind: AskerSchedule}},
					&river.InsertOpts{MaxAttempts: r.cfg.WebhookAttempts})
				if err != nil {
					return queued, fmt.Errorf("jobs: queue webhook delivery: %w", err)
				}
				if !res.UniqueSkippedAsDuplicate {
					queued++
				}
			}
			if err := db.MarkWebhookEventDispatched(ctx, ev.ID, time.Now()); err != nil {
				return queued, err
			}
		}
		if len(evs) < dispatchBatch {
			return queued, nil
		}
	}
}

type webhookDeliverWorker struct {
	river.WorkerDefaults[WebhookDeliverArgs]
	r *Runner
}

// NextRetry: 1 s doubling, capped at an hour (webhooks.Backoff).
func (w *webhookDeliverWorker) NextRetry(job *river.Job[WebhookDeliverArgs]) time.Time {
	return time.Now().Add(w.r.cfg.WebhookBackoff(job.Attempt))
}

func (w *webhookDeliverWorker) Timeout(*river.Job[WebhookDeliverArgs]) time.Duration {
	return webhooks.DefaultTimeout + 20*time.Second
}

func (w *webhookDeliverWorker) Work(ctx context.Context, job *river.Job[WebhookDeliverArgs]) error {
	db := w.r.cfg.Store
	d, err := db.GetWebhookDelivery(ctx, job.Args.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(errors.New("the delivery no longer exists"))
	}
	if err != nil {
		return err
	}
	if d.State != store.DeliveryPending {
		return nil // ended already (an earlier run recorded it)
	}
	ev, err := db.GetWebhookEvent(ctx, d.EventID)
	if err != nil {
		return err
	}
	status, perr := w.r.cfg.Webhooks.Post(ctx, d.Endpoint, ev.ID, ev.Type, ev.Payload)
	final := job.Attempt >= job.MaxAttempts || errors.Is(perr, webhooks.ErrUnknownEndpoint)
	state, errText, result := store.DeliveryDelivered, "", "delivered"
	if perr != nil {
		errText = perr.Error()
		state, result = store.DeliveryPending, "retry"
		if final {
			state, result = store.DeliveryFailed, "failed"
		}
	}
	// The record survives a cancelled job context (shutdown) so that what the receiver saw is not lost.
	if _, err := db.RecordWebhookAttempt(context.WithoutCancel(ctx), d.ID, state, status, errText, time.Now()); err != nil {
		return err
	}
	if w.r.cfg.OnWebhook != nil {
		w.r.cfg.OnWebhook(ev.Type, result)
	}
	switch {
	case perr == nil:
		w.r.log.InfoContext(ctx, "webhook delivered", "event", ev.ID, "type", ev.Type, "endpoint", d.Endpoint, "status", status, "attempt", job.Attempt)
		return nil
	case final:
		w.r.log.ErrorContext(ctx, "webhook delivery failed for good", "event", ev.ID, "type", ev.Type, "endpoint", d.Endpoint,
			"attempts", job.Attempt, "err", perr)
		return nil
	default:
		w.r.log.WarnContext(ctx, "webhook delivery failed; will retry", "event", ev.ID, "type", ev.Type, "endpoint", d.Endpoint,
			"attempt", job.Attempt, "err", perr)
		return perr
	}
}

// registerWebhooks adds the dispatcher (periodic, only when events wait) and the delivery worker.
func (r *Runner) registerWebhooks(workers *river.Workers) *river.PeriodicJob {
	river.AddWorker(workers, &webhookDispatchWorker{r: r})
	river.AddWorker(workers, &webhookDeliverWorker{r: r})
	if r.cfg.WebhookInterval < 0 {
		return nil
	}
	db := r.cfg.Store
	return river.NewPeriodicJob(river.PeriodicInterval(r.cfg.WebhookInterval),
		func() (river.JobArgs, *river.InsertOpts) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if due, err := db.HasDueWebhookEvents(ctx); err != nil || !due {
				return nil, nil
			}
			return WebhookDispatchArgs{Asker: Asker{Kind: AskerSchedule}}, nil
		},
		&river.PeriodicJobOpts{RunOnStart: true, ID: KindWebhookDispatch})
}
