package graph

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// userSelect asks only for what Portico reads; $select also lowers Graph's resource-unit cost.
const userSelect = "id,displayName,mail,userPrincipalName,userType,externalUserState,externalUserStateChangeDateTime,creationType,otherMails"

type userList struct {
	Value []User `json:"value"`
}

// FindUsersByAddress returns the users whose userPrincipalName, mail, proxy address or other mails
// match email (first page of results; eventually consistent, so a user created seconds ago may be missing).
func (c *Client) FindUsersByAddress(ctx context.Context, ts oauth2.TokenSource, email string) ([]User, error) {
	if email == "" {
		return nil, errors.New("graph: find users: empty address")
	}
	var out userList
	if _, err := c.do(ctx, ts, addressRequest(email), &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

// FindUsersByIdentity returns the users with the sign-in identity issuerAssignedID at issuer
// (for local accounts the issuer is the tenant's initial *.onmicrosoft.com domain).
func (c *Client) FindUsersByIdentity(ctx context.Context, ts oauth2.TokenSource, issuerAssignedID, issuer string) ([]User, error) {
	if issuerAssignedID == "" || issuer == "" {
		return nil, errors.New("graph: find users by identity: issuerAssignedId and issuer are both required")
	}
	var out userList
	if _, err := c.do(ctx, ts, identityRequest(issuerAssignedID, issuer), &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

func addressRequest(email string) request {
	q := encodeQuery(
		param{"$filter", AddressFilter(email)},
		param{"$count", "true"},
		param{"$select", userSelect},
	)
	// Lambda clauses joined by "or" make this an advanced query: without ConsistencyLevel and
	// $count Graph answers 400 Request_UnsupportedQuery.
	h := http.Header{"ConsistencyLevel": {"eventual"}}
	return request{method: http.MethodGet, path: "/users", query: q, header: h, want: http.StatusOK}
}

// identityRequest is a plain query: Graph's own sign-in-name example sends neither
// ConsistencyLevel nor $count.
func identityRequest(issuerAssignedID, issuer string) request {
	q := encodeQuery(
		param{"$filter", IdentityFilter(issuerAssignedID, issuer)},
		param{"$select", userSelect},
	)
	return request{method: http.MethodGet, path: "/users", query: q, want: http.StatusOK}
}

func userRequest(id string) request {
	return request{method: http.MethodGet, path: "/users/" + url.PathEscape(id), query: encodeQuery(param{"$select", userSelect}), want: http.StatusOK}
}
