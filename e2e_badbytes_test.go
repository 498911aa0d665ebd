package main

import (
	"net/http"
	"testing"
)

// TestInvalidBytesInIDsAre404 is issue 14, item 3, as an attacker: invitation ids that are not UTF-8
// text (%ff, overlong encodings, a surrogate half) or that hold NUL answered 500 on PostgreSQL
// ("invalid byte sequence for encoding UTF8"). The store now refuses them before querying, as
// ErrNotFound, so every route answers 404 on both engines.
func TestInvalidBytesInIDsAre404(t *testing.T) {
	for name, dsn := range engines() {
		t.Run(name, func(t *testing.T) {
			h := start(t, nil, map[string]string{"PORTICO_DATABASE_URL": dsn(t)})
			b := h.browser()
			b.signIn("admin@contoso.example")
			for _, id := range []string{"%ff", "%00", "abc%00def", "%c0%af", "%e0%80%80", "%ed%a0%80"} {
				must(t, b.get("/invitations/"+id).Status == http.StatusNotFound, "GET /invitations/%s must be 404", id)
				for _, action := range []string{"resend", "reveal", "link", "link/revoke"} {
					p := b.post("/invitations/"+id+"/"+action, nil)
					must(t, p.Status == http.StatusNotFound, "POST /invitations/%s/%s = %d, want 404", id, action, p.Status)
				}
			}
		})
	}
}
