package invite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"portico/store"
)

const tokenBytes = 32 // 256 bits from crypto/rand

// TokenFingerprint is a short, non-reversible name for a join token, for logs: the first 8 hex
// characters of its SHA-256.
func TokenFingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:4])
}

func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// wellFormedToken reports whether token has the shape Portico issues: 32 bytes in unpadded base64url.
func wellFormedToken(token string) bool {
	if len(token) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	return err == nil && len(b) == tokenBytes
}

func tokenAAD(linkID string) []byte { return []byte("portico/joinlink/" + linkID) }

// newLink makes a join link for an invitation; the token is returned once and stored only as a
// hash (for lookups) and sealed (so the inviter can see the link again).
func (s *Service) newLink(invitationID string) (*JoinLink, string, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", fmt.Errorf("invite: join token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	l := &JoinLink{ID: store.NewID(), InvitationID: invitationID, tokenHash: tokenHash(token)}
	sealed, err := s.keys.Seal([]byte(token), tokenAAD(l.ID))
	if err != nil {
		return nil, "", fmt.Errorf("invite: sealing the join token: %w", err)
	}
	now := s.now().UTC()
	l.tokenSealed, l.CreatedAt, l.ExpiresAt = sealed, now, now.Add(s.joinTTL)
	return l, token, nil
}

func (s *Service) joinURL(token string) string { return s.publicURL + "/join/" + token }

// JoinState is what a known join link can do for the partner now.
type JoinState string

// States of a join link, as the partner's page tells them.
const (
	JoinPending    JoinState = "pending"    // the partner may accept
	JoinAccepted   JoinState = "accepted"   // the partner accepted already: send them to the landing page
	JoinSuperseded JoinState = "superseded" // a newer invitation or link replaced this one
	JoinExpired    JoinState = "expired"
	JoinRevoked    JoinState = "revoked" // the inviter revoked the link
)

// JoinView is what the partner's landing page shows about an invitation.
type JoinView struct {
	State        JoinState
	InvitationID string
	InviterName  string
	InviterEmail string
	InviteeName  string
	InviteeEmail string // the address the partner must sign in with
	Message      string
	Language     string // "" when the inviter chose none
	RedirectURL  string // the landing page, for a partner who accepted already
	ExpiresAt    time.Time
}

// JoinClosedError is AcceptJoin's answer for a known link that cannot be accepted (the partner
// accepted already, or the link was superseded, revoked or has expired): View says which.
type JoinClosedError struct{ View *JoinView }

func (e *JoinClosedError) Error() string { return "invite: join link is " + string(e.View.State) }

// OpenJoin resolves a join token for the partner's landing page and counts the visit of a live
// link. Unknown and malformed tokens return ErrJoinGone; a known token returns its state, so the
// page can tell a partner who accepted already, or whose link was replaced, what to do. Tokens
// are 256 random bits, so this tells nothing to someone guessing.
func (s *Service) OpenJoin(ctx context.Context, token string, meta Meta) (*JoinView, error) {
	l, rec, err := s.resolveJoin(ctx, token, meta)
	if err != nil {
		return nil, err
	}
	v := s.joinView(l, rec)
	if v.State == JoinPending {
		if err := s.recordOpen(ctx, l, rec); err != nil {
			s.log.WarnContext(ctx, "invite: join open not counted", "token_fp", TokenFingerprint(token), "err", err)
		}
		if s.hooks.JoinOpened != nil {
			s.hooks.JoinOpened()
		}
	}
	return v, nil
}

// joinView is what the page shows for a known link of rec.
func (s *Service) joinView(l *JoinLink, rec *Invitation) *JoinView {
	v := &JoinView{
		InvitationID: rec.ID,
		InviterName:  rec.InviterName,
		InviterEmail: rec.InviterUPN,
		InviteeName:  rec.DisplayName,
		InviteeEmail: rec.Email,
		Message:      rec.Message,
		Language:     rec.Language,
		RedirectURL:  rec.RedirectURL,
		ExpiresAt:    l.ExpiresAt,
	}
	// A partner who accepted is in, whatever became of the link since.
	switch {
	case rec.accepted():
		v.State = JoinAccepted
	case l.RevokedAt != nil && l.Superseded:
		v.State = JoinSuperseded
	case l.RevokedAt != nil:
		v.State = JoinRevoked
	case !s.now().Before(l.ExpiresAt):
		v.State = JoinExpired
	default:
		v.State = JoinPending
	}
	return v
}

