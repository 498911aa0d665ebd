package main

import (
	"net/http"
	"testing"
)

// TestInvalidBytesInIDsAre404 is issue 14, item 3, as an attacker: invitation ids that are not UTF-8
// text (%ff, overlong encodings, a surrogate half) or that hold NUL answered 500 on PostgreSQL
// ("invalid byte sequence for encoding UTF8"). The store now refuses them before querying, as
// ErrNotFound, so every route answers 404 on both engines; once the employee's allowance of refused
// requests is used up (issue 14, item 1), 429.
func TestInvalidBytesInIDsAre404(t *testing.T) {
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": dsn(t)})
			b := h.browser()
			b.signIn("admin@contoso.example")
			refused := 0
			want := func(status int, what string) {
				t.Helper()
				refused++
				ok := status == http.StatusNotFound || (refused > 10 && status == http.StatusTooManyRequests)
				must(t, ok, "%s = %d, want 404 (or 429 after 10 refusals; this is refusal %d)", what, status, refused)
			}
			for _, id := range []string{"%ff", "%00", "abc%00def", "%c0%af", "%e0%80%80", "%ed%a0%80"} {
				want(b.get("/invitations/"+id).Status, "GET /invitations/"+id)
				for _, action := range []string{"resend", "reveal", "link", "link/revoke"} {
					want(b.post("/invitations/"+id+"/"+action, nil).Status, "POST /invitations/"+id+"/"+action)
				}
			}
		})
	}
}
