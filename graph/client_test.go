package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestErrorEnvelopesAreTypedAndNotRetried(t *testing.T) {
	tests := []struct {
		status int
		code   string
		is     func(error) bool
	}{
		{400, "BadRequest", isBadRequest},
		{400, "Request_BadRequest", isBadRequest},
		{401, "InvalidAuthenticationToken", isUnauthorized},
		{403, "Authorization_RequestDenied", isForbidden},
		{404, "Request_ResourceNotFound", isNotFound},
	}
	calls := map[string]func(*Client) error{
		"POST": func(c *Client) error {
			_, err := c.CreateInvitation(context.Background(), testTS, &Invitation{InvitedUserEmailAddress: "a@b.example"})
			return err
		},
		"GET": func(c *Client) error { _, err := c.getUser(context.Background(), testTS, "u1"); return err },
	}
	for _, tt := range tests {
		for method, call := range calls {
			t.Run(method+" "+tt.code, func(t *testing.T) {
				f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
					writeEnvelope(w, tt.status, tt.code, "it went wrong")
				})
				c, s := f.client()
				err := call(c)
				var ge *Error
				if !errors.As(err, &ge) {
					t.Fatalf("err = %v, want *Error", err)
				}
				want := Error{Status: tt.status, Code: tt.code, Message: "it went wrong", RequestID: "rid-" + tt.code, ClientRequestID: "crid-" + tt.code}
				if *ge != want {
					t.Errorf("got %+v\nwant %+v", *ge, want)
				}
				if !tt.is(err) || isThrottled(err) || isTransient(err) || errors.Is(err, ErrUncertain) {
					t.Errorf("helpers disagree for %v", err)
				}
				if !strings.HasPrefix(err.Error(), "graph: ") || strings.Contains(err.Error(), testToken) {
					t.Errorf("Error() = %q", err)
				}
				if n := f.calls.Load(); n != 1 || len(s.waits()) != 0 {
					t.Errorf("calls = %d, waits %v: want 1 call and no retry", n, s.waits())
				}
			})
		}
	}
}

