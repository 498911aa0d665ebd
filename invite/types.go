package invite

import (
	"strings"
	"time"
)

// Outcome is what became of an invitation attempt, or of another audited action.
type Outcome string

// Outcomes of invitation attempts (recorded on the invitation and in the audit trail) and of other
// audited actions.
const (
	OutcomeCreated   Outcome = "created"   // Graph created the invitation
	OutcomeDenied    Outcome = "denied"    // Portico's rules refused the inviter (Member, quota…)
	OutcomeFailed    Outcome = "failed"    // Graph failed or refused
	OutcomeThrottled Outcome = "throttled" // Graph or the quota asked to slow down
	OutcomeRejected  Outcome = "rejected"  // the checks before sending refused the address
	OutcomeSuccess   Outcome = "success"   // any other audited action that succeeded
	// OutcomeSending: the record's intent is open; Graph's answer is not known yet (a new record
	// written with its intent, before the Graph call). The caller or the reconciler settles it.
	OutcomeSending Outcome = "sending"
)

// State is what an invitation is now, for people: the partner's acceptance when the invitation
// was created, else what became of the attempt.
type State string

// States of an invitation.
const (
	StatePending   State = "pending"   // created; the partner has not accepted yet
	StateAccepted  State = "accepted"  // the partner accepted
	StateRefused   State = "refused"   // Portico refused the inviter
	StateThrottled State = "throttled" // not sent: Graph was busy
	StateNotSent   State = "not_sent"  // not sent: the checks before sending refused it
	StateFailed    State = "failed"    // Graph failed or refused
	StateSending   State = "sending"   // the send is in flight (its intent is open)
)

// Label names the state for people.
func (s State) Label() string {
	switch s {
	case StatePending:
		return "Pending acceptance"
	case StateAccepted:
		return "Accepted"
	case StateRefused:
		return "Refused"
	case StateThrottled:
		return "Not sent (Graph busy)"
	case StateNotSent:
		return "Not sent"
	case StateSending:
		return "Sending…"
	default:
		return "Failed"
	}
}

// Kind groups states for display: pending, accepted, denied or failed.
func (s State) Kind() string {
	switch s {
	case StatePending, StateAccepted:
		return string(s)
	case StateSending:
		return "pending"
	case StateRefused:
		return "denied"
	default:
		return "failed"
	}
}

// Invitation is one inviter's record of one partner: who invited whom with which options, what
// Graph answered to the latest send and the partner's last known state. "Send again" updates the
// record (new Graph invitation, redemption URL and SentAt) and appends to its history.
type Invitation struct {
	ID          string
	TenantID    string
	InviterOID  string
	InviterUPN  string
	InviterName string

	Email       string // lower case
	DisplayName string
	Message     string
	CCAddress   string
	Language    string
	RedirectURL string
	UserType    string
	SendEmail   bool

	Outcome           Outcome
	GraphInvitationID string
	GraphUserID       string
	GraphStatus       string
	GraphRequestID    string
	ErrorCode         string
	ErrorMessage      string

	ExternalUserState          string // Graph's externalUserState as last read
	ExternalUserStateChangedAt *time.Time
	StateCheckedAt             *time.Time

	ResendOf   string    // the record this one's first send re-invited (kept for the audit trail)
	CreatedAt  time.Time // the first send
	SentAt     time.Time // the latest send: CreatedAt, or the latest "Send again"
	ReplacedBy string    // set only on records of earlier builds that a resend replaced

	redeemSealed []byte // Graph's redemption URL, sealed; never leaves the package
}

// State is what the invitation is now.
func (r *Invitation) State() State {
	switch r.Outcome {
	case OutcomeCreated:
	case OutcomeDenied:
		return StateRefused
	case OutcomeThrottled:
		return StateThrottled
	case OutcomeRejected:
		return StateNotSent
	case OutcomeSending:
		return StateSending
	default:
		return StateFailed
	}
	if r.accepted() {
		return StateAccepted
	}
	return StatePending
}

// Sending reports whether the record's send is still in flight (its intent is open).
func (r *Invitation) Sending() bool { return r.Outcome == OutcomeSending }

// Created reports whether Graph created the invitation.
func (r *Invitation) Created() bool { return r.Outcome == OutcomeCreated }

// HasRedeemURL reports whether Portico holds the redemption URL (it may still be unreadable if its
// data key was retired).
func (r *Invitation) HasRedeemURL() bool { return len(r.redeemSealed) > 0 }

func (r *Invitation) accepted() bool { return strings.EqualFold(r.ExternalUserState, stateAccepted) }

// owner is the invitation's inviter, as an Inviter without roles.
func (r *Invitation) owner() Inviter {
	return Inviter{TenantID: r.TenantID, ObjectID: r.InviterOID, UPN: r.InviterUPN, Name: r.InviterName}
}

// JoinLink is a Portico link for the partner, /join/{token}; the token itself is kept only sealed.
type JoinLink struct {
	ID            string
	InvitationID  string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	RevokedAt     *time.Time
	Superseded    bool // revoked because a newer send or link replaced it
	FirstOpenedAt *time.Time
	LastOpenedAt  *time.Time
	OpenCount     int

	tokenHash   []byte
	tokenSealed []byte
}

// LinkStatus is the state of an invitation's join link at a given time.
type LinkStatus string

// Join link states.
const (
	LinkNone    LinkStatus = ""        // the invitation never had a link (no redemption URL)
	LinkActive  LinkStatus = "active"  // live
	LinkExpired LinkStatus = "expired" // past ExpiresAt
	LinkRevoked LinkStatus = "revoked" // revoked, or superseded
)

// Status is the link's state at now.
func (l *JoinLink) Status(now time.Time) LinkStatus {
	switch {
	case l == nil:
		return LinkNone
	case l.RevokedAt != nil:
		return LinkRevoked
	case !now.Before(l.ExpiresAt):
		return LinkExpired
	}
	return LinkActive
}
