package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// inner is one request of a $batch as the fake Graph received it.
type inner struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// answerBatch decodes a $batch and answers each inner request with reply (nil drops it).
func answerBatch(t *testing.T, w http.ResponseWriter, r *http.Request, reply func(in inner) map[string]any) []inner {
	t.Helper()
	if r.Method != http.MethodPost || r.URL.Path != "/v1.0/$batch" {
		t.Errorf("got %s %s, want POST /v1.0/$batch", r.Method, r.URL.Path)
	}
	var body struct {
		Requests []inner `json:"requests"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		t.Errorf("batch body: %v", err)
	}
	var out []map[string]any
	// Graph may answer in any order: answer back to front.
	for i := len(body.Requests) - 1; i >= 0; i-- {
		in := body.Requests[i]
		if a := reply(in); a != nil {
			a["id"] = in.ID
			out = append(out, a)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "rid-batch")
	_ = json.NewEncoder(w).Encode(map[string]any{"responses": out})
	return body.Requests
}

func okUsers(ids ...string) map[string]any {
	var v []map[string]any
	for _, id := range ids {
		v = append(v, map[string]any{"id": id, "userType": "Guest"})
	}
	return map[string]any{"status": 200, "headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"value": v}}
}

func innerError(status int, code, retryAfter string) map[string]any {
	h := map[string]string{"Content-Type": "application/json"}
	if retryAfter != "" {
		h["Retry-After"] = retryAfter
	}
	return map[string]any{"status": status, "headers": h, "body": map[string]any{"error": map[string]any{
		"code": code, "message": "inner " + code,
		"innerError": map[string]string{"request-id": "rid-inner-" + code, "client-request-id": "crid"},
	}}}
}

func TestLookupSendsOneBatch(t *testing.T) {
	var got []inner
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		got = answerBatch(t, w, r, func(in inner) map[string]any {
			switch {
			case strings.HasPrefix(in.URL, "/organization"):
				return map[string]any{"status": 200, "body": map[string]any{"value": []any{map[string]any{
					"id": "org", "verifiedDomains": []any{map[string]any{"name": "contoso.onmicrosoft.com", "isInitial": true}},
				}}}}
			case strings.Contains(in.URL, "identities"):
				return okUsers("local-1")
			default:
				return okUsers("addr-1", "addr-2")
			}
		})
	})
	c, _ := f.client()
	res := c.Lookup(context.Background(), testTS, Lookup{Email: "o'neil+x@fabrikam.example", IdentityIssuer: "contoso.onmicrosoft.com", Organization: true})
	if res.AddressErr != nil || res.IdentityErr != nil || res.OrganizationErr != nil {
		t.Fatalf("errors: %v / %v / %v", res.AddressErr, res.IdentityErr, res.OrganizationErr)
	}
	if len(res.ByAddress) != 2 || len(res.ByIdentity) != 1 || res.ByIdentity[0].ID != "local-1" || res.Organization.VerifiedDomains[0].Name != "contoso.onmicrosoft.com" {
		t.Fatalf("decoded %+v", res)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d HTTP requests, want 1 $batch", n)
	}
	if h := f.requests()[0].header; h.Get("Authorization") != "Bearer "+testToken || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("outer headers %v", h)
	}
	if len(got) != 3 {
		t.Fatalf("%d inner requests, want 3", len(got))
	}
	ids := map[string]bool{}
	for _, in := range got {
		if ids[in.ID] {
			t.Errorf("duplicate id %q", in.ID)
		}
		ids[in.ID] = true
		if in.Method != http.MethodGet || !strings.HasPrefix(in.URL, "/") || strings.HasPrefix(in.URL, "/v1.0") {
			t.Errorf("inner %s %s: want a GET relative to the version", in.Method, in.URL)
		}
		if len(in.Body) != 0 {
			t.Errorf("GET %s carries a body", in.URL)
		}
		advanced := strings.Contains(in.URL, "proxyAddresses")
		if got := in.Headers["ConsistencyLevel"] == "eventual"; got != advanced {
			t.Errorf("%s: ConsistencyLevel sent=%v, want %v", in.URL, got, advanced)
		}
		if advanced && !strings.Contains(in.URL, "%24count=true") {
			t.Errorf("address query without $count: %s", in.URL)
		}
		if strings.Contains(in.URL, "identities") && strings.Contains(in.URL, "count") {
			t.Errorf("identities query is a plain query: %s", in.URL)
		}
		if strings.Contains(in.URL, "+") {
			t.Errorf("a literal + must be %%2B: %s", in.URL)
		}
	}
}

func TestBatchInnerAnswers(t *testing.T) {
	tests := []struct {
		name      string
		opts      []Option
		answers   []func(in inner) map[string]any // per batch call
		wantErr   int                             // status of the *Error, 0 for success
		wantRID   string
		wantWaits []time.Duration
		wantCalls int
	}{
		{
			name:      "forbidden is typed, with the inner request id, not retried",
			answers:   []func(inner) map[string]any{func(inner) map[string]any { return innerError(403, "Authorization_RequestDenied", "") }},
			wantErr:   403,
			wantRID:   "rid-inner-Authorization_RequestDenied",
			wantCalls: 1,
		},
		{
			name: "an inner error without an envelope still has the status and the batch's request id",
			answers: []func(inner) map[string]any{func(inner) map[string]any {
				return map[string]any{"status": 404, "body": "not json"}
			}},
			wantErr:   404,
			wantRID:   "rid-batch",
			wantCalls: 1,
		},
		{
			name: "inner 429 waits its Retry-After and is sent again",
			answers: []func(inner) map[string]any{
				func(inner) map[string]any { return innerError(429, "TooManyRequests", "3") },
				func(inner) map[string]any { return okUsers("u1") },
			},
			wantWaits: []time.Duration{3 * time.Second},
			wantCalls: 2,
		},
		{
			name: "inner 503 without Retry-After backs off",
			answers: []func(inner) map[string]any{
				func(inner) map[string]any { return innerError(503, "ServiceUnavailable", "") },
				func(inner) map[string]any { return okUsers("u1") },
			},
			wantCalls: 2,
		},
		{
			name: "retries stop at the client's budget",
			opts: []Option{WithMaxRetries(1)},
			answers: []func(inner) map[string]any{
				func(inner) map[string]any { return innerError(429, "TooManyRequests", "1") },
				func(inner) map[string]any { return innerError(429, "TooManyRequests", "1") },
				func(inner) map[string]any { return okUsers("u1") },
			},
			wantErr:   429,
			wantRID:   "rid-inner-TooManyRequests",
			wantWaits: []time.Duration{time.Second},
			wantCalls: 2,
		},
		{
			name: "a Retry-After beyond the wait budget is not waited for",
			opts: []Option{WithMaxWait(5 * time.Second)},
			answers: []func(inner) map[string]any{
				func(inner) map[string]any { return innerError(429, "TooManyRequests", "60") },
			},
			wantErr:   429,
			wantRID:   "rid-inner-TooManyRequests",
			wantCalls: 1,
		},
		{
			name: "a missing answer is an error",
			answers: []func(inner) map[string]any{
				func(inner) map[string]any { return nil },
			},
			wantErr:   -1,
			wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n > len(tt.answers) {
					t.Errorf("unexpected call %d", n)
					writeEnvelope(w, 500, "Unexpected", "")
					return
				}
				answerBatch(t, w, r, tt.answers[n-1])
			})
			c, sl := f.client(tt.opts...)
			res := c.Lookup(context.Background(), testTS, Lookup{Email: "a@fabrikam.example"})
			err := res.AddressErr
			switch {
			case tt.wantErr == 0 && err != nil:
				t.Fatalf("err %v", err)
			case tt.wantErr == 0 && (len(res.ByAddress) != 1 || res.ByAddress[0].ID != "u1"):
				t.Fatalf("users %+v", res.ByAddress)
			case tt.wantErr == -1 && err == nil:
				t.Fatal("no error for a missing answer")
			case tt.wantErr > 0:
				var ge *Error
				if !errors.As(err, &ge) {
					t.Fatalf("err %v (%T), want *Error", err, err)
				}
				if ge.Status != tt.wantErr || ge.RequestID != tt.wantRID {
					t.Errorf("got %d %q, want %d %q", ge.Status, ge.RequestID, tt.wantErr, tt.wantRID)
				}
			}
			if got := int(f.calls.Load()); got != tt.wantCalls {
				t.Errorf("%d batches sent, want %d", got, tt.wantCalls)
			}
			if tt.wantWaits != nil && fmt.Sprint(sl.waits()) != fmt.Sprint(tt.wantWaits) {
				t.Errorf("waits %v, want %v", sl.waits(), tt.wantWaits)
			}
		})
	}
}

func TestBatchOuterFailure(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "2")
			writeEnvelope(w, 503, "ServiceUnavailable", "busy")
			return
		}
		answerBatch(t, w, r, func(inner) map[string]any { return okUsers("u1") })
	})
	c, sl := f.client()
	users, err := c.GetUsers(context.Background(), testTS, []string{"u1"})
	if err != nil || users["u1"] == nil {
		t.Fatalf("users %v err %v", users, err)
	}
	if fmt.Sprint(sl.waits()) != "[2s]" {
		t.Errorf("waits %v, want [2s]", sl.waits())
	}

	g := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeEnvelope(w, 401, "InvalidAuthenticationToken", "expired")
	})
	c, _ = g.client()
	_, err = c.GetUsers(context.Background(), testTS, []string{"a", "b"})
	if !isUnauthorized(err) {
		t.Fatalf("err %v, want a 401 *Error", err)
	}
	if g.calls.Load() != 1 {
		t.Errorf("%d calls, want 1", g.calls.Load())
	}
}

func TestGetUsersSplitsIntoConcurrentBatches(t *testing.T) {
	const batches = 3
	var arrived sync.WaitGroup
	arrived.Add(batches)
	var mu sync.Mutex
	sizes := []int{}
	seenIDs := map[string]int{}
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		// Every batch waits until all have arrived: only concurrent batches get through.
		done := make(chan struct{})
		go func() { arrived.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("batches were not sent concurrently")
		}
		reqs := answerBatch(t, w, r, func(in inner) map[string]any {
			id := strings.TrimPrefix(strings.SplitN(in.URL, "?", 2)[0], "/users/")
			if id == "gone" {
				return innerError(404, "Request_ResourceNotFound", "")
			}
			return map[string]any{"status": 200, "body": map[string]any{"id": id, "externalUserState": "Accepted"}}
		})
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(reqs))
		for _, in := range reqs {
			seenIDs[in.URL]++
		}
	})
	c, _ := f.client()
	var ids []string
	for i := range 44 {
		ids = append(ids, fmt.Sprintf("user-%02d", i))
	}
	ids = append(ids, "user-00", "gone") // a duplicate is read once
	users, err := c.GetUsers(context.Background(), testTS, ids)
	if !isNotFound(err) {
		t.Errorf("err %v, want the 404 of the missing user", err)
	}
	if len(users) != 44 || users["user-07"].ExternalUserState != "Accepted" || users["gone"] != nil {
		t.Fatalf("%d users: %v", len(users), users["user-07"])
	}
	total := 0
	for _, s := range sizes {
		if s > MaxBatchRequests {
			t.Errorf("batch of %d requests", s)
		}
		total += s
	}
	if len(sizes) != batches || total != 45 {
		t.Errorf("batch sizes %v, want %d batches carrying 45 requests", sizes, batches)
	}
	for u, n := range seenIDs {
		if n != 1 {
			t.Errorf("%s sent %d times", u, n)
		}
	}
}

// TestBatchWrites covers requests with a body, which Portico does not batch today: the body goes
// with its Content-Type, and a write whose outcome is unknown is never sent again.
func TestBatchWrites(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		wantCalls int
		uncertain bool
	}{
		{"created", 201, 1, false},
		{"gateway timeout: outcome unknown, not sent again", 504, 1, true},
		{"503 (Graph may have acted): outcome unknown, not sent again", 503, 1, true},
		{"500: outcome unknown, not sent again", 500, 1, true},
		{"throttled: not acted on, sent again", 429, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
				answerBatch(t, w, r, func(in inner) map[string]any {
					if in.Headers["Content-Type"] != "application/json" || string(in.Body) != `{"a":1}` {
						t.Errorf("inner write %v %s", in.Headers, in.Body)
					}
					if n == 1 && tt.status != 201 {
						return innerError(tt.status, "Busy", "1")
					}
					return map[string]any{"status": 201, "body": map[string]any{"id": "x"}}
				})
			})
			c, _ := f.client()
			it := &batchItem{req: request{method: http.MethodPost, path: "/invitations", body: []byte(`{"a":1}`), want: http.StatusCreated}}
			c.doBatch(context.Background(), testTS, []*batchItem{it})
			if got := int(f.calls.Load()); got != tt.wantCalls {
				t.Errorf("%d batches, want %d", got, tt.wantCalls)
			}
			if errors.Is(it.err, ErrUncertain) != tt.uncertain || (!tt.uncertain && it.err != nil) {
				t.Errorf("err %v", it.err)
			}
		})
	}
}

func TestLookupManySplitsIntoBatchesSentTogether(t *testing.T) {
	var mu sync.Mutex
	inners := 0
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		got := answerBatch(t, w, r, func(in inner) map[string]any {
			switch {
			case strings.Contains(in.URL, "identities"):
				return okUsers()
			case strings.Contains(in.URL, "broken"):
				return innerError(400, "Request_BadRequest", "")
			default:
				// The address in the filter comes back as the user's id.
				_, rest, _ := strings.Cut(in.URL, "mail%20eq%20%27")
				addr, _, _ := strings.Cut(rest, "%27")
				return okUsers(strings.ReplaceAll(addr, "%40", "@"))
			}
		})
		mu.Lock()
		inners += len(got)
		mu.Unlock()
		if len(got) > MaxBatchRequests {
			t.Errorf("a batch of %d requests", len(got))
		}
	})
	c, _ := f.client()
	var ls []Lookup
	for i := range 25 {
		ls = append(ls, Lookup{Email: fmt.Sprintf("p%d@fabrikam.example", i), IdentityIssuer: "contoso.onmicrosoft.com"})
	}
	ls = append(ls, Lookup{Email: "broken@fabrikam.example"}, Lookup{})
	res := c.LookupMany(context.Background(), testTS, ls)
	if len(res) != len(ls) {
		t.Fatalf("%d results for %d lookups", len(res), len(ls))
	}
	for i := range 25 {
		r := res[i]
		if r.AddressErr != nil || r.IdentityErr != nil || len(r.ByAddress) != 1 || r.ByAddress[0].ID != fmt.Sprintf("p%d@fabrikam.example", i) {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	var ge *Error
	if !errors.As(res[25].AddressErr, &ge) || ge.Status != 400 {
		t.Errorf("broken lookup: %v", res[25].AddressErr)
	}
	if res[26].AddressErr == nil {
		t.Error("an empty address was looked up")
	}
	if n := len(f.requests()); n != 3 || inners != 51 {
		t.Errorf("%d HTTP requests carrying %d inner requests, want 3 and 51", n, inners)
	}
}
