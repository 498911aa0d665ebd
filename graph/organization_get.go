package graph

import (
	"context"
	"errors"
	"net/http"

	"golang.org/x/oauth2"
)

// Organization reads the signed-in user's organization with its verified domains (GET /v1.0/organization).
func (c *Client) Organization(ctx context.Context, ts oauth2.TokenSource) (*Organization, error) {
	var out struct {
		Value []Organization `json:"value"`
	}
	if _, err := c.do(ctx, ts, organizationRequest(), &out); err != nil {
		return nil, err
	}
	if len(out.Value) == 0 {
		return nil, errors.New("graph: GET /v1.0/organization: no organization in the answer")
	}
	return &out.Value[0], nil
}

func organizationRequest() request {
	return request{method: http.MethodGet, path: "/organization", query: encodeQuery(param{"$select", "id,displayName,verifiedDomains"}), want: http.StatusOK}
}