func TestErrorBodies(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   Error
	}{
		{"request id only in innerError", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"code":"BadRequest","message":"m","innerError":{"request-id":"inner-rid"}}}`))
		}, Error{Status: 400, Code: "BadRequest", Message: "m", RequestID: "inner-rid"}},
		{"HTML from a proxy", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("request-id", "rid-html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`<html><body>Bad gateway</body></html>`))
		}, Error{Status: 502, Message: "unexpected answer (502 Bad Gateway)", RequestID: "rid-html"}},
		{"empty body", func(w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) },
			Error{Status: 500, Message: "unexpected answer (500 Internal Server Error)"}},
		{"JSON that is not the envelope", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"message":"nope"}`))
		}, Error{Status: 409, Message: "unexpected answer (409 Conflict)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { tt.answer(w) })
			c, _ := f.client()
			_, err := c.Organization(context.Background(), testTS)
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if !uuidV4.MatchString(ge.ClientRequestID) {
				t.Errorf("ClientRequestID %q should fall back to the one sent", ge.ClientRequestID)
			}
			ge.ClientRequestID = ""
			if *ge != tt.want {
				t.Errorf("got %+v\nwant %+v", *ge, tt.want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges", RequestID: "r1"},
			"graph: 403 Authorization_RequestDenied: Insufficient privileges (request-id r1)"},
		{Error{Status: 502, Message: "unexpected answer (502 Bad Gateway)"}, "graph: 502: unexpected answer (502 Bad Gateway)"},
		{Error{Status: 429}, "graph: 429"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestRetries(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	created := func(w http.ResponseWriter) { writeJSON(w, http.StatusCreated, `{"id":"inv"}`) }
	throttle := func(w http.ResponseWriter, ra string) {
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		writeEnvelope(w, http.StatusTooManyRequests, "TooManyRequests", "slow down")
	}
	tests := []struct {
		name      string
		post      bool
		opts      []Option
		answer    func(n int, w http.ResponseWriter)
		wantCalls int32
		wantWaits []time.Duration // nil: checked by check
		wantErr   func(error) bool
		check     func(t *testing.T, waits []time.Duration)
	}{
		{
			name: "429 Retry-After seconds then 201", post: true,
			answer: func(n int, w http.ResponseWriter) {
				if n == 1 {
					throttle(w, "2")
					return
				}
				created(w)
			},
			wantCalls: 2, wantWaits: []time.Duration{2 * time.Second},
		},
		{
			name: "429 Retry-After HTTP date then 201", post: true,
			answer: func(n int, w http.ResponseWriter) {
				if n == 1 {
					throttle(w, now.Add(5*time.Second).UTC().Format(http.TimeFormat))
					return
				}
				created(w)
			},
			wantCalls: 2, wantWaits: []time.Duration{5 * time.Second},
		},
		{
			name: "Retry-After 0 retries at once", post: true,
			answer: func(n int, w http.ResponseWriter) {
				if n == 1 {
					throttle(w, "0")
					return
				}
				created(w)
			},
			wantCalls: 2, wantWaits: []time.Duration{0},
		},
		{
			name: "503 with Retry-After on GET then 200 is retried",
			answer: func(n int, w http.ResponseWriter) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					writeEnvelope(w, http.StatusServiceUnavailable, "ServiceUnavailable", "busy")
					return
				}
				writeJSON(w, http.StatusOK, `{"id":"u"}`)
			},
			wantCalls: 2, wantWaits: []time.Duration{time.Second},
		},
		{
			name:      "503 every time: 1 + maxRetries calls, backoff grows",
			answer:    func(int, http.ResponseWriter) {},
			wantCalls: 1 + defaultMaxRetries,
			wantErr:   func(err error) bool { return isTransient(err) && statusOf(err) == 503 },
			check: func(t *testing.T, waits []time.Duration) {
				if len(waits) != defaultMaxRetries {
					t.Fatalf("waits %v, want %d", waits, defaultMaxRetries)
				}
				for i, w := range waits {
					hi := min(backoffBase<<i, backoffCap)
					if w < hi/2 || w > hi {
						t.Errorf("wait %d = %v, want in [%v, %v]", i, w, hi/2, hi)
					}
					if i > 0 && w < waits[i-1] {
						t.Errorf("backoff shrank: %v", waits)
					}
				}
			},
		},
		{
			name: "WithMaxRetries(2) on 503", opts: []Option{WithMaxRetries(2)},
			answer:    func(int, http.ResponseWriter) {},
			wantCalls: 3, wantErr: isTransient,
			check: func(t *testing.T, waits []time.Duration) {
				if len(waits) != 2 {
					t.Errorf("waits %v", waits)
				}
			},
		},
		{
			name: "Retry-After 3600 fails at once as throttled", post: true,
			answer:    func(_ int, w http.ResponseWriter) { throttle(w, "3600") },
			wantCalls: 1, wantWaits: []time.Duration{},
			wantErr: func(err error) bool {
				var ge *Error
				return isThrottled(err) && errors.As(err, &ge) && ge.RetryAfter == time.Hour && !errors.Is(err, ErrUncertain)
			},
		},
		{
			name: "total wait budget stops before it is exceeded", opts: []Option{WithMaxWait(25 * time.Second)},
			answer:    func(_ int, w http.ResponseWriter) { throttle(w, "10") },
			wantCalls: 3, wantWaits: []time.Duration{10 * time.Second, 10 * time.Second}, wantErr: isThrottled,
		},
		{
			name:      "504 on GET is retried",
			answer:    func(n int, w http.ResponseWriter) { gatewayTimeoutOnce(n, w) },
			wantCalls: 2,
			check: func(t *testing.T, waits []time.Duration) {
				if len(waits) != 1 {
					t.Errorf("waits %v", waits)
				}
			},
		},
		// A write answered 500-class may have been carried out: never sent again, whatever Retry-After says.
		{
			name: "503 with Retry-After on POST is uncertain and not re-sent", post: true,
			answer: func(n int, w http.ResponseWriter) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					writeEnvelope(w, http.StatusServiceUnavailable, "ServiceUnavailable", "busy")
					return
				}
				created(w)
			},
			wantCalls: 1, wantWaits: []time.Duration{},
			wantErr: func(err error) bool { return errors.Is(err, ErrUncertain) && statusOf(err) == 503 && isTransient(err) },
		},
		{
			name: "500 on POST is uncertain and not re-sent", post: true,
			answer: func(_ int, w http.ResponseWriter) {
				writeEnvelope(w, http.StatusInternalServerError, "InternalServerError", "oops")
			},
			wantCalls: 1, wantWaits: []time.Duration{},
			wantErr: func(err error) bool { return errors.Is(err, ErrUncertain) && statusOf(err) == 500 },
		},
		{
			name: "502 on POST is uncertain and not re-sent", post: true,
			answer: func(_ int, w http.ResponseWriter) {
				writeEnvelope(w, http.StatusBadGateway, "BadGateway", "upstream")
			},
			wantCalls: 1, wantWaits: []time.Duration{},
			wantErr: func(err error) bool { return errors.Is(err, ErrUncertain) && statusOf(err) == 502 },
		},
		{
			name: "501 on POST refuses the request itself: certain", post: true,
			answer: func(_ int, w http.ResponseWriter) {
				writeEnvelope(w, http.StatusNotImplemented, "NotImplemented", "no")
			},
			wantCalls: 1, wantWaits: []time.Duration{},
			wantErr: func(err error) bool { return !errors.Is(err, ErrUncertain) && statusOf(err) == 501 },
		},
		{
			name: "429 on POST then 503: sent twice, then uncertain", post: true,
			answer: func(n int, w http.ResponseWriter) {
				if n == 1 {
					throttle(w, "1")
					return
				}
				writeEnvelope(w, http.StatusServiceUnavailable, "ServiceUnavailable", "busy")
			},
			wantCalls: 2, wantWaits: []time.Duration{time.Second},
			wantErr: func(err error) bool { return errors.Is(err, ErrUncertain) && statusOf(err) == 503 },
		},
		{
			name: "400 on POST is certain and not re-sent", post: true,
			answer: func(_ int, w http.ResponseWriter) {
				writeEnvelope(w, http.StatusBadRequest, "BadRequest", "bad")
			},
			wantCalls: 1, wantWaits: []time.Duration{},
			wantErr: func(err error) bool { return !errors.Is(err, ErrUncertain) && statusOf(err) == 400 },
		},
		{
			name: "504 on POST is uncertain and not re-sent", post: true,
			answer:    func(n int, w http.ResponseWriter) { gatewayTimeoutOnce(n, w) },
			wantCalls: 1, wantWaits: []time.Duration{},
			wantErr: func(err error) bool { return errors.Is(err, ErrUncertain) && statusOf(err) == 504 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if tt.answer != nil {
					tt.answer(n, w)
				}
				if w.Header().Get("request-id") == "" { // the handler wrote nothing: 503
					writeEnvelope(w, http.StatusServiceUnavailable, "ServiceUnavailable", "busy")
				}
			})
			c, s := f.client(tt.opts...)
			c.now = func() time.Time { return now }
			var err error
			if tt.post {
				_, err = c.CreateInvitation(context.Background(), testTS, &Invitation{InvitedUserEmailAddress: "a@b.example"})
			} else {
				_, err = c.getUser(context.Background(), testTS, "u")
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantErr != nil && !tt.wantErr(err):
				t.Fatalf("unexpected err %v", err)
			}
			if n := f.calls.Load(); n != tt.wantCalls {
				t.Errorf("calls = %d, want %d", n, tt.wantCalls)
			}
			waits := s.waits()
			if tt.wantWaits != nil && !(len(waits) == 0 && len(tt.wantWaits) == 0) && !reflect.DeepEqual(waits, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", waits, tt.wantWaits)
			}
			if tt.check != nil {
				tt.check(t, waits)
			}
		})
	}
}

