package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/time/rate"

	"portico/invite"
	"portico/store"
)

// Store is the persistence bulk uses (*store.DB).
type Store interface {
	CreateBulkJob(ctx context.Context, j *store.BulkJob, rows []store.BulkRow) error
	GetBulkJob(ctx context.Context, id string) (*store.BulkJob, error)
	ListBulkJobs(ctx context.Context, tenantID, ownerOID string, limit int) ([]store.BulkJob, error)
	BulkRows(ctx context.Context, jobID string, afterN, limit int, states ...string) ([]store.BulkRow, error)
	BulkRowCounts(ctx context.Context, jobID string) (map[string]int, error)
	SetBulkJobState(ctx context.Context, id string, from []string, to string, at time.Time, note string) error
	SetBulkRiverJob(ctx context.Context, id string, riverID int64) error
	ExcludeBulkRows(ctx context.Context, jobID string, shown, excluded []int, at time.Time) error
	MarkBulkRowSending(ctx context.Context, jobID string, n int, at time.Time) error
	FinishBulkRow(ctx context.Context, r *store.BulkRow, from ...string) error
	NotSendBulkRows(ctx context.Context, jobID, reason string, at time.Time) (int, error)
	DeleteBulkDrafts(ctx context.Context, before time.Time) (int, error)
	AppendAudit(ctx context.Context, e *store.AuditEvent) error
	// InTx runs fn in one transaction: a job's final state, its unsent rows and bulk.finished.
	InTx(ctx context.Context, fn func(q *store.Queries) error) error
}

// Invites is the part of invite.Service bulk uses: the dry run's checks and join links of
// link-mode rows for the results file.
type Invites interface {
	Checker
	JoinURL(ctx context.Context, inv invite.Inviter, id string) (string, *invite.JoinLink, error)
}

// RowSender sends one row through invite's send pipeline (invite.Service.Send), with key, derived
// from the bulk job and the row, as its idempotency key: a second call with the same key returns
// the first call's result and never writes to Graph again.
type RowSender func(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, req invite.Request, key string, meta invite.Meta) (*invite.Result, error)

// Queue queues the durable job that sends a confirmed bulk job (jobs.Runner).
type Queue interface {
	EnqueueBulk(ctx context.Context, jobID string, owner invite.Inviter) (int64, error)
}

// Defaults of Config.
const (
	// DefaultRate is Graph's documented per-app write limit for identity and access: 3,000 writes
	// per 2 min 30 s, 20 per second, per application and tenant (graph-contract.md, Throttling).
	DefaultRate        = 20.0
	DefaultConcurrency = 4
	DefaultSlice       = 3 * time.Minute
	DefaultDraftTTL    = 24 * time.Hour
	// maxRowAttempts is how many times a row is tried when Graph is busy (429, 503, 504, no answer).
	maxRowAttempts = 5
)

// Audit actions written by this package.
const (
	ActionBulkPrepare  = "bulk.prepare"
	ActionBulkConfirm  = "bulk.confirm"
	ActionBulkCancel   = "bulk.cancel"
	ActionBulkDownload = "bulk.download"
	ActionBulkBlocked  = "bulk.blocked"
)

// Reasons given to rows that were not sent.
const (
	ReasonBlocked   = "not sent: invitations blocked by Microsoft"
	ReasonCancelled = "not sent: the bulk invitation was cancelled"
	ReasonNotAllow  = "not sent: the person who asked may no longer invite"
	// BlockedAdvice is what the job page tells the admin when Microsoft's abuse protection stops a job.
	BlockedAdvice = "Microsoft blocked invitations for this directory (abuse protection: \"Invitations are blocked for this directory due to suspicious activity\"). " +
		"Nothing more was sent. Only a Microsoft support case lifts the block: an administrator opens one in the Microsoft Entra admin center (Help + support), " +
		"quoting the request id of the refused invitation. When it is lifted, upload the rows marked \"not sent\" again (download the results to get them)."
)

// Config is what a Service needs.
type Config struct {
	Store   Store
	Invites Invites
	Send    RowSender
	// Tokens is the identity bulk jobs send with (Portico's application identity); nil: sending
	// is off (dry runs still work, with the employee's own token).
	Tokens oauth2.TokenSource
	// Idempotent says Send honours the idempotency key: a row found "sending" after a crash is
	// sent again with the same key. Without it such a row is confirmed by a lookup (invite's
	// preflight refuses an address already invited) and a resend row is failed, never re-sent.
	Idempotent  bool
	Rate        float64       // writes per second; 0: DefaultRate
	Concurrency int           // rows in flight at once; 0: DefaultConcurrency
	Slice       time.Duration // how long one run of the job works before handing over to the next
	MaxRows     int
	MaxBytes    int64
	// MayStillSend decides, at each run of a job, whether its owner may still send it, from the
	// claims they signed in with and the policy of the day (PORTICO_INVITERS and
	// PORTICO_BULK_INVITERS as configured now); false stops the job with its unsent rows "not
	// sent". Nil: not re-checked.
	MayStillSend func(c invite.Claims) bool
	Clock        func() time.Time
	Logger       *slog.Logger
}

