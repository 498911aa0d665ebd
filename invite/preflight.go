package invite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
)

// Verdict is the outcome of the checks made before an invitation is sent.
type Verdict string

// Verdicts of Preflight.
const (
	VerdictAllowed       Verdict = "allowed"
	VerdictOwnDomain     Verdict = "own_domain"
	VerdictPolicyBlocked Verdict = "policy_blocked"
	VerdictMember        Verdict = "member"
	VerdictAcceptedGuest Verdict = "accepted_guest"
	VerdictPendingGuest  Verdict = "pending_guest"
	VerdictInvalid       Verdict = "invalid" // only in Check: the address itself is not valid
)

// Sources of a directory verdict.
const (
	SourceDirectory  = "directory"  // FindUsersByAddress
	SourceIdentities = "identities" // FindUsersByIdentity (local sign-in names)
	SourcePortico    = "portico"    // Portico's own recent records
)

// Preflight is the result of the checks made before an invitation is sent.
type Preflight struct {
	Verdict      Verdict
	Email        string     // the address checked, in lower case
	Domain       string     // its domain
	Rule         string     // PolicyBlocked: the rule that matched
	UserID       string     // Member, AcceptedGuest, PendingGuest: the directory user's id, when known
	AcceptedAt   *time.Time // AcceptedGuest: when the guest accepted, when Graph says
	InvitationID string     // PendingGuest: Portico's latest invitation for the address, if any
	Source       string     // where a directory verdict came from
	Message      string     // for the inviter
}

// Allowed reports whether an invitation may be sent.
func (p *Preflight) Allowed() bool { return p.Verdict == VerdictAllowed }

// Preflight checks an address before it is invited: the tenant's own domains, Portico's domain
// policy, the directory (by address and by local sign-in name) and Portico's recent records.
// Any failed lookup is returned as an error: callers must not invite when it fails.
func (s *Service) Preflight(ctx context.Context, ts oauth2.TokenSource, inv Inviter, email string) (*Preflight, error) {
	if may := inv.MayInvite(); !may.Allowed {
		return nil, may.Err()
	}
	addr, err := ValidateEmail(email)
	if err != nil {
		return nil, &ValidationError{Fields: FieldErrors{FieldEmail: err.(*FieldError).Message}}
	}
	return s.preflight(ctx, ts, inv, addr)
}

func (s *Service) preflight(ctx context.Context, ts oauth2.TokenSource, inv Inviter, addr string) (*Preflight, error) {
	return s.preflightWith(ctx, ts, inv, addr, false)
}

// preflightWith is preflight; with allowListWaived (an approver let a domain outside
// PORTICO_ALLOWED_DOMAINS in) the allow-list does not refuse the address, blocked domains still do.
func (s *Service) preflightWith(ctx context.Context, ts oauth2.TokenSource, inv Inviter, addr string, allowListWaived bool) (*Preflight, error) {
	key := strings.ToLower(addr)
	domainRule := func(domain string) string { return s.domainRuleFor(domain, allowListWaived) }
	p := &Preflight{Email: key, Domain: domainOf(key)}

	org := s.freshOrganization(inv.TenantID)
	if org == nil && s.knownInitial(ctx, inv.TenantID) == "" && s.inFlight(inv.TenantID) != nil {
		// The first check after start, with the read started by Warm (sign-in, the form) under
		// way: waiting for it costs less than an identities query of its own after it. If it
		// failed, the cold path below reads again with this request's token.
		if o, err := s.organization(ctx, ts, inv.TenantID); err == nil {
			org = o
		}
	}
	var res *graph.LookupResult
	issuer := ""
	if org == nil {
		// Cold cache: the directory lookups go out at the same time as the organization read
		// (one round trip), with the initial domain last seen, which never changes. They are
		// not needed when the domain's own verdict comes first.
		var looked chan *graph.LookupResult
		if domainRule(p.Domain) == "" {
			issuer = s.knownInitial(ctx, inv.TenantID)
			looked = make(chan *graph.LookupResult, 1)
			go func() { looked <- s.graph.Lookup(ctx, ts, graph.Lookup{Email: addr, IdentityIssuer: issuer}) }()
		}
		o, err := s.organization(ctx, ts, inv.TenantID)
		if looked != nil {
			res = <-looked
		}
		if err != nil {
			return nil, fmt.Errorf("invite: reading the organization's domains: %w", err)
		}
		org = o
	}
	return s.decide(ctx, ts, inv, p, addr, org, res, issuer, allowListWaived)
}

