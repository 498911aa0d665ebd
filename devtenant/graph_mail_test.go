package devtenant

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func mailBody(to ...string) map[string]any {
	var rcpts []any
	for _, a := range to {
		rcpts = append(rcpts, map[string]any{"emailAddress": map[string]any{"address": a, "name": "N"}})
	}
	return map[string]any{"message": map[string]any{"subject": "Hi <there>", "body": map[string]any{"contentType": "HTML", "content": "<p>Hello &amp; welcome</p>"},
		"toRecipients": rcpts}, "saveToSentItems": false}
}

func TestSendMailPermissions(t *testing.T) {
	tn := startTenant(t)
	app := func(roles ...string) string {
		tok, err := tn.AppAccessToken(roles...)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name, path, token string
		body              any
		status            int
		code              string
	}{
		{"application Mail.Send", "/v1.0/users/" + DemoMailbox + "/sendMail", app("Mail.Send"), mailBody("ines@contoso.example"), http.StatusAccepted, ""},
		{"by object id", "/v1.0/users/" + StableID(DemoMailbox) + "/sendMail", app("Mail.Send"), mailBody("ines@contoso.example"), http.StatusAccepted, ""},
		{"application without Mail.Send", "/v1.0/users/" + DemoMailbox + "/sendMail", app("User.Read.All"), mailBody("a@b.example"), http.StatusForbidden, "ErrorAccessDenied"},
		{"application on /me", "/v1.0/me/sendMail", app("Mail.Send"), mailBody("a@b.example"), http.StatusBadRequest, "BadRequest"},
		{"delegated own mailbox", "/v1.0/me/sendMail", accessToken(t, tn, "employee@contoso.example", "Mail.Send"), mailBody("a@b.example"), http.StatusAccepted, ""},
		{"delegated own by upn", "/v1.0/users/employee@contoso.example/sendMail", accessToken(t, tn, "employee@contoso.example", "Mail.Send"), mailBody("a@b.example"), http.StatusAccepted, ""},
		{"delegated another's mailbox", "/v1.0/users/" + DemoMailbox + "/sendMail", accessToken(t, tn, "employee@contoso.example", "Mail.Send"), mailBody("a@b.example"), http.StatusForbidden, "ErrorAccessDenied"},
		{"delegated without Mail.Send", "/v1.0/me/sendMail", accessToken(t, tn, "employee@contoso.example", "User.Read"), mailBody("a@b.example"), http.StatusForbidden, "ErrorAccessDenied"},
		{"unknown mailbox", "/v1.0/users/nobody@contoso.example/sendMail", app("Mail.Send"), mailBody("a@b.example"), http.StatusNotFound, "ErrorInvalidUser"},
		{"guest has no mailbox", "/v1.0/users/" + StableID("pending.guest@fabrikam.example") + "/sendMail", app("Mail.Send"), mailBody("a@b.example"), http.StatusNotFound, "MailboxNotEnabledForRESTAPI"},
		{"no recipient", "/v1.0/users/" + DemoMailbox + "/sendMail", app("Mail.Send"), mailBody(), http.StatusBadRequest, "ErrorInvalidRecipients"},
		{"bad recipient", "/v1.0/users/" + DemoMailbox + "/sendMail", app("Mail.Send"), mailBody("not an address"), http.StatusBadRequest, "ErrorInvalidRecipients"},
		{"no message", "/v1.0/users/" + DemoMailbox + "/sendMail", app("Mail.Send"), map[string]any{"subject": "x"}, http.StatusBadRequest, "ErrorInvalidRequest"},
		{"not JSON", "/v1.0/users/" + DemoMailbox + "/sendMail", app("Mail.Send"), "{", http.StatusBadRequest, "ErrorInvalidRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tn.Notices())
			r := graphCallT(t, tn, http.MethodPost, tc.path, tc.token, tc.body)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.code != "" {
				if e := r.err(t); e.Code != tc.code || e.InnerError.RequestID == "" {
					t.Fatalf("error %+v, want %s", e, tc.code)
				}
				if len(tn.Notices()) != before {
					t.Fatal("a refused message was recorded")
				}
				return
			}
			if len(r.Body) != 0 {
				t.Fatalf("202 with a body: %q", r.Body)
			}
			if len(tn.Notices()) != before+1 {
				t.Fatal("message not recorded")
			}
		})
	}
	if r := graphCallT(t, tn, http.MethodGet, "/v1.0/users/"+DemoMailbox+"/sendMail", app("Mail.Send"), nil); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", r.Status)
	}
	n := tn.Notices()[0]
	if n.From != DemoMailbox || n.To[0] != "ines@contoso.example" || n.Subject != "Hi <there>" || n.ContentType != "HTML" || n.SaveToSent {
		t.Fatalf("recorded %+v", n)
	}
}

// The outbox page lists invitation emails and notices, escaped, and works without scripts.
func TestOutboxPage(t *testing.T) {
	tn := startTenant(t)
	rec := httptest.NewRecorder()
	tn.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/outbox", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="outbox-empty"`) {
		t.Fatalf("empty outbox: %d %s", rec.Code, rec.Body)
	}
	tok, _ := tn.AppAccessToken("Mail.Send")
	if r := graphCallT(t, tn, http.MethodPost, "/v1.0/users/"+DemoMailbox+"/sendMail", tok, mailBody("ines@contoso.example")); r.Status != http.StatusAccepted {
		t.Fatal(r.Status)
	}
	rec = httptest.NewRecorder()
	tn.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/outbox", nil))
	body := rec.Body.String()
	for _, want := range []string{`data-testid="outbox-item"`, "Hi &lt;there&gt;", "Hello &amp; welcome", "ines@contoso.example", DemoMailbox} {
		if !strings.Contains(body, want) {
			t.Errorf("outbox lacks %q", want)
		}
	}
	if strings.Contains(body, "<p>Hello") || strings.Contains(body, "<script") {
		t.Errorf("outbox shows the message's HTML:\n%s", body)
	}
}