// Service is Portico's bulk invitation.
type Service struct {
	cfg     Config
	store   Store
	invites Invites
	queue   Queue
	limiter *rate.Limiter
	now     func() time.Time
	log     *slog.Logger
}

// NewService builds a Service; Store, Invites and Send are required.
func NewService(cfg Config) *Service {
	if cfg.Store == nil || cfg.Invites == nil || cfg.Send == nil {
		panic("bulk: NewService needs Store, Invites and Send")
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Slice <= 0 {
		cfg.Slice = DefaultSlice
	}
	s := &Service{cfg: cfg, store: cfg.Store, invites: cfg.Invites, now: cfg.Clock, log: cfg.Logger,
		// A token bucket at Graph's write rate with a bucket of one second's worth: bulk never
		// spends the budget the employees' own invitations need in a burst.
		limiter: rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate)))}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// SetQueue gives the Service the job queue (built after it, since the queue runs its jobs).
func (s *Service) SetQueue(q Queue) { s.queue = q }

// SendingOn reports whether confirmed jobs can be sent (a background identity is configured).
func (s *Service) SendingOn() bool { return s.cfg.Tokens != nil && s.queue != nil }

// Rate is the pace of sending, in invitations per second.
func (s *Service) Rate() float64 { return s.cfg.Rate }

// Errors of the Service; handlers map them.
var (
	// ErrNotFound: no such job, or the caller may not see it (the two are not told apart).
	ErrNotFound = errors.New("bulk: not found")
	// ErrState: the job is not in a state that allows the action (confirmed twice, cancelled…).
	ErrState = errors.New("bulk: the bulk invitation is not in a state that allows this")
	// ErrSendingOff: no background identity, so nothing can be sent in the background.
	ErrSendingOff = errors.New("bulk: sending is off: Portico has no background identity (PORTICO_BACKGROUND=on with application credentials)")
	// ErrNoRows: the file held no row to invite.
	ErrNoRows = errors.New("bulk: the file holds no rows")
)

// Source describes what was uploaded.
type Source struct {
	Name     string // the file's name, "pasted" or "api"
	Defaults Defaults
	// Claims are the owner's sign-in claims; each run of the job re-checks them against the
	// policy of the day (Config.MayStillSend).
	Claims *invite.Claims
}

// MayUse reports whether an employee may use bulk invitations: they may invite, and they are an
// administrator or hold one of bulkInviters (app roles, directory role template ids, group ids;
// PORTICO_BULK_INVITERS).
func MayUse(inv invite.Inviter, c invite.Claims, bulkInviters []string) bool {
	if !inv.MayInvite().Allowed {
		return false
	}
	if inv.Has(invite.RoleAdministrator) {
		return true
	}
	return slices.ContainsFunc(bulkInviters, func(r string) bool {
		return r != "" && (slices.Contains(c.AppRoles, r) || slices.Contains(c.Wids, r) || slices.Contains(c.Groups, r))
	})
}