func gatewayTimeoutOnce(n int, w http.ResponseWriter) {
	if n == 1 {
		writeEnvelope(w, http.StatusGatewayTimeout, "GatewayTimeout", "gateway timed out")
		return
	}
	writeJSON(w, http.StatusOK, `{"id":"u"}`) // only GETs get here: a POST is not re-sent
}

func TestBackoffBounds(t *testing.T) {
	for attempt := 1; attempt <= 10; attempt++ {
		hi := backoffCap
		if attempt <= 5 {
			hi = min(backoffBase<<(attempt-1), backoffCap)
		}
		for range 200 {
			if d := backoff(attempt); d < hi/2 || d > hi {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", attempt, d, hi/2, hi)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"2", 2 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"99999999999999", 24 * time.Hour, true},
		{"Mon, 23 Nov 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Mon, 23 Nov 2026 09:00:00 GMT", 0, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestContextEndsTheWait(t *testing.T) {
	t.Run("cancelled during the wait", func(t *testing.T) {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "5")
			writeEnvelope(w, http.StatusTooManyRequests, "TooManyRequests", "x")
		})
		c := NewClient(f.srv.URL, f.srv.Client()) // the real sleep
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.getUser(ctx, testTS, "u")
		if !errors.Is(err, context.Canceled) || !isThrottled(err) {
			t.Errorf("err = %v, want context.Canceled wrapping the last 429", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("returned after %v", d)
		}
		if n := f.calls.Load(); n != 1 {
			t.Errorf("calls = %d, want 1", n)
		}
	})
	t.Run("deadline shorter than Retry-After returns at once", func(t *testing.T) {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "5")
			writeEnvelope(w, http.StatusTooManyRequests, "TooManyRequests", "x")
		})
		c, s := f.client()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := c.getUser(ctx, testTS, "u")
		if !isThrottled(err) || len(s.waits()) != 0 || f.calls.Load() != 1 {
			t.Errorf("err %v, waits %v, calls %d", err, s.waits(), f.calls.Load())
		}
	})
	t.Run("client timeout shorter than Retry-After returns at once", func(t *testing.T) {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "5")
			writeEnvelope(w, http.StatusTooManyRequests, "TooManyRequests", "x")
		})
		c, s := f.client(WithTimeout(time.Second))
		_, err := c.getUser(context.Background(), testTS, "u")
		if !isThrottled(err) || len(s.waits()) != 0 || f.calls.Load() != 1 {
			t.Errorf("err %v, waits %v, calls %d", err, s.waits(), f.calls.Load())
		}
	})
}

