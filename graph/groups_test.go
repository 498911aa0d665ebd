package graph

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
)

func TestAddGroupMember(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		switch n {
		case 1:
			w.Header().Set("request-id", "rid-1")
			w.WriteHeader(http.StatusNoContent)
		case 2:
			writeEnvelope(w, http.StatusServiceUnavailable, "ServiceUnavailable", "busy")
		case 3:
			writeEnvelope(w, http.StatusBadRequest, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
		default:
			writeEnvelope(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		}
	})
	c, sl := f.client()
	rid, err := c.AddGroupMember(context.Background(), testTS, "g/1", "u1")
	if err != nil || rid != "rid-1" {
		t.Fatalf("add: %q %v", rid, err)
	}
	r := f.requests()[0]
	if r.method != "POST" || r.escapedPath != "/v1.0/groups/g%2F1/members/$ref" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s %v", r.method, r.escapedPath, r.header)
	}
	var body map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil || len(body) != 1 || body["@odata.id"] != "https://graph.microsoft.com/v1.0/directoryObjects/u1" {
		t.Errorf("body %s", r.body)
	}
	// A 503 is retried (a second add is harmless); the "already exist" answer is recognised.
	_, err = c.AddGroupMember(context.Background(), testTS, "g1", "u1")
	if !AlreadyMember(err) || len(sl.waits()) != 1 {
		t.Errorf("retry then already member: %v, waits %v", err, sl.waits())
	}
	_, err = c.AddGroupMember(context.Background(), testTS, "g1", "u1")
	var ge *Error
	if AlreadyMember(err) || !errors.As(err, &ge) || ge.Status != 403 || ge.Code != "Authorization_RequestDenied" {
		t.Errorf("forbidden: %v", err)
	}
	if _, err := c.AddGroupMember(context.Background(), testTS, "", "u1"); err == nil {
		t.Error("empty group accepted")
	}
}

func TestSearchUsers(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, `{"value":[{"id":"u1","displayName":"Megan Bowen","mail":"megan@contoso.example","userType":"Member"}]}`)
	})
	c, _ := f.client()
	users, err := c.SearchUsers(context.Background(), testTS, ` me"g\ `, 50)
	if err != nil || len(users) != 1 || users[0].DisplayName != "Megan Bowen" {
		t.Fatalf("search: %v %v", users, err)
	}
	r := f.requests()[0]
	q, _ := url.ParseQuery(r.rawQuery)
	if got := q.Get("$search"); got != `"displayName:me g" OR "mail:me g"` {
		t.Errorf("$search = %q", got)
	}
	if q.Get("$top") != "25" || q.Get("$select") != userSelect {
		t.Errorf("query %s", r.rawQuery)
	}
	if r.header.Get("ConsistencyLevel") != "eventual" {
		t.Error("no ConsistencyLevel: eventual header")
	}
	if _, err := c.SearchUsers(context.Background(), testTS, ` "" `, 5); err == nil {
		t.Error("empty term accepted")
	}
}

func TestManager(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			writeJSON(w, http.StatusOK, `{"@odata.type":"#microsoft.graph.user","id":"m1","displayName":"Megan Bowen"}`)
			return
		}
		writeEnvelope(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource 'manager' does not exist or one of its queried reference-property objects are not present.")
	})
	c, _ := f.client()
	m, err := c.Manager(context.Background(), testTS, "u1")
	if err != nil || m == nil || m.ID != "m1" {
		t.Fatalf("manager: %+v %v", m, err)
	}
	if p := f.requests()[0].path; p != "/v1.0/users/u1/manager" {
		t.Errorf("path %s", p)
	}
	if m, err := c.Manager(context.Background(), testTS, "u2"); m != nil || err != nil {
		t.Errorf("no manager: %+v %v", m, err)
	}
}
