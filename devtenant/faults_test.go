package devtenant

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"portico/internal/faultspec"
	"strings"
	"testing"
	"time"
)

// postInvite sends an invitation with a client that gives up after timeout; it returns the status
// (0 for no answer) and the body.
func postInvite(t *testing.T, tn *Tenant, tok, addr string, timeout time.Duration) (int, http.Header, []byte) {
	t.Helper()
	body, _ := json.Marshal(invite(addr, nil))
	req, _ := http.NewRequest("POST", tn.URL()+"/v1.0/invitations", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("client-request-id", "11111111-2222-4333-8444-555555555555")
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func countInvitations(tn *Tenant, addr string) int {
	n := 0
	for _, inv := range tn.Invitations() {
		if strings.EqualFold(inv.Email, addr) {
			n++
		}
	}
	return n
}

func TestFaultModes(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	tests := []struct {
		spec    string
		timeout time.Duration
		status  int // 0: no answer
		created bool
		code    string
	}{
		{"POST /invitations status=503 after retry-after=3 times=1", 5 * time.Second, 503, true, "ServiceUnavailable"},
		{"POST /invitations status=503 times=1", 5 * time.Second, 503, false, "ServiceUnavailable"},
		{"POST /invitations status=429 retry-after=2 times=1", 5 * time.Second, 429, false, "TooManyRequests"},
		{"POST /invitations drop=before times=1", 5 * time.Second, 0, false, ""},
		{"POST /invitations drop=after times=1", 5 * time.Second, 0, true, ""},
		{"POST /invitations hold=2s times=1", 300 * time.Millisecond, 0, true, ""},
		{"POST /invitations hold=100ms times=1", 5 * time.Second, 201, true, ""},
		{"POST /invitations delay=2s times=1", 300 * time.Millisecond, 0, false, ""},
		{"abuse times=1", 5 * time.Second, 403, false, faultspec.AbuseBlockCode},
	}
	for i, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			f, err := ParseFault(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			tn.InjectFault(f)
			addr := "mode" + string(rune('a'+i)) + "@fabrikam.example"
			status, h, body := postInvite(t, tn, tok, addr, tt.timeout)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			// Graph may finish after the client gave up: wait for a held or delayed request to end.
			time.Sleep(100 * time.Millisecond)
			if tt.timeout < time.Second {
				time.Sleep(2 * time.Second)
			}
			if got := countInvitations(tn, addr); got != map[bool]int{true: 1, false: 0}[tt.created] {
				t.Fatalf("%d invitations, created=%v", got, tt.created)
			}
			if tt.code != "" {
				var e graphErrorBody
				if json.Unmarshal(body, &e) != nil || e.Error.Code != tt.code || e.Error.InnerError.RequestID != h.Get("request-id") ||
					h.Get("client-request-id") != "11111111-2222-4333-8444-555555555555" || e.Error.InnerError.ClientRequestID != h.Get("client-request-id") {
					t.Fatalf("envelope %s, headers %v", body, h)
				}
				if f.RetryAfter != "" && h.Get("Retry-After") != f.RetryAfter {
					t.Errorf("Retry-After %q", h.Get("Retry-After"))
				}
				if tt.code == faultspec.AbuseBlockCode && e.Error.Message != faultspec.AbuseBlockMessage {
					t.Errorf("message %q", e.Error.Message)
				}
			}
			if len(tn.Faults()) != 0 {
				t.Errorf("times=1 fault still listed: %+v", tn.Faults())
			}
		})
	}
}

func TestFaultRateIsSeeded(t *testing.T) {
	run := func(seed uint64) []int {
		tn := startTenant(t, func(o *Options) { o.FaultSeed = seed })
		tok := accessToken(t, tn, "employee@contoso.example")
		f, _ := ParseFault("GET /organization status=503 rate=0.3")
		tn.InjectFault(f)
		var got []int
		for range 40 {
			got = append(got, graphCallT(t, tn, "GET", "/v1.0/organization", tok, nil).Status)
		}
		return got
	}
	a, b, c := run(7), run(7), run(8)
	faulted := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different answers: %v vs %v", a, b)
		}
		if a[i] == 503 {
			faulted++
		}
	}
	if faulted < 4 || faulted > 20 {
		t.Errorf("%d of 40 faulted at rate 0.3", faulted)
	}
	if equal := func() bool {
		for i := range a {
			if a[i] != c[i] {
				return false
			}
		}
		return true
	}(); equal {
		t.Error("another seed gave the same sequence")
	}
}

