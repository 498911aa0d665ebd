package invite

import (
	"context"
	"errors"
	"strings"

	"portico/notify"
	"portico/store"
)

// approvalNotice is the notice of r's event of kind: a request waiting (to the assigned manager
// and PORTICO_APPROVAL_NOTIFY), approved or denied (to the requester). Its link is the request's
// page, which needs sign-in; it carries no token. Recipients without a plain address are left out.
func (a *Approvals) approvalNotice(r *ApprovalRequest, kind notify.Kind) *notify.Notice {
	partner := r.Request.DisplayName
	if partner == "" {
		partner = r.Email
	}
	data := map[string]string{notify.DataPartner: partner, notify.DataPartnerEmail: r.Email,
		notify.DataRequester: nameOf(r.Requester)}
	var to []notify.Recipient
	switch kind {
	case notify.KindApprovalWaiting:
		if r.Assigned.Email != "" {
			to = append(to, notify.Recipient{Address: r.Assigned.Email, Name: r.Assigned.Name})
		}
		for _, addr := range a.policy.Notify {
			to = append(to, notify.Recipient{Address: addr})
		}
		why := make([]string, len(r.Reasons))
		for i, x := range r.Reasons {
			why[i] = x.Text
		}
		data[notify.DataReason] = strings.Join(why, " ")
	case notify.KindApprovalApproved, notify.KindApprovalDenied:
		addr := r.Requester.Email
		if _, err := notify.PlainAddress(addr); err != nil {
			addr = r.Requester.UPN // in Entra an address of the organisation
		}
		to = append(to, notify.Recipient{Address: addr, Name: r.Requester.Name})
		data[notify.DataApprover] = nameOf(r.DecidedBy)
		if kind == notify.KindApprovalDenied {
			data[notify.DataReason] = r.DecisionReason
		}
	}
	kept := to[:0]
	for _, rc := range to {
		if _, err := notify.PlainAddress(rc.Address); err == nil {
			kept = append(kept, rc)
		}
	}
	link := ""
	if a.s.publicURL != "" {
		link = a.s.publicURL + "/approvals/" + r.ID
	}
	return &notify.Notice{Kind: kind, EventKey: notify.EventKey(kind, r.ID), To: kept, Link: link, Data: data}
}

func nameOf(p Person) string {
	if p.Name != "" {
		return p.Name
	}
	return p.UPN
}

// enqueue writes n's notices with tx, the transaction that records its event, when its kind is
// on (PORTICO_NOTICES); it returns how many were new. Nobody gets two notices for one event.
func (a *Approvals) enqueue(ctx context.Context, tx ApprovalStore, n *notify.Notice) (int, error) {
	if n == nil || !a.s.NoticeOn(n.Kind) {
		return 0, nil
	}
	created, err := notify.Enqueue(ctx, tx, *n)
	if errors.Is(err, notify.ErrNoRecipient) {
		a.log.InfoContext(ctx, "approvals: nobody to tell", "kind", string(n.Kind), "event", n.EventKey)
		return 0, nil
	}
	return created, err
}

var _ notify.Queue = ApprovalStore(nil)

// noticeQueue is the part of the store notices are written with (store.Queries has it).
type noticeQueue interface {
	EnqueueNotice(ctx context.Context, n *store.Notice) (created bool, err error)
}
