package invite

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"portico/store"
)

// HistoryKind names one kind of entry in a partner record's history.
type HistoryKind string

// Kinds of history entries.
const (
	HistorySent          HistoryKind = store.EventSent
	HistoryResent        HistoryKind = store.EventResent
	HistoryResendFailed  HistoryKind = store.EventResendFailed
	HistoryLinkCreated   HistoryKind = store.EventLinkCreated
	HistoryLinkRevoked   HistoryKind = store.EventLinkRevoked
	HistorySuperseded    HistoryKind = store.EventSuperseded
	HistoryRevealed      HistoryKind = store.EventRevealed
	HistoryAcceptStarted HistoryKind = store.EventAcceptStarted
	HistoryOpened        HistoryKind = "opened"   // a join link was opened (first, last, count)
	HistoryAccepted      HistoryKind = "accepted" // Graph reports the partner accepted
	// HistoryOthers stands for records of the partner that the viewer may not see: it carries no
	// time, name or detail.
	HistoryOthers HistoryKind = "others"
)

// HistoryEntry is one line of a partner record's history, as the viewer may see it.
type HistoryEntry struct {
	Kind      HistoryKind
	Time      time.Time // zero for HistoryOthers
	Text      string    // for people
	RequestID string    // Graph's request id, when the entry is a call to Graph
}

// Sentences of HistoryOthers.
const (
	othersEarlier = "Invited earlier by someone in your organization."
	othersLater   = "Invited again by someone in your organization."
)

// History returns the history of the partner of invitation id as inv may see it, oldest first:
// sends, resends, join link activity, reveals and acceptance of every record of that partner the
// viewer may see (their own; every record for an administrator), from the records' events, join
// links and state. Records of other employees are reduced to one line without any detail.
func (s *Service) History(ctx context.Context, inv Inviter, id string) ([]HistoryEntry, error) {
	rec, err := s.visible(ctx, inv, id)
	if err != nil {
		return nil, err
	}
	group, err := s.store.InvitationHistory(ctx, rec.ID)
	if err != nil {
		return nil, fmt.Errorf("invite: reading history: %w", err)
	}
	var ids []string
	earlier, later := false, false
	for i := range group {
		r := &group[i]
		switch {
		case r.TenantID != rec.TenantID:
		case canSee(inv, r):
			ids = append(ids, r.ID)
		case r.CreatedAt.Before(rec.CreatedAt):
			earlier = true
		default:
			later = true
		}
	}
	evs, err := s.store.InvitationEvents(ctx, ids...)
	if err != nil {
		return nil, fmt.Errorf("invite: reading history: %w", err)
	}
	var out []HistoryEntry
	for _, ev := range evs {
		if ev.Kind == store.EventSuperseded && ev.ActorOID != inv.ObjectID && !inv.SeesAll() {
			// Someone else's invitation replaced the link: say so, not who.
			ev.ActorName = ""
		}
		out = append(out, HistoryEntry{Kind: HistoryKind(ev.Kind), Time: ev.Time, Text: eventText(ev), RequestID: ev.GraphRequestID})
	}
	for _, rid := range ids {
		links, err := s.store.JoinLinks(ctx, rid)
		if err != nil {
			return nil, fmt.Errorf("invite: reading history: %w", err)
		}
		for _, l := range links {
			if l.OpenCount == 0 || l.FirstOpenedAt == nil {
				continue
			}
			text := "The partner opened the join link " + times(l.OpenCount)
			if l.OpenCount > 1 && l.LastOpenedAt != nil {
				text += ", last on " + l.LastOpenedAt.UTC().Format("2 Jan 2006, 15:04 UTC") // the format of the pages
			}
			out = append(out, HistoryEntry{Kind: HistoryOpened, Time: *l.FirstOpenedAt, Text: text + "."})
		}
	}
	if rec.accepted() {
		when := rec.ExternalUserStateChangedAt
		if when == nil {
			when = rec.StateCheckedAt
		}
		e := HistoryEntry{Kind: HistoryAccepted, Text: "The partner accepted the invitation."}
		if when != nil {
			e.Time = *when
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b HistoryEntry) int { return a.Time.Compare(b.Time) })
	if earlier {
		out = append([]HistoryEntry{{Kind: HistoryOthers, Text: othersEarlier}}, out...)
	}
	if later {
		out = append(out, HistoryEntry{Kind: HistoryOthers, Text: othersLater})
	}
	return out, nil
}

func eventText(ev store.InvitationEvent) string {
	by := ""
	if ev.ActorName != "" {
		by = " by " + ev.ActorName
	}
	failed := ""
	if ev.Outcome != "" && ev.Outcome != string(OutcomeCreated) {
		failed = " (not sent: " + stateOf(Outcome(ev.Outcome)).Label() + ")"
	}
	switch ev.Kind {
	case store.EventSent:
		return "Sent" + by + failed + "."
	case store.EventResent:
		return "Sent again" + by + "; the previous join link was replaced."
	case store.EventResendFailed:
		return "Sending again" + by + " failed; the invitation and its link are unchanged."
	case store.EventLinkCreated:
		return "New join link" + by + "; the previous one stopped working."
	case store.EventLinkRevoked:
		return "Join link revoked" + by + "."
	case store.EventSuperseded:
		if by == "" {
			return "The join link was replaced by a newer invitation from someone in your organization."
		}
		return "The join link was replaced by a newer invitation" + by + "."
	case store.EventRevealed:
		return "Microsoft's redemption link was revealed" + by + "."
	case store.EventAcceptStarted:
		return "The partner pressed Accept on the join page."
	}
	return ev.Kind
}

// stateOf is the State of a record whose attempt had outcome o (and has not been accepted).
func stateOf(o Outcome) State {
	r := Invitation{Outcome: o}
	return r.State()
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return strconv.Itoa(n) + " times"
}
