package invite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"portico/graph"
	"portico/store"
)

// ErrLifecycleNotPossible is returned when an admin's lifecycle action cannot be carried out as
// things are (no application token, permission missing, guest not in the needed state).
var ErrLifecycleNotPossible = errors.New("invite: lifecycle action not possible")

// LifecycleError explains why an admin's lifecycle action was not carried out.
type LifecycleError struct{ Reason string }

func (e *LifecycleError) Error() string { return "invite: lifecycle: " + e.Reason }

// Is makes errors.Is(err, ErrLifecycleNotPossible) true.
func (e *LifecycleError) Is(target error) bool { return target == ErrLifecycleNotPossible }

// graphProblem turns Graph's refusal into a LifecycleError an admin can read (with its request id).
func graphProblem(what string, err error) error {
	var ge *graph.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, graph.ErrUncertain):
		return &LifecycleError{Reason: what + ": Microsoft Graph's answer was lost; it is not sent again. Check the guest in a minute."}
	case errors.As(err, &ge):
		r := what + ": Microsoft Graph answered " + ge.Code + ": " + ge.Message
		if ge.RequestID != "" {
			r += " (request-id " + ge.RequestID + ")"
		}
		return &LifecycleError{Reason: r}
	}
	return err
}

func (l *Lifecycle) adminOnly(admin Inviter) error {
	if !admin.Has(RoleAdministrator) || admin.TenantID != l.tenant {
		return ErrNotFound
	}
	return nil
}

