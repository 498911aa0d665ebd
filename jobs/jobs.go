// Package jobs runs Portico's durable background work on its own database with River
// (riverqueue/river): PostgreSQL through riverpgxv5 (a pgx pool opened from the same URL) and SQLite
// through riversqlite (a one-connection pool on the same file). Jobs survive restarts and the loss
// of the instance running them, retry with backoff, can be cancelled, and drain on shutdown; with
// PostgreSQL any instance picks them up and River's row locks (FOR UPDATE SKIP LOCKED) keep one
// job on one instance at a time.
package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"golang.org/x/oauth2"

	"portico/invite"
	"portico/notify"
	"portico/store"
	"portico/webhooks"
)

// Defaults applied by New when Config leaves them zero.
const (
	DefaultWorkers      = 4
	DefaultJobTimeout   = 5 * time.Minute
	DefaultSyncInterval = 2 * time.Minute
	DefaultSyncPause    = 250 * time.Millisecond
	DefaultSyncMax      = 2000
	DefaultMaxAttempts  = 10
)

// migrateLockKey serialises River's migrations across instances on PostgreSQL ("porticoj").
const migrateLockKey int64 = 0x706f727469636f6a

// Config is what a Runner needs.
type Config struct {
	Store   *store.DB
	Invites *invite.Service
	Logger  *slog.Logger
	// Tokens is Portico's own identity for background Graph calls (application credentials).
	// Nil: the features that need Graph are off and say so (Features, the start-up log).
	Tokens oauth2.TokenSource

	ID           string        // this instance's name in River's tables ("" : River chooses)
	Workers      int           // jobs worked at once by this instance
	JobTimeout   time.Duration // a job running longer is cancelled and retried
	RescueAfter  time.Duration // a job still "running" this long after its start (its instance died) runs again; > JobTimeout
	SyncInterval time.Duration // how often the state sync runs; negative: never on its own (SyncNow only)
	SyncPause    time.Duration // wait between two $batch requests of the state sync
	SyncMax      int           // invitations one state sync reads at most
	GroupSweep   time.Duration // how often due group assignments are swept; negative: never on its own
	PollInterval time.Duration // how often an instance looks for new jobs besides notifications (0: River's 1s)
	// ReconcileInterval is how often the send-intent reconciler runs (0: DefaultReconcileInterval;
	// negative: never on its own).
	ReconcileInterval time.Duration

	// Recheck re-checks, before each run, the policy for the employee who asked for a job
	// (security checklist item 40); jobs an employee asked for do not run without it.
	Recheck Recheck
	// Approvals, when set, is swept every ApprovalSweep (default 5 minutes): expired requests end,
	// interrupted approvals are settled.
	Approvals     ApprovalSweeper
	ApprovalSweep time.Duration
	// Reviews, when set, is swept every ReviewSweep (default an hour): sponsor reviews.
	Reviews     ReviewSweeper
	ReviewSweep time.Duration
	// Notices delivers email notices (nil: notices are off on this instance, and their jobs wait
	// for an instance that has a transport).
	Notices *notify.Deliverer
	// NoticePoll is how often queued notices without a job are dispatched (0: DefaultNoticePoll;
	// negative: only by DispatchNotices).
	NoticePoll time.Duration
	// NoticeRetry, when set, is the wait before a notice's next attempt (River's backoff otherwise).
	NoticeRetry func(attempt int) time.Duration
	// Lifecycle, when set, runs every LifecycleEvery (0: DefaultLifecycleEvery; negative: only by
	// RunLifecycleNow): reminders and expiry of guests who never accepted.
	Lifecycle      LifecycleRunner
	LifecycleEvery time.Duration

	// Bulk sends confirmed bulk invitations (bulk.Service); nil: bulk jobs wait for an instance
	// that has it.
	Bulk BulkSender
	// Register adds further job kinds (their workers), registered once with the built-in ones.
	// Every job's arguments must carry an "asker" (see Asker).
	Register func(w *river.Workers)

	// Webhooks sends the outbox's events (nil: no endpoints; events are then marked dispatched
	// without deliveries). WebhookAttempts (0: DefaultWebhookAttempts) bounds the tries of one
	// delivery; WebhookInterval is how often the outbox is looked at (0: DefaultWebhookInterval;
	// negative: never on its own); WebhookBackoff is the wait after a failed attempt (nil:
	// webhooks.Backoff). OnWebhook hears each attempt's result (delivered, retry, failed).
	Webhooks        *webhooks.Sender
	WebhookAttempts int
	WebhookInterval time.Duration
	WebhookBackoff  func(attempt int) time.Duration
	OnWebhook       func(eventType, result string)
}

