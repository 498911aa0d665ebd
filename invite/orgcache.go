package invite

import (
	"context"
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

// knownInitial is the tenant's initial domain as last read, stale or not ("" before the first
// read): Entra never changes a tenant's initial domain.
func (s *Service) knownInitial(tenantID string) string {
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	if e := s.orgs[tenantID]; e != nil && e.info != nil {
		return e.info.initial
	}
	return ""
}

// organization returns the tenant's domains, cached for orgTTL; concurrent misses share one Graph call.
// Failures are not cached.
func (s *Service) organization(ctx context.Context, ts oauth2.TokenSource, tenantID string) (*orgInfo, error) {
	s.orgMu.Lock()
	e := s.orgs[tenantID]
	if e == nil {
		e = &orgEntry{}
		s.orgs[tenantID] = e
	}
	if e.info != nil && s.now().Sub(e.fetched) < s.orgTTL {
		info := e.info
		s.orgMu.Unlock()
		return info, nil
	}
	c := e.call
	if c == nil {
		c = &orgCall{done: make(chan struct{})}
		e.call = c
		go s.fetchOrganization(ctx, ts, e, c)
	}
	s.orgMu.Unlock()

	select {
	case <-c.done:
		return c.info, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetchOrganization runs detached from the first caller's cancellation so that other waiters are
// not failed by it; it is still bounded by a timeout.
func (s *Service) fetchOrganization(ctx context.Context, ts oauth2.TokenSource, e *orgEntry, c *orgCall) {
	fctx, cancel := s.detach(ctx)
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
	if err == nil {
		e.info, e.fetched = info, s.now()
	}
	s.orgMu.Unlock()
	close(c.done)
}
