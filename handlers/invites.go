package handlers

import (
	"context"
	"time"

	"golang.org/x/oauth2"

	"portico/invite"
)

// Invites is what the handlers need of the invitation domain (invite.Service satisfies it).
type Invites interface {
	Policy() invite.Policy
	// Warm starts reading the tenant's domains in the background (sign-in, the form opened), so
	// the first invitation after start costs no extra Graph round trip. It returns at once.
	Warm(ctx context.Context, ts oauth2.TokenSource, tenantID string)
	Send(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, req invite.Request, meta invite.Meta) (*invite.Result, error)
	Check(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, email string) invite.Check
	Get(ctx context.Context, inv invite.Inviter, id string) (*invite.Invitation, error)
	Actions(inv invite.Inviter, rec *invite.Invitation) invite.Actions
	History(ctx context.Context, inv invite.Inviter, id string) ([]invite.HistoryEntry, error)
	List(ctx context.Context, inv invite.Inviter, f invite.ListFilter) (*invite.ListPage, error)
	RefreshStates(ctx context.Context, ts oauth2.TokenSource, invs []invite.Invitation, maxAge time.Duration) []invite.Invitation
	Resend(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, id string, meta invite.Meta) (*invite.Result, error)
	RevealRedeemURL(ctx context.Context, inv invite.Inviter, id string, meta invite.Meta) (string, error)
	JoinURL(ctx context.Context, inv invite.Inviter, id string) (string, *invite.JoinLink, error)
	JoinActivity(ctx context.Context, inv invite.Inviter, recs []invite.Invitation) (map[string]*invite.JoinLink, error)
	NewJoinLink(ctx context.Context, inv invite.Inviter, id string, meta invite.Meta) (string, *invite.JoinLink, error)
	RevokeJoinLink(ctx context.Context, inv invite.Inviter, id string, meta invite.Meta) error
	OpenJoin(ctx context.Context, token string, meta invite.Meta) (*invite.JoinView, error)
	AcceptJoin(ctx context.Context, token string, meta invite.Meta) (string, error)
	Quota(ctx context.Context, inv invite.Inviter) (invite.QuotaDecision, error)
	// SettleSending settles a record's send left open past its lease by a lookup with the
	// viewer's token; settled is false while the send is still in flight.
	SettleSending(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, id string) (settled bool, err error)
}

var _ Invites = (*invite.Service)(nil)
