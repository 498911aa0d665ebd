package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Bulk job states.
const (
	BulkDraft     = "draft"     // dry run done; waiting for the owner to confirm
	BulkQueued    = "queued"    // confirmed; the sender has not started
	BulkRunning   = "running"   // the sender is at work
	BulkDone      = "done"      // every row is in a final state
	BulkCancelled = "cancelled" // stopped by its owner or an admin; unsent rows are not_sent
	BulkBlocked   = "blocked"   // stopped by Microsoft's abuse protection; unsent rows are not_sent
)

// Bulk row states.
const (
	RowPending  = "pending"  // will be sent
	RowExcluded = "excluded" // left out by the owner before confirming
	RowSending  = "sending"  // handed to Graph; its outcome is being recorded
	RowInvited  = "invited"
	RowResent   = "resent"
	RowSkipped  = "skipped"  // the dry run or the checks at sending refused it (reason says why)
	RowFailed   = "failed"   // Graph refused or failed it (reason says why)
	RowNotSent  = "not_sent" // never sent: cancelled, blocked, no longer allowed (reason says why)
)

// Bulk row verdicts of the dry run.
const (
	VerdictInvite = "invite"
	VerdictResend = "resend"
	VerdictSkip   = "skip"
)

// BulkJob is one bulk invitation: an uploaded file or pasted list, its dry run and its sending.
type BulkJob struct {
	ID          string
	TenantID    string
	OwnerOID    string
	OwnerUPN    string
	OwnerName   string
	OwnerAdmin  bool   // the owner was an administrator when they confirmed (Member rows need one)
	OwnerClaims string // the owner's sign-in claims (JSON) when they prepared it, re-checked against the policy at each run
	State       string
	Source      string // the file's name, "pasted" or "api"
	Format      string // bulk's format name
	SendEmail   bool   // the default chosen on the page: email (true) or link
	RowsTotal   int
	RiverJobID  int64
	Note        string // why the job stopped, for people (abuse protection's advice, …)
	CreatedAt   time.Time
	ConfirmedAt *time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
}

// BulkRow is one row of a bulk job: the invitation it asks for, the dry run's verdict and what
// became of it.
type BulkRow struct {
	JobID        string
	N            int
	Line         int
	Email        string
	DisplayName  string
	Message      string
	CCAddress    string
	RedirectURL  string
	Language     string
	UserType     string
	SendEmail    bool
	Verdict      string
	State        string
	Reason       string
	InvitationID string
	ErrorCode    string
	Attempts     int
	SendingAt    *time.Time
	UpdatedAt    time.Time
}

// Final reports whether a row state is final.
func BulkRowFinal(state string) bool {
	switch state {
	case RowPending, RowSending:
		return false
	}
	return true
}

const bulkJobColumns = `id, tenant_id, owner_oid, owner_upn, owner_name, owner_admin, owner_claims, state, source, format, send_email, rows_total,
river_job_id, note, created_at, confirmed_at, started_at, finished_at`

const bulkRowColumns = `job_id, n, line, email, display_name, message, cc_address, redirect_url, language, user_type,
send_email, verdict, state, reason, invitation_id, error_code, attempts, sending_at, updated_at`

func scanBulkJob(s scanner) (*BulkJob, error) {
	var j BulkJob
	err := s.Scan(&j.ID, &j.TenantID, &j.OwnerOID, &j.OwnerUPN, &j.OwnerName, &j.OwnerAdmin, &j.OwnerClaims, &j.State, &j.Source, &j.Format, &j.SendEmail,
		&j.RowsTotal, &j.RiverJobID, &j.Note, timeCol{&j.CreatedAt}, nullTimeCol{&j.ConfirmedAt}, nullTimeCol{&j.StartedAt},
		nullTimeCol{&j.FinishedAt})
	if err != nil {
		return nil, err
	}
	return &j, nil
}

