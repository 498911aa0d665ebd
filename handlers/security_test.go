package handlers

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"portico/config"
)

// TestRecoverPanicsGenericPage is checklist item 26: a panic becomes a 500 with a generic page and
// the security headers; the panic value and stack go to the log only.
func TestRecoverPanicsGenericPage(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{Deps: Deps{
		Config: &config.Config{PublicURL: &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}, OrgName: "Contoso"},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	}}
	s.cspFormAction = "'self'"
	e := echo.New()
	e.HTTPErrorHandler = s.handleError
	e.Use(requestIDs, s.securityHeaders, s.logRequests, s.recoverPanics)
	const secret = "panic-value-with-a-secret-SENTINEL"
	e.GET("/boom", func(echo.Context) error { panic(secret) })

	for _, accept := range []string{"text/html", "application/json"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/boom", nil)
		req.Header.Set("Accept", accept)
		e.ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("%s: status %d", accept, rec.Code)
		}
		for _, leak := range []string{secret, "goroutine", ".go:", "runtime/"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: the response shows %q:\n%s", accept, leak, body)
			}
		}
		id := rec.Header().Get(echo.HeaderXRequestID)
		if id == "" || !strings.Contains(body, id) {
			t.Errorf("%s: the page must carry the request id %q for support", accept, id)
		}
		if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers missing on the 500: %v", accept, rec.Header())
		}
	}
	if !strings.Contains(logs.String(), secret) || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("the panic and its stack belong in the log: %s", logs.String())
	}
}

// FuzzBindInvitationJSON checks the JSON binder of POST /invitations (checklist items 17 and 20): it
// never panics, and whatever it accepts names only the fields Portico reads and at most one cc.
func FuzzBindInvitationJSON(f *testing.F) {
	for _, s := range []string{
		`{"invitedUserEmailAddress":"a@b.example","invitedUserDisplayName":"A","inviteRedirectUrl":"https://x.example/","invitedUserType":"Guest","sendInvitationMessage":true,"invitedUserMessageInfo":{"customizedMessageBody":"hi","messageLanguage":"fr-FR","ccRecipients":[{"emailAddress":{"address":"c@d.example","name":"C"}}]}}`,
		`{"invitedUserEmailAddress":"a@b.example","resetRedemption":true}`,
		`{"invitedUserEmailAddress":"a@b.example","invitedUserMessageInfo":{"ccRecipients":[{"emailAddress":{"address":"c@d.example"}},{"emailAddress":{"address":"e@f.example"}}]}}`,
		`{"INVITEDUSERTYPE":"Member","invitedusertype":"Guest"}`,
		`{"invitedUser":{"id":"x"}}`, `{"invitedUserMessageInfo":{"ccRecipients":[{"emailAddress":{"address":"a","extra":1}}]}}`,
		`{"invitedUserEmailAddress":"a@b.example","invitedUserSponsors":[{"id":"0f1c2d3e-0000-4000-8000-000000000001"},{"id":"m@c.example"}],"porticoGroups":["g1"]}`,
		`{"invitedUserSponsors":[{"id":"x","extra":1}]}`, `{"invitedUserSponsors":[{"id":""}]}`, `{"porticoGroups":"g1"}`,
		`{"resend":true} {}`, `[]`, `null`, `{"invitedUserMessageInfo":null}`, "\xff", `{"a":` + strings.Repeat("[", 100),
	} {
		f.Add(s)
	}
	top := []string{"invitedUserDisplayName", "invitedUserEmailAddress", "inviteRedirectUrl", "invitedUserType", "sendInvitationMessage", "invitedUserMessageInfo", "resend",
		"invitedUserSponsors", "porticoGroups"}
	info := []string{"customizedMessageBody", "messageLanguage", "ccRecipients"}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := bindInvitationJSON(strings.NewReader(body))
		if err != nil {
			return
		}
		var raw map[string]json.RawMessage
		if json.NewDecoder(strings.NewReader(body)).Decode(&raw) != nil {
			t.Fatalf("accepted %q, which is not one JSON object", body)
		}
		allowedKeys(t, body, raw, top)
		for _, m := range variants(raw, "invitedUserMessageInfo") {
			var mi map[string]json.RawMessage
			if json.Unmarshal(m, &mi) != nil {
				continue
			}
			allowedKeys(t, body, mi, info)
			for _, c := range variants(mi, "ccRecipients") {
				var ccs []map[string]json.RawMessage
				_ = json.Unmarshal(c, &ccs)
				for _, cc := range ccs {
					allowedKeys(t, body, cc, []string{"emailAddress"})
					for _, e := range variants(cc, "emailAddress") {
						var ea map[string]json.RawMessage
						if json.Unmarshal(e, &ea) == nil {
							allowedKeys(t, body, ea, []string{"address", "name"})
						}
					}
				}
			}
		}
		// What the binder read: at most one cc, and the domain request holds exactly that one.
		var b graphInvitationBody
		_ = json.NewDecoder(strings.NewReader(body)).Decode(&b)
		if mi := b.InvitedUserMessageInfo; mi != nil {
			if len(mi.CCRecipients) > 1 {
				t.Fatalf("accepted %d cc recipients: %q", len(mi.CCRecipients), body)
			}
			if len(mi.CCRecipients) == 1 && req.CC != mi.CCRecipients[0].EmailAddress.Address {
				t.Fatalf("cc %q bound as %q", mi.CCRecipients[0].EmailAddress.Address, req.CC)
			}
		} else if req.CC != "" {
			t.Fatalf("a cc appeared from nowhere: %q", req.CC)
		}
		// Sponsors: each entry's id, none empty; nothing else is read from an entry.
		for _, sps := range variants(raw, "invitedUserSponsors") {
			var entries []map[string]json.RawMessage
			_ = json.Unmarshal(sps, &entries)
			for _, e := range entries {
				allowedKeys(t, body, e, []string{"id"})
			}
		}
		if len(req.Sponsors) != len(b.InvitedUserSponsors) || slices.Contains(req.Sponsors, "") {
			t.Fatalf("sponsors %q bound from %q", req.Sponsors, body)
		}
		if !slices.Equal(req.Groups, b.PorticoGroups) {
			t.Fatalf("groups %q bound from %q", req.Groups, body)
		}
	})
}

// allowedKeys fails when an accepted object has a key (matched as encoding/json matches, ignoring
// case) that Portico does not read.
func allowedKeys(t *testing.T, body string, m map[string]json.RawMessage, allowed []string) {
	t.Helper()
	for k := range m {
		ok := false
		for _, a := range allowed {
			if strings.EqualFold(k, a) {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("accepted the field %q in %q", k, body)
		}
	}
}

// variants are the values of every key that encoding/json would bind to name (it ignores case).
func variants(m map[string]json.RawMessage, name string) []json.RawMessage {
	var out []json.RawMessage
	for k, v := range m {
		if strings.EqualFold(k, name) && len(v) > 0 && string(v) != "null" {
			out = append(out, v)
		}
	}
	return out
}
