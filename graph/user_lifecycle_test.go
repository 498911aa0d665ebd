package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestSetAccountEnabledRetriesAnIdempotentPatch(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			writeEnvelope(w, 503, "ServiceUnavailable", "try later")
			return
		}
		w.Header().Set("request-id", "rid-ok")
		w.WriteHeader(204)
	})
	c, _ := f.client()
	rid, err := c.DisableUser(context.Background(), testTS, "u-1")
	if err != nil || rid != "rid-ok" {
		t.Fatalf("disable = %q, %v", rid, err)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2: a PATCH of accountEnabled is idempotent and is retried after a 503", len(reqs))
	}
	for _, r := range reqs {
		if r.method != "PATCH" || r.path != "/v1.0/users/u-1" || string(r.body) != `{"accountEnabled":false}` ||
			r.header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s %s %v", r.method, r.path, r.body, r.header)
		}
	}
}

func TestDeleteUserNotFound(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeEnvelope(w, 404, "Request_ResourceNotFound", "Resource 'u-1' does not exist")
	})
	c, _ := f.client()
	_, err := c.DeleteUser(context.Background(), testTS, "u-1")
	if !NotFound(err) || Forbidden(err) {
		t.Fatalf("err = %v, want a 404 NotFound reports", err)
	}
	if r := f.requests()[0]; r.method != "DELETE" || r.path != "/v1.0/users/u-1" || len(r.body) != 0 {
		t.Errorf("request %s %s %q", r.method, r.path, r.body)
	}
}

func TestResetRedemptionIsNeverResent(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeEnvelope(w, 503, "ServiceUnavailable", "try later")
	})
	c, _ := f.client()
	_, err := c.ResetRedemption(context.Background(), testTS, &Invitation{InvitedUserEmailAddress: "p@fabrikam.example",
		InviteRedirectURL: "https://portico.example/welcome"}, "u-1")
	if !errors.Is(err, ErrUncertain) || len(f.requests()) != 1 {
		t.Fatalf("err = %v after %d requests; want ErrUncertain after one", err, len(f.requests()))
	}
	var body map[string]any
	_ = json.Unmarshal(f.requests()[0].body, &body)
	if body["resetRedemption"] != true || body["invitedUser"].(map[string]any)["id"] != "u-1" {
		t.Errorf("body %s", f.requests()[0].body)
	}
}

// Writes for many users go in $batch requests of MaxBatchRequests; each user gets its own result.
func TestSetAccountsEnabledBatches(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		var in struct {
			Requests []batchRequest `json:"requests"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		var out []map[string]any
		for _, q := range in.Requests {
			status, body := 204, json.RawMessage(nil)
			if strings.HasSuffix(q.URL, "/u-07") {
				status = 403
				body = json.RawMessage(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`)
			}
			if q.Method != "PATCH" || string(q.Body) != `{"accountEnabled":false}` || q.Headers["Content-Type"] != "application/json" {
				status = 400
			}
			out = append(out, map[string]any{"id": q.ID, "status": status, "headers": map[string]string{"request-id": "r-" + q.ID}, "body": body})
		}
		b, _ := json.Marshal(map[string]any{"responses": out})
		writeJSON(w, 200, string(b))
	})
	c, _ := f.client()
	var ids []string
	for i := range 45 {
		ids = append(ids, fmt.Sprintf("u-%02d", i))
	}
	res := c.SetAccountsEnabled(context.Background(), testTS, ids, false)
	if n := len(f.requests()); n != 3 {
		t.Fatalf("%d round trips for 45 users, want 3", n)
	}
	for _, id := range ids {
		r := res[id]
		switch {
		case id == "u-07" && !Forbidden(r.Err):
			t.Errorf("%s: %v, want 403", id, r.Err)
		case id != "u-07" && r.Err != nil:
			t.Errorf("%s: %v", id, r.Err)
		}
	}
}

func TestGuestStatusesSignInAndGone(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		var in struct {
			Requests []batchRequest `json:"requests"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		var out []map[string]any
		for _, q := range in.Requests {
			if !strings.Contains(q.URL, "signInActivity") {
				out = append(out, map[string]any{"id": q.ID, "status": 400, "body": json.RawMessage(`{"error":{"code":"BadRequest","message":"no select"}}`)})
				continue
			}
			if strings.Contains(q.URL, "/users/gone") {
				out = append(out, map[string]any{"id": q.ID, "status": 404, "body": json.RawMessage(`{"error":{"code":"Request_ResourceNotFound","message":"gone"}}`)})
				continue
			}
			out = append(out, map[string]any{"id": q.ID, "status": 200, "body": json.RawMessage(
				`{"id":"here","userType":"Guest","accountEnabled":false,"signInActivity":{"lastSignInDateTime":"2026-11-01T09:00:00Z","lastNonInteractiveSignInDateTime":"2026-11-02T09:00:00Z"}}`)})
		}
		b, _ := json.Marshal(map[string]any{"responses": out})
		writeJSON(w, 200, string(b))
	})
	c, _ := f.client()
	found, gone, err := c.GuestStatuses(context.Background(), testTS, []string{"here", "gone"}, true)
	if err != nil || len(gone) != 1 || gone[0] != "gone" || found["here"] == nil {
		t.Fatalf("found %v gone %v err %v", found, gone, err)
	}
	g := found["here"]
	if g.AccountEnabled == nil || *g.AccountEnabled || g.SignInActivity.Last().Format("2006-01-02") != "2026-11-02" {
		t.Errorf("status %+v", g)
	}
}
