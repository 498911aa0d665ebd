package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/oauth2"
)

// Lookup names the directory reads made before an invitation; Client.Lookup sends them together.
type Lookup struct {
	Email          string // find users by address (FindUsersByAddress)
	IdentityIssuer string // when set, also find users by the sign-in identity Email at this issuer
	Organization   bool   // also read the organization (GET /organization)
}

// LookupResult holds the answer or the error of each read of a Lookup; reads not asked for are
// left zero.
type LookupResult struct {
	ByAddress  []User
	AddressErr error

	ByIdentity  []User
	IdentityErr error

	Organization    *Organization
	OrganizationErr error
}

// Lookup runs the reads of l in one JSON batch (one round trip); each read keeps its own answer
// or *Error, as if it had been sent alone.
func (c *Client) Lookup(ctx context.Context, ts oauth2.TokenSource, l Lookup) *LookupResult {
	res := &LookupResult{}
	var items []*batchItem
	var byAddr, byIdent userList
	var org struct {
		Value []Organization `json:"value"`
	}
	var addrIt, identIt, orgIt *batchItem
	if l.Email == "" {
		res.AddressErr = errors.New("graph: find users: empty address")
	} else {
		addrIt = &batchItem{req: addressRequest(l.Email), out: &byAddr}
		items = append(items, addrIt)
		if l.IdentityIssuer != "" {
			identIt = &batchItem{req: identityRequest(l.Email, l.IdentityIssuer), out: &byIdent}
			items = append(items, identIt)
		}
	}
	if l.Organization {
		orgIt = &batchItem{req: organizationRequest(), out: &org}
		items = append(items, orgIt)
	}
	c.doBatch(ctx, ts, items)
	if addrIt != nil {
		res.ByAddress, res.AddressErr = byAddr.Value, addrIt.err
	}
	if identIt != nil {
		res.ByIdentity, res.IdentityErr = byIdent.Value, identIt.err
	}
	if orgIt != nil {
		res.OrganizationErr = orgIt.err
		switch {
		case orgIt.err != nil:
		case len(org.Value) == 0:
			res.OrganizationErr = errors.New("graph: GET /v1.0/organization: no organization in the answer")
		default:
			res.Organization = &org.Value[0]
		}
	}
	return res
}

// LookupMany runs the reads of many Lookups in JSON batches of MaxBatchRequests, all batches
// sent at once (one round trip for the lot, as for GetUsers); result i answers ls[i]. It is the
// bulk dry run's directory check: a 1,000-row file costs a few round trips, not 1,000.
func (c *Client) LookupMany(ctx context.Context, ts oauth2.TokenSource, ls []Lookup) []*LookupResult {
	type pending struct {
		addr, ident, org *batchItem
		byAddr, byIdent  userList
		orgs             struct {
			Value []Organization `json:"value"`
		}
	}
	out := make([]*LookupResult, len(ls))
	ps := make([]*pending, len(ls))
	var items []*batchItem
	for i, l := range ls {
		out[i] = &LookupResult{}
		p := &pending{}
		ps[i] = p
		if l.Email == "" {
			out[i].AddressErr = errors.New("graph: find users: empty address")
		} else {
			p.addr = &batchItem{req: addressRequest(l.Email), out: &p.byAddr}
			items = append(items, p.addr)
			if l.IdentityIssuer != "" {
				p.ident = &batchItem{req: identityRequest(l.Email, l.IdentityIssuer), out: &p.byIdent}
				items = append(items, p.ident)
			}
		}
		if l.Organization {
			p.org = &batchItem{req: organizationRequest(), out: &p.orgs}
			items = append(items, p.org)
		}
	}
	c.doBatch(ctx, ts, items)
	for i, p := range ps {
		res := out[i]
		if p.addr != nil {
			res.ByAddress, res.AddressErr = p.byAddr.Value, p.addr.err
		}
		if p.ident != nil {
			res.ByIdentity, res.IdentityErr = p.byIdent.Value, p.ident.err
		}
		if p.org != nil {
			res.OrganizationErr = p.org.err
			switch {
			case p.org.err != nil:
			case len(p.orgs.Value) == 0:
				res.OrganizationErr = errors.New("graph: GET /v1.0/organization: no organization in the answer")
			default:
				res.Organization = &p.orgs.Value[0]
			}
		}
	}
	return out
}

// GetUsers reads users by object id, MaxBatchRequests per JSON batch with every batch sent at
// once (one round trip). It returns the users read, by id, and the failures joined into one
// error (each an *Error when Graph answered one); an id missing from the map failed.
func (c *Client) GetUsers(ctx context.Context, ts oauth2.TokenSource, ids []string) (map[string]*User, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	out := make(map[string]*User, len(ids))
	items := make([]*batchItem, 0, len(ids))
	asked := make([]string, 0, len(ids))
	var errs []error
	for _, id := range ids {
		if id == "" {
			errs = append(errs, errors.New("graph: get user: empty id"))
			continue
		}
		items = append(items, &batchItem{req: userRequest(id), out: &User{}})
		asked = append(asked, id)
	}
	c.doBatch(ctx, ts, items)
	for i, it := range items {
		if it.err != nil {
			errs = append(errs, fmt.Errorf("graph: get user %s: %w", asked[i], it.err))
			continue
		}
		out[asked[i]] = it.out.(*User)
	}
	return out, errors.Join(errs...)
}
