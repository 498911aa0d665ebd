package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"golang.org/x/oauth2"
)

// Lifecycle writes and why they may be sent again (the client's rule is that a write whose
// outcome is unknown is never re-sent; these three are exceptions by their effect, not by HTTP):
//   - PATCH /users/{id} {"accountEnabled": b} sets a value: sending it twice leaves the same state
//     as sending it once, so a lost answer is retried like a GET.
//   - DELETE /users/{id} removes the user: a second DELETE after a lost answer is answered 404
//     Request_ResourceNotFound, which callers read as "already deleted" (and confirm in deleted items).
//   - POST /directory/deletedItems/{id}/restore: a second restore is answered 404 (the object left
//     deleted items); callers confirm by reading the user.
// Creating an invitation (with or without resetRedemption) is not idempotent and is never re-sent.

// SignInActivity is Graph's signInActivity resource (needs AuditLog.Read.All and Entra ID P1).
type SignInActivity struct {
	LastSignInDateTime               *time.Time `json:"lastSignInDateTime,omitempty"`
	LastNonInteractiveSignInDateTime *time.Time `json:"lastNonInteractiveSignInDateTime,omitempty"`
	LastSuccessfulSignInDateTime     *time.Time `json:"lastSuccessfulSignInDateTime,omitempty"`
}

// Last is the latest of the sign-in times Graph reported, or nil.
func (s *SignInActivity) Last() *time.Time {
	if s == nil {
		return nil
	}
	var last *time.Time
	for _, t := range []*time.Time{s.LastSignInDateTime, s.LastNonInteractiveSignInDateTime, s.LastSuccessfulSignInDateTime} {
		if t != nil && (last == nil || t.After(*last)) {
			last = t
		}
	}
	return last
}

// GuestStatus is what the lifecycle reads of a guest.
type GuestStatus struct {
	ID                              string          `json:"id"`
	DisplayName                     string          `json:"displayName,omitempty"`
	Mail                            string          `json:"mail,omitempty"`
	UserType                        string          `json:"userType,omitempty"`
	CreationType                    string          `json:"creationType,omitempty"`
	AccountEnabled                  *bool           `json:"accountEnabled,omitempty"`
	ExternalUserState               string          `json:"externalUserState,omitempty"`
	ExternalUserStateChangeDateTime *time.Time      `json:"externalUserStateChangeDateTime,omitempty"`
	CreatedDateTime                 *time.Time      `json:"createdDateTime,omitempty"`
	SignInActivity                  *SignInActivity `json:"signInActivity,omitempty"`
}

// DeletedUser is a user in the directory's deleted items.
type DeletedUser struct {
	ID              string     `json:"id"`
	DisplayName     string     `json:"displayName,omitempty"`
	Mail            string     `json:"mail,omitempty"`
	UserType        string     `json:"userType,omitempty"`
	DeletedDateTime *time.Time `json:"deletedDateTime,omitempty"`
}

const (
	guestStatusSelect = "id,displayName,mail,userType,creationType,accountEnabled,externalUserState,externalUserStateChangeDateTime,createdDateTime"
	deletedUserSelect = "id,displayName,mail,userType"
)

// NotFound reports whether err is Graph's 404 (Request_ResourceNotFound).
func NotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// Forbidden reports whether err is Graph's 403 (a missing permission or role, or no licence).
func Forbidden(err error) bool { return statusOf(err) == http.StatusForbidden }

func accountEnabledRequest(userID string, enabled bool) request {
	body, _ := json.Marshal(map[string]bool{"accountEnabled": enabled}) // a map of bool always marshals
	return request{method: http.MethodPatch, path: "/users/" + url.PathEscape(userID), body: body,
		want: http.StatusNoContent, idempotent: true}
}

func deleteUserRequest(userID string) request {
	return request{method: http.MethodDelete, path: "/users/" + url.PathEscape(userID), want: http.StatusNoContent, idempotent: true}
}

// SetAccountEnabled disables (false) or enables (true) a user: PATCH /users/{id}
// {"accountEnabled": b}, 204. It returns Graph's request id. Needs User.ReadWrite.All (or
// User.EnableDisableAccount.All with User.Read.All) as an application.
func (c *Client) SetAccountEnabled(ctx context.Context, ts oauth2.TokenSource, userID string, enabled bool) (string, error) {
	if userID == "" {
		return "", errors.New("graph: set accountEnabled: empty user id")
	}
	return c.do(ctx, ts, accountEnabledRequest(userID, enabled), nil)
}

// DisableUser sets accountEnabled false (see SetAccountEnabled).
func (c *Client) DisableUser(ctx context.Context, ts oauth2.TokenSource, userID string) (string, error) {
	return c.SetAccountEnabled(ctx, ts, userID, false)
}

// EnableUser sets accountEnabled true (see SetAccountEnabled).
func (c *Client) EnableUser(ctx context.Context, ts oauth2.TokenSource, userID string) (string, error) {
	return c.SetAccountEnabled(ctx, ts, userID, true)
}

// DeleteUser deletes a user (DELETE /users/{id}, 204): it moves to deleted items for 30 days.
// A 404 answer means the user is not in the directory (already deleted): see NotFound.
func (c *Client) DeleteUser(ctx context.Context, ts oauth2.TokenSource, userID string) (string, error) {
	if userID == "" {
		return "", errors.New("graph: delete user: empty user id")
	}
	return c.do(ctx, ts, deleteUserRequest(userID), nil)
}

// WriteResult is the outcome of one write of a batch.
type WriteResult struct {
	RequestID string
	Err       error
}