// record reads one pending guest's record (an invitation Portico sent); ErrNotFound otherwise.
func (l *Lifecycle) record(ctx context.Context, invitationID string) (*Invitation, error) {
	rec, err := l.s.store.GetInvitation(ctx, invitationID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (rec.TenantID != l.tenant || rec.GraphUserID == "" || rec.Outcome != OutcomeCreated) {
		return nil, ErrNotFound
	}
	return rec, err
}

func (l *Lifecycle) adminPlanned(rec *Invitation, action, effect, policy string) Planned {
	return Planned{Invitation: *rec, GuestID: rec.GraphUserID, Action: action, Effect: effect, Policy: policy}
}

// Guest is one guest Portico invited, pending or accepted (for reset redemption), by its
// invitation record; ErrNotFound for records Portico did not send or of another tenant.
func (l *Lifecycle) Guest(ctx context.Context, invitationID string) (*GuestLife, error) {
	rec, err := l.record(ctx, invitationID)
	if err != nil {
		return nil, err
	}
	flags, err := l.st.LifecycleGuest(ctx, l.tenant, rec.GraphUserID)
	if errors.Is(err, store.ErrNotFound) {
		flags = nil
	} else if err != nil {
		return nil, err
	}
	logs, err := l.logs(ctx, []Invitation{*rec})
	if err != nil {
		return nil, err
	}
	gl := l.plan(*rec, flags, logs[rec.ID], l.s.now())
	if rec.accepted() && gl.State != GuestDisabled && gl.State != GuestDeleted && gl.State != GuestExempt {
		gl.State, gl.Next, gl.Due = GuestAccepted, nil, nil
	}
	return &gl, nil
}

// SetExempt exempts a guest from every lifecycle rule (or lifts the exemption); admins only.
func (l *Lifecycle) SetExempt(ctx context.Context, admin Inviter, meta Meta, invitationID string, exempt bool, note string) error {
	if err := l.adminOnly(admin); err != nil {
		return err
	}
	rec, err := l.record(ctx, invitationID)
	if err != nil {
		return err
	}
	opted := false
	if g, err := l.st.LifecycleGuest(ctx, l.tenant, rec.GraphUserID); err == nil {
		opted = g.OptedIn
	}
	if err := l.st.SetGuestFlags(ctx, l.tenant, rec.GraphUserID, rec.ID, exempt, opted, note, admin.UPN, l.s.now()); err != nil {
		return err
	}
	what := "exempted from the lifecycle rules"
	if !exempt {
		what = "exemption lifted"
	}
	if note != "" {
		what += ": " + note
	}
	l.auditAction(ctx, admin, meta, ActionLifecycleExempt, l.adminPlanned(rec, "", "", "admin"), OutcomeSuccess, "", what)
	return nil
}

// ActNow applies the expiry action to one guest at once, as the policy would at expiry (an admin's
// decision, audited as theirs); a report-only policy or missing permission reports only.
func (l *Lifecycle) ActNow(ctx context.Context, admin Inviter, meta Meta, invitationID string) (string, error) {
	if err := l.adminOnly(admin); err != nil {
		return "", err
	}
	rec, err := l.record(ctx, invitationID)
	if err != nil {
		return "", err
	}
	if rec.accepted() {
		return "", &LifecycleError{Reason: "the guest accepted the invitation; the pending-guest expiry does not apply"}
	}
	effect, why := l.ExpiryEffect()
	policy := l.policy.expirySetting() + " (act now by " + admin.UPN + ")"
	if effect == EffectReport {
		p := l.adminPlanned(rec, LifecycleReport, EffectReport, policy)
		p.Note = why
		if !l.report(ctx, meta, p) {
			return "", &LifecycleError{Reason: "this guest's expiry was already reported"}
		}
		return EffectReport, nil
	}
	if l.ts != nil {
		st, gone, err := l.g.GuestStatuses(ctx, l.ts, []string{rec.GraphUserID}, false)
		switch {
		case len(gone) == 1:
			return "", &LifecycleError{Reason: "the guest is no longer in the directory"}
		case err != nil:
			return "", graphProblem("Nothing changed", err)
		case st[rec.GraphUserID] != nil && (st[rec.GraphUserID].UserType != "Guest" || st[rec.GraphUserID].CreationType != "Invitation"):
			return "", &LifecycleError{Reason: "the account is not an invited guest; Portico never changes members"}
		}
	}
	ok, _ := l.writeAs(ctx, admin, admin.UPN, meta, []Planned{l.adminPlanned(rec, LifecycleExpire, effect, policy)}, effect)
	if ok != 1 {
		if _, why := l.ExpiryEffect(); why != "" {
			return "", &LifecycleError{Reason: why}
		}
		return "", &LifecycleError{Reason: "Graph did not " + effect + " the guest (see the audit trail); nothing changed"}
	}
	return effect, nil
}

// Restore brings back a guest Portico disabled (accountEnabled true) or deleted (restored from
// deleted items, possible for 30 days after the delete); admins only.
func (l *Lifecycle) Restore(ctx context.Context, admin Inviter, meta Meta, invitationID string) error {
	if err := l.adminOnly(admin); err != nil {
		return err
	}
	rec, err := l.record(ctx, invitationID)
	if err != nil {
		return err
	}
	if l.ts == nil {
		return &LifecycleError{Reason: "Portico has no background identity (application credentials, with PORTICO_BACKGROUND=on in delegated mode)"}
	}
	g, err := l.st.LifecycleGuest(ctx, l.tenant, rec.GraphUserID)
	if errors.Is(err, store.ErrNotFound) || err == nil && g.AccountState != store.GuestDisabled && g.AccountState != store.GuestDeleted {
		return &LifecycleError{Reason: "Portico did not disable or delete this guest"}
	} else if err != nil {
		return err
	}
	p := l.adminPlanned(rec, "", EffectRestore, "restore by "+admin.UPN)
	var rid string
	if g.AccountState == store.GuestDeleted {
		rid, err = l.g.RestoreDeletedUser(ctx, l.ts, rec.GraphUserID)
		if graph.NotFound(err) {
			// Not in deleted items: restored already (a repeat) or purged after 30 days.
			if st, _, rerr := l.g.GuestStatuses(ctx, l.ts, []string{rec.GraphUserID}, false); rerr == nil && st[rec.GraphUserID] != nil {
				err = nil
			} else {
				err = &LifecycleError{Reason: "the guest is no longer in deleted items (deleted guests can be restored for 30 days)"}
			}
		}
	}
	if err == nil {
		// A deleted guest comes back as it was deleted; one Portico disabled is enabled again.
		var r2 string
		if r2, err = l.g.SetAccountEnabled(ctx, l.ts, rec.GraphUserID, true); rid == "" {
			rid = r2
		}
	}
	if err != nil {
		l.auditAction(ctx, admin, meta, ActionLifecycleRestore, p, OutcomeFailed, rid, "not restored: "+err.Error())
		return graphProblem("Not restored", err)
	}
	now := l.s.now()
	if err := l.st.SetGuestAccountState(ctx, l.tenant, rec.GraphUserID, rec.ID, store.GuestEnabled, nil, now); err != nil {
		return err
	}
	// Restored by an admin: the rules leave the guest alone from now on, until the exemption is lifted.
	if err := l.st.SetGuestFlags(ctx, l.tenant, rec.GraphUserID, rec.ID, true, g.OptedIn, "restored by "+admin.UPN, admin.UPN, now); err != nil {
		return err
	}
	l.auditAction(ctx, admin, meta, ActionLifecycleRestore, p, OutcomeSuccess, rid, "guest restored from "+g.AccountState+" and exempted from the rules")
	return nil
}

// ResetRedemption re-invites the guest with resetRedemption (POST /invitations with invitedUser):
// they redeem again, e.g. with a changed address (email, "" keeps the recorded one). Needs
// User.ReadWrite.All. Like any invitation it is never re-sent when Graph's answer is lost.
func (l *Lifecycle) ResetRedemption(ctx context.Context, admin Inviter, meta Meta, invitationID, email string) (*graph.Invitation, error) {
	if err := l.adminOnly(admin); err != nil {
		return nil, err
	}
	rec, err := l.record(ctx, invitationID)
	if err != nil {
		return nil, err
	}
	if ok, why := l.CanResetRedemption(); !ok {
		return nil, &LifecycleError{Reason: why}
	}
	if email == "" {
		email = rec.Email
	} else if email, err = ValidateEmail(email); err != nil {
		return nil, &ValidationError{Fields: FieldErrors{FieldEmail: "Enter one email address, like name@example.com."}}
	}
	in := &graph.Invitation{InvitedUserEmailAddress: email, InviteRedirectURL: rec.RedirectURL, InvitedUserDisplayName: rec.DisplayName,
		SendInvitationMessage: rec.SendEmail}
	if rec.Message != "" || rec.CCAddress != "" {
		in.InvitedUserMessageInfo = &graph.MessageInfo{CustomizedMessageBody: rec.Message}
	}
	p := l.adminPlanned(rec, LifecycleReset, "", "reset redemption by "+admin.UPN)
	// The reset is an invitation (a new email): it is claimed in the log before Graph is called,
	// as the n-th reset of the record, so two clicks or two administrators at once send one.
	prev, err := l.st.ListLifecycleActions(ctx, store.LifecycleFilter{TenantID: l.tenant, Subjects: []string{rec.ID}, Action: LifecycleReset})
	if err != nil {
		return nil, err
	}
	busy := false
	for _, a := range prev {
		p.Step = max(p.Step, a.Step+1)
		busy = busy || a.State == store.LifecycleClaimed && a.LeaseUntil != nil && a.LeaseUntil.After(l.s.now())
	}
	a, ok := (*store.LifecycleAction)(nil), false
	if !busy {
		a, ok = l.claim(ctx, p, admin.UPN)
	}
	if !ok {
		return nil, &LifecycleError{Reason: "A reset of this guest's redemption is already under way. Look at the guest again in a minute."}
	}
	out, err := l.g.ResetRedemption(ctx, l.ts, in, rec.GraphUserID)
	if err != nil {
		if graph.Forbidden(err) {
			l.refuse("reset", "Graph refused resetRedemption (403): Portico's application needs User.ReadWrite.All.")
		}
		note := "not reset: " + err.Error()
		if errors.Is(err, graph.ErrUncertain) {
			note = "outcome unknown, not sent again: " + err.Error()
		}
		l.finish(ctx, a, store.LifecycleFailed, note, err.Error(), "")
		l.auditAction(ctx, admin, meta, ActionLifecycleReset, p, OutcomeFailed, "", note)
		return nil, graphProblem("Redemption not reset", err)
	}
	done := fmt.Sprintf("redemption reset; the guest redeems again at %s", email)
	l.finish(ctx, a, store.LifecycleDone, done, "", out.RequestID)
	l.auditAction(ctx, admin, meta, ActionLifecycleReset, p, OutcomeSuccess, out.RequestID, done)
	return out, nil
}

// DeletedGuests lists the deleted guests Portico deleted that Graph still keeps (restorable), by guest id.
func (l *Lifecycle) DeletedGuests(ctx context.Context) (map[string]graph.DeletedUser, error) {
	if l.ts == nil {
		return nil, nil
	}
	list, err := l.g.ListDeletedUsers(ctx, l.ts)
	if err != nil {
		return nil, err
	}
	out := make(map[string]graph.DeletedUser, len(list))
	for _, d := range list {
		out[d.ID] = d
	}
	return out, nil
}

// Counts are the admin page's totals.
type Counts struct {
	Pending, Reminded, Expiring, Expired, DueForReview, Disabled, Deleted, Exempt int
}

// Count tallies guests by state.
func Count(gs []GuestLife) Counts {
	var c Counts
	for _, g := range gs {
		switch g.State {
		case GuestPending:
			c.Pending++
		case GuestReminded:
			c.Reminded++
			c.Pending++
		case GuestExpiring:
			c.Expiring++
			c.Pending++
		case GuestExpired:
			c.Expired++
		case GuestDisabled:
			c.Disabled++
		case GuestDeleted:
			c.Deleted++
		case GuestExempt:
			c.Exempt++
		}
	}
	return c
}

// Activity is what is known of a guest's last activity: Portico's own records, plus Graph's
// signInActivity when AuditLog.Read.All is granted.
type Activity struct {
	AcceptedAt   *time.Time
	LastJoinOpen *time.Time
	LastSignIn   *time.Time
}

// Activities reads the guests' activity: join-link opens from Portico's records and, when granted,
// signInActivity from Graph ($batch). A 403 turns signInActivity off with the reason kept.
func (l *Lifecycle) Activities(ctx context.Context, gs []GuestLife) map[string]Activity {
	out := map[string]Activity{}
	var ids []string
	for _, g := range gs {
		a := Activity{}
		if g.Invitation.accepted() {
			a.AcceptedAt = g.Invitation.ExternalUserStateChangedAt
		}
		if links, err := l.s.store.JoinLinks(ctx, g.Invitation.ID); err == nil {
			for _, jl := range links {
				if jl.LastOpenedAt != nil && (a.LastJoinOpen == nil || jl.LastOpenedAt.After(*a.LastJoinOpen)) {
					a.LastJoinOpen = jl.LastOpenedAt
				}
			}
		}
		if g.Flags != nil && g.Flags.LastSignInAt != nil {
			a.LastSignIn = g.Flags.LastSignInAt
		}
		out[g.Invitation.ID] = a
		ids = append(ids, g.GuestID)
	}
	if !l.SignInActivity() || len(ids) == 0 {
		return out
	}
	found, _, err := l.g.GuestStatuses(ctx, l.ts, ids, true)
	if err != nil && len(found) == 0 && graph.Forbidden(err) {
		l.refuse("signin", "Graph refused signInActivity (403): it needs AuditLog.Read.All and an Entra ID P1 licence.")
	}
	for _, g := range gs {
		if st := found[g.GuestID]; st != nil {
			if t := st.SignInActivity.Last(); t != nil {
				a := out[g.Invitation.ID]
				a.LastSignIn = t
				out[g.Invitation.ID] = a
			}
		}
	}
	return out
}