func TestTransportFailures(t *testing.T) {
	slow := func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	tests := []struct {
		name          string
		post          bool
		answer        func(t *testing.T) func(n int, w http.ResponseWriter, r *http.Request)
		opts          []Option
		wantCalls     int32
		wantUncertain bool
		wantOK        bool
		wantIs        error
	}{
		{
			name: "POST timeout is uncertain, sent once", post: true,
			answer:    func(*testing.T) func(int, http.ResponseWriter, *http.Request) { return slow },
			opts:      []Option{WithTimeout(150 * time.Millisecond)},
			wantCalls: 1, wantUncertain: true, wantIs: context.DeadlineExceeded,
		},
		{
			name: "POST dropped connection is uncertain, sent once", post: true,
			answer: func(t *testing.T) func(int, http.ResponseWriter, *http.Request) {
				return func(_ int, w http.ResponseWriter, _ *http.Request) { hangUp(t, w) }
			},
			wantCalls: 1, wantUncertain: true,
		},
		{
			name: "GET dropped connection is retried",
			answer: func(t *testing.T) func(int, http.ResponseWriter, *http.Request) {
				return func(n int, w http.ResponseWriter, _ *http.Request) {
					if n == 1 {
						hangUp(t, w)
						return
					}
					writeJSON(w, http.StatusOK, `{"id":"u"}`)
				}
			},
			wantCalls: 2, wantOK: true,
		},
		{
			name: "POST held past the attempt timeout is uncertain, sent once", post: true,
			answer:    func(*testing.T) func(int, http.ResponseWriter, *http.Request) { return slow },
			opts:      []Option{WithAttemptTimeout(100 * time.Millisecond), WithTimeout(2 * time.Second)},
			wantCalls: 1, wantUncertain: true, wantIs: context.DeadlineExceeded,
		},
		{
			name: "GET held past the attempt timeout is tried again within the call's budget",
			answer: func(*testing.T) func(int, http.ResponseWriter, *http.Request) {
				return func(n int, w http.ResponseWriter, r *http.Request) {
					if n == 1 {
						slow(n, w, r)
						return
					}
					writeJSON(w, http.StatusOK, `{"id":"u"}`)
				}
			},
			opts:      []Option{WithAttemptTimeout(100 * time.Millisecond), WithTimeout(2 * time.Second)},
			wantCalls: 2, wantOK: true,
		},
		{
			name:      "GET timeout is not retried past the call's timeout",
			answer:    func(*testing.T) func(int, http.ResponseWriter, *http.Request) { return slow },
			opts:      []Option{WithTimeout(150 * time.Millisecond)},
			wantCalls: 1, wantIs: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.answer(t))
			c, _ := f.client(tt.opts...)
			start := time.Now()
			var err error
			if tt.post {
				_, err = c.CreateInvitation(context.Background(), testTS, &Invitation{InvitedUserEmailAddress: "a@b.example"})
			} else {
				_, err = c.getUser(context.Background(), testTS, "u")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			if tt.wantOK != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if got := errors.Is(err, ErrUncertain); got != tt.wantUncertain {
				t.Errorf("uncertain = %v for %v", got, err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err %v does not wrap %v", err, tt.wantIs)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "graph: ") {
				t.Errorf("err %q lacks the prefix", err)
			}
			if n := f.calls.Load(); n != tt.wantCalls {
				t.Errorf("calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestPostThatNeverConnectedIsCertain(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := &sleeper{}
	c := NewClient("http://"+addr, &http.Client{}, WithSleep(s.sleep))
	_, err = c.CreateInvitation(context.Background(), testTS, &Invitation{InvitedUserEmailAddress: "a@b.example"})
	if err == nil || errors.Is(err, ErrUncertain) {
		t.Fatalf("err = %v, want a plain error: nothing was sent", err)
	}
	if len(s.waits()) != 0 {
		t.Errorf("a POST must not be retried on a network error: waits %v", s.waits())
	}
}

func TestOversizedAnswers(t *testing.T) {
	big := `{"id":"` + strings.Repeat("x", 2048) + `"}`
	tests := []struct {
		name          string
		post          bool
		status        int
		wantTooLarge  bool
		wantUncertain bool
		wantStatus    int
	}{
		{name: "GET 200", status: 200, wantTooLarge: true},
		{name: "POST 201", post: true, status: 201, wantTooLarge: true, wantUncertain: true},
		{name: "error body over the limit keeps the status", status: 400, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { writeJSON(w, tt.status, big) })
			c, _ := f.client(WithMaxResponseBytes(1024))
			var err error
			if tt.post {
				_, err = c.CreateInvitation(context.Background(), testTS, &Invitation{InvitedUserEmailAddress: "a@b.example"})
			} else {
				_, err = c.getUser(context.Background(), testTS, "u")
			}
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, ErrResponseTooLarge); got != tt.wantTooLarge {
				t.Errorf("too large = %v: %v", got, err)
			}
			if tt.wantTooLarge && !strings.Contains(err.Error(), "graph: response too large") {
				t.Errorf("err %q", err)
			}
			if got := errors.Is(err, ErrUncertain); got != tt.wantUncertain {
				t.Errorf("uncertain = %v: %v", got, err)
			}
			if statusOf(err) != tt.wantStatus {
				t.Errorf("status %d, want %d", statusOf(err), tt.wantStatus)
			}
			if f.calls.Load() != 1 {
				t.Errorf("calls = %d", f.calls.Load())
			}
		})
	}
	t.Run("exactly at the limit is fine", func(t *testing.T) {
		body := `{"id":"` + strings.Repeat("x", 1024-9) + `"}`
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, body) })
		c, _ := f.client(WithMaxResponseBytes(int64(len(body))))
		if _, err := c.getUser(context.Background(), testTS, "u"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTokenSource(t *testing.T) {
	t.Run("asked once per attempt", func(t *testing.T) {
		f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				writeEnvelope(w, http.StatusTooManyRequests, "TooManyRequests", "x")
				return
			}
			writeJSON(w, http.StatusOK, `{"id":"u"}`)
		})
		c, _ := f.client()
		ts := &countingTS{tok: &oauth2.Token{AccessToken: "t"}}
		if _, err := c.getUser(context.Background(), ts, "u"); err != nil {
			t.Fatal(err)
		}
		if ts.n.Load() != 2 {
			t.Errorf("Token() called %d times, want 2", ts.n.Load())
		}
		reqs := f.requests()
		if reqs[0].header.Get("client-request-id") == reqs[1].header.Get("client-request-id") {
			t.Error("each attempt should carry its own client-request-id")
		}
	})
	tests := []struct {
		name string
		ts   oauth2.TokenSource
	}{
		{"token error", &countingTS{err: errors.New("oauth2: token expired and refresh token is not set")}},
		{"nil token", &countingTS{}},
		{"empty access token", &countingTS{tok: &oauth2.Token{}}},
		{"no token source", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { writeJSON(w, 201, `{}`) })
			c, s := f.client()
			_, err := c.CreateInvitation(context.Background(), tt.ts, &Invitation{InvitedUserEmailAddress: "a@b.example"})
			if err == nil || !strings.HasPrefix(err.Error(), "graph: ") || errors.Is(err, ErrUncertain) {
				t.Errorf("err = %v", err)
			}
			if f.calls.Load() != 0 || len(s.waits()) != 0 {
				t.Errorf("calls %d waits %v", f.calls.Load(), s.waits())
			}
		})
	}
}

