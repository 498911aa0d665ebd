package graph

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestFindUsersByAddress(t *testing.T) {
	tests := []struct {
		name       string
		address    string
		wantFilter string // "" checks only the structure
	}{
		{
			name:    "quote doubled",
			address: "o'neil@fabrikam.example",
			wantFilter: "userPrincipalName eq 'o''neil@fabrikam.example' or mail eq 'o''neil@fabrikam.example'" +
				" or proxyAddresses/any(x:x eq 'SMTP:o''neil@fabrikam.example') or otherMails/any(x:x eq 'o''neil@fabrikam.example')",
		},
		{name: "plus, hash, ampersand and space arrive intact", address: "tay lor+news#1&2@fabrikam.example"},
		{name: "crafted address stays inside the literal", address: "x' or mail eq 'y"},
		{name: "percent sequences are not decoded twice", address: "a%2Bb%27@fabrikam.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, http.StatusOK, `{"@odata.count":1,"value":[{"id":"u1","displayName":"O'Neil","mail":"o'neil@fabrikam.example",
					"userPrincipalName":"o'neil_fabrikam.example#EXT#@contoso.onmicrosoft.com","userType":"Guest",
					"externalUserState":"PendingAcceptance","externalUserStateChangeDateTime":"2026-11-20T08:30:00Z",
					"creationType":"Invitation","otherMails":["o'neil@fabrikam.example"]}]}`)
			})
			c, _ := f.client()
			users, err := c.FindUsersByAddress(context.Background(), testTS, tt.address)
			if err != nil {
				t.Fatal(err)
			}
			changed := time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC)
			want := []User{{ID: "u1", DisplayName: "O'Neil", Mail: "o'neil@fabrikam.example",
				UserPrincipalName: "o'neil_fabrikam.example#EXT#@contoso.onmicrosoft.com", UserType: "Guest",
				ExternalUserState: "PendingAcceptance", ExternalUserStateChangeDateTime: &changed,
				CreationType: "Invitation", OtherMails: []string{"o'neil@fabrikam.example"}}}
			if !reflect.DeepEqual(users, want) {
				t.Errorf("users\n got %+v\nwant %+v", users, want)
			}

			r := f.requests()[0]
			q, err := url.ParseQuery(r.rawQuery)
			if err != nil {
				t.Fatal(err)
			}
			filter := q.Get("$filter")
			if tt.wantFilter != "" && filter != tt.wantFilter {
				t.Errorf("$filter\n got %s\nwant %s", filter, tt.wantFilter)
			}
			checkAddressFilter(t, filter, tt.address)
			if r.method != http.MethodGet || r.path != "/v1.0/users" {
				t.Errorf("request %s %s", r.method, r.path)
			}
			if q.Get("$count") != "true" || r.header.Get("ConsistencyLevel") != "eventual" {
				t.Errorf("advanced query needs $count=true and ConsistencyLevel: eventual; got %q, %q", q.Get("$count"), r.header.Get("ConsistencyLevel"))
			}
			if q.Get("$select") != userSelect {
				t.Errorf("$select = %q", q.Get("$select"))
			}
			if strings.Contains(strings.ToLower(r.rawQuery), "signinnames") {
				t.Errorf("query names signInNames: %s", r.rawQuery)
			}
			if strings.Contains(r.rawQuery, "+") {
				t.Errorf("raw query has a '+', which Graph reads as a space: %s", r.rawQuery)
			}
			if r.header.Get("Content-Type") != "" || r.header.Get("Authorization") != "Bearer "+testToken {
				t.Errorf("headers %v", r.header)
			}
		})
	}
}

func TestFindUsersByIdentity(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, `{"value":[{"id":"u9","userPrincipalName":"local.user@contoso.onmicrosoft.com","userType":"Member"}]}`)
	})
	c, _ := f.client()
	users, err := c.FindUsersByIdentity(context.Background(), testTS, "o'local@contoso.onmicrosoft.com", "contoso.onmicrosoft.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].ID != "u9" {
		t.Errorf("users %+v", users)
	}
	r := f.requests()[0]
	q, _ := url.ParseQuery(r.rawQuery)
	want := "identities/any(c:c/issuerAssignedId eq 'o''local@contoso.onmicrosoft.com' and c/issuer eq 'contoso.onmicrosoft.com')"
	if q.Get("$filter") != want || q.Get("$select") != userSelect || r.path != "/v1.0/users" {
		t.Errorf("request %s?%s", r.path, r.rawQuery)
	}
	if _, err := c.FindUsersByIdentity(context.Background(), testTS, "x", ""); err == nil {
		t.Error("an identity filter without issuer must be refused")
	}
	if f.calls.Load() != 1 {
		t.Errorf("calls = %d", f.calls.Load())
	}
}

func TestGetUser(t *testing.T) {
	tests := []struct {
		id, wantPath, wantEscaped string
	}{
		{"243b1de4-ad9f-421c-a933-d55305fb165d", "/v1.0/users/243b1de4-ad9f-421c-a933-d55305fb165d",
			"/v1.0/users/243b1de4-ad9f-421c-a933-d55305fb165d"},
		{"taylor_fabrikam.com#EXT#@contoso.onmicrosoft.com", "/v1.0/users/taylor_fabrikam.com#EXT#@contoso.onmicrosoft.com",
			"/v1.0/users/taylor_fabrikam.com%23EXT%23@contoso.onmicrosoft.com"},
		{"../organization?x=1", "/v1.0/users/../organization?x=1", "/v1.0/users/..%2Forganization%3Fx=1"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, http.StatusOK, `{"id":"u1","userType":"Guest","externalUserState":"Accepted"}`)
			})
			c, _ := f.client()
			u, err := c.getUser(context.Background(), testTS, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if u.ID != "u1" || u.ExternalUserState != "Accepted" {
				t.Errorf("user %+v", u)
			}
			r := f.requests()[0]
			if r.path != tt.wantPath || r.escapedPath != tt.wantEscaped {
				t.Errorf("path %q (escaped %q), want %q (escaped %q)", r.path, r.escapedPath, tt.wantPath, tt.wantEscaped)
			}
			if q, _ := url.ParseQuery(r.rawQuery); q.Get("$select") != userSelect || len(q) != 1 {
				t.Errorf("query %s", r.rawQuery)
			}
		})
	}
	c := NewClient("http://127.0.0.1:1", nil)
	if _, err := c.getUser(context.Background(), testTS, ""); err == nil {
		t.Error("empty id accepted")
	}
}

func TestOrganization(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    *Organization
		wantErr bool
	}{
		{
			name: "first of value",
			body: `{"value":[{"id":"7f4c2d8e-1b3a-4c5d-9e6f-0a1b2c3d4e5f","displayName":"Contoso","verifiedDomains":[
				{"name":"contoso.example","isDefault":true,"isInitial":false,"type":"Managed","capabilities":"Email, OfficeCommunicationsOnline"},
				{"name":"contoso.onmicrosoft.com","isDefault":false,"isInitial":true,"type":"Managed","capabilities":"Email"}]}]}`,
			want: &Organization{ID: "7f4c2d8e-1b3a-4c5d-9e6f-0a1b2c3d4e5f", DisplayName: "Contoso", VerifiedDomains: []VerifiedDomain{
				{Name: "contoso.example", IsDefault: true, Type: "Managed", Capabilities: "Email, OfficeCommunicationsOnline"},
				{Name: "contoso.onmicrosoft.com", IsInitial: true, Type: "Managed", Capabilities: "Email"},
			}},
		},
		{name: "empty value", body: `{"value":[]}`, wantErr: true},
		{name: "not JSON", body: `<html>`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, tt.body) })
			c, s := f.client()
			org, err := c.Organization(context.Background(), testTS)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "graph: ") {
				t.Errorf("err %q", err)
			}
			if !reflect.DeepEqual(org, tt.want) {
				t.Errorf("org %+v, want %+v", org, tt.want)
			}
			r := f.requests()[0]
			if r.path != "/v1.0/organization" || f.calls.Load() != 1 || len(s.waits()) != 0 {
				t.Errorf("path %s calls %d waits %v", r.path, f.calls.Load(), s.waits())
			}
		})
	}
}

// getUser reads one user by id outside a batch (GET /v1.0/users/{id}): Portico reads users only
// through GetUsers, but a single GET is the simplest request to test the client's transport with.
func (c *Client) getUser(ctx context.Context, ts oauth2.TokenSource, id string) (*User, error) {
	if id == "" {
		return nil, errors.New("graph: get user: empty id")
	}
	var out User
	if _, err := c.do(ctx, ts, userRequest(id), &out); err != nil {
		return nil, err
	}
	return &out, nil
}
