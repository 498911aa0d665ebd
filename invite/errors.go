package invite

import (
	"errors"
	"sort"
	"strings"
	"time"
)

// Sentinel errors; handlers map them to status codes.
var (
	// ErrNotFound means the invitation does not exist or the caller may not see it; the two are
	// deliberately indistinguishable.
	ErrNotFound = errors.New("invite: not found")
	// ErrMemberNotAllowed means a non-administrator asked for invitedUserType Member.
	ErrMemberNotAllowed = errors.New("invite: only administrators may invite members")
	// ErrNotInviter means Portico's policy does not let this employee invite (a guest, or not
	// among PORTICO_INVITERS); nothing was looked up or sent.
	ErrNotInviter = errors.New("invite: this account may not invite partners")
	// ErrForbidden means the caller asked for something only administrators may see.
	ErrForbidden = errors.New("invite: not allowed")
	// ErrJoinGone means a join token is unknown, malformed, revoked or expired; the cases are not told apart.
	ErrJoinGone = errors.New("invite: join link is unknown, revoked or expired")
	// ErrNoRedeemURL means Portico holds no redemption URL for the invitation (it was not
	// returned, e.g. after an uncertain Graph answer confirmed by lookup).
	ErrNoRedeemURL = errors.New("invite: no redemption URL is stored for this invitation")
	// ErrNotPending means the invitation cannot be resent: it was not created, or the guest accepted.
	ErrNotPending = errors.New("invite: only pending invitations can be resent")
)

// ValidationError carries a message per bad form field; no Graph call was made.
type ValidationError struct {
	Fields FieldErrors
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return "invite: invalid " + strings.Join(names, ", ")
}

// RefusedError means the preflight check stopped the invitation before Graph was asked.
type RefusedError struct {
	Preflight     *Preflight
	ResendOffered bool // the address belongs to a pending guest: the user may confirm a resend
}

func (e *RefusedError) Error() string { return "invite: refused: " + string(e.Preflight.Verdict) }

// Message is the explanation for the inviter.
func (e *RefusedError) Message() string { return e.Preflight.Message }

// GraphError means Graph refused or failed the invitation (or the lookups before it); the
// attempt was recorded. Message is safe to show; RequestID is Graph's, for support.
type GraphError struct {
	Status     int           // Graph's HTTP status, 0 when no answer came
	Code       string        // Graph's error code
	RequestID  string        // Graph's request-id
	RetryAfter time.Duration // when throttled
	Outcome    Outcome       // outcome recorded: failed or throttled
	// Blocked: Microsoft's abuse protection blocks every invitation from the tenant ("Invitations
	// are blocked for this directory due to suspicious activity", 403). No invitation will go
	// through until Microsoft support lifts it: retrying does not help, and bulk work stops.
	Blocked    bool
	Message    string // for the inviter
	Invitation *Invitation
	Err        error
}

func (e *GraphError) Error() string { return "invite: graph: " + e.Err.Error() }

func (e *GraphError) Unwrap() error { return e.Err }

// IsInvitationsBlocked reports whether err is Graph's abuse-protection answer to an invitation:
// Microsoft blocked invitations for the whole directory (403 "Invitations are blocked for this
// directory…"). It recognises a *GraphError from Send or Resend (Blocked) and Graph's own error
// anywhere in err's chain. Nothing more should be sent until an administrator had Microsoft
// support lift the block; bulk sending stops at the first such answer.
func IsInvitationsBlocked(err error) bool {
	var ge *GraphError
	if errors.As(err, &ge) && ge.Blocked {
		return true
	}
	return invitationsBlocked(graphErrorOf(err))
}

// Throttled reports whether Graph asked Portico to slow down.
func (e *GraphError) Throttled() bool { return e.Outcome == OutcomeThrottled }