// domainRuleFor is the policy's rule for domain; with allowListWaived (an approver let a domain
// outside PORTICO_ALLOWED_DOMAINS in) the allow-list does not refuse it, blocked domains still do.
func (s *Service) domainRuleFor(domain string, allowListWaived bool) string {
	rule := s.policy.domainRule(domain)
	if allowListWaived && rule == ruleNotAllowed {
		return ""
	}
	return rule
}

// decide gives the verdict on addr from the organization's domains, the policy and the
// directory's answer res (made with the identities issuer issuer; nil: looked up now).
func (s *Service) decide(ctx context.Context, ts oauth2.TokenSource, inv Inviter, p *Preflight, addr string, org *orgInfo, res *graph.LookupResult, issuer string, allowListWaived bool) (*Preflight, error) {
	key := p.Email
	if slices.Contains(org.domains, p.Domain) {
		return s.ownDomain(ctx, ts, p, addr, res), nil
	}
	if rule := s.domainRuleFor(p.Domain, allowListWaived); rule != "" {
		p.Rule = rule
		return p.with(VerdictPolicyBlocked, policyMessage(p.Domain, rule)), nil
	}

	if res == nil {
		issuer = org.initial
		res = s.graph.Lookup(ctx, ts, graph.Lookup{Email: addr, IdentityIssuer: issuer})
	}
	if res.AddressErr != nil {
		return nil, fmt.Errorf("invite: looking up the address in the directory: %w", res.AddressErr)
	}
	users := res.ByAddress
	p.Source = SourceDirectory
	if org.initial != "" {
		// Local accounts sign in with names kept in identities, which the address query cannot
		// reach; Graph allows that filter only as its own query.
		local, err := res.ByIdentity, res.IdentityErr
		if issuer != org.initial {
			// The first check after start did not know the initial domain yet.
			local, err = s.graph.FindUsersByIdentity(ctx, ts, addr, org.initial)
		}
		if err != nil {
			return nil, fmt.Errorf("invite: looking up local sign-in names: %w", err)
		}
		if len(users) == 0 && len(local) > 0 {
			p.Source = SourceIdentities
		}
		users = append(users, local...)
	}
	if u, verdict := classify(users); u != nil {
		p.UserID = u.ID
		switch verdict {
		case VerdictMember:
			return p.with(verdict, "This address belongs to a member account of your organization; members need no invitation."), nil
		case VerdictAcceptedGuest:
			p.AcceptedAt = u.ExternalUserStateChangeDateTime
			return p.with(verdict, acceptedMessage(p.AcceptedAt)), nil
		case VerdictPendingGuest:
			id, err := s.latestCreated(ctx, inv.TenantID, key, time.Time{})
			if err != nil {
				return nil, err
			}
			p.InvitationID = id
			return p.with(verdict, pendingMessage), nil
		}
	}

	// Directory queries are eventually consistent: a guest invited moments ago may not be found
	// yet, so Portico's own recent records count too.
	recent, err := s.store.LatestInvitationsByEmail(ctx, inv.TenantID, key, s.now().Add(-s.recent))
	if err != nil {
		return nil, fmt.Errorf("invite: reading recent invitations: %w", err)
	}
	if r := newestCreated(recent); r != nil {
		p.Source = SourcePortico
		p.UserID = r.GraphUserID
		p.InvitationID = r.ID
		if r.ExternalUserState == stateAccepted {
			p.AcceptedAt = r.ExternalUserStateChangedAt
			return p.with(VerdictAcceptedGuest, acceptedMessage(p.AcceptedAt)), nil
		}
		return p.with(VerdictPendingGuest, pendingMessage), nil
	}
	return p.with(VerdictAllowed, allowedMessage), nil
}

// ownDomain refuses an address on the organization's own domains. Only an account the directory
// holds can "sign in already"; an address it does not hold (or that could not be looked up) needs an
// account made by the organization, which no guest invitation gives.
func (s *Service) ownDomain(ctx context.Context, ts oauth2.TokenSource, p *Preflight, addr string, res *graph.LookupResult) *Preflight {
	if res == nil {
		res = s.graph.Lookup(ctx, ts, graph.Lookup{Email: addr})
	}
	if res.AddressErr != nil {
		s.log.DebugContext(ctx, "invite: own-domain address not looked up", "err", res.AddressErr)
	}
	if res.AddressErr == nil && len(res.ByAddress) > 0 {
		p.UserID, p.Source = res.ByAddress[0].ID, SourceDirectory
		return p.with(VerdictOwnDomain, "This address belongs to an account of your own organization ("+p.Domain+"); they can sign in already and need no invitation.")
	}
	return p.with(VerdictOwnDomain, "This address is on your own organization's domain ("+p.Domain+"), so it needs an account in your directory, not a guest invitation. Ask your IT team to create the account.")
}