// Feature is one background feature and whether it runs.
type Feature struct {
	Name   string
	On     bool
	Reason string // why it is off
}

// Runner is the job queue of one Portico instance.
type Runner struct {
	cfg      Config
	log      *slog.Logger
	client   queue
	pgPool   *pgxpool.Pool
	sqlPool  *sql.DB // SQLite: River's own one-connection pool (nil for ":memory:", which shares the store's)
	features []Feature
	started  bool
}

// queue is the part of River's generic client the Runner uses, the same for both drivers.
type queue interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func())
}

// New opens River's connection to the store's database, applies River's migrations and builds
// the client with every worker and periodic job. Call Start to work jobs and Stop to drain.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Store == nil || cfg.Invites == nil {
		return nil, errors.New("jobs: a store and the invite service are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Workers = cmpOr(cfg.Workers, DefaultWorkers)
	cfg.JobTimeout = cmpOr(cfg.JobTimeout, DefaultJobTimeout)
	cfg.RescueAfter = max(cmpOr(cfg.RescueAfter, cfg.JobTimeout+time.Minute), cfg.JobTimeout+time.Second)
	cfg.SyncInterval = cmpOr(cfg.SyncInterval, DefaultSyncInterval)
	cfg.SyncPause = cmpOr(cfg.SyncPause, DefaultSyncPause)
	cfg.SyncMax = cmpOr(cfg.SyncMax, DefaultSyncMax)
	cfg.ReconcileInterval = cmpOr(cfg.ReconcileInterval, DefaultReconcileInterval)
	cfg.GroupSweep = cmpOr(cfg.GroupSweep, DefaultGroupSweep)
	cfg.NoticePoll = cmpOr(cfg.NoticePoll, DefaultNoticePoll)
	cfg.WebhookAttempts = cmpOr(cfg.WebhookAttempts, DefaultWebhookAttempts)
	cfg.WebhookInterval = cmpOr(cfg.WebhookInterval, DefaultWebhookInterval)
	if cfg.WebhookBackoff == nil {
		cfg.WebhookBackoff = webhooks.Backoff
	}
	r := &Runner{cfg: cfg, log: cfg.Logger.With("component", "jobs")}

	workers := river.NewWorkers()
	var periodic []*river.PeriodicJob
	river.AddWorker(workers, &groupAssignWorker{r: r})
	river.AddWorker(workers, &groupSweepWorker{r: r})
	// The sweep runs where guests are added to groups (PORTICO_GUEST_GROUPS), with the identity.
	if cfg.Tokens != nil && cfg.GroupSweep > 0 && len(cfg.Invites.GuestGroupIDs()) > 0 {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cfg.GroupSweep),
			func() (river.JobArgs, *river.InsertOpts) {
				return GroupSweepArgs{Asker: Asker{Kind: AskerSchedule}}, nil
			},
			&river.PeriodicJobOpts{RunOnStart: true, ID: KindGroupSweep}))
	}
	if cfg.Tokens != nil {
		river.AddWorker(workers, &stateSyncWorker{r: r})
		river.AddWorker(workers, &stateRefreshWorker{r: r})
		if cfg.SyncInterval > 0 {
			periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cfg.SyncInterval),
				func() (river.JobArgs, *river.InsertOpts) {
					return StateSyncArgs{Asker: Asker{Kind: AskerSchedule}}, nil
				},
				&river.PeriodicJobOpts{RunOnStart: true, ID: KindStateSync}))
		}
		r.features = append(r.features, Feature{Name: "Partner states kept current in the background", On: true})
	} else {
		// Registered so jobs already queued are not lost: this instance puts them back for later
		// (another instance may have the identity).
		river.AddWorker(workers, &stateSyncWorker{r: r})
		river.AddWorker(workers, &stateRefreshWorker{r: r})
		r.features = append(r.features, Feature{Name: "Partner states kept current in the background",
			Reason: "off: no background identity (application credentials with PORTICO_BACKGROUND=on); lists refresh states while they render"})
	}
	// The reconciler settles send intents left open; registered on every instance (one without
	// an identity puts its runs back for one that has it).
	river.AddWorker(workers, &reconcileWorker{r: r})
	if cfg.Tokens != nil {
		if cfg.ReconcileInterval > 0 {
			periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cfg.ReconcileInterval),
				func() (river.JobArgs, *river.InsertOpts) {
					// A run only when there is work, so the job list is not filled with empty runs
					// every 15 s (one indexed read, bounded: the constructor must not block).
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					defer cancel()
					if !cfg.Invites.ReconcileDue(ctx) {
						return nil, nil
					}
					return IntentReconcileArgs{Asker: Asker{Kind: AskerSchedule}}, nil
				},
				&river.PeriodicJobOpts{RunOnStart: true, ID: KindIntentReconcile}))
		}
		cfg.Invites.SetIntentKicker(r.ReconcileSoon)
		r.features = append(r.features, Feature{Name: "Invitations whose outcome was lost are settled by lookup", On: true})
	} else {
		r.features = append(r.features, Feature{Name: "Invitations whose outcome was lost are settled by lookup",
			Reason: "off: no background identity (application credentials with PORTICO_BACKGROUND=on); such invitations stay \"Sending…\" until their inviter opens them"})
	}
	periodic = r.addApprovals(workers, periodic)
	periodic = r.addReviews(workers, periodic)
	periodic = append(periodic, r.registerNotices(workers)...)
	river.AddWorker(workers, &bulkSendWorker{r: r})
	if cfg.Bulk != nil && cfg.Tokens != nil {
		r.features = append(r.features, Feature{Name: "Bulk invitations sent in the background", On: true})
	} else {
		r.features = append(r.features, Feature{Name: "Bulk invitations sent in the background",
			Reason: "off: no background identity (application credentials with PORTICO_BACKGROUND=on); dry runs still work"})
	}
	if p := r.registerWebhooks(workers); p != nil {
		periodic = append(periodic, p)
	}
	periodic = r.addLifecycle(workers, periodic)
	if cfg.Register != nil {
		cfg.Register(workers)
	}
	rc := &river.Config{
		ID:                   cfg.ID,
		Logger:               riverLogger(r.log.With("component", "river")),
		Workers:              workers,
		PeriodicJobs:         periodic,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		MaxAttempts:          DefaultMaxAttempts,
		FetchPollInterval:    cfg.PollInterval,
		Middleware:           []rivertype.Middleware{&logWork{log: r.log}, &guard{log: r.log, recheck: cfg.Recheck, now: time.Now}},
		ErrorHandler:         &errorLog{log: r.log},
	}
	if cfg.PollInterval > 0 {
		rc.FetchCooldown = min(cfg.PollInterval, 100*time.Millisecond)
	}
	var err error
	if cfg.Store.Dialect() == store.DialectPostgres {
		err = r.openPostgres(ctx, rc)
	} else {
		err = r.openSQLite(ctx, rc)
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Runner) openPostgres(ctx context.Context, rc *river.Config) error {
	pcfg, err := pgxpool.ParseConfig(r.cfg.Store.DSN())
	if err != nil {
		return fmt.Errorf("jobs: database URL: %w", err)
	}
	pcfg.MaxConns = int32(min(max(4, r.cfg.Workers+2), 64)) //nolint:gosec // clamped to 4..64
	if r.pgPool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return fmt.Errorf("jobs: connect to postgres: %w", err)
	}
	drv := riverpgxv5.New(r.pgPool)
	if err := migratePostgres(ctx, r.pgPool, r.log); err != nil {
		return err
	}
	c, err := river.NewClient(drv, rc)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	r.client = c
	return nil
}

