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

// JoinView is what the partner's landing page shows about an invitation.
type JoinView struct {
	InvitationID string
	InviterName  string
	InviterEmail string
	InviteeName  string
	InviteeEmail string
	Message      string
	Language     string // "" when the inviter chose none
	ExpiresAt    time.Time
}

// OpenJoin resolves a join token for the partner's landing page and counts the visit.
// Unknown, malformed, revoked and expired tokens all return ErrJoinGone.
func (s *Service) OpenJoin(ctx context.Context, token string, meta Meta) (*JoinView, error) {
	l, rec, err := s.resolveJoin(ctx, token, meta)
	if err != nil {
		return nil, err
	}
	if err := s.store.RecordJoinOpen(ctx, l.ID, s.now().UTC()); err != nil {
		s.log.WarnContext(ctx, "invite: join open not counted", "token_fp", TokenFingerprint(token), "err", err)
	}
	return &JoinView{
		InvitationID: rec.ID,
		InviterName:  rec.InviterName,
		InviterEmail: rec.InviterUPN,
		InviteeName:  rec.DisplayName,
		InviteeEmail: rec.Email,
		Message:      rec.Message,
		Language:     rec.Language,
		ExpiresAt:    l.ExpiresAt,
	}, nil
}

// AcceptJoin returns the Microsoft redemption URL behind a join token and audits the acceptance.
// Unknown, malformed, revoked and expired tokens return ErrJoinGone. Join links exist only for
// invitations whose redemption URL Portico holds; if that URL can no longer be opened (its key was
// retired), the link is treated as gone too, so the partner is asked for a new link.
func (s *Service) AcceptJoin(ctx context.Context, token string, meta Meta) (string, error) {
	l, rec, err := s.resolveJoin(ctx, token, meta)
	if err != nil {
		return "", err
	}
	plain, err := s.keys.Open(rec.redeemSealed, []byte(rec.ID))
	if err != nil {
		s.log.ErrorContext(ctx, "invite: redemption URL cannot be opened", "invitation", rec.ID, "token_fp", TokenFingerprint(token), "err", err)
		return "", ErrJoinGone
	}
	d := auditDetail{InvitationID: rec.ID, JoinLinkID: l.ID, TokenFingerprint: TokenFingerprint(token), Note: "partner accepted through the join link"}
	ev := s.event(Inviter{TenantID: rec.TenantID}, meta, ActionJoinLinkAccept, rec.Email, OutcomeSuccess, "", d)
	if err := s.audit(ctx, ev); err != nil {
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

// resolveJoin finds the live link and invitation behind a token; every failure is ErrJoinGone
// except a store failure, which is returned as is.
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
	now := s.now()
	switch {
	case l.RevokedAt != nil:
		return gone("revoked")
	case !now.Before(l.ExpiresAt):
		return gone("expired")
	}
	rec, err := s.store.GetInvitation(ctx, l.InvitationID)
	if errors.Is(err, store.ErrNotFound) {
		return gone("invitation missing")
	}
	if err == nil && !s.redeemReadable(rec) {
		// Its data key was retired: the partner could view the page but never accept.
		return gone("redemption URL unreadable")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("invite: reading the invitation: %w", err)
	}
	if rec.Outcome != OutcomeCreated || len(rec.redeemSealed) == 0 {
		return gone("no redemption URL")
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
