package graph

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
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

func TestGetGroupsAndSponsorsBatched(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		answerBatch(t, w, r, func(in inner) map[string]any {
			path, query, _ := strings.Cut(in.URL, "?")
			switch {
			case strings.HasPrefix(path, "/groups/g-gone"):
				return innerError(404, "Request_ResourceNotFound", "")
			case strings.HasPrefix(path, "/groups/"):
				if q, _ := url.ParseQuery(query); q.Get("$select") != groupSelect {
					t.Errorf("group query %q", query)
				}
				id := strings.TrimPrefix(path, "/groups/")
				return map[string]any{"status": 200, "body": map[string]any{"id": id, "displayName": "Name " + id, "resourceProvisioningOptions": []string{"Team"}}}
			case strings.HasSuffix(path, "/sponsors"):
				return map[string]any{"status": 200, "body": map[string]any{"value": []map[string]any{
					{"@odata.type": "#microsoft.graph.user", "id": "s1", "displayName": "Erin", "mail": "erin@contoso.example"}}}}
			}
			t.Errorf("unexpected inner request %s", in.URL)
			return innerError(400, "BadRequest", "")
		})
	})
	c, _ := f.client()
	groups, err := c.GetGroups(context.Background(), testTS, []string{"g1", "g2", "g1", "g-gone"})
	if !isNotFound(err) || len(groups) != 2 || groups["g2"].DisplayName != "Name g2" || !groups["g1"].IsTeam() {
		t.Errorf("groups %v, %v", groups, err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d round trips, want one $batch", n)
	}
	sp, err := c.Sponsors(context.Background(), testTS, []string{"u1", "u2"})
	if err != nil || len(sp) != 2 || sp["u2"][0].Mail != "erin@contoso.example" {
		t.Errorf("sponsors %v, %v", sp, err)
	}
}
