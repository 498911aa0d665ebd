package store

import (
	"errors"
	"time"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("store: not found")

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
	CCName      string
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
	State      string
	Email      string
	Outcome    string
	Current    bool // only records not replaced by a later one (one per partner and inviter)
	Limit      int
	Offset     int
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
}