// AcceptJoin returns the Microsoft redemption URL behind a join token and audits the acceptance.
// Unknown and malformed tokens return ErrJoinGone; a link that cannot be accepted (accepted
// already, superseded, revoked, expired) returns a *JoinClosedError and never the redemption URL,
// whose ticket may belong to an older Graph invitation. Join links exist only for invitations whose
// redemption URL Portico holds; if that URL can no longer be opened (its key was retired), the link
// is treated as gone too, so the partner is asked for a new link.
func (s *Service) AcceptJoin(ctx context.Context, token string, meta Meta) (string, error) {
	l, rec, err := s.resolveJoin(ctx, token, meta)
	if err != nil {
		return "", err
	}
	if v := s.joinView(l, rec); v.State != JoinPending {
		s.log.InfoContext(ctx, "invite: join link not accepted", "request_id", meta.RequestID, "token_fp", TokenFingerprint(token), "state", v.State)
		return "", &JoinClosedError{View: v}
	}
	plain, err := s.keys.Open(rec.redeemSealed, []byte(rec.ID))
	if err != nil {
		s.log.ErrorContext(ctx, "invite: redemption URL cannot be opened", "invitation", rec.ID, "token_fp", TokenFingerprint(token), "err", err)
		return "", ErrJoinGone
	}
	d := auditDetail{InvitationID: rec.ID, JoinLinkID: l.ID, TokenFingerprint: TokenFingerprint(token), Note: "partner accepted through the join link"}
	ev := s.event(Inviter{TenantID: rec.TenantID}, meta, ActionJoinLinkAccept, rec.Email, OutcomeSuccess, "", d)
	hist := &store.InvitationEvent{InvitationID: rec.ID, Time: ev.Time, Kind: store.EventAcceptStarted}
	actx, cancel := s.detach(ctx)
	defer cancel()
	if err := s.store.Tx(actx, func(tx Store) error {
		if err := tx.AppendInvitationEvent(actx, hist); err != nil {
			return err
		}
		return tx.AppendAudit(actx, ev)
	}); err != nil {
		s.log.ErrorContext(ctx, "invite: audit append failed", "action", ev.Action, "request_id", ev.RequestID, "err", err)
		return "", fmt.Errorf("invite: auditing the acceptance: %w", err)
	}
	// The partner is on the way to Microsoft: make the next page view re-read the state from Graph
	// instead of trusting a recent check.
	if err := s.store.UpdateInvitationState(ctx, rec.ID, rec.ExternalUserState, rec.ExternalUserStateChangedAt, time.Unix(0, 0).UTC()); err != nil {
		s.log.WarnContext(ctx, "invite: marking state for refresh failed", "invitation", rec.ID, "err", err)
	}
	s.log.InfoContext(ctx, "invite: join link accepted", "request_id", meta.RequestID, "invitation", rec.ID, "token_fp", TokenFingerprint(token))
	return string(plain), nil
}

// resolveJoin finds the link and invitation behind a token, whatever their state; unknown and
// malformed tokens, and links of invitations without a readable redemption URL, are ErrJoinGone.
// A store failure is returned as is.
func (s *Service) resolveJoin(ctx context.Context, token string, meta Meta) (*JoinLink, *Invitation, error) {
	gone := func(reason string) (*JoinLink, *Invitation, error) {
		s.log.InfoContext(ctx, "invite: join link refused", "request_id", meta.RequestID, "token_fp", TokenFingerprint(token), "reason", reason)
		return nil, nil, ErrJoinGone
	}
	if !wellFormedToken(token) {
		return gone("malformed")
	}
	l, err := s.store.JoinLinkByHash(ctx, tokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return gone("unknown")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("invite: looking up the join link: %w", err)
	}
	rec, err := s.store.GetInvitation(ctx, l.InvitationID)
	if errors.Is(err, store.ErrNotFound) {
		return gone("invitation missing")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("invite: reading the invitation: %w", err)
	}
	if !rec.Created() {
		return gone("not created")
	}
	if l.RevokedAt == nil && !rec.accepted() && !s.redeemReadable(rec) {
		// No redemption URL, or its data key was retired: the partner could view the page but never accept.
		return gone("redemption URL unreadable")
	}
	return l, rec, nil
}

// redeemReadable reports whether the invitation's sealed redemption URL still opens with the
// current keys.
func (s *Service) redeemReadable(rec *Invitation) bool {
	if len(rec.redeemSealed) == 0 {
		return false
	}
	_, err := s.keys.Open(rec.redeemSealed, []byte(rec.ID))
	return err == nil
}
