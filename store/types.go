package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is returned when a record does not exist. Ids that are not valid UTF-8 text or that
// contain NUL cannot name a record on either engine, so lookups by such ids return it too.
var ErrNotFound = errors.New("store: not found")

// ErrInvalidInput is returned (as an *InputError) for filter or record text that is not valid UTF-8
// or contains NUL: PostgreSQL cannot store or compare it, so the store refuses it before querying.
var ErrInvalidInput = errors.New("store: invalid input")

// InputError names the field whose text was refused; errors.Is(err, ErrInvalidInput) holds.
type InputError struct{ Field string }

func (e *InputError) Error() string {
	return "store: " + e.Field + " is not valid UTF-8 text or contains a NUL character"
}

// Is makes errors.Is(err, ErrInvalidInput) true.
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }

// Session is a server-side session record.
type Session struct {
	ID        string
	Data      []byte
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
}

// Invitation is one invitation attempt recorded by Portico.
type Invitation struct {
	ID          string
	TenantID    string
	InviterOID  string
	InviterUPN  string
	InviterName string

	Email       string
	DisplayName string
	Message     string
	CCAddress   string
	Language    string
	RedirectURL string
	UserType    string
	SendEmail   bool

	Outcome           string
	GraphInvitationID string
	GraphUserID       string
	GraphStatus       string
	GraphRequestID    string
	ErrorCode         string
	ErrorMessage      string

	RedeemURLSealed []byte

	ExternalUserState          string
	ExternalUserStateChangedAt *time.Time
	StateCheckedAt             *time.Time

	ResendOf  string
	CreatedAt time.Time
	// SentAt is when Graph last sent the invitation: CreatedAt, or the latest "Send again".
	SentAt time.Time
	// ReplacedBy names the record that replaced this one: set only for records of earlier builds,
	// where a resend made a second record (see migration 0003).
	ReplacedBy string
}

// Invitation outcomes.
const (
	OutcomeCreated   = "created"
	OutcomeDenied    = "denied"
	OutcomeFailed    = "failed"
	OutcomeThrottled = "throttled"
	OutcomeRejected  = "rejected"
)

// InvitationFilter selects invitations; empty fields match everything.
type InvitationFilter struct {
	TenantID   string
	InviterOID string
	SponsorOID string // only invitations that name this sponsor (invitation_sponsors)
	State      string
	Email      string
	Outcome    string
	Current    bool // only records not replaced by a later one (one per partner and inviter)
	Limit      int
	Offset     int
	// Keyset paging (instead of Offset, which reads every skipped row): only invitations older than
	// Before, or newer than After; either way the result is newest first.
	Before *InvitationCursor
	After  *InvitationCursor
}

// InvitationCursor is a position in the invitation lists' order (newest first: created_at, then id).
type InvitationCursor struct {
	CreatedAt time.Time
	ID        string
}

// Cursor returns the position of inv, for the page before or after it.
func (inv *Invitation) Cursor() InvitationCursor {
	return InvitationCursor{CreatedAt: inv.CreatedAt, ID: inv.ID}
}

// String encodes the cursor for a URL: unix microseconds, a dot, the id.
func (c InvitationCursor) String() string {
	return strconv.FormatInt(utc(c.CreatedAt).UnixMicro(), 10) + "." + c.ID
}

// ParseInvitationCursor reads what InvitationCursor.String wrote.
func ParseInvitationCursor(s string) (InvitationCursor, error) {
	us, id, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || id == "" || !validText(id) {
		return InvitationCursor{}, fmt.Errorf("%w: invitation cursor %q", ErrInvalidInput, s)
	}
	return InvitationCursor{CreatedAt: time.UnixMicro(n).UTC(), ID: id}, nil
}

// JoinLink is a Portico-hosted redemption link; only the token's hash is used for lookups.
type JoinLink struct {
	ID            string
	InvitationID  string
	TokenHash     []byte
	TokenSealed   []byte
	CreatedAt     time.Time
	ExpiresAt     time.Time
	RevokedAt     *time.Time
	RevokeReason  string // "" (revoked) or RevokeSuperseded
	FirstOpenedAt *time.Time
	LastOpenedAt  *time.Time
	OpenCount     int
}

// AuditEvent is one append-only audit record.
type AuditEvent struct {
	ID             int64
	Time           time.Time
	ActorTID       string
	ActorOID       string
	ActorUPN       string
	Action         string
	Target         string
	Outcome        string
	Detail         string
	GraphRequestID string
	ClientIP       string
	RequestID      string
}

// AuditFilter selects audit events; empty fields match everything.
type AuditFilter struct {
	Actor   string
	Target  string
	Action  string
	Outcome string
	Since   *time.Time
	Until   *time.Time
	Limit   int
	Offset  int
	// Keyset paging (instead of Offset, which reads every skipped row): only events older than
	// Before (the next, "Older" page), or newer than After (the "Newer" page); either way the
	// result is newest first.
	Before *AuditCursor
	After  *AuditCursor
}

// AuditCursor is a position in the audit trail's order (newest first: time, then id).
type AuditCursor struct {
	Time time.Time
	ID   int64
}

// Cursor returns the position of ev, for the page before or after it.
func (ev *AuditEvent) Cursor() AuditCursor { return AuditCursor{Time: ev.Time, ID: ev.ID} }

// String encodes the cursor for a URL: unix microseconds, a dot, the id.
func (c AuditCursor) String() string {
	return strconv.FormatInt(utc(c.Time).UnixMicro(), 10) + "." + strconv.FormatInt(c.ID, 10)
}

// ParseAuditCursor reads what AuditCursor.String wrote; anything else is ErrInvalidInput.
func ParseAuditCursor(s string) (AuditCursor, error) {
	us, id, ok := strings.Cut(s, ".")
	n, err1 := strconv.ParseInt(us, 10, 64)
	i, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || i < 0 {
		return AuditCursor{}, fmt.Errorf("%w: audit cursor %q", ErrInvalidInput, s)
	}
	return AuditCursor{Time: time.UnixMicro(n).UTC(), ID: i}, nil
}