func scanBulkRow(s scanner) (*BulkRow, error) {
	var r BulkRow
	err := s.Scan(&r.JobID, &r.N, &r.Line, &r.Email, &r.DisplayName, &r.Message, &r.CCAddress, &r.RedirectURL, &r.Language,
		&r.UserType, &r.SendEmail, &r.Verdict, &r.State, &r.Reason, &r.InvitationID, &r.ErrorCode, &r.Attempts,
		nullTimeCol{&r.SendingAt}, timeCol{&r.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// bulkInsertChunk is how many rows one INSERT carries (19 columns: well under SQLite's and
// PostgreSQL's limits on parameters).
const bulkInsertChunk = 100

// CreateBulkJob writes a job and all its rows (a draft, after the dry run) in one transaction
// when q is a DB, or in the caller's. It gives the job a NewID when ID is empty.
func (db *DB) CreateBulkJob(ctx context.Context, j *BulkJob, rows []BulkRow) error {
	return db.InTx(ctx, func(q *Queries) error { return q.CreateBulkJob(ctx, j, rows) })
}

// CreateBulkJob writes a job and its rows; call it inside a transaction (DB.CreateBulkJob does).
func (q *Queries) CreateBulkJob(ctx context.Context, j *BulkJob, rows []BulkRow) error {
	if err := checkText([2]string{"id", j.ID}, [2]string{"tenant id", j.TenantID}, [2]string{"owner", j.OwnerOID},
		[2]string{"owner UPN", j.OwnerUPN}, [2]string{"owner name", j.OwnerName}, [2]string{"owner claims", j.OwnerClaims}, [2]string{"state", j.State},
		[2]string{"source", j.Source}, [2]string{"format", j.Format}, [2]string{"note", j.Note}); err != nil {
		return fmt.Errorf("store: create bulk job: %w", err)
	}
	if j.ID == "" {
		j.ID = NewID()
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = time.Now()
	}
	j.CreatedAt = utc(j.CreatedAt)
	j.RowsTotal = len(rows)
	if _, err := q.exec(ctx, `INSERT INTO bulk_jobs (`+bulkJobColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, j.TenantID, j.OwnerOID, j.OwnerUPN, j.OwnerName, j.OwnerAdmin, j.OwnerClaims, j.State, j.Source, j.Format, j.SendEmail, j.RowsTotal,
		j.RiverJobID, j.Note, q.ts(j.CreatedAt), q.nullTS(j.ConfirmedAt), q.nullTS(j.StartedAt), q.nullTS(j.FinishedAt)); err != nil {
		return fmt.Errorf("store: create bulk job: %w", err)
	}
	const placeholders = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	for start := 0; start < len(rows); start += bulkInsertChunk {
		chunk := rows[start:min(start+bulkInsertChunk, len(rows))]
		vals := make([]string, 0, len(chunk))
		args := make([]any, 0, len(chunk)*19)
		for i := range chunk {
			r := &chunk[i]
			r.JobID = j.ID
			if r.UpdatedAt.IsZero() {
				r.UpdatedAt = j.CreatedAt
			}
			r.UpdatedAt = utc(r.UpdatedAt)
			if err := checkText([2]string{"email", r.Email}, [2]string{"display name", r.DisplayName}, [2]string{"message", r.Message},
				[2]string{"cc address", r.CCAddress}, [2]string{"redirect URL", r.RedirectURL}, [2]string{"language", r.Language},
				[2]string{"user type", r.UserType}, [2]string{"verdict", r.Verdict}, [2]string{"state", r.State},
				[2]string{"reason", r.Reason}, [2]string{"invitation id", r.InvitationID}, [2]string{"error code", r.ErrorCode}); err != nil {
				return fmt.Errorf("store: create bulk job: row %d: %w", r.N, err)
			}
			vals = append(vals, placeholders)
			args = append(args, r.JobID, r.N, r.Line, r.Email, r.DisplayName, r.Message, r.CCAddress, r.RedirectURL, r.Language,
				r.UserType, r.SendEmail, r.Verdict, r.State, r.Reason, r.InvitationID, r.ErrorCode, r.Attempts,
				q.nullTS(r.SendingAt), q.ts(r.UpdatedAt))
		}
		if _, err := q.exec(ctx, `INSERT INTO bulk_rows (`+bulkRowColumns+`) VALUES `+strings.Join(vals, ", "), args...); err != nil {
			return fmt.Errorf("store: create bulk job rows: %w", err)
		}
	}
	return nil
}

// GetBulkJob returns the job with id, or ErrNotFound.
func (q *Queries) GetBulkJob(ctx context.Context, id string) (*BulkJob, error) {
	if !validText(id) {
		return nil, ErrNotFound
	}
	j, err := scanBulkJob(q.queryRow(ctx, "SELECT "+bulkJobColumns+" FROM bulk_jobs WHERE id = ?", id))
	if err != nil {
		return nil, notFound("get bulk job", err)
	}
	return j, nil
}

// ListBulkJobs returns a tenant's jobs, newest first: the owner's only when ownerOID is set.
func (q *Queries) ListBulkJobs(ctx context.Context, tenantID, ownerOID string, limit int) ([]BulkJob, error) {
	if !validText(tenantID, ownerOID) {
		return nil, nil
	}
	w := &where{}
	w.add("tenant_id = ?", tenantID)
	if ownerOID != "" {
		w.add("owner_oid = ?", ownerOID)
	}
	rows, err := q.query(ctx, "SELECT "+bulkJobColumns+" FROM bulk_jobs"+w.String()+" ORDER BY created_at DESC, id DESC"+q.page(limit, 0), w.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list bulk jobs: %w", err)
	}
	defer rows.Close()
	var out []BulkJob
	for rows.Next() {
		j, err := scanBulkJob(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list bulk jobs: %w", err)
		}
		out = append(out, *j)
	}
	return out, rows.Err()
}

// BulkRows returns up to limit rows of a job with N > afterN, in order; states, when given,
// keep only rows in those states.
func (q *Queries) BulkRows(ctx context.Context, jobID string, afterN, limit int, states ...string) ([]BulkRow, error) {
	if !validText(jobID) {
		return nil, nil
	}
	w := &where{}
	w.add("job_id = ?", jobID)
	w.add("n > ?", afterN)
	if len(states) > 0 {
		w.add("state IN ("+placeholders(len(states))+")", anySlice(states)...)
	}
	rows, err := q.query(ctx, "SELECT "+bulkRowColumns+" FROM bulk_rows"+w.String()+" ORDER BY n"+q.page(limit, 0), w.args...)
	if err != nil {
		return nil, fmt.Errorf("store: bulk rows: %w", err)
	}
	defer rows.Close()
	var out []BulkRow
	for rows.Next() {
		r, err := scanBulkRow(rows)
		if err != nil {
			return nil, fmt.Errorf("store: bulk rows: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// GetBulkRow returns row n of a job, or ErrNotFound.
func (q *Queries) GetBulkRow(ctx context.Context, jobID string, n int) (*BulkRow, error) {
	if !validText(jobID) {
		return nil, ErrNotFound
	}
	r, err := scanBulkRow(q.queryRow(ctx, "SELECT "+bulkRowColumns+" FROM bulk_rows WHERE job_id = ? AND n = ?", jobID, n))
	if err != nil {
		return nil, notFound("get bulk row", err)
	}
	return r, nil
}

// BulkRowCounts counts a job's rows per state.
func (q *Queries) BulkRowCounts(ctx context.Context, jobID string) (map[string]int, error) {
	out := map[string]int{}
	if !validText(jobID) {
		return out, nil
	}
	rows, err := q.query(ctx, "SELECT state, COUNT(*) FROM bulk_rows WHERE job_id = ? GROUP BY state", jobID)
	if err != nil {
		return nil, fmt.Errorf("store: count bulk rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("store: count bulk rows: %w", err)
		}
		out[s] = n
	}
	return out, rows.Err()
}

// ErrBulkState means a bulk job or row is not in the state the change needs (another instance,
// a cancel or a second click changed it first).
var ErrBulkState = errors.New("store: the bulk job or row is not in the state this change needs")

// SetBulkJobState moves a job from one of the states from to state to at at, with note ("" keeps
// the note); it returns ErrBulkState when the job is in none of from. Reaching queued sets
// confirmed_at, running started_at (the first time), a final state finished_at.
func (q *Queries) SetBulkJobState(ctx context.Context, id string, from []string, to string, at time.Time, note string) error {
	if !validText(id, to, note) {
		return fmt.Errorf("store: set bulk job state: %w", &InputError{Field: "state"})
	}
	set := "state = ?"
	args := []any{to}
	switch to {
	case BulkQueued:
		set += ", confirmed_at = ?"
		args = append(args, q.ts(at))
	case BulkRunning:
		set += ", started_at = COALESCE(started_at, ?)"
		args = append(args, q.ts(at))
	case BulkDone, BulkCancelled, BulkBlocked:
		set += ", finished_at = ?"
		args = append(args, q.ts(at))
	}
	if note != "" {
		set += ", note = ?"
		args = append(args, note)
	}
	args = append(args, id)
	args = append(args, anySlice(from)...)
	res, err := q.exec(ctx, "UPDATE bulk_jobs SET "+set+" WHERE id = ? AND state IN ("+placeholders(len(from))+")", args...)
	if err != nil {
		return fmt.Errorf("store: set bulk job state: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrBulkState
	}
	return nil
}

// SetBulkRiverJob records the queue's id of the job that sends a bulk job.
func (q *Queries) SetBulkRiverJob(ctx context.Context, id string, riverID int64) error {
	if _, err := q.exec(ctx, "UPDATE bulk_jobs SET river_job_id = ? WHERE id = ?", riverID, id); err != nil {
		return fmt.Errorf("store: set bulk river job: %w", err)
	}
	return nil
}

// ExcludeBulkRows records the owner's choice on one page of the review of a draft job: of the
// rows shown, those in excluded are left out (pending → excluded) and the others are in again
// (excluded → pending); skipped rows stay skipped. ErrBulkState when the job is no longer a draft.
func (q *Queries) ExcludeBulkRows(ctx context.Context, jobID string, shown, excluded []int, at time.Time) error {
	j, err := q.GetBulkJob(ctx, jobID)
	if err != nil {
		return err
	}
	if j.State != BulkDraft {
		return ErrBulkState
	}
	if err := q.moveBulkRows(ctx, jobID, shown, RowExcluded, RowPending, at); err != nil {
		return err
	}
	return q.moveBulkRows(ctx, jobID, excluded, RowPending, RowExcluded, at)
}

func (q *Queries) moveBulkRows(ctx context.Context, jobID string, ns []int, from, to string, at time.Time) error {
	for start := 0; start < len(ns); start += 500 {
		chunk := ns[start:min(start+500, len(ns))]
		args := []any{to, q.ts(at), jobID, from}
		for _, n := range chunk {
			args = append(args, n)
		}
		if _, err := q.exec(ctx, "UPDATE bulk_rows SET state = ?, updated_at = ? WHERE job_id = ? AND state = ? AND n IN ("+
			placeholders(len(chunk))+")", args...); err != nil {
			return fmt.Errorf("store: exclude bulk rows: %w", err)
		}
	}
	return nil
}

// MarkBulkRowSending moves a pending row to sending at at (counting the attempt): the durable
// note, written before Graph is called, that the row may have been sent. ErrBulkState when the
// row is not pending.
func (q *Queries) MarkBulkRowSending(ctx context.Context, jobID string, n int, at time.Time) error {
	res, err := q.exec(ctx, "UPDATE bulk_rows SET state = ?, sending_at = ?, attempts = attempts + 1, updated_at = ? WHERE job_id = ? AND n = ? AND state = ?",
		RowSending, q.ts(at), q.ts(at), jobID, n, RowPending)
	if err != nil {
		return fmt.Errorf("store: mark bulk row sending: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return ErrBulkState
	}
	return nil
}

// FinishBulkRow moves a row from one of from to state with its reason, invitation and error code.
// ErrBulkState when the row is in none of from.
func (q *Queries) FinishBulkRow(ctx context.Context, r *BulkRow, from ...string) error {
	if err := checkText([2]string{"state", r.State}, [2]string{"reason", r.Reason}, [2]string{"invitation id", r.InvitationID},
		[2]string{"error code", r.ErrorCode}); err != nil {
		return fmt.Errorf("store: finish bulk row: %w", err)
	}
	r.UpdatedAt = utc(r.UpdatedAt)
	args := []any{r.State, r.Reason, r.InvitationID, r.ErrorCode, q.ts(r.UpdatedAt), r.JobID, r.N}
	args = append(args, anySlice(from)...)
	res, err := q.exec(ctx, "UPDATE bulk_rows SET state = ?, reason = ?, invitation_id = ?, error_code = ?, updated_at = ? WHERE job_id = ? AND n = ? AND state IN ("+
		placeholders(len(from))+")", args...)
	if err != nil {
		return fmt.Errorf("store: finish bulk row: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return ErrBulkState
	}
	return nil
}

// NotSendBulkRows moves every pending row of a job to not_sent with reason, and returns how many.
func (q *Queries) NotSendBulkRows(ctx context.Context, jobID, reason string, at time.Time) (int, error) {
	if !validText(jobID, reason) {
		return 0, fmt.Errorf("store: not send bulk rows: %w", &InputError{Field: "reason"})
	}
	res, err := q.exec(ctx, "UPDATE bulk_rows SET state = ?, reason = ?, updated_at = ? WHERE job_id = ? AND state = ?",
		RowNotSent, reason, q.ts(at), jobID, RowPending)
	if err != nil {
		return 0, fmt.Errorf("store: not send bulk rows: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteBulkDrafts deletes draft jobs (and their rows) created before before: dry runs nobody
// confirmed keep partners' addresses no longer than needed.
func (q *Queries) DeleteBulkDrafts(ctx context.Context, before time.Time) (int, error) {
	if _, err := q.exec(ctx, "DELETE FROM bulk_rows WHERE job_id IN (SELECT id FROM bulk_jobs WHERE state = ? AND created_at < ?)", BulkDraft, q.ts(before)); err != nil {
		return 0, fmt.Errorf("store: delete bulk drafts: %w", err)
	}
	res, err := q.exec(ctx, "DELETE FROM bulk_jobs WHERE state = ? AND created_at < ?", BulkDraft, q.ts(before))
	if err != nil {
		return 0, fmt.Errorf("store: delete bulk drafts: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