// TestLogsKeepSecrets runs successes and failures with a debug logger and checks that neither the
// token, the redemption ticket nor the looked-up address reaches the log or the errors.
func TestLogsKeepSecrets(t *testing.T) {
	const address = "leaky.address@fabrikam.example"
	var gets atomic.Int32
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && n == 1:
			w.Header().Set("request-id", "rid-201")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(fullInvitationJSON))
		case r.Method == http.MethodPost:
			hangUp(t, w)
		case gets.Add(1) <= 2:
			// Two hang-ups: net/http itself may replay a GET once on a reused connection.
			hangUp(t, w)
		default:
			writeJSON(w, http.StatusOK, `{"value":[{"id":"u1","mail":"`+address+`"}]}`)
		}
	})
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, _ := f.client(WithLogger(logger))
	var errs []error
	_, err := c.CreateInvitation(context.Background(), testTS, &Invitation{InvitedUserEmailAddress: address})
	errs = append(errs, err)
	_, err = c.FindUsersByAddress(context.Background(), testTS, address) // first attempt hangs up
	errs = append(errs, err)
	_, err = c.CreateInvitation(context.Background(), testTS, &Invitation{InvitedUserEmailAddress: address})
	errs = append(errs, err)
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], ErrUncertain) {
		t.Fatalf("errs %v", errs)
	}
	logged := buf.String()
	for _, secret := range []string{testToken, "TICKET-SENTINEL-123", "ticket", address, "leaky", "$filter", "%24filter"} {
		if strings.Contains(logged, secret) {
			t.Errorf("log contains %q:\n%s", secret, logged)
		}
		if strings.Contains(errs[2].Error(), secret) {
			t.Errorf("error contains %q: %v", secret, errs[2])
		}
	}
	for _, want := range []string{`"method":"POST"`, `"path":"/v1.0/invitations"`, `"status":201`, `"request_id":"rid-201"`, `"attempt":2`, `"duration"`} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %s:\n%s", want, logged)
		}
	}
}

