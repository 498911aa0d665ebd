package invite

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/oauth2"

	"portico/graph"
)

// preflightChunk is how many addresses one LookupMany carries: 2 reads each, so 20 JSON batches
// in flight at once, well within Graph's resource-unit budget.
const preflightChunk = 200

// PreflightMany runs the preflight of many addresses at once, for a bulk dry run: the
// organization is read once, the directory lookups travel in JSON batches sent together
// (preflightChunk addresses per round trip), Portico's own records are read per address.
// Result i answers emails[i]: a *Preflight, or the error that kept it from being checked (an
// invalid address is a *ValidationError). A barred inviter gets the bar as the error of every
// address and nothing is looked up.
func (s *Service) PreflightMany(ctx context.Context, ts oauth2.TokenSource, inv Inviter, emails []string) ([]*Preflight, []error) {
	pfs := make([]*Preflight, len(emails))
	errs := make([]error, len(emails))
	if may := inv.MayInvite(); !may.Allowed {
		for i := range errs {
			errs[i] = may.Err()
		}
		return pfs, errs
	}
	org, err := s.organization(ctx, ts, inv.TenantID)
	if err != nil {
		err = fmt.Errorf("invite: reading the organization's domains: %w", err)
		for i := range errs {
			errs[i] = err
		}
		return pfs, errs
	}
	type job struct {
		i    int
		addr string
	}
	var todo []job
	for i, e := range emails {
		addr, err := ValidateEmail(e)
		if err != nil {
			errs[i] = &ValidationError{Fields: FieldErrors{FieldEmail: err.(*FieldError).Message}}
			continue
		}
		todo = append(todo, job{i, addr})
	}
	for start := 0; start < len(todo); start += preflightChunk {
		chunk := todo[start:min(start+preflightChunk, len(todo))]
		ls := make([]graph.Lookup, len(chunk))
		for k, j := range chunk {
			ls[k] = graph.Lookup{Email: j.addr, IdentityIssuer: org.initial}
		}
		results := s.graph.LookupMany(ctx, ts, ls)
		for k, j := range chunk {
			key := strings.ToLower(j.addr)
			p := &Preflight{Email: key, Domain: domainOf(key)}
			pfs[j.i], errs[j.i] = s.decide(ctx, ts, inv, p, j.addr, org, results[k], org.initial, false)
		}
		if ctx.Err() != nil {
			for _, j := range todo[start+len(chunk):] {
				errs[j.i] = ctx.Err()
			}
			break
		}
	}
	return pfs, errs
}
