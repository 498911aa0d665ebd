package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"
)

// CreateInvitation invites an external user (POST /v1.0/invitations); an error wrapping ErrUncertain means Graph may have acted, so look the address up before sending again.
func (c *Client) CreateInvitation(ctx context.Context, ts oauth2.TokenSource, in *Invitation) (*Invitation, error) {
	if in == nil {
		return nil, errors.New("graph: create invitation: no invitation")
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("graph: create invitation: %w", err)
	}
	var out Invitation
	rid, err := c.do(ctx, ts, request{method: http.MethodPost, path: "/invitations", body: body, want: http.StatusCreated}, &out)
	if err != nil {
		return nil, err
	}
	out.RequestID = rid
	return &out, nil
}
