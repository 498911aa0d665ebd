package invite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"portico/notify"
	"portico/store"
)

// NoticeStore is what notices need from the store besides Store (StoreAdapter has it, also inside
// Tx): the notice is written in the transaction that records its event.
type NoticeStore interface {
	EnqueueNotice(ctx context.Context, n *store.Notice) (created bool, err error)
}

var _ NoticeStore = (*StoreAdapter)(nil)

// EnqueueNotice writes one queued notice unless the same event was already noted for the address.
func (a *StoreAdapter) EnqueueNotice(ctx context.Context, n *store.Notice) (bool, error) {
	return a.q.EnqueueNotice(ctx, n)
}

// noticeSettings are which notices are on and what to call once some were written.
type noticeSettings struct {
	kinds  notify.Kinds
	queued func(ctx context.Context) // hands them to the job queue (jobs.Runner.DispatchNotices)
}

// SetNotices switches notices of kinds on (nil or empty: all off) and names what to call after a
// transaction that wrote some has committed (the job queue's dispatch; nil: its periodic run only).
func (s *Service) SetNotices(kinds notify.Kinds, queued func(ctx context.Context)) {
	s.notices.Store(&noticeSettings{kinds: kinds, queued: queued})
}

// NoticeOn reports whether notices of kind k are on.
func (s *Service) NoticeOn(k notify.Kind) bool {
	ns := s.notices.Load()
	return ns != nil && ns.kinds.On(k)
}

// Notify writes n's notices with st, the Store of the transaction that records n's event (or the
// service's own store), when n's kind is on; it returns how many were new. After the transaction
// commits, call NoticesQueued. Nobody gets two notices for one n.EventKey.
func (s *Service) Notify(ctx context.Context, st Store, n notify.Notice) (int, error) {
	if !s.NoticeOn(n.Kind) {
		return 0, nil
	}
	q, ok := st.(NoticeStore)
	if !ok {
		return 0, errors.New("invite: the store cannot keep notices")
	}
	created, err := notify.Enqueue(ctx, q, n)
	if errors.Is(err, notify.ErrNoRecipient) {
		s.log.WarnContext(ctx, "invite: notice has nobody to tell", "kind", n.Kind, "event", n.EventKey)
		return 0, nil
	}
	return created, err
}

// NoticesQueued hands notices written by a committed transaction to the job queue at once.
func (s *Service) NoticesQueued(ctx context.Context) {
	if ns := s.notices.Load(); ns != nil && ns.queued != nil {
		ns.queued(context.WithoutCancel(ctx))
	}
}

// invitationLink is the invitation's page in Portico (sign-in required; never a token).
func (s *Service) invitationLink(id string) string {
	if s.publicURL == "" {
		return ""
	}
	return s.publicURL + "/invitations/" + id
}

// acceptedNotice tells the inviter (and, once recorded, the sponsors) that rec's partner accepted.
func (s *Service) acceptedNotice(rec *Invitation, sponsors []store.InvitationSponsor) notify.Notice {
	partner := rec.DisplayName
	if partner == "" {
		partner = rec.Email
	}
	return notify.Notice{Kind: notify.KindInvitationAccepted, EventKey: notify.EventKey(notify.KindInvitationAccepted, rec.ID),
		To: acceptedRecipients(rec, sponsors), Link: s.invitationLink(rec.ID),
		Data: map[string]string{notify.DataPartner: partner, notify.DataPartnerEmail: rec.Email}}
}

// acceptedRecipients are the people told that rec's partner accepted: the inviter, then the
// sponsors named with the invitation (the same address twice is one notice; a sponsor without a
// usable address is left out).
func acceptedRecipients(rec *Invitation, sponsors []store.InvitationSponsor) []notify.Recipient {
	out := []notify.Recipient{{Address: inviterAddress(rec), Name: rec.InviterName}}
	for _, sp := range sponsors {
		if sp.SponsorOID == rec.InviterOID {
			continue
		}
		if _, err := notify.PlainAddress(sp.Address); err != nil {
			continue
		}
		out = append(out, notify.Recipient{Address: sp.Address, Name: sp.DisplayName})
	}
	return out
}