// Prepare parses r, runs the dry run with the employee's token ts and keeps the result as a draft
// job, which nothing sends until the owner confirms it. A bad file is a *FileError and nothing
// is kept.
func (s *Service) Prepare(ctx context.Context, ts oauth2.TokenSource, actor invite.Inviter, r io.Reader, src Source, meta invite.Meta) (*store.BulkJob, error) {
	if may := actor.MayInvite(); !may.Allowed {
		return nil, may.Err()
	}
	var rows []Row
	sum, err := Parse(r, Options{MaxRows: s.cfg.MaxRows, MaxBytes: s.cfg.MaxBytes}, func(row Row) error {
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.prepare(ctx, ts, actor, rows, sum.Format, src, meta)
}

// PrepareRows is Prepare for rows read elsewhere (the API's JSON array), in the format format.
func (s *Service) PrepareRows(ctx context.Context, ts oauth2.TokenSource, actor invite.Inviter, rows []Row, format string, src Source, meta invite.Meta) (*store.BulkJob, error) {
	if may := actor.MayInvite(); !may.Allowed {
		return nil, may.Err()
	}
	return s.prepare(ctx, ts, actor, MarkDuplicates(rows), format, src, meta)
}

// MaxRows is the most rows one bulk invitation takes.
func (s *Service) MaxRows() int {
	if s.cfg.MaxRows > 0 {
		return s.cfg.MaxRows
	}
	return DefaultMaxRows
}

func (s *Service) prepare(ctx context.Context, ts oauth2.TokenSource, actor invite.Inviter, rows []Row, format string, src Source, meta invite.Meta) (*store.BulkJob, error) {
	if len(rows) == 0 {
		return nil, &FileError{Problem: "the file has a header row but no rows to invite"}
	}
	sum := Summary{Format: format}
	checked := DryRun(ctx, s.invites, ts, actor, rows, src.Defaults)
	j := &store.BulkJob{
		TenantID: actor.TenantID, OwnerOID: actor.ObjectID, OwnerUPN: actor.UPN, OwnerName: actor.Name,
		OwnerAdmin: actor.Has(invite.RoleAdministrator), OwnerClaims: claimsJSON(src.Claims), State: store.BulkDraft, Source: src.Name, Format: sum.Format,
		SendEmail: src.Defaults.Delivery != DeliveryLink, CreatedAt: s.now().UTC(),
	}
	if err := s.store.CreateBulkJob(ctx, j, checked); err != nil {
		return nil, fmt.Errorf("bulk: keeping the dry run: %w", err)
	}
	// Dry runs nobody confirmed keep partners' addresses no longer than a day.
	if n, err := s.store.DeleteBulkDrafts(ctx, s.now().Add(-DefaultDraftTTL)); err != nil {
		s.log.WarnContext(ctx, "bulk: deleting old drafts failed", "err", err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "bulk: old drafts deleted", "count", n)
	}
	s.audit(ctx, actor, meta, ActionBulkPrepare, j.ID, invite.OutcomeSuccess, strconv.Itoa(len(rows))+" rows, "+sum.Format)
	return j, nil
}

func claimsJSON(c *invite.Claims) string {
	if c == nil {
		return ""
	}
	b, err := json.Marshal(c)
	if err != nil {
		return ""
	}
	return string(b)
}

// Job returns a job the actor may see: their own, or any of their tenant's for an administrator.
func (s *Service) Job(ctx context.Context, actor invite.Inviter, id string) (*store.BulkJob, error) {
	j, err := s.store.GetBulkJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if j.TenantID != actor.TenantID || (j.OwnerOID != actor.ObjectID && !actor.SeesAll()) {
		return nil, ErrNotFound
	}
	return j, nil
}

// Jobs lists the actor's jobs (an administrator's lists the tenant's), newest first.
func (s *Service) Jobs(ctx context.Context, actor invite.Inviter, limit int) ([]store.BulkJob, error) {
	owner := actor.ObjectID
	if actor.SeesAll() {
		owner = ""
	}
	return s.store.ListBulkJobs(ctx, actor.TenantID, owner, limit)
}

// Rows returns up to limit rows of a job the actor may see, after row afterN.
func (s *Service) Rows(ctx context.Context, actor invite.Inviter, id string, afterN, limit int) ([]store.BulkRow, error) {
	if _, err := s.Job(ctx, actor, id); err != nil {
		return nil, err
	}
	return s.store.BulkRows(ctx, id, afterN, limit)
}

// Progress is a job's rows counted per state, with the pace and the time left.
type Progress struct {
	Counts   map[string]int
	Total    int
	Done     int           // rows in a final state
	Rate     float64       // rows finished per second since the job started (0 before)
	TimeLeft time.Duration // at the configured pace, for rows still to send
}

// Progress counts a job's rows.
func (s *Service) Progress(ctx context.Context, j *store.BulkJob) (Progress, error) {
	c, err := s.store.BulkRowCounts(ctx, j.ID)
	if err != nil {
		return Progress{}, err
	}
	p := Progress{Counts: c, Total: j.RowsTotal}
	left := c[store.RowPending] + c[store.RowSending]
	p.Done = p.Total - left
	sent := c[store.RowInvited] + c[store.RowResent] + c[store.RowFailed]
	if j.StartedAt != nil && sent > 0 {
		end := s.now()
		if j.FinishedAt != nil {
			end = *j.FinishedAt
		}
		// A rate over less than two seconds says nothing (the bucket's first second is a burst).
		if el := end.Sub(*j.StartedAt).Seconds(); el >= 2 {
			p.Rate = float64(sent) / el
		}
	}
	if j.State == store.BulkQueued || j.State == store.BulkRunning {
		p.TimeLeft = time.Duration(float64(left) / s.cfg.Rate * float64(time.Second))
	}
	return p, nil
}

// Exclude records the owner's choice on one page of a draft's review: of the rows shown, those
// in excluded are left out and the others are in.
func (s *Service) Exclude(ctx context.Context, actor invite.Inviter, id string, shown, excluded []int) error {
	j, err := s.ownJob(ctx, actor, id)
	if err != nil {
		return err
	}
	if err := s.store.ExcludeBulkRows(ctx, j.ID, shown, excluded, s.now()); err != nil {
		if errors.Is(err, store.ErrBulkState) {
			return ErrState
		}
		return err
	}
	return nil
}

// ownJob is a job the actor owns (only the owner confirms or changes a draft).
func (s *Service) ownJob(ctx context.Context, actor invite.Inviter, id string) (*store.BulkJob, error) {
	j, err := s.Job(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if j.OwnerOID != actor.ObjectID {
		return nil, ErrNotFound
	}
	return j, nil
}

// Confirm queues a draft for sending. Only its owner confirms, once.
func (s *Service) Confirm(ctx context.Context, actor invite.Inviter, id string, meta invite.Meta) error {
	if may := actor.MayInvite(); !may.Allowed {
		return may.Err()
	}
	j, err := s.ownJob(ctx, actor, id)
	if err != nil {
		return err
	}
	if !s.SendingOn() {
		return ErrSendingOff
	}
	if err := s.store.SetBulkJobState(ctx, j.ID, []string{store.BulkDraft}, store.BulkQueued, s.now(), ""); err != nil {
		if errors.Is(err, store.ErrBulkState) {
			return ErrState
		}
		return err
	}
	rid, err := s.queue.EnqueueBulk(ctx, j.ID, actor)
	if err != nil {
		// Nothing was sent: the draft can be confirmed again.
		_ = s.store.SetBulkJobState(context.WithoutCancel(ctx), j.ID, []string{store.BulkQueued}, store.BulkDraft, s.now(), "")
		return fmt.Errorf("bulk: queueing: %w", err)
	}
	_ = s.store.SetBulkRiverJob(ctx, j.ID, rid)
	s.audit(ctx, actor, meta, ActionBulkConfirm, j.ID, invite.OutcomeSuccess, "")
	return nil
}

// Cancel stops a queued or running job (its owner or an administrator): rows not yet sent stay
// "not sent"; a row being sent finishes.
func (s *Service) Cancel(ctx context.Context, actor invite.Inviter, id string, meta invite.Meta) error {
	j, err := s.Job(ctx, actor, id)
	if err != nil {
		return err
	}
	who := actor.Name
	if who == "" {
		who = actor.UPN
	}
	note := "Cancelled by " + who + "."
	// A draft nobody confirmed ends without bulk.finished: nothing was asked to be sent.
	if err := s.end(ctx, j, []string{store.BulkDraft, store.BulkQueued, store.BulkRunning}, store.BulkCancelled, ReasonCancelled, note,
		j.State != store.BulkDraft); err != nil {
		if errors.Is(err, store.ErrBulkState) {
			return ErrState
		}
		return err
	}
	s.audit(ctx, actor, meta, ActionBulkCancel, j.ID, invite.OutcomeSuccess, "")
	return nil
}

// JoinURL is the active join link of a row's invitation, for the results file of its owner or
// an administrator ("" when there is none).
func (s *Service) JoinURL(ctx context.Context, actor invite.Inviter, invitationID string) string {
	if invitationID == "" {
		return ""
	}
	u, _, err := s.invites.JoinURL(ctx, actor, invitationID)
	if err != nil {
		return ""
	}
	return u
}

// AuditDownload records a download of a job's results.
func (s *Service) AuditDownload(ctx context.Context, actor invite.Inviter, j *store.BulkJob, meta invite.Meta, what string) {
	s.audit(ctx, actor, meta, ActionBulkDownload, j.ID, invite.OutcomeSuccess, what)
}

func (s *Service) audit(ctx context.Context, actor invite.Inviter, meta invite.Meta, action, target string, outcome invite.Outcome, note string) {
	ev := &store.AuditEvent{
		Time: s.now().UTC(), ActorTID: actor.TenantID, ActorOID: actor.ObjectID, ActorUPN: actor.UPN,
		Action: action, Target: "bulk:" + target, Outcome: string(outcome), ClientIP: meta.ClientIP, RequestID: meta.RequestID,
	}
	if note != "" {
		ev.Detail = `{"note":` + strconv.Quote(note) + `}`
	}
	if err := s.store.AppendAudit(context.WithoutCancel(ctx), ev); err != nil {
		s.log.WarnContext(ctx, "bulk: audit failed", "action", action, "err", err)
	}
}