func TestNewClientDefaults(t *testing.T) {
	c := NewClient("https://graph.microsoft.com/", nil, WithMaxRetries(-1), WithTimeout(0), WithMaxResponseBytes(0), WithSleep(nil), WithLogger(nil))
	if c.base != "https://graph.microsoft.com/v1.0" || c.hc == nil || c.hc.Timeout != defaultTimeout ||
		c.maxRetries != 0 || c.timeout != defaultTimeout || c.maxBody != defaultMaxBodyBytes || c.sleep == nil || c.log == nil {
		t.Errorf("client %+v", c)
	}
}

func TestEndpointTemplate(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"POST", "/invitations"}: "POST /invitations",
		{"GET", "/users"}:        "GET /users",
		{"GET", "/users/7f4c2d8e-1b3a-4c5d-9e6f-0a1b2c3d4e5f"}:          "GET /users/{id}",
		{"GET", "/users/quinn%40fabrikam.example"}:                      "GET /users/{id}",
		{"GET", "/users/7f4c2d8e-1b3a-4c5d-9e6f-0a1b2c3d4e5f/sponsors"}: "GET /users/{id}/sponsors",
		{"POST", "/$batch"}:      "POST /$batch",
		{"GET", "/organization"}: "GET /organization",
		{"GET", "/groups/abc123/members/" + strings.Repeat("x", 50) + "/ref"}: "GET /groups/{id}/members/{id}/ref",
	} {
		if got := Endpoint(in[0], in[1]); got != want {
			t.Errorf("Endpoint(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}

type recordingObserver struct {
	mu    sync.Mutex
	calls []string
	waits []string
}

func (o *recordingObserver) GraphCall(endpoint string, status, attempt int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, fmt.Sprintf("%s %d #%d", endpoint, status, attempt))
}

func (o *recordingObserver) GraphWait(endpoint string, d time.Duration, throttled bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waits = append(o.waits, fmt.Sprintf("%s %s %v", endpoint, d, throttled))
}

// The observer hears every attempt (with its status and number) and every wait before a retry,
// Retry-After or backoff, by endpoint template.
func TestObserverSeesAttemptsAndWaits(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "3")
			writeEnvelope(w, http.StatusTooManyRequests, "TooManyRequests", "slow down")
		case 2:
			writeEnvelope(w, http.StatusServiceUnavailable, "serviceUnavailable", "try later")
		default:
			writeJSON(w, http.StatusOK, `{"id":"u1","mail":"a@b.example"}`)
		}
	})
	obs := &recordingObserver{}
	c, _ := f.client(WithObserver(obs))
	ts := &countingTS{tok: &oauth2.Token{AccessToken: "t", Expiry: time.Now().Add(time.Hour)}}
	if _, err := c.getUser(context.Background(), ts, "7f4c2d8e-1b3a-4c5d-9e6f-0a1b2c3d4e5f"); err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{"GET /users/{id} 429 #1", "GET /users/{id} 503 #2", "GET /users/{id} 200 #3"}
	if fmt.Sprint(obs.calls) != fmt.Sprint(wantCalls) {
		t.Errorf("calls %v, want %v", obs.calls, wantCalls)
	}
	if len(obs.waits) != 2 || obs.waits[0] != "GET /users/{id} 3s true" || !strings.HasSuffix(obs.waits[1], " false") {
		t.Errorf("waits %v: want Graph's 3 s, then a backoff", obs.waits)
	}
}
