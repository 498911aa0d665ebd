package invite

import (
	"context"
	"errors"
	"portico/store"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// orgInfo is what Portico needs from GET /organization: the verified domains and the initial one.
type orgInfo struct {
	domains []string // lower case
	initial string   // the *.onmicrosoft.com domain, issuer of local accounts' identities
}

type orgEntry struct {
	info    *orgInfo
	fetched time.Time
	call    *orgCall // in flight, shared by concurrent callers
}

type orgCall struct {
	done chan struct{}
	info *orgInfo
	err  error
}

// freshOrganization returns the tenant's cached domains, or nil when the cache is cold or stale.
func (s *Service) freshOrganization(tenantID string) *orgInfo {
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	if e := s.orgs[tenantID]; e != nil && e.info != nil && s.now().Sub(e.fetched) < s.orgTTL {
		return e.info
	}
	return nil
}

// knownInitial is the tenant's initial domain as last read, stale or not, from this process's
// cache or, after a restart, from the store ("" when neither has it): Entra never changes a
// tenant's initial domain.
func (s *Service) knownInitial(ctx context.Context, tenantID string) string {
	s.orgMu.Lock()
	if e := s.orgs[tenantID]; e != nil && e.info != nil && e.info.initial != "" {
		s.orgMu.Unlock()
		return e.info.initial
	}
	if d, ok := s.initials[tenantID]; ok {
		s.orgMu.Unlock()
		return d
	}
	s.orgMu.Unlock()
	d, err := s.store.TenantInitialDomain(ctx, tenantID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.DebugContext(ctx, "invite: reading the saved initial domain failed", "tenant", tenantID, "err", err)
		}
		return ""
	}
	s.orgMu.Lock()
	s.initials[tenantID] = d
	s.orgMu.Unlock()
	return d
}

// organization returns the tenant's domains, cached for orgTTL; concurrent misses share one Graph call.
// Failures are not cached.
func (s *Service) organization(ctx context.Context, ts oauth2.TokenSource, tenantID string) (*orgInfo, error) {
	info, c := s.startOrganization(ctx, ts, tenantID, orgReadTimeout)
	if info != nil {
		return info, nil
	}
	select {
	case <-c.done:
		return c.info, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startOrganization returns the tenant's fresh cached domains, or else the read under way,
// starting one (bounded by timeout) when none is.
func (s *Service) startOrganization(ctx context.Context, ts oauth2.TokenSource, tenantID string, timeout time.Duration) (*orgInfo, *orgCall) {
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	e := s.orgs[tenantID]
	if e == nil {
		e = &orgEntry{}
		s.orgs[tenantID] = e
	}
	if e.info != nil && s.now().Sub(e.fetched) < s.orgTTL {
		return e.info, nil
	}
	if e.call == nil {
		e.call = &orgCall{done: make(chan struct{})}
		go s.fetchOrganization(ctx, ts, tenantID, e, e.call, timeout)
	}
	return nil, e.call
}

// inFlight is the organization read under way for the tenant, or nil.
func (s *Service) inFlight(tenantID string) *orgCall {
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	if e := s.orgs[tenantID]; e != nil {
		return e.call
	}
	return nil
}

// Warm starts reading the tenant's verified domains in the background when they are not cached
// and no read is under way, so that the first invitation after start needs no extra Graph round
// trip: the identities lookup needs the tenant's initial domain, which only GET /organization
// tells. Handlers call it when an employee signs in or opens the invitation form. It returns at
// once; the read is detached from ctx's cancellation, bounded by a short timeout, and its failure
// is only logged (the invitation's own checks read the domains again and fail closed).
//
// The token is taken from ts before Warm returns (without a network call while it is fresh), so
// the background read never touches the caller's token source, which may belong to a session.
func (s *Service) Warm(ctx context.Context, ts oauth2.TokenSource, tenantID string) {
	if ts == nil || tenantID == "" || s.freshOrganization(tenantID) != nil || s.inFlight(tenantID) != nil {
		return
	}
	tok, err := ts.Token()
	if err != nil {
		s.log.InfoContext(ctx, "invite: not warming the organization cache: no token", "err", err)
		return
	}
	_, c := s.startOrganization(ctx, oauth2.StaticTokenSource(tok), tenantID, warmTimeout)
	if c == nil {
		return
	}
	go func() {
		<-c.done
		if c.err != nil {
			s.log.WarnContext(context.WithoutCancel(ctx), "invite: warming the organization cache failed", "tenant", tenantID, "err", c.err)
		}
	}()
}

// Timeouts of the organization read: a request's own read may wait as long as any recorded
// Graph write; warming is a convenience and gives up sooner.
const (
	orgReadTimeout = 15 * time.Second
	warmTimeout    = 5 * time.Second
)

// fetchOrganization runs detached from the first caller's cancellation so that other waiters are
// not failed by it; it is still bounded by a timeout.
func (s *Service) fetchOrganization(ctx context.Context, ts oauth2.TokenSource, tenantID string, e *orgEntry, c *orgCall, timeout time.Duration) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	org, err := s.graph.Organization(fctx, ts)
	var info *orgInfo
	if err == nil {
		info = &orgInfo{}
		for _, d := range org.VerifiedDomains {
			name := strings.ToLower(d.Name)
			info.domains = append(info.domains, name)
			if d.IsInitial {
				info.initial = name
			}
		}
	}
	s.orgMu.Lock()
	c.info, c.err = info, err
	e.call = nil
	save := false
	if err == nil {
		e.info, e.fetched = info, s.now()
		if info.initial != "" && s.initials[tenantID] != info.initial {
			s.initials[tenantID], save = info.initial, true
		}
	}
	s.orgMu.Unlock()
	close(c.done)
	if save {
		if err := s.store.SaveTenantInitialDomain(fctx, tenantID, info.initial, s.now()); err != nil {
			s.log.WarnContext(fctx, "invite: saving the initial domain failed", "tenant", tenantID, "err", err)
		}
	}
}