// invitationSponsors reads the sponsors recorded with invitation id in tx (none when the store
// does not keep them).
func (s *Service) invitationSponsors(ctx context.Context, tx Store, id string) ([]store.InvitationSponsor, error) {
	as, ok := tx.(AccessStore)
	if !ok {
		return nil, nil
	}
	return as.InvitationSponsors(ctx, id)
}

// inviterAddress is where the inviter is reached: their user principal name, which in Entra is
// an address of the organisation (the record keeps no other), or "" when it is not one.
func inviterAddress(rec *Invitation) string {
	if _, err := notify.PlainAddress(rec.InviterUPN); err != nil {
		return ""
	}
	return rec.InviterUPN
}

// saveState records a partner's state as read from Graph. When it is the first time the record
// is seen Accepted, the invitation.accepted webhook event and the "accepted" notice are written in
// the same transaction, so it exists
// exactly when the state does (a crash between the two is impossible), and exactly once (the
// notice's unique key absorbs two instances seeing the change together).
func (s *Service) saveState(ctx context.Context, rec *Invitation, state string, changedAt *time.Time, checkedAt time.Time) error {
	if !strings.EqualFold(state, stateAccepted) || rec.accepted() {
		return s.store.UpdateInvitationState(ctx, rec.ID, state, changedAt, checkedAt)
	}
	created := 0
	err := s.store.Tx(ctx, func(tx Store) error {
		cur, err := tx.GetInvitation(ctx, rec.ID)
		if err != nil {
			return err
		}
		if err := tx.UpdateInvitationState(ctx, rec.ID, state, changedAt, checkedAt); err != nil {
			return err
		}
		if cur.accepted() {
			return nil
		}
		// Webhook receivers hear of it in the same transaction, once (the event id is the record's).
		acc := *cur
		acc.ExternalUserState, acc.ExternalUserStateChangedAt = stateAccepted, changedAt
		if err := s.emitAccepted(ctx, tx, &acc, changedAt); err != nil {
			return err
		}
		if !s.NoticeOn(notify.KindInvitationAccepted) {
			return nil
		}
		sponsors, err := s.invitationSponsors(ctx, tx, cur.ID)
		if err != nil {
			return fmt.Errorf("invite: sponsors of %s: %w", rec.ID, err)
		}
		n, err := s.Notify(ctx, tx, s.acceptedNotice(cur, sponsors))
		if err != nil {
			return fmt.Errorf("invite: accepted notice of %s: %w", rec.ID, err)
		}
		created = n
		return nil
	})
	if err == nil && created > 0 {
		s.log.InfoContext(ctx, "invite: partner accepted; notice queued", "invitation", rec.ID, "recipients", created)
		s.NoticesQueued(ctx)
	}
	return err
}

// recordOpen counts a visit of link l of rec. The first visit of any of rec's links also writes the
// "join link opened" notice to the inviter (when that kind is on, PORTICO_NOTICES), in the same
// transaction; the event key is the invitation's, so a replaced link opened later tells nobody again.
func (s *Service) recordOpen(ctx context.Context, l *JoinLink, rec *Invitation) error {
	now := s.now().UTC()
	if l.FirstOpenedAt != nil || !s.NoticeOn(notify.KindJoinLinkOpened) {
		return s.store.RecordJoinOpen(ctx, l.ID, now)
	}
	partner := rec.DisplayName
	if partner == "" {
		partner = rec.Email
	}
	created := 0
	err := s.store.Tx(ctx, func(tx Store) error {
		if err := tx.RecordJoinOpen(ctx, l.ID, now); err != nil {
			return err
		}
		n, err := s.Notify(ctx, tx, notify.Notice{Kind: notify.KindJoinLinkOpened,
			EventKey: notify.EventKey(notify.KindJoinLinkOpened, rec.ID),
			To:       []notify.Recipient{{Address: inviterAddress(rec), Name: rec.InviterName}},
			Link:     s.invitationLink(rec.ID),
			Data:     map[string]string{notify.DataPartner: partner, notify.DataPartnerEmail: rec.Email}})
		created = n
		return err
	})
	if err == nil && created > 0 {
		s.NoticesQueued(ctx)
	}
	return err
}