// timeLayout is how dates appear in Portico's messages, the same as on its pages.
const timeLayout = "2 Jan 2006, 15:04 UTC"

func (p *Preflight) with(v Verdict, msg string) *Preflight {
	p.Verdict, p.Message = v, msg
	return p
}

// Graph's externalUserState values.
const (
	statePending  = "PendingAcceptance"
	stateAccepted = "Accepted"
)

const (
	pendingMessage = "This guest was invited already and has not accepted yet. You can resend the invitation, which gives them a new link."
	allowedMessage = "Portico found nothing that stops this invitation. It checks again when you send."
)

func acceptedMessage(at *time.Time) string {
	if at == nil {
		return "This address already has a guest account in your organization; they can sign in already."
	}
	return "This guest already accepted an invitation on " + at.UTC().Format(timeLayout) + "; they can sign in already."
}

func policyMessage(domain, rule string) string {
	if strings.HasPrefix(rule, "not in") {
		return "Invitations to " + domain + " are not allowed: the domain is not on Portico's list of allowed domains (PORTICO_ALLOWED_DOMAINS)."
	}
	return "Invitations to " + domain + " are not allowed: the domain " + rule + " (PORTICO_BLOCKED_DOMAINS)."
}

// classify picks the most decisive account among those found: a member, then an accepted guest,
// then a pending one.
func classify(users []graph.User) (*graph.User, Verdict) {
	var best *graph.User
	bestRank, verdict := 0, VerdictAllowed
	for i := range users {
		u := &users[i]
		var v Verdict
		var rank int
		switch {
		case strings.EqualFold(u.ExternalUserState, statePending):
			v, rank = VerdictPendingGuest, 1
		case strings.EqualFold(u.ExternalUserState, stateAccepted):
			v, rank = VerdictAcceptedGuest, 2
		case strings.EqualFold(u.UserType, UserTypeGuest):
			// A guest without an invitation state (added another way) can sign in already.
			v, rank = VerdictAcceptedGuest, 2
		default:
			v, rank = VerdictMember, 3
		}
		if rank > bestRank {
			best, bestRank, verdict = u, rank, v
		}
	}
	return best, verdict
}

func newestCreated(invs []Invitation) *Invitation {
	var best *Invitation
	for i := range invs {
		r := &invs[i]
		if r.Outcome != OutcomeCreated {
			continue
		}
		if best == nil || r.CreatedAt.After(best.CreatedAt) {
			best = r
		}
	}
	return best
}

func (s *Service) latestCreated(ctx context.Context, tenantID, key string, since time.Time) (string, error) {
	invs, err := s.store.LatestInvitationsByEmail(ctx, tenantID, key, since)
	if err != nil {
		return "", fmt.Errorf("invite: reading invitations of the address: %w", err)
	}
	if r := newestCreated(invs); r != nil {
		return r.ID, nil
	}
	return "", nil
}

// Check is the answer of the live address check in the form.
type Check struct {
	Verdict Verdict
	OK      bool   // an invitation may be sent (or resent, for a pending guest)
	Resend  bool   // a pending guest: offer Resend
	Message string // for the inviter
}

// Check runs the preflight for the live address check. When a lookup fails, for instance because
// the user may not read the directory, the answer is the same as for an address nobody knows, so
// the check reveals nothing beyond the user's own Graph permissions; Send checks again and fails
// closed.
func (s *Service) Check(ctx context.Context, ts oauth2.TokenSource, inv Inviter, email string) Check {
	if may := inv.MayInvite(); !may.Allowed {
		return Check{Verdict: VerdictPolicyBlocked, Message: may.Reason}
	}
	addr, err := ValidateEmail(email)
	if err != nil {
		return Check{Verdict: VerdictInvalid, Message: err.(*FieldError).Message}
	}
	p, err := s.preflight(ctx, ts, inv, addr)
	if err != nil {
		s.log.WarnContext(ctx, "invite: address check failed", "err", err)
		return Check{Verdict: VerdictAllowed, OK: true, Message: allowedMessage}
	}
	return Check{
		Verdict: p.Verdict,
		OK:      p.Verdict == VerdictAllowed || p.Verdict == VerdictPendingGuest,
		Resend:  p.Verdict == VerdictPendingGuest,
		Message: p.Message,
	}
}
