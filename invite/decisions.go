package invite

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Action is the decision whether an inviter may do one thing to an invitation.
type Action struct {
	Allowed bool
	Reason  string // why not, for the inviter; "" when allowed
	err     error
}

// Err is the error the matching Service method returns when the action is not allowed; nil when it is.
func (a Action) Err() error {
	if a.Allowed {
		return nil
	}
	return a.err
}

func allow() Action { return Action{Allowed: true} }

func deny(err error, reason string) Action { return Action{Reason: reason, err: err} }

// Actions is what an inviter may do to one invitation.
type Actions struct {
	Resend          Action // invite the guest again (a new record pointing at this one)
	RevealRedeemURL Action // show Microsoft's redemption URL
	NewJoinLink     Action // replace the join link
	RevokeJoinLink  Action // revoke the join link
}

// Reasons given when an action is not allowed.
const (
	reasonNotVisible  = "This invitation belongs to someone else."
	reasonNotSent     = "This invitation was not sent."
	reasonAccepted    = "The guest has accepted the invitation already."
	reasonReplaced    = "A newer invitation to this partner replaced this one."
	reasonNoRedeemURL = "Portico does not hold this invitation's redemption URL, so it has no link to share."
)

// Actions decides what inv may do to rec. It reads nothing and decrypts nothing, so lists may ask
// it for every row; the Service methods ask it too, and check more (such as whether a sealed
// redemption URL still opens) when they act.
func (s *Service) Actions(inv Inviter, rec *Invitation) Actions {
	return decideActions(inv, rec)
}

func decideActions(inv Inviter, rec *Invitation) Actions {
	if rec == nil || !canSee(inv, rec) {
		no := deny(ErrNotFound, reasonNotVisible)
		return Actions{Resend: no, RevealRedeemURL: no, NewJoinLink: no, RevokeJoinLink: no}
	}
	if !rec.Created() {
		return Actions{
			Resend:          deny(ErrNotPending, reasonNotSent),
			RevealRedeemURL: deny(ErrNoRedeemURL, reasonNotSent),
			NewJoinLink:     deny(ErrNoRedeemURL, reasonNotSent),
			RevokeJoinLink:  deny(ErrNoRedeemURL, reasonNotSent),
		}
	}
	a := Actions{Resend: allow(), RevealRedeemURL: allow(), NewJoinLink: allow(), RevokeJoinLink: allow()}
	switch {
	case rec.accepted():
		a.Resend = deny(ErrNotPending, reasonAccepted)
	case rec.ReplacedBy != "":
		// A record of an earlier build that a resend replaced: act on the newer one.
		a.Resend = deny(ErrNotPending, reasonReplaced)
		a.NewJoinLink = deny(ErrNoRedeemURL, reasonReplaced)
	}
	if !rec.HasRedeemURL() {
		// Join links exist only for invitations whose redemption URL Portico holds.
		no := deny(ErrNoRedeemURL, reasonNoRedeemURL)
		a.RevealRedeemURL, a.NewJoinLink, a.RevokeJoinLink = no, no, no
	}
	return a
}

// QuotaLimits caps how many invitations (sent and re-sent) one inviter may create; 0 is no limit.
type QuotaLimits struct {
	PerHour int
	PerDay  int
}

// QuotaWindow is an inviter's use of one quota window.
type QuotaWindow struct {
	Length    time.Duration // an hour or a day
	Limit     int           // 0: this window has no limit
	Used      int           // invitations created in the window, at most Limit
	Remaining int           // Limit - Used
	ResetAt   time.Time     // when the next place frees up; zero when nothing is used
}

// QuotaDecision is whether an inviter may create another invitation now.
type QuotaDecision struct {
	Limited    bool          // some limit is configured
	Allowed    bool          // another invitation may be created now
	Hour       QuotaWindow   // the hourly window (Limit 0: none)
	Day        QuotaWindow   // the daily window (Limit 0: none)
	RetryAfter time.Duration // when not Allowed: how long until a place frees up
}

// Tightest is the window with the fewest places left (the hour on a tie); use it for "N of M left".
func (d QuotaDecision) Tightest() QuotaWindow {
	switch {
	case d.Hour.Limit == 0:
		return d.Day
	case d.Day.Limit == 0 || d.Hour.Remaining <= d.Day.Remaining:
		return d.Hour
	}
	return d.Day
}

// QuotaError means the inviter reached their invitation quota; nothing was sent. The refusal is
// in the audit trail.
type QuotaError struct {
	Decision QuotaDecision
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("invite: invitation quota reached; retry after %s", e.Decision.RetryAfter.Round(time.Second))
}

// Quota decides whether inv may create another invitation now. It counts inv's send intents of
// the last hour and day that hold a place (open ones, and those that created an invitation; a
// failed send gives its place back), so every instance sharing the database enforces one quota and
// a restart forgets nothing. Send reserves a place atomically with its intent, under a per-inviter
// lock (see openIntent), so under any concurrency at most the limit are created. It is keyed on
// the inviter's object id, never on a client address.
func (s *Service) Quota(ctx context.Context, inv Inviter) (QuotaDecision, error) {
	return s.quotaOf(ctx, s.store, inv)
}

// quotaOf decides the quota reading st (a transaction holding the inviter's quota lock when a
// place is being reserved).
func (s *Service) quotaOf(ctx context.Context, st Store, inv Inviter) (QuotaDecision, error) {
	now := s.now().UTC()
	d := QuotaDecision{
		Limited: s.quota.PerHour > 0 || s.quota.PerDay > 0,
		Allowed: true,
		Hour:    QuotaWindow{Length: time.Hour, Limit: max(s.quota.PerHour, 0)},
		Day:     QuotaWindow{Length: 24 * time.Hour, Limit: max(s.quota.PerDay, 0)},
	}
	for _, w := range []*QuotaWindow{&d.Hour, &d.Day} {
		if w.Limit == 0 {
			continue
		}
		since := now.Add(-w.Length)
		// The window is (now-Length, now]: a place is free again at exactly ResetAt.
		sent, err := st.QuotaUse(ctx, inv.TenantID, inv.ObjectID, since, w.Limit)
		if err != nil {
			return QuotaDecision{}, fmt.Errorf("invite: counting invitations for the quota: %w", err)
		}
		// Newest first: the window frees a place when the Used-th newest ages out.
		slices.SortFunc(sent, func(a, b time.Time) int { return b.Compare(a) })
		w.Used = min(len(sent), w.Limit)
		w.Remaining = w.Limit - w.Used
		if w.Used > 0 {
			w.ResetAt = sent[w.Used-1].Add(w.Length)
		}
		if w.Remaining == 0 {
			d.Allowed = false
			d.RetryAfter = max(d.RetryAfter, w.ResetAt.Sub(now))
		}
	}
	return d, nil
}

// enforceQuota returns a *QuotaError, audited as throttled, when actor's quota is used up.
func (s *Service) enforceQuota(ctx context.Context, actor Inviter, meta Meta, action, target string) error {
	if s.quota.PerHour <= 0 && s.quota.PerDay <= 0 {
		return nil
	}
	d, err := s.Quota(ctx, actor)
	if err != nil {
		return err
	}
	if d.Allowed {
		return nil
	}
	_ = s.audit(ctx, s.event(actor, meta, action, target, OutcomeThrottled, "", auditDetail{Note: "quota"}))
	s.log.WarnContext(ctx, "invite: quota reached", "request_id", meta.RequestID, "actor_oid", actor.ObjectID,
		"retry_after", d.RetryAfter.Round(time.Second))
	return &QuotaError{Decision: d}
}
