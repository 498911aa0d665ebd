package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFailedRefreshSignsOut(t *testing.T) {
	tenant := newTenant(t)
	tenant.SetAccessTokenLifetime(30 * time.Second) // inside the refresh margin: every Graph call refreshes
	h := start(t, tenant, nil)
	b := h.browser()
	b.signIn("employee@contoso.example")

	// A working refresh: the invitation goes through with a renewed token.
	p := b.post("/invitations", inviteForm("refresh.ok@fabrikam.example"))
	must(t, p.Status == http.StatusSeeOther, "invite with a refreshed token: %d %s", p.Status, text(p, `[data-testid="alert"]`))

	tenant.RevokeRefreshTokens("employee@contoso.example")
	tenant.ResetRequests()
	p = b.post("/invitations", inviteForm("refresh.fails@fabrikam.example"))
	must(t, p.Status == http.StatusFound && strings.HasPrefix(p.Header.Get("Location"), "/login"), "sent to sign in again: %d %q", p.Status, p.Header.Get("Location"))
	must(t, countPosts(tenant, "/v1.0/invitations") == 0, "no Graph call without a token")
	must(t, !b.signedIn(), "the session is gone")
	home := b.get("/")
	must(t, strings.Contains(text(home, `[data-testid="flash"]`), "sign-in expired"), "a clear message: %q", text(home, `[data-testid="flash"]`))
}
