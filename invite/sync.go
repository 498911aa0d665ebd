package invite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/store"
)

// SyncStore is what the background state sync needs from the store besides Store
// (StoreAdapter has it).
type SyncStore interface {
	// PendingStateSync lists current, created, not yet accepted invitations last checked before
	// before (or never), least recently checked first.
	PendingStateSync(ctx context.Context, before time.Time, limit int) ([]Invitation, error)
	// MarkStateDue makes the invitation's state the first one the next refresh reads.
	MarkStateDue(ctx context.Context, id string) error
}

var _ SyncStore = (*StoreAdapter)(nil)

// PendingStateSync lists the invitations the background state sync reads next.
func (a *StoreAdapter) PendingStateSync(ctx context.Context, before time.Time, limit int) ([]Invitation, error) {
	return invitationsFromRows(a.q.PendingStateSync(ctx, before, limit))
}

// MarkStateDue forgets when the invitation's state was last read.
func (a *StoreAdapter) MarkStateDue(ctx context.Context, id string) error {
	return a.q.MarkStateDue(ctx, id)
}

// SyncOptions bound one run of SyncStates.
type SyncOptions struct {
	// Before: invitations checked at or after it are fresh and skipped. A job passes the time it
	// was created, so a run that is interrupted and started again reads only what it had not read.
	Before time.Time
	// Max is how many invitations one run reads at most (0: 2,000); the rest wait for the next run.
	Max int
	// Pause is the wait between two batches, to leave Graph's throttling budget to people.
	Pause time.Duration
}

// SyncResult is what one run of SyncStates did.
type SyncResult struct {
	Batches  int // $batch requests sent
	Checked  int // states read and saved
	Accepted int // of which Accepted
	Failed   int // invitations Graph did not answer for (kept for the next run)
}

// ThrottledError is Graph asking the background work to slow down: try again after RetryAfter.
type ThrottledError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("invite: Graph is throttling; retry in %s: %v", e.RetryAfter, e.Err)
}

func (e *ThrottledError) Unwrap() error { return e.Err }

// ErrBackgroundForbidden is Graph refusing Portico's background identity (403): a permission is
// missing, and trying again cannot help.
var ErrBackgroundForbidden = errors.New("invite: Graph refused Portico's background identity (403): " +
	"grant the application permission User.Read.All with admin consent")

// forbidden is Graph's 403 answer carried by err, or nil.
func forbidden(err error) *graph.Error {
	var ge *graph.Error
	if errors.As(err, &ge) && ge.Status == http.StatusForbidden {
		return ge
	}
	return nil
}

// throttled is Graph's 429 answer carried by err, or nil.
func throttled(err error) *graph.Error {
	var ge *graph.Error
	if errors.As(err, &ge) && ge.Status == http.StatusTooManyRequests {
		return ge
	}
	return nil
}

// ErrNoBackgroundStore is returned when the service's store cannot list invitations to sync.
var ErrNoBackgroundStore = errors.New("invite: the store does not support the background state sync")

// SetBackgroundSync tells the service that a background job keeps invitation states current:
// RefreshStates then returns what the database holds and makes no Graph call while a page renders.
func (s *Service) SetBackgroundSync(on bool) { s.backgroundSync.Store(on) }

// BackgroundSync reports whether states are kept current in the background.
func (s *Service) BackgroundSync() bool { return s.backgroundSync.Load() }

// SyncStates reads the externalUserState of pending invitations from Graph with the background
// identity ts, graph.MaxBatchRequests per $batch request, least recently checked first, at low
// throttling priority, and saves each state as it is read. A throttled answer stops the run with
// a *ThrottledError (what was read is kept); other failures are counted and left for the next run,
// unless nothing at all could be read, which is an error.
func (s *Service) SyncStates(ctx context.Context, ts oauth2.TokenSource, o SyncOptions) (SyncResult, error) {
	var res SyncResult
	ss, ok := s.store.(SyncStore)
	if !ok {
		return res, ErrNoBackgroundStore
	}
	if o.Max <= 0 {
		o.Max = 2000
	}
	if o.Before.IsZero() {
		o.Before = s.now()
	}
	ctx = graph.WithPriority(ctx, "low")
	failed := map[string]bool{} // not answered in this run: not asked again until the next
	var lastErr error
	for res.Checked+res.Failed < o.Max {
		limit := min(graph.MaxBatchRequests, o.Max-res.Checked-res.Failed)
		cand, err := ss.PendingStateSync(ctx, o.Before, limit+len(failed))
		if err != nil {
			return res, fmt.Errorf("invite: listing states to sync: %w", err)
		}
		var batch []Invitation
		for _, r := range cand {
			if !failed[r.ID] && len(batch) < limit {
				batch = append(batch, r)
			}
		}
		if len(batch) == 0 {
			break
		}
		if res.Batches > 0 && o.Pause > 0 {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(o.Pause):
			}
		}
		n, acc, miss, err := s.readStates(ctx, ts, batch)
		res.Batches++
		res.Checked += n
		res.Accepted += acc
		for _, id := range miss {
			failed[id] = true
		}
		res.Failed += len(miss)
		if err != nil {
			if ge := throttled(err); ge != nil {
				return res, &ThrottledError{RetryAfter: max(ge.RetryAfter, time.Second), Err: err}
			}
			if forbidden(err) != nil {
				return res, fmt.Errorf("%w: %w", ErrBackgroundForbidden, err)
			}
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			s.log.WarnContext(ctx, "invite: state sync: some states not read", "missing", len(miss), "err", err)
			lastErr = err
		}
	}
	if res.Checked == 0 && res.Failed > 0 {
		// Nothing could be read: fail the run, so it is retried with backoff.
		return res, fmt.Errorf("invite: state sync read no state: %w", lastErr)
	}
	return res, nil
}

