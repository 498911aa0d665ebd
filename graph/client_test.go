package graph

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

var tok = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "test-access-token"})

type sleeps struct{ got []time.Duration }

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.got = append(s.got, d)
	return nil
}

func newTest(t *testing.T, h http.HandlerFunc, opts ...Option) (*Client, *sleeps) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s := &sleeps{}
	return NewClient(srv.URL, srv.Client(), append([]Option{WithSleep(s.sleep)}, opts...)...), s
}

func envelope(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "rid-"+code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "innerError": map[string]string{"request-id": "rid-" + code}}})
}

func TestCreateInvitation(t *testing.T) {
	var body map[string]any
	c, _ := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1.0/invitations" || r.Header.Get("Authorization") != "Bearer test-access-token" {
			t.Errorf("request %s %s auth=%q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		if r.Header.Get("client-request-id") == "" || r.Header.Get("Content-Type") != "application/json" {
			t.Error("missing client-request-id or content type")
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("request-id", "rid-1")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"inv-1","inviteRedeemUrl":"https://login.example/redeem?ticket=T","invitedUserEmailAddress":"a@b.example",
			"invitedUserType":"Guest","status":"PendingAcceptance","invitedUser":{"id":"user-1"},
			"invitedUserMessageInfo":{"ccRecipients":[{"emailAddress":{"address":"c@d.example","name":"C"}}]}}`)
	})
	in := &Invitation{InvitedUserEmailAddress: "a@b.example", InviteRedirectURL: "https://x.example/", InvitedUserType: "Guest",
		InvitedUserMessageInfo: &MessageInfo{CustomizedMessageBody: "hi", CCRecipients: []Recipient{{EmailAddress: EmailAddress{Address: "c@d.example"}}}}}
	out, err := c.CreateInvitation(context.Background(), tok, in)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != "inv-1" || out.InvitedUser == nil || out.InvitedUser.ID != "user-1" || out.RequestID != "rid-1" || len(out.InvitedUserMessageInfo.CCRecipients) != 1 {
		t.Errorf("decoded %+v", out)
	}
	if v, ok := body["sendInvitationMessage"]; !ok || v != false {
		t.Errorf("sendInvitationMessage must be sent explicitly: %v", body)
	}
	cc := body["invitedUserMessageInfo"].(map[string]any)["ccRecipients"].([]any)[0].(map[string]any)["emailAddress"].(map[string]any)["address"]
	if cc != "c@d.example" {
		t.Errorf("cc %v", cc)
	}
	if _, ok := body["resetRedemption"]; ok {
		t.Error("resetRedemption must be absent unless set")
	}
}

func TestErrorsAreTypedAndNotRetried(t *testing.T) {
	for _, tt := range []struct {
		status int
		code   string
		is     func(error) bool
	}{
		{400, "BadRequest", func(error) bool { return true }},
		{401, "InvalidAuthenticationToken", IsUnauthorized},
		{403, "Authorization_RequestDenied", IsForbidden},
		{404, "Request_ResourceNotFound", IsNotFound},
	} {
		t.Run(tt.code, func(t *testing.T) {
			var calls atomic.Int32
			c, _ := newTest(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1); envelope(w, tt.status, tt.code, "nope") })
			_, err := c.GetUser(context.Background(), tok, "u1")
			var ge *Error
			if !errors.As(err, &ge) || ge.Status != tt.status || ge.Code != tt.code || ge.RequestID != "rid-"+tt.code || !tt.is(err) {
				t.Fatalf("err = %#v", err)
			}
			if !strings.HasPrefix(err.Error(), "graph: ") || calls.Load() != 1 {
				t.Errorf("err %q, calls %d", err, calls.Load())
			}
		})
	}
}

func TestRetryAfterThenSuccess(t *testing.T) {
	var calls atomic.Int32
	c, s := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "2")
			envelope(w, 429, "TooManyRequests", "slow down")
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"inv"}`)
	})
	if _, err := c.CreateInvitation(context.Background(), tok, &Invitation{InvitedUserEmailAddress: "a@b.example"}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || len(s.got) != 1 || s.got[0] != 2*time.Second {
		t.Errorf("calls %d sleeps %v", calls.Load(), s.got)
	}
}

func TestRetriesExhaustedAndCaps(t *testing.T) {
	var calls atomic.Int32
	c, s := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		envelope(w, 503, "ServiceUnavailable", "busy")
	}, WithMaxRetries(3))
	_, err := c.GetUser(context.Background(), tok, "u")
	if !IsThrottled(err) || calls.Load() != 4 || len(s.got) != 3 {
		t.Fatalf("err %v calls %d sleeps %v", err, calls.Load(), s.got)
	}
	for i := 1; i < len(s.got); i++ {
		if s.got[i] < s.got[i-1]/2 {
			t.Errorf("backoff should grow: %v", s.got)
		}
	}

	calls.Store(0)
	c, s = newTest(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "3600")
		envelope(w, 429, "TooManyRequests", "much later")
	})
	_, err = c.GetUser(context.Background(), tok, "u")
	var ge *Error
	if !errors.As(err, &ge) || ge.RetryAfter != time.Hour || calls.Load() != 1 || len(s.got) != 0 {
		t.Fatalf("an hour's Retry-After must fail at once: err %v calls %d sleeps %v", err, calls.Load(), s.got)
	}
}

