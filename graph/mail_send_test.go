package graph

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"
)

func testMail() *MailMessage {
	return &MailMessage{Subject: "Pat accepted", Body: MailBody{ContentType: "HTML", Content: "<p>Hi</p>"},
		ToRecipients: []MailRecipient{{EmailAddress: MailAddress{Address: "ines@contoso.example", Name: "Ines"}}}}
}

// The request is Microsoft's user-sendmail JSON form, to the mailbox's path (escaped), and 202
// Accepted with an empty body is success.
func TestSendMailRequest(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("request-id", "rid-202")
		w.WriteHeader(http.StatusAccepted)
	})
	c, _ := f.client()
	rid, err := c.SendMail(context.Background(), testTS, "notices@contoso.example", testMail())
	if err != nil || rid != "rid-202" {
		t.Fatalf("SendMail = %q, %v", rid, err)
	}
	r := f.requests()[0]
	if r.method != http.MethodPost || r.escapedPath != "/v1.0/users/notices@contoso.example/sendMail" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("request %s %s %v", r.method, r.escapedPath, r.header)
	}
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"message":{"subject":"Pat accepted","body":{"contentType":"HTML","content":"\u003cp\u003eHi\u003c/p\u003e"},"toRecipients":[{"emailAddress":{"address":"ines@contoso.example","name":"Ines"}}]},"saveToSentItems":false}`
	if string(r.body) != want {
		t.Fatalf("body\n%s\nwant\n%s", r.body, want)
	}
	if _, err := c.SendMail(context.Background(), testTS, "a/b?c", testMail()); err != nil {
		t.Fatal(err)
	}
	if p := f.requests()[1].escapedPath; p != "/v1.0/users/a%2Fb%3Fc/sendMail" {
		t.Fatalf("mailbox not escaped: %s", p)
	}
}

// A lost answer is uncertain and never sent again; a 429 waits for Retry-After and is sent again
// (Graph did nothing); a 403 is Graph's error with its message.
func TestSendMailOutcomes(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { hangUp(t, w) })
	c, _ := f.client()
	if _, err := c.SendMail(context.Background(), testTS, "m@contoso.example", testMail()); !errors.Is(err, ErrUncertain) || f.calls.Load() != 1 {
		t.Fatalf("lost answer: %v after %d calls; want ErrUncertain after 1", err, f.calls.Load())
	}

	f = newFake(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "3")
			writeEnvelope(w, http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c, s := f.client()
	if _, err := c.SendMail(context.Background(), testTS, "m@contoso.example", testMail()); err != nil || f.calls.Load() != 2 {
		t.Fatalf("throttled: %v after %d calls", err, f.calls.Load())
	}
	if w := s.waits(); len(w) != 1 || w[0] != 3*time.Second {
		t.Fatalf("waits %v, want [3s]", w)
	}

	f = newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeEnvelope(w, http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	})
	c, _ = f.client()
	_, err := c.SendMail(context.Background(), testTS, "m@contoso.example", testMail())
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != http.StatusForbidden || ge.Code != "ErrorAccessDenied" || f.calls.Load() != 1 {
		t.Fatalf("403: %v", err)
	}
	if _, err := c.SendMail(context.Background(), testTS, "", testMail()); err == nil {
		t.Fatal("no mailbox accepted")
	}
}

// A 500-class answer to sendMail says nothing about whether the message went out (a 503 or 504
// can come after Graph queued it), so it is never re-sent, even with a Retry-After: a second
// POST would mail the notice twice. Only a 429 (Graph did not act) is retried for a write.
func TestSendMailServerErrorIsUncertainAndNotResent(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout} {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "1")
			writeEnvelope(w, status, "ServiceUnavailable", "try later")
		})
		c, _ := f.client()
		_, err := c.SendMail(context.Background(), testTS, "m@contoso.example", testMail())
		if !errors.Is(err, ErrUncertain) || f.calls.Load() != 1 {
			t.Fatalf("%d: %v after %d calls; want ErrUncertain after 1", status, err, f.calls.Load())
		}
		var ge *Error
		if !errors.As(err, &ge) || ge.Status != status {
			t.Fatalf("%d: the typed Graph error is lost: %v", status, err)
		}
	}
}