// RefreshState reads one invitation's state now (the partner just landed on Portico's welcome
// page) and saves it. It returns the state read.
func (s *Service) RefreshState(ctx context.Context, ts oauth2.TokenSource, id string) (string, error) {
	rec, err := s.store.GetInvitation(ctx, id)
	if err != nil {
		return "", fmt.Errorf("invite: reading invitation %s: %w", id, err)
	}
	if rec.Outcome != OutcomeCreated || rec.GraphUserID == "" {
		return rec.ExternalUserState, nil
	}
	_, _, miss, err := s.readStates(graph.WithPriority(ctx, "low"), ts, []Invitation{*rec})
	if err != nil || len(miss) > 0 {
		if ge := throttled(err); ge != nil {
			return "", &ThrottledError{RetryAfter: max(ge.RetryAfter, time.Second), Err: err}
		}
		if forbidden(err) != nil {
			return "", fmt.Errorf("%w: %w", ErrBackgroundForbidden, err)
		}
		return "", fmt.Errorf("invite: reading the state of %s: %w", id, err)
	}
	got, err := s.store.GetInvitation(ctx, id)
	if err != nil {
		return "", err
	}
	return got.ExternalUserState, nil
}

// MarkStateDue makes the invitation's state the first one the next refresh reads (the partner
// landed, but there is no background identity to read it now).
func (s *Service) MarkStateDue(ctx context.Context, id string) error {
	ss, ok := s.store.(SyncStore)
	if !ok {
		return ErrNoBackgroundStore
	}
	return ss.MarkStateDue(ctx, id)
}

// readStates reads the states of recs in one $batch round trip and saves those Graph answered.
func (s *Service) readStates(ctx context.Context, ts oauth2.TokenSource, recs []Invitation) (checked, accepted int, missing []string, err error) {
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.GraphUserID)
	}
	users, err := s.graph.GetUsers(ctx, ts, ids)
	now := s.now().UTC()
	for _, r := range recs {
		u := users[r.GraphUserID]
		if u == nil {
			missing = append(missing, r.ID)
			continue
		}
		if serr := s.saveState(ctx, &r, u.ExternalUserState, u.ExternalUserStateChangeDateTime, now); serr != nil {
			if errors.Is(serr, store.ErrNotFound) {
				continue
			}
			return checked, accepted, missing, fmt.Errorf("invite: saving the state of %s: %w", r.ID, serr)
		}
		checked++
		if u.ExternalUserState == stateAccepted {
			accepted++
		}
	}
	return checked, accepted, missing, err
}

// LandingParam is the query parameter of Portico's welcome page that names the invitation a
// partner just redeemed: an opaque, non-secret reference (the record id), which at most triggers
// one state read.
const LandingParam = "i"

// landThroughPortico makes the partner's redirect after redeeming pass through Portico's welcome
// page with the record's reference when the landing page is Portico's default one, or when the
// invitation is shared by join link (no email): the welcome page then forwards to the stored
// landing page. Graph still receives a URL on Portico's own public address only.
func (s *Service) landThroughPortico(gi *graph.Invitation, rec *Invitation) *graph.Invitation {
	def := s.policy.DefaultRedirectURL
	if rec == nil || rec.ID == "" || def == "" || s.publicURL == "" {
		return gi
	}
	if gi.InviteRedirectURL != def && gi.SendInvitationMessage {
		return gi
	}
	welcome := s.publicURL + "/welcome"
	if def != welcome && gi.InviteRedirectURL == def {
		return gi // an operator's own default landing page outside Portico: left as configured
	}
	gi.InviteRedirectURL = welcome + "?" + LandingParam + "=" + rec.ID
	return gi
}

// Landing is what Portico's welcome page needs to know about the invitation a partner arrived
// with (ref): where to send them (its stored landing page when that is not the welcome page, ""
// otherwise) and whether its state is worth reading now (created, known to Graph, not yet
// accepted). An unknown reference gives "", false. It reads one record and changes nothing.
func (s *Service) Landing(ctx context.Context, ref string) (forward string, readState bool) {
	rec, err := s.store.GetInvitation(ctx, ref)
	if err != nil {
		return "", false
	}
	readState = rec.Outcome == OutcomeCreated && rec.GraphUserID != "" && !rec.accepted()
	if rec.RedirectURL == "" || rec.RedirectURL == s.publicURL+"/welcome" {
		return "", readState
	}
	return rec.RedirectURL, readState
}
