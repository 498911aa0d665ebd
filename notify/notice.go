// Package notify sends Portico's email notices (a request waiting for an approver, approved or
// denied, an invitation accepted, a join link opened) over SMTP or Graph's sendMail, durably: a
// notice is a row per event and recipient (store.Notice) written with the event that caused it,
// then delivered by a job with retries; each ends sent or failed, recorded, never sent twice.
// It knows nothing of invitation rules: callers say who is told what.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"portico/store"
)

// Kind is what a notice is about.
type Kind string

// Notice kinds (PORTICO_NOTICES names them).
const (
	KindApprovalWaiting    Kind = "approval.waiting"    // to approvers: a request waits for a decision
	KindApprovalApproved   Kind = "approval.approved"   // to the requester: approved and sent
	KindApprovalDenied     Kind = "approval.denied"     // to the requester: denied, with the reason
	KindInvitationAccepted Kind = "invitation.accepted" // to the inviter and sponsors: the partner accepted
	KindJoinLinkOpened     Kind = "joinlink.opened"     // to the inviter: the partner opened the join link the first time
	KindInvitationReminded Kind = "invitation.reminded" // to the inviter: Portico resent a pending invitation (PORTICO_REMIND_AFTER)
	KindGuestExpiring      Kind = "guest.expiring"      // to the inviter: a never-accepted guest will be disabled or deleted soon
	KindReviewDue          Kind = "review.due"          // to the inviter and sponsors: a guest is due for review
	KindGuestActionSoon    Kind = "guest.action_soon"   // to the reviewers: without an answer the guest is disabled or deleted soon
)

// AllKinds lists every kind, in the order the documentation gives them.
var AllKinds = []Kind{KindApprovalWaiting, KindApprovalApproved, KindApprovalDenied, KindInvitationAccepted, KindJoinLinkOpened,
	KindInvitationReminded, KindGuestExpiring, KindReviewDue, KindGuestActionSoon}

// DefaultKinds are the kinds on when PORTICO_NOTICES is not set: all but the first opens.
var DefaultKinds = Kinds{KindApprovalWaiting: true, KindApprovalApproved: true, KindApprovalDenied: true, KindInvitationAccepted: true,
	KindInvitationReminded: true, KindGuestExpiring: true, KindReviewDue: true, KindGuestActionSoon: true}

// Kinds is the set of kinds that are on.
type Kinds map[Kind]bool

// On reports whether k is on.
func (ks Kinds) On(k Kind) bool { return ks[k] }

// String lists the kinds that are on, comma-separated, or "none".
func (ks Kinds) String() string {
	var on []string
	for _, k := range AllKinds {
		if ks[k] {
			on = append(on, string(k))
		}
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, ",")
}

// ParseKinds reads PORTICO_NOTICES: "all", "none", or a comma-separated list of kinds.
func ParseKinds(s string) (Kinds, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "all":
		ks := Kinds{}
		for _, k := range AllKinds {
			ks[k] = true
		}
		return ks, nil
	case "none", "off":
		return Kinds{}, nil
	}
	ks := Kinds{}
	for f := range strings.SplitSeq(s, ",") {
		k := Kind(strings.ToLower(strings.TrimSpace(f)))
		if k == "" {
			continue
		}
		if !slices.Contains(AllKinds, k) {
			return nil, fmt.Errorf("unknown notice kind %q (known: all, none, %s)", f, Kinds{}.known())
		}
		ks[k] = true
	}
	return ks, nil
}

func (Kinds) known() string {
	s := make([]string, len(AllKinds))
	for i, k := range AllKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Recipient is one person told about an event. Language is a BCP 47 tag ("fr-FR") or "" (English).
type Recipient struct {
	Address  string
	Name     string
	Language string
}

// Notice is one event to tell people about: Kind, a key naming the event (nobody gets two notices
// for one key), the people, a link back to Portico (a page that needs sign-in: never a join token
// or a redemption URL), and the facts the message shows (see the Data* keys).
type Notice struct {
	Kind     Kind
	EventKey string
	To       []Recipient
	Link     string
	Data     map[string]string
}

// Keys of Notice.Data the messages use.
const (
	DataPartner      = "partner"       // the partner's name or address
	DataPartnerEmail = "partner_email" // the partner's address
	DataRequester    = "requester"     // who asked (approvals)
	DataApprover     = "approver"      // who decided (approvals)
	DataReason       = "reason"        // why approval is needed, or why it was denied
	DataOrg          = "org"           // the organisation's name, when known
	DataDate         = "date"          // reviews: the day the answer is due (YYYY-MM-DD)
	DataAction       = "action"        // reviews: what happens without an answer (report, disable, delete)
)

// EventKey builds an event key from its parts, e.g. EventKey(KindInvitationAccepted, recordID).
func EventKey(k Kind, id ...string) string { return string(k) + ":" + strings.Join(id, ":") }

// Queue is where notices are written: store.Queries, inside the transaction that records the
// event when there is one (store.DB.InTx), so the notice exists exactly when the event does.
type Queue interface {
	EnqueueNotice(ctx context.Context, n *store.Notice) (created bool, err error)
}

var _ Queue = (*store.Queries)(nil)

// ErrNoRecipient is returned by Enqueue for a notice without any usable address.
var ErrNoRecipient = errors.New("notify: the notice has no recipient with an address")

// Enqueue writes one queued notice per distinct recipient of n and returns how many were new: a
// recipient already told about n.EventKey (the event seen twice, by two instances, or listed twice)
// adds nothing. Recipients without an address are skipped; an address that is not one plain
// address (a name part, line breaks, two addresses) is an error and nothing is written by the
// caller's transaction. The job queue sends them (Dispatch).
func Enqueue(ctx context.Context, q Queue, n Notice) (int, error) {
	if n.EventKey == "" || !slices.Contains(AllKinds, n.Kind) {
		return 0, fmt.Errorf("notify: enqueue: a known kind and an event key are required (kind %q)", n.Kind)
	}
	created := 0
	found := false
	for _, r := range n.To {
		if strings.TrimSpace(r.Address) == "" {
			continue
		}
		addr, err := PlainAddress(r.Address)
		if err != nil {
			return created, fmt.Errorf("notify: enqueue %s: %w", n.EventKey, err)
		}
		found = true
		ok, err := q.EnqueueNotice(ctx, &store.Notice{EventKey: n.EventKey, Kind: string(n.Kind), Address: addr,
			Name: oneLine(r.Name), Language: r.Language, Link: n.Link, Data: n.Data})
		if err != nil {
			return created, fmt.Errorf("notify: enqueue %s: %w", n.EventKey, err)
		}
		if ok {
			created++
		}
	}
	if !found {
		return 0, ErrNoRecipient
	}
	return created, nil
}

// PlainAddress checks that s is exactly one email address without a display name and returns it
// trimmed: what goes into a To header or Graph's toRecipients cannot carry another header.
func PlainAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\r\n\x00<>,;\"") || len(s) > 254 {
		return "", fmt.Errorf("notify: %q is not one plain email address", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", fmt.Errorf("notify: %q is not one plain email address", s)
	}
	return s, nil
}

// oneLine makes s safe for a mail header: control characters (CR, LF, NUL, tabs...) become
// spaces, runs of spaces one space, and the result is at most 200 runes.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			r = ' '
		}
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
	}
	out := strings.TrimSpace(b.String())
	if rs := []rune(out); len(rs) > 200 {
		out = string(rs[:199]) + "…"
	}
	return out
}
