package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"portico/store"
)

// TestSecHandlers_MalformedInvitationIDsAuditNothing is issue 14 items 1 and 3 (handler side), on
// both engines: invitation ids that are not of the shape Portico makes (60,000 characters, a
// newline, NUL, U+202E, invalid or overlong UTF-8) are answered 404 before anything is queried or
// audited, so PostgreSQL never sees the bytes it refuses and the audit trail gains no row; a
// burst of refusals is cut off with 429.
func TestSecHandlers_MalformedInvitationIDsAuditNothing(t *testing.T) {
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			loc := dsn(t)
			h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": loc, "PORTICO_INVITE_QUOTA": "off"})
			b := h.browser()
			b.signIn("employee@contoso.example")
			csrf := b.csrf()
			ids := []string{
				url.PathEscape(strings.Repeat("a", 60000)),
				"aaaaaaaaaaaa%0Aaaaaaaaaaaaaa",
				"%00", "aaaaaaaaaaaa%00aaaaaaaaaaaaa",
				url.PathEscape("aaaaaaaaaaaa\u202eaaaaaaaaaaaaa"),
				"%ff", "aaaaaaaaaaaa%FFaaaaaaaaaaaaa",
				"%c0%af",
			}
			var statuses []int
			for _, id := range ids {
				p := b.rawPost("/invitations/"+id+"/reveal", url.Values{"_csrf": {csrf}}, "Origin", h.URL, "Sec-Fetch-Site", "same-origin")
				statuses = append(statuses, p.Status)
			}
			for i, s := range statuses {
				must(t, s == http.StatusNotFound, "reveal of malformed id %d: %d, want 404", i, s)
			}
			// Keep refusing: the limit answers 429 without asking the domain.
			for range 4 {
				statuses = append(statuses, b.get("/invitations/%ff").Status)
			}
			must(t, statuses[len(statuses)-1] == http.StatusTooManyRequests, "a burst of refusals is never slowed down: %v", statuses)
			for _, ev := range auditEvents(t, openStore(t, loc), store.AuditFilter{}) {
				must(t, ev.Action == "signin", "a malformed id was audited: %+v", ev)
			}
		})
	}
}
