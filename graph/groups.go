package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// Group holds the group properties Portico reads.
type Group struct {
	ID                          string   `json:"id"`
	DisplayName                 string   `json:"displayName,omitempty"`
	Description                 string   `json:"description,omitempty"`
	GroupTypes                  []string `json:"groupTypes,omitempty"`
	ResourceProvisioningOptions []string `json:"resourceProvisioningOptions,omitempty"`
}

// IsTeam reports whether the group is team-enabled (a Microsoft Teams team).
func (g *Group) IsTeam() bool { return slices.Contains(g.ResourceProvisioningOptions, "Team") }

const groupSelect = "id,displayName,description,groupTypes,resourceProvisioningOptions"

// DirectoryObjectURL is the @odata.id Graph's $ref calls take for a directory object.
const DirectoryObjectURL = "https://graph.microsoft.com/v1.0/directoryObjects/"

// alreadyMember is the message Graph answers (400) when the object is already a member.
const alreadyMember = "One or more added object references already exist"

func groupRequest(id string) request {
	return request{method: http.MethodGet, path: "/groups/" + url.PathEscape(id), query: encodeQuery(param{"$select", groupSelect}), want: http.StatusOK}
}

// GetGroups reads groups by id in JSON batches sent at once (one round trip); groups that
// failed are missing from the map and their errors joined.
func (c *Client) GetGroups(ctx context.Context, ts oauth2.TokenSource, ids []string) (map[string]*Group, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	out := make(map[string]*Group, len(ids))
	items := make([]*batchItem, 0, len(ids))
	var asked []string
	var errs []error
	for _, id := range ids {
		if id == "" {
			errs = append(errs, errors.New("graph: get group: empty id"))
			continue
		}
		items = append(items, &batchItem{req: groupRequest(id), out: &Group{}})
		asked = append(asked, id)
	}
	c.doBatch(ctx, ts, items)
	for i, it := range items {
		if it.err != nil {
			errs = append(errs, fmt.Errorf("graph: get group %s: %w", asked[i], it.err))
			continue
		}
		out[asked[i]] = it.out.(*Group)
	}
	return out, errors.Join(errs...)
}

// AddGroupMember adds the directory object memberID to the group (POST /groups/{id}/members/$ref)
// and returns Graph's request id. An object that is already a member is a *Error with status
// 400 for which AlreadyMember reports true.
//
// The request may be sent again when its answer is lost: a second add changes nothing and is
// answered "already exist", so it is not an uncertain write.
func (c *Client) AddGroupMember(ctx context.Context, ts oauth2.TokenSource, groupID, memberID string) (string, error) {
	if groupID == "" || memberID == "" {
		return "", errors.New("graph: add group member: group and member ids are required")
	}
	body, err := json.Marshal(map[string]string{"@odata.id": DirectoryObjectURL + memberID})
	if err != nil {
		return "", fmt.Errorf("graph: add group member: %w", err)
	}
	req := request{method: http.MethodPost, path: "/groups/" + url.PathEscape(groupID) + "/members/$ref",
		body: body, want: http.StatusNoContent, idempotent: true}
	return c.do(ctx, ts, req, nil)
}

// AlreadyMember reports whether err is Graph's answer that the object is already a member.
func AlreadyMember(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Status == http.StatusBadRequest && strings.Contains(ge.Message, alreadyMember)
}

// Manager returns the user's manager (GET /users/{id}/manager), or nil when Graph knows none
// (404 Request_ResourceNotFound).
func (c *Client) Manager(ctx context.Context, ts oauth2.TokenSource, userID string) (*User, error) {
	if userID == "" {
		return nil, errors.New("graph: manager: empty user id")
	}
	var u User
	req := request{method: http.MethodGet, path: "/users/" + url.PathEscape(userID) + "/manager",
		query: encodeQuery(param{"$select", userSelect}), want: http.StatusOK}
	if _, err := c.do(ctx, ts, req, &u); err != nil {
		var ge *Error
		if errors.As(err, &ge) && ge.Status == http.StatusNotFound {
			return nil, nil
		}
		return nil, err
	}
	return &u, nil
}

// SearchUsers finds up to top users whose display name or mail starts with term (word by word),
// as a people picker does: GET /users?$search="displayName:term" OR "mail:term" with
// ConsistencyLevel: eventual, which Graph requires for $search.
func (c *Client) SearchUsers(ctx context.Context, ts oauth2.TokenSource, term string, top int) ([]User, error) {
	// Double quotes and backslashes delimit $search clauses; they cannot be searched for.
	term = strings.TrimSpace(strings.NewReplacer(`"`, " ", `\`, " ").Replace(term))
	if term == "" {
		return nil, errors.New("graph: search users: empty term")
	}
	top = min(max(top, 1), 25)
	q := encodeQuery(
		param{"$search", `"displayName:` + term + `" OR "mail:` + term + `"`},
		param{"$select", userSelect},
		param{"$top", strconv.Itoa(top)},
	)
	req := request{method: http.MethodGet, path: "/users", query: q, header: http.Header{"ConsistencyLevel": {"eventual"}}, want: http.StatusOK}
	var out userList
	if _, err := c.do(ctx, ts, req, &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

// Sponsors reads the sponsors of each user (GET /users/{id}/sponsors) in JSON batches sent at once;
// users whose read failed are missing from the map and their errors joined.
func (c *Client) Sponsors(ctx context.Context, ts oauth2.TokenSource, userIDs []string) (map[string][]User, error) {
	userIDs = slices.Compact(slices.Sorted(slices.Values(userIDs)))
	out := make(map[string][]User, len(userIDs))
	items := make([]*batchItem, 0, len(userIDs))
	var asked []string
	var errs []error
	for _, id := range userIDs {
		if id == "" {
			errs = append(errs, errors.New("graph: sponsors: empty user id"))
			continue
		}
		items = append(items, &batchItem{req: request{method: http.MethodGet, path: "/users/" + url.PathEscape(id) + "/sponsors",
			query: encodeQuery(param{"$select", "id,displayName,mail,userPrincipalName"}), want: http.StatusOK}, out: &userList{}})
		asked = append(asked, id)
	}
	c.doBatch(ctx, ts, items)
	for i, it := range items {
		if it.err != nil {
			errs = append(errs, fmt.Errorf("graph: sponsors of %s: %w", asked[i], it.err))
			continue
		}
		out[asked[i]] = it.out.(*userList).Value
	}
	return out, errors.Join(errs...)
}