func TestControlEndpoint(t *testing.T) {
	const token = "control-token-for-tests"
	tn := startTenant(t, func(o *Options) { o.ControlToken = token })
	do := func(method, path, tok, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, tn.URL()+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, _ := do("GET", "/_devtenant/faults", "", ""); s != 401 {
		t.Errorf("no token: %d", s)
	}
	if s, _ := do("GET", "/_devtenant/faults", "wrong", ""); s != 401 {
		t.Errorf("wrong token: %d", s)
	}
	// A Graph token is not the control token.
	if s, _ := do("POST", "/_devtenant/faults", accessToken(t, tn, "admin@contoso.example"), "abuse"); s != 401 {
		t.Errorf("graph token: %d", s)
	}
	if s, b := do("POST", "/_devtenant/faults", token, "# the demo\nPOST /invitations status=503 after rate=0.3\n\nabuse times=2\n"); s != 201 ||
		!strings.Contains(b, `"spec":"POST /invitations status=503 after rate=0.3"`) || !strings.Contains(b, `"left":2`) {
		t.Errorf("add: %d %s", s, b)
	}
	if s, b := do("POST", "/_devtenant/faults", token, "GET /users delay=1s\nstatus=200\n"); s != 400 || !strings.Contains(b, "line 2") {
		t.Errorf("bad line: %d %s", s, b)
	}
	if n := len(tn.Faults()); n != 2 {
		t.Errorf("a refused body added faults: %d", n)
	}
	if s, b := do("GET", "/_devtenant/faults", token, ""); s != 200 || strings.Count(b, `"spec"`) != 2 {
		t.Errorf("list: %d %s", s, b)
	}
	if s, _ := do("DELETE", "/_devtenant/faults", token, ""); s != 204 || len(tn.Faults()) != 0 {
		t.Errorf("clear: %d, %d left", s, len(tn.Faults()))
	}
	if s, _ := do("PATCH", "/_devtenant/faults", token, ""); s != 405 {
		t.Errorf("PATCH: %d", s)
	}
	if s, b := do("PUT", "/_devtenant/write-quota", token, "20/1s"); s != 200 || !strings.Contains(b, `"writes":20`) {
		t.Errorf("quota: %d %s", s, b)
	}
	if n, per := tn.WriteQuota(); n != 20 || per != time.Second {
		t.Errorf("quota %d/%v", n, per)
	}
	if s, _ := do("PUT", "/_devtenant/write-quota", token, "lots"); s != 400 {
		t.Errorf("bad quota: %d", s)
	}

	// Only loopback callers.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/_devtenant/faults", nil)
	req.RemoteAddr = "192.0.2.7:4000"
	req.Header.Set("Authorization", "Bearer "+token)
	tn.Handler().ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Errorf("remote caller: %d", rec.Code)
	}

	// Without a control token the endpoint does not exist.
	off := startTenant(t)
	rec = httptest.NewRecorder()
	req = httptest.NewRequest("GET", "/_devtenant/faults", nil)
	req.RemoteAddr = "127.0.0.1:4000"
	req.Header.Set("Authorization", "Bearer ")
	off.Handler().ServeHTTP(rec, req)
	if rec.Code != 404 {
		t.Errorf("disabled: %d", rec.Code)
	}
}

func TestFaultAloneSparesBatchedRequests(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	f, err := ParseFault("GET /organization status=503 alone")
	if err != nil {
		t.Fatal(err)
	}
	tn.InjectFault(f)
	batch := `{"requests":[{"id":"1","method":"GET","url":"/organization"}]}`
	g := graphCallT(t, tn, "POST", "/v1.0/$batch", tok, batch)
	if g.Status != 200 || !strings.Contains(string(g.Body), `"status":200`) {
		t.Errorf("inside a batch: %d %s", g.Status, g.Body)
	}
	if g := graphCallT(t, tn, "GET", "/v1.0/organization", tok, nil); g.Status != 503 {
		t.Errorf("alone: %d", g.Status)
	}
}