func (r *Runner) openSQLite(ctx context.Context, rc *river.Config) error {
	pool := r.cfg.Store.SQL()
	if !r.cfg.Store.InMemory() {
		// River runs its statements one at a time on SQLite: its own single-connection pool on the
		// same file, with the store's settings, so it neither waits on nor blocks the store's pool
		// beyond SQLite's one writer (busy_timeout absorbs the overlap).
		var err error
		if r.sqlPool, err = store.OpenSQLitePool(ctx, r.cfg.Store.DSN(), 1); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		pool = r.sqlPool
	}
	drv := riversqlite.New(pool)
	if err := migrateSQLite(ctx, pool, r.log); err != nil {
		return err
	}
	// SQLite has no LISTEN/NOTIFY: poll.
	rc.PollOnly = true
	c, err := river.NewClient(drv, rc)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	r.client = c
	return nil
}

// Migrate applies River's migrations to the store's database and returns (portico migrate).
func Migrate(ctx context.Context, db *store.DB, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "jobs")
	if db.Dialect() == store.DialectPostgres {
		pool, err := pgxpool.New(ctx, db.DSN())
		if err != nil {
			return fmt.Errorf("jobs: connect to postgres: %w", err)
		}
		defer pool.Close()
		return migratePostgres(ctx, pool, log)
	}
	if db.InMemory() {
		return migrateSQLite(ctx, db.SQL(), log)
	}
	pool, err := store.OpenSQLitePool(ctx, db.DSN(), 1)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	defer pool.Close()
	return migrateSQLite(ctx, pool, log)
}

