package invite

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"

	"portico/store"
)

// Resend invites the guest of a pending invitation again with the same address and options and
// updates the same record: new Graph invitation, redemption URL and send time, same id and inviter,
// one more history entry; the previous join links stop working (superseded). Only the original
// inviter or an administrator may resend.
func (s *Service) Resend(ctx context.Context, ts oauth2.TokenSource, inv Inviter, id string, meta Meta) (*Result, error) {
	orig, err := s.visible(ctx, inv, id)
	if err != nil {
		return nil, err
	}
	if err := decideActions(inv, orig).Resend.Err(); err != nil {
		return nil, err
	}
	owner := orig.owner()
	req := Request{
		DisplayName: orig.DisplayName,
		Email:       orig.Email,
		Message:     orig.Message,
		CC:          orig.CCAddress,
		RedirectURL: orig.RedirectURL,
		Language:    orig.Language,
		UserType:    orig.UserType,
		SendEmail:   orig.SendEmail,
		Resend:      true,
	}
	return s.send(ctx, ts, &attempt{s: s, actor: inv, owner: owner, meta: meta, action: ActionInvitationResend, resendOf: orig.ID, existing: orig}, req)
}

// RevealRedeemURL returns the stored Microsoft redemption URL to the inviter or an administrator,
// recording each reveal in the audit trail; anyone else gets ErrNotFound (and a denied audit event).
func (s *Service) RevealRedeemURL(ctx context.Context, inv Inviter, id string, meta Meta) (string, error) {
	rec, err := s.visible(ctx, inv, id)
	if errors.Is(err, ErrNotFound) {
		_ = s.audit(ctx, s.event(inv, meta, ActionInvitationReveal, id, OutcomeDenied, "", auditDetail{InvitationID: id}))
		return "", ErrNotFound
	}
	if err != nil {
		return "", err
	}
	if err := decideActions(inv, rec).RevealRedeemURL.Err(); err != nil {
		return "", err
	}
	plain, err := s.keys.Open(rec.redeemSealed, []byte(rec.ID))
	if err != nil {
		// Sealed under a data key that has since been retired: as good as not stored.
		s.log.WarnContext(ctx, "invite: redemption URL cannot be opened", "invitation", rec.ID, "err", err)
		return "", ErrNoRedeemURL
	}
	// No audit record, no reveal.
	ev := s.event(inv, meta, ActionInvitationReveal, rec.Email, OutcomeSuccess, "", auditDetail{InvitationID: rec.ID})
	if err := s.auditWithHistory(ctx, ev, rec.ID, store.EventRevealed, inv); err != nil {
		return "", fmt.Errorf("invite: auditing the reveal: %w", err)
	}
	return string(plain), nil
}

// JoinURL rebuilds the active join link of an invitation for its inviter or an administrator.
// It returns "" and a nil link when the invitation has no active link; the link may have expired
// (see its ExpiresAt). The URL is "" with a non-nil link when the token's key has been retired:
// the inviter can issue a new link.
func (s *Service) JoinURL(ctx context.Context, inv Inviter, id string) (string, *JoinLink, error) {
	rec, err := s.visible(ctx, inv, id)
	if err != nil {
		return "", nil, err
	}
	l, err := s.store.ActiveJoinLink(ctx, rec.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("invite: reading the join link: %w", err)
	}
	token, err := s.keys.Open(l.tokenSealed, tokenAAD(l.ID))
	if err != nil {
		s.log.WarnContext(ctx, "invite: join token cannot be opened", "invitation", rec.ID, "link", l.ID, "err", err)
		return "", l, nil
	}
	return s.joinURL(string(token)), l, nil
}

// NewJoinLink revokes the invitation's join links and issues a new one.
func (s *Service) NewJoinLink(ctx context.Context, inv Inviter, id string, meta Meta) (string, *JoinLink, error) {
	rec, err := s.visible(ctx, inv, id)
	if err != nil {
		return "", nil, err
	}
	if err := decideActions(inv, rec).NewJoinLink.Err(); err != nil || !s.redeemReadable(rec) {
		return "", nil, ErrNoRedeemURL
	}
	l, token, err := s.newLink(rec.ID)
	if err != nil {
		return "", nil, err
	}
	ev := s.event(inv, meta, ActionJoinLinkCreate, rec.Email, OutcomeSuccess, "",
		auditDetail{InvitationID: rec.ID, JoinLinkID: l.ID, TokenFingerprint: TokenFingerprint(token)})
	if err := s.store.Tx(ctx, func(tx Store) error {
		if _, err := tx.SupersedeJoinLinks(ctx, rec.ID, l.CreatedAt); err != nil {
			return err
		}
		if err := tx.CreateJoinLink(ctx, l); err != nil {
			return err
		}
		if err := tx.AppendInvitationEvent(ctx, historyEvent(ev, rec.ID, store.EventLinkCreated, inv)); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, ev)
	}); err != nil {
		return "", nil, fmt.Errorf("invite: creating the join link: %w", err)
	}
	return s.joinURL(token), l, nil
}

// RevokeJoinLink revokes every join link of the invitation.
func (s *Service) RevokeJoinLink(ctx context.Context, inv Inviter, id string, meta Meta) error {
	rec, err := s.visible(ctx, inv, id)
	if err != nil {
		return err
	}
	ev := s.event(inv, meta, ActionJoinLinkRevoke, rec.Email, OutcomeSuccess, "", auditDetail{InvitationID: rec.ID})
	if err := s.store.Tx(ctx, func(tx Store) error {
		if err := tx.RevokeJoinLinks(ctx, rec.ID, s.now().UTC()); err != nil {
			return err
		}
		if err := tx.AppendInvitationEvent(ctx, historyEvent(ev, rec.ID, store.EventLinkRevoked, inv)); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, ev)
	}); err != nil {
		return fmt.Errorf("invite: revoking the join link: %w", err)
	}
	return nil
}

// historyEvent is the history entry of record id for an audited action of inv.
func historyEvent(ev *store.AuditEvent, id, kind string, inv Inviter) *store.InvitationEvent {
	return &store.InvitationEvent{InvitationID: id, Time: ev.Time, Kind: kind, ActorOID: inv.ObjectID, ActorName: inv.Name}
}

// auditWithHistory appends the audit event and record id's history entry in one transaction that
// the caller's cancellation does not cut short; a failure is logged and returned.
func (s *Service) auditWithHistory(ctx context.Context, ev *store.AuditEvent, id, kind string, inv Inviter) error {
	actx, cancel := s.detach(ctx)
	defer cancel()
	err := s.store.Tx(actx, func(tx Store) error {
		if err := tx.AppendInvitationEvent(actx, historyEvent(ev, id, kind, inv)); err != nil {
			return err
		}
		return tx.AppendAudit(actx, ev)
	})
	if err != nil {
		s.log.ErrorContext(ctx, "invite: audit append failed", "action", ev.Action, "outcome", ev.Outcome, "request_id", ev.RequestID, "err", err)
	}
	return err
}
