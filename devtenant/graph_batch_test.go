package devtenant

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

type batchResult struct {
	Responses []struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"responses"`
}

func (b batchResult) byID(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range b.Responses {
		if _, dup := out[r.ID]; dup {
			t.Errorf("answer %s twice", r.ID)
		}
		out[r.ID] = r.Status
	}
	return out
}

func step(id, method, url string, extra ...any) map[string]any {
	m := map[string]any{"id": id, "method": method, "url": url}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func TestBatchRefusesMalformedBatches(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	many := []any{}
	for i := range 21 {
		many = append(many, step(fmt.Sprint(i+1), "GET", "/organization"))
	}
	tests := []struct {
		name string
		body any
		says string
	}{
		{"not JSON", "{", "Invalid batch payload format"},
		{"no requests", map[string]any{}, "requests"},
		{"empty requests", map[string]any{"requests": []any{}}, "requests"},
		{"more than 20", map[string]any{"requests": many}, "maximum of 20"},
		{"duplicate ids", map[string]any{"requests": []any{step("a", "GET", "/me"), step("A", "GET", "/organization")}}, "has to be unique in a batch"},
		{"missing id", map[string]any{"requests": []any{map[string]any{"method": "GET", "url": "/me"}}}, "id"},
		{"missing method", map[string]any{"requests": []any{map[string]any{"id": "1", "url": "/me"}}}, "no method"},
		{"missing url", map[string]any{"requests": []any{map[string]any{"id": "1", "method": "GET"}}}, "no url"},
		{"absolute url", map[string]any{"requests": []any{step("1", "GET", "https://graph.microsoft.com/v1.0/me")}}, "relative"},
		{"versioned url", map[string]any{"requests": []any{step("1", "GET", "/v1.0/me")}}, "relative"},
		{"body without Content-Type", map[string]any{"requests": []any{step("1", "POST", "/invitations", "body", invite("x@fabrikam.example", nil))}}, "Content-Type"},
		{"unknown dependency", map[string]any{"requests": []any{step("1", "GET", "/me", "dependsOn", []string{"9"})}}, "not in the batch"},
		{"depends on itself", map[string]any{"requests": []any{step("1", "GET", "/me", "dependsOn", []string{"1"})}}, "not in the batch"},
		{"cycle", map[string]any{"requests": []any{step("1", "GET", "/me", "dependsOn", []string{"2"}), step("2", "GET", "/me", "dependsOn", []string{"1"})}}, "cycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn.ResetRequests()
			g := graphCallT(t, tn, "POST", "/v1.0/$batch", tok, tt.body)
			if g.Status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", g.Status, g.Body)
			}
			e := g.err(t)
			if e.Code != "BadRequest" || !strings.Contains(e.Message, tt.says) || e.InnerError.RequestID == "" {
				t.Errorf("error %+v, want BadRequest saying %q", e, tt.says)
			}
			if n := len(tn.Requests()); n != 0 {
				t.Errorf("%d inner requests served from a refused batch", n)
			}
			if n := len(tn.RoundTrips()); n != 1 {
				t.Errorf("%d round trips, want 1", n)
			}
		})
	}
	if g := graphCallT(t, tn, "GET", "/v1.0/$batch", tok, nil); g.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET $batch: %d", g.Status)
	}
}

func TestBatchServesEachRequestOnItsOwn(t *testing.T) {
	tn := startTenant(t)
	tn.SetWriteQuota(1, time.Hour)
	tok := accessToken(t, tn, "employee@contoso.example")
	tn.InjectFault(Fault{Method: "GET", PathPrefix: "/users/" + StableID("admin@contoso.example"), Status: 503, RetryAfter: "7", Times: 1})
	body := map[string]any{"requests": []any{
		step("me", "GET", "/me"),
		step("org", "GET", "organization?$select=id,verifiedDomains"), // no leading slash: Graph accepts it
		step("users", "GET", "/users?"+strings.TrimPrefix(usersPath(map[string]string{"$filter": fourClause("pending.guest@fabrikam.example"), "$count": "true"}), "/v1.0/users?"),
			"headers", map[string]string{"ConsistencyLevel": "eventual"}),
		step("admin", "GET", "/users/"+StableID("admin@contoso.example")),
		step("after-admin", "GET", "/me", "dependsOn", []string{"admin"}),
		step("inv1", "POST", "/invitations", "body", invite("one@fabrikam.example", nil), "headers", map[string]string{"Content-Type": "application/json"}),
		step("inv2", "POST", "/invitations", "body", invite("two@fabrikam.example", nil), "headers", map[string]string{"Content-Type": "application/json"}, "dependsOn", []string{"inv1"}),
		step("nowhere", "GET", "/nowhere"),
	}}
	g := graphCallT(t, tn, "POST", "/v1.0/$batch", tok, body)
	if g.Status != http.StatusOK {
		t.Fatalf("status %d: %s", g.Status, g.Body)
	}
	var res batchResult
	if err := json.Unmarshal(g.Body, &res); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"me": 200, "org": 200, "users": 200, "admin": 503, "after-admin": 424, "inv1": 201, "inv2": 429, "nowhere": 400}
	if got := res.byID(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	for _, r := range res.Responses {
		switch r.ID {
		case "admin":
			if r.Headers["Retry-After"] != "7" || !strings.Contains(string(r.Body), "ServiceUnavailable") {
				t.Errorf("503 answer %v %s", r.Headers, r.Body)
			}
		case "inv2":
			if r.Headers["Retry-After"] == "" || !strings.Contains(string(r.Body), "TooManyRequests") {
				t.Errorf("throttled write %v %s", r.Headers, r.Body)
			}
		case "after-admin":
			if !strings.Contains(string(r.Body), "FailedDependency") {
				t.Errorf("424 body %s", r.Body)
			}
		case "users":
			if !strings.Contains(string(r.Body), "pending.guest@fabrikam.example") || headerValue(r.Headers, "request-id") == "" {
				t.Errorf("users answer %v %s", r.Headers, r.Body)
			}
		}
	}
	// Each inner request is recorded like a request sent alone; the batch is one round trip.
	reqs := tn.Requests()
	if len(reqs) != 7 { // the 424 never ran
		t.Fatalf("%d recorded requests, want 7", len(reqs))
	}
	batchID := g.Header.Get("request-id")
	for _, r := range reqs {
		if r.BatchID != batchID || r.Header.Get("Authorization") != "Bearer "+tok || !strings.HasPrefix(r.Path, "/v1.0/") {
			t.Errorf("recorded %s %s batch %q auth %q", r.Method, r.Path, r.BatchID, r.Header.Get("Authorization"))
		}
		if r.Path == "/v1.0/users" && r.Header.Get("ConsistencyLevel") != "eventual" {
			t.Errorf("inner headers lost: %v", r.Header)
		}
	}
	if rts := tn.RoundTrips(); len(rts) != 1 || rts[0].Path != "/v1.0/$batch" {
		t.Errorf("round trips %+v", rts)
	}
	if _, ok := tn.UserByMail("one@fabrikam.example"); !ok {
		t.Error("the first invitation was created")
	}
	if _, ok := tn.UserByMail("two@fabrikam.example"); ok {
		t.Error("the throttled invitation was created")
	}
}

func TestBatchWithoutTokenAnswersEachRequest401(t *testing.T) {
	tn := startTenant(t)
	g := graphCallT(t, tn, "POST", "/v1.0/$batch", "", map[string]any{"requests": []any{step("1", "GET", "/me"), step("2", "GET", "/organization")}})
	var res batchResult
	if g.Status != 200 || json.Unmarshal(g.Body, &res) != nil {
		t.Fatalf("status %d %s", g.Status, g.Body)
	}
	if got := res.byID(t); got["1"] != 401 || got["2"] != 401 {
		t.Errorf("statuses %v", got)
	}
}

func TestBatchPaysLatencyOnce(t *testing.T) {
	const latency = 100 * time.Millisecond
	tn := startTenant(t, func(o *Options) { o.Latency = latency })
	tok := accessToken(t, tn, "employee@contoso.example")
	var steps []any
	for i := range 10 {
		steps = append(steps, step(fmt.Sprint(i), "GET", "/organization"))
	}
	start := time.Now()
	g := graphCallT(t, tn, "POST", "/v1.0/$batch", tok, map[string]any{"requests": steps})
	took := time.Since(start)
	if g.Status != 200 {
		t.Fatalf("status %d", g.Status)
	}
	// Ten inner requests paying the latency again would take a second.
	if took < latency || took > 5*latency {
		t.Errorf("batch took %v, want about %v", took, latency)
	}
	if len(tn.Requests()) != 10 || len(tn.RoundTrips()) != 1 {
		t.Errorf("requests %d, round trips %d", len(tn.Requests()), len(tn.RoundTrips()))
	}
}

func TestBatchFaultOnTheBatchItself(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	tn.InjectFault(Fault{PathPrefix: "/$batch", Status: 429, RetryAfter: "3", Times: 1})
	body := map[string]any{"requests": []any{step("1", "GET", "/me")}}
	g := graphCallT(t, tn, "POST", "/v1.0/$batch", tok, body)
	if g.Status != 429 || g.Header.Get("Retry-After") != "3" || g.err(t).Code != "TooManyRequests" {
		t.Fatalf("status %d %v %s", g.Status, g.Header, g.Body)
	}
	if len(tn.Requests()) != 0 {
		t.Error("inner requests served from a throttled batch")
	}
	if g = graphCallT(t, tn, "POST", "/v1.0/$batch", tok, body); g.Status != 200 {
		t.Errorf("second batch %d", g.Status)
	}
}

func TestSequentialRoundTrips(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name string
		rts  [][2]int
		want int
	}{
		{"none", nil, 0},
		{"one", [][2]int{{0, 150}}, 1},
		{"two at once", [][2]int{{0, 150}, {5, 160}}, 1},
		{"one after another", [][2]int{{0, 150}, {151, 300}, {301, 450}}, 3},
		{"concurrent, then one", [][2]int{{10, 160}, {0, 150}, {170, 320}}, 2},
	}
	for _, tt := range tests {
		var rts []RoundTrip
		for _, r := range tt.rts {
			rts = append(rts, RoundTrip{Start: at(r[0]), End: at(r[1])})
		}
		if got := SequentialRoundTrips(rts); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestOutboxIgnoresLanguageForCustomText(t *testing.T) {
	tn := startTenant(t)
	tok := accessToken(t, tn, "employee@contoso.example")
	tests := []struct {
		name, body, lang, wantLang string
	}{
		{"custom text: language ignored", "Welcome aboard.", "fr-FR", ""},
		{"default text in the language asked for", "", "fr-FR", "fr-FR"},
		{"default text in en-US", "", "", "en-US"},
	}
	for i, tt := range tests {
		mi := map[string]any{}
		if tt.body != "" {
			mi["customizedMessageBody"] = tt.body
		}
		if tt.lang != "" {
			mi["messageLanguage"] = tt.lang
		}
		addr := fmt.Sprintf("lang%d@fabrikam.example", i)
		g := graphCallT(t, tn, "POST", "/v1.0/invitations", tok, invite(addr, map[string]any{"sendInvitationMessage": true, "invitedUserMessageInfo": mi}))
		if g.Status != 201 {
			t.Fatalf("%s: %d %s", tt.name, g.Status, g.Body)
		}
		out := tn.Outbox()
		m := out[len(out)-1]
		if m.To != addr || m.Body != tt.body || m.Language != tt.wantLang {
			t.Errorf("%s: message body %q language %q, want %q %q", tt.name, m.Body, m.Language, tt.body, tt.wantLang)
		}
	}
}