func TestPostTimeoutIsUncertainAndNotResent(t *testing.T) {
	var calls atomic.Int32
	c, _ := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		time.Sleep(300 * time.Millisecond)
	}, WithTimeout(100*time.Millisecond))
	_, err := c.CreateInvitation(context.Background(), tok, &Invitation{InvitedUserEmailAddress: "a@b.example"})
	if !errors.Is(err, ErrUncertain) || calls.Load() != 1 {
		t.Fatalf("err %v calls %d", err, calls.Load())
	}
}

func TestPostDroppedConnectionIsUncertain(t *testing.T) {
	var calls atomic.Int32
	c, _ := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	_, err := c.CreateInvitation(context.Background(), tok, &Invitation{InvitedUserEmailAddress: "a@b.example"})
	if !errors.Is(err, ErrUncertain) || calls.Load() != 1 {
		t.Fatalf("err %v calls %d", err, calls.Load())
	}
}

func TestGetNetworkErrorRetried(t *testing.T) {
	var calls atomic.Int32
	c, _ := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		_, _ = io.WriteString(w, `{"id":"u"}`)
	})
	u, err := c.GetUser(context.Background(), tok, "u")
	if err != nil || u.ID != "u" || calls.Load() != 2 {
		t.Fatalf("u %v err %v calls %d", u, err, calls.Load())
	}
}

func TestOversizedBody(t *testing.T) {
	c, _ := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"id":"`+strings.Repeat("x", 2048)+`"}`)
	}, WithMaxResponseBytes(1024))
	if _, err := c.GetUser(context.Background(), tok, "u"); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err %v", err)
	}
}

func TestContextCancelledWhileWaiting(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		envelope(w, 429, "TooManyRequests", "x")
	}))
	defer srv.Close()
	c := NewClient(srv.URL, srv.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetUser(ctx, tok, "u")
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestFindUsersByAddressQuery(t *testing.T) {
	var filter, count, consistency, raw string
	c, _ := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		raw = r.URL.RawQuery
		filter, count, consistency = r.URL.Query().Get("$filter"), r.URL.Query().Get("$count"), r.Header.Get("ConsistencyLevel")
		_, _ = io.WriteString(w, `{"value":[{"id":"u1","mail":"o'neil@fabrikam.example","userType":"Guest","externalUserState":"PendingAcceptance"}]}`)
	})
	users, err := c.FindUsersByAddress(context.Background(), tok, "o'neil+tag#x&y@fabrikam.example")
	if err != nil || len(users) != 1 || users[0].ExternalUserState != "PendingAcceptance" {
		t.Fatalf("users %v err %v", users, err)
	}
	v := "o''neil+tag#x&y@fabrikam.example"
	want := "userPrincipalName eq '" + v + "' or mail eq '" + v + "' or proxyAddresses/any(x:x eq 'SMTP:" + v + "') or otherMails/any(x:x eq '" + v + "')"
	if filter != want {
		t.Errorf("filter\n got %s\nwant %s", filter, want)
	}
	if count != "true" || consistency != "eventual" {
		t.Errorf("advanced query needs $count and ConsistencyLevel: %q %q", count, consistency)
	}
	if strings.Contains(filter, "signInNames") || strings.Contains(raw, "+") {
		t.Errorf("raw query %q", raw)
	}
}

// splitOr splits a filter at top-level " or " outside string literals.
func splitOr(f string) []string {
	var parts []string
	inStr, depth, start := false, 0, 0
	for i := 0; i < len(f); i++ {
		switch {
		case f[i] == '\'':
			inStr = !inStr
		case !inStr && f[i] == '(':
			depth++
		case !inStr && f[i] == ')':
			depth--
		case !inStr && depth == 0 && strings.HasPrefix(f[i:], " or "):
			parts = append(parts, f[start:i])
			start = i + 4
		}
	}
	return append(parts, f[start:])
}

func TestAddressFilterCannotBreakOut(t *testing.T) {
	for _, addr := range []string{"x' or mail eq 'megan@contoso.example", "'", "''", "a'b'c@d.example", "x') or (1 eq 1"} {
		if got := len(splitOr(AddressFilter(addr))); got != 4 {
			t.Errorf("%q: %d top-level clauses, want 4", addr, got)
		}
	}
}

func TestODataString(t *testing.T) {
	for in, want := range map[string]string{"o'brien@x.com": "'o''brien@x.com'", "": "''", "''": "''''''"} {
		if got := ODataString(in); got != want {
			t.Errorf("ODataString(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzODataString(f *testing.F) {
	for _, s := range []string{"", "'", "o'neil@x.example", "a''b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := ODataString(s)
		if len(q) < 2 || q[0] != '\'' || q[len(q)-1] != '\'' {
			t.Fatalf("not quoted: %q", q)
		}
		inner := q[1 : len(q)-1]
		if strings.ReplaceAll(inner, "''", "") != strings.ReplaceAll(s, "'", "") {
			t.Fatalf("lone quote in %q", q)
		}
		if strings.ReplaceAll(inner, "''", "'") != s {
			t.Fatalf("does not round-trip: %q", q)
		}
	})
}

var _ = net.Dial