// migratePostgres applies River's migrations, one instance at a time, as the store does its own:
// a session lock on one connection while the migrator works on others (some of River's
// migrations cannot share one transaction: 006 adds an enum value and uses it).
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("jobs: migrations: %w", err)
	}
	lock, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("jobs: connect to postgres: %w", err)
	}
	defer lock.Release()
	if _, err := lock.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return fmt.Errorf("jobs: lock for migrations: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	logMigrations(ctx, log, res)
	if _, uerr := lock.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey); uerr != nil {
		_ = lock.Conn().Close(ctx) // closing the session releases its lock
	}
	if err != nil {
		return fmt.Errorf("jobs: applying River's migrations: %w", err)
	}
	return nil
}

// migrateSQLite applies River's migrations; SQLite's one writer serialises concurrent starts.
func migrateSQLite(ctx context.Context, pool *sql.DB, log *slog.Logger) error {
	m, err := rivermigrate.New(riversqlite.New(pool), &rivermigrate.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("jobs: migrations: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	logMigrations(ctx, log, res)
	if err != nil {
		return fmt.Errorf("jobs: applying River's migrations: %w", err)
	}
	return nil
}

func logMigrations(ctx context.Context, log *slog.Logger, res *rivermigrate.MigrateResult) {
	if res == nil {
		return
	}
	for _, v := range res.Versions {
		log.InfoContext(ctx, "job queue migration applied", "version", v.Version, "name", v.Name)
	}
}

// Features lists the background features and whether they run (for the admin page and the log).
func (r *Runner) Features() []Feature { return r.features }

// Start works jobs until Stop. ctx's end does not stop it (that would cancel running jobs
// abruptly): call Stop to drain. It logs which features are off and why.
func (r *Runner) Start(ctx context.Context) error {
	for _, f := range r.features {
		if f.On {
			r.log.InfoContext(ctx, "background feature on", "feature", f.Name)
		} else {
			r.log.WarnContext(ctx, "background feature off", "feature", f.Name, "reason", f.Reason)
		}
	}
	if err := r.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	r.started = true
	if r.cfg.Tokens != nil {
		go r.reconcileAfterStart(ctx)
	}
	return nil
}

// Stop drains: no new job starts, running jobs finish; when ctx ends first, running jobs are
// cancelled (they are retried later, by this or another instance).
func (r *Runner) Stop(ctx context.Context) error {
	if r == nil || !r.started {
		return nil
	}
	r.started = false
	err := r.client.Stop(ctx)
	if err == nil {
		r.log.InfoContext(ctx, "job queue drained")
		return nil
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("jobs: stop: %w", err)
	}
	r.log.WarnContext(ctx, "job queue did not drain in time; cancelling running jobs")
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.client.StopAndCancel(cctx); err != nil {
		return fmt.Errorf("jobs: stop and cancel: %w", err)
	}
	return nil
}

// Close releases River's connections (after Stop).
func (r *Runner) Close() {
	if r == nil {
		return
	}
	if r.pgPool != nil {
		r.pgPool.Close()
		r.pgPool = nil
	}
	if r.sqlPool != nil {
		_ = r.sqlPool.Close()
		r.sqlPool = nil
	}
}

// Cancel cancels a job: one not yet running never runs, a running one has its context cancelled.
func (r *Runner) Cancel(ctx context.Context, id int64) error {
	row, err := r.client.JobCancel(ctx, id)
	if err != nil {
		return fmt.Errorf("jobs: cancel %d: %w", id, err)
	}
	return r.noticeJobCancelled(ctx, row)
}

// Insert queues a job of a kind given to Config.Register (or a built-in one).
func (r *Runner) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	res, err := r.client.Insert(ctx, args, opts)
	if err != nil {
		return 0, fmt.Errorf("jobs: queue %s: %w", args.Kind(), err)
	}
	return res.Job.ID, nil
}

// Get reads one job.
func (r *Runner) Get(ctx context.Context, id int64) (*Job, error) {
	row, err := r.client.JobGet(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("jobs: get %d: %w", id, err)
	}
	j := jobOf(row)
	return &j, nil
}

// ErrNotFound is returned for a job id the queue does not know.
var ErrNotFound = rivertype.ErrNotFound

// Job is one job as the admin page shows it.
type Job struct {
	ID          int64
	Kind        string
	State       string
	Attempt     int
	MaxAttempts int
	LastError   string
	CreatedAt   time.Time
	ScheduledAt time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
	AttemptedBy []string // the instances (River client ids) that ran it
	Cancellable bool     // not yet finished: Cancel still has something to stop
	BulkJobID   string   // KindBulkSend: the bulk invitation it sends
}

// cancellable reports whether a job can still be cancelled: River's final states cannot.
func cancellable(row *rivertype.JobRow) bool {
	switch row.State {
	case rivertype.JobStateCancelled, rivertype.JobStateCompleted, rivertype.JobStateDiscarded:
		return false
	}
	return row.FinalizedAt == nil
}

func jobOf(row *rivertype.JobRow) Job {
	j := Job{ID: row.ID, Kind: row.Kind, State: string(row.State), Attempt: row.Attempt, MaxAttempts: row.MaxAttempts,
		CreatedAt: row.CreatedAt, ScheduledAt: row.ScheduledAt, StartedAt: row.AttemptedAt, FinishedAt: row.FinalizedAt,
		AttemptedBy: row.AttemptedBy, Cancellable: cancellable(row)}
	if n := len(row.Errors); n > 0 {
		j.LastError = row.Errors[n-1].Error
	}
	if row.Kind == KindBulkSend {
		var a BulkSendArgs
		if json.Unmarshal(row.EncodedArgs, &a) == nil {
			j.BulkJobID = a.BulkJobID
		}
	}
	return j
}

// List returns up to limit jobs, newest first, with ids below before (0: from the newest): a
// keyset page. next is the before of the following page, 0 when there is none.
func (r *Runner) List(ctx context.Context, before int64, limit int) (jobs []Job, next int64, err error) {
	limit = min(max(limit, 1), 200)
	p := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit + 1)
	if before > 0 {
		p = p.Where("id < @before", river.NamedArgs{"before": before})
	}
	res, err := r.client.JobList(ctx, p)
	if err != nil {
		return nil, 0, fmt.Errorf("jobs: list: %w", err)
	}
	for i, row := range res.Jobs {
		if i == limit {
			next = jobs[limit-1].ID
			break
		}
		jobs = append(jobs, jobOf(row))
	}
	return jobs, next, nil
}

// Subscribe reports jobs as they finish (completed, failed, cancelled, snoozed), for tests and tools.
func (r *Runner) Subscribe() (<-chan *river.Event, func()) {
	return r.client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed)
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// riverLogger passes on River's warnings and errors only: at Info it reports every periodic
// constructor that had nothing to do (the reconciler's and the webhook dispatcher's checks run
// every few seconds), which would drown an operator's log.
func riverLogger(l *slog.Logger) *slog.Logger {
	return slog.New(minLevel{Handler: l.Handler(), min: slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}

// unfinishedStates are the job states a unique insert checks for a one-at-a-time job: every state
// but the finished ones (River requires running in the set). A fresh slice per call.
func unfinishedStates() []rivertype.JobState {
	return []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}
}