// SetAccountsEnabled sets accountEnabled on many users in JSON batches (MaxBatchRequests each,
// sent at once); each user gets its own result.
func (c *Client) SetAccountsEnabled(ctx context.Context, ts oauth2.TokenSource, userIDs []string, enabled bool) map[string]WriteResult {
	return c.writeBatch(ctx, ts, userIDs, func(id string) request { return accountEnabledRequest(id, enabled) })
}

// DeleteUsers deletes many users in JSON batches; each user gets its own result.
func (c *Client) DeleteUsers(ctx context.Context, ts oauth2.TokenSource, userIDs []string) map[string]WriteResult {
	return c.writeBatch(ctx, ts, userIDs, deleteUserRequest)
}

func (c *Client) writeBatch(ctx context.Context, ts oauth2.TokenSource, ids []string, mk func(string) request) map[string]WriteResult {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	out := make(map[string]WriteResult, len(ids))
	items := make([]*batchItem, 0, len(ids))
	asked := make([]string, 0, len(ids))
	for _, id := range ids {
		if id == "" {
			continue
		}
		items = append(items, &batchItem{req: mk(id)})
		asked = append(asked, id)
	}
	c.doBatch(ctx, ts, items)
	for i, it := range items {
		out[asked[i]] = WriteResult{RequestID: it.requestID, Err: it.err}
	}
	return out
}

// GuestStatuses reads users by id in JSON batches (MaxBatchRequests each, all at once), with
// signInActivity when withSignIn is true (AuditLog.Read.All; without it Graph answers 403 for
// each user: see Forbidden). Users that failed are missing from the map and their errors joined;
// a 404 user is reported in gone instead.
func (c *Client) GuestStatuses(ctx context.Context, ts oauth2.TokenSource, ids []string, withSignIn bool) (found map[string]*GuestStatus, gone []string, err error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	sel := guestStatusSelect
	if withSignIn {
		sel += ",signInActivity"
	}
	found = make(map[string]*GuestStatus, len(ids))
	items := make([]*batchItem, 0, len(ids))
	asked := make([]string, 0, len(ids))
	var errs []error
	for _, id := range ids {
		if id == "" {
			continue
		}
		items = append(items, &batchItem{req: request{method: http.MethodGet, path: "/users/" + url.PathEscape(id),
			query: encodeQuery(param{"$select", sel}), want: http.StatusOK}, out: &GuestStatus{}})
		asked = append(asked, id)
	}
	c.doBatch(ctx, ts, items)
	for i, it := range items {
		switch {
		case it.err == nil:
			found[asked[i]] = it.out.(*GuestStatus)
		case NotFound(it.err):
			gone = append(gone, asked[i])
		default:
			errs = append(errs, fmt.Errorf("graph: get user %s: %w", asked[i], it.err))
		}
	}
	return found, gone, errors.Join(errs...)
}

// ListDeletedUsers lists the users in deleted items (GET /directory/deletedItems/microsoft.graph.user),
// following @odata.nextLink pages.
func (c *Client) ListDeletedUsers(ctx context.Context, ts oauth2.TokenSource) ([]DeletedUser, error) {
	var all []DeletedUser
	req := request{method: http.MethodGet, path: "/directory/deletedItems/microsoft.graph.user",
		query: encodeQuery(param{"$select", deletedUserSelect}, param{"$top", "999"}), want: http.StatusOK}
	for range 100 {
		var page struct {
			Value    []DeletedUser `json:"value"`
			NextLink string        `json:"@odata.nextLink"`
		}
		if _, err := c.do(ctx, ts, req, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		if page.NextLink == "" {
			return all, nil
		}
		u, err := url.Parse(page.NextLink)
		if err != nil {
			return nil, fmt.Errorf("graph: deleted users: next link: %w", err)
		}
		p, ok := cutVersion(u.Path)
		if !ok {
			return nil, errors.New("graph: deleted users: next link outside /v1.0")
		}
		req.path, req.query = p, u.RawQuery
	}
	return nil, errors.New("graph: deleted users: too many pages")
}

func cutVersion(p string) (string, bool) {
	const v = "/v1.0"
	for i := 0; i+len(v) <= len(p); i++ {
		if p[i:i+len(v)] == v {
			return p[i+len(v):], true
		}
	}
	return "", false
}

// RestoreDeletedUser restores a user from deleted items (POST /directory/deletedItems/{id}/restore,
// 200 with the user). A 404 means it is no longer there (restored already, or purged after 30 days).
func (c *Client) RestoreDeletedUser(ctx context.Context, ts oauth2.TokenSource, userID string) (string, error) {
	if userID == "" {
		return "", errors.New("graph: restore user: empty user id")
	}
	req := request{method: http.MethodPost, path: "/directory/deletedItems/" + url.PathEscape(userID) + "/restore",
		body: []byte("{}"), want: http.StatusOK, idempotent: true}
	var out DeletedUser
	return c.do(ctx, ts, req, &out)
}

// ResetRedemption re-invites an existing guest and resets how they redeem (POST /invitations
// with resetRedemption true and invitedUser): the guest redeems again, e.g. with a new address.
// Needs User.ReadWrite.All. Like every invitation it is never re-sent when its outcome is unknown.
func (c *Client) ResetRedemption(ctx context.Context, ts oauth2.TokenSource, in *Invitation, userID string) (*Invitation, error) {
	if in == nil || userID == "" {
		return nil, errors.New("graph: reset redemption: an invitation and the user id are required")
	}
	cp := *in
	cp.ResetRedemption = true
	cp.InvitedUser = &DirectoryObject{ID: userID}
	return c.CreateInvitation(ctx, ts, &cp)
}
