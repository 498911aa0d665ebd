package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"portico/invite"
)

// TestMalformedInvitationIDsAuditNothing is issue 14 item 1: an invitation id from the URL that is
// not of the shape Portico makes is answered 404 before the domain (which queries and audits) sees
// it, for every action on one invitation.
func TestMalformedInvitationIDsAuditNothing(t *testing.T) {
	ids := map[string]string{
		"60,000 characters": strings.Repeat("a", 60000),
		"newline":           "aaaaaaaaaaaaa\naaaaaaaaaaaa",
		"NUL":               "aaaaaaaaaaaaa\x00aaaaaaaaaaaa",
		"U+202E":            "aaaaaaaaaaaa\u202eaaaaaaaaaaa",
		"invalid UTF-8":     "aaaaaaaaaaaaa\xffaaaaaaaaaaaa",
		"overlong UTF-8":    "aaaaaaaaaaaa\xc0\xafaaaaaaaaaaa",
		"upper case":        strings.ToUpper(newID()),
		"one too short":     newID()[1:],
		"quote":             "aaaaaaaaaaaaa'aaaaaaaaaaaa",
	}
	en := newEnv(t)
	b := en.signIn(ann)
	refuse := func(context.Context, invite.Inviter, string, invite.Meta) error { return invite.ErrNotFound }
	en.inv.RevokeJoinLinkFn = refuse
	for name, id := range ids {
		path := "/invitations/" + url.PathEscape(id)
		for _, r := range []struct {
			method, path string
		}{{"GET", path}, {"POST", path + "/reveal"}, {"POST", path + "/resend"}, {"POST", path + "/link"}, {"POST", path + "/link/revoke"}} {
			var status int
			if r.method == "GET" {
				status = b.get(r.path).Code
			} else {
				status = b.post(r.path, nil).Code
			}
			// 429 once the refusals exceed the limit: still nothing reaches the domain.
			if status != http.StatusNotFound && status != http.StatusTooManyRequests {
				t.Errorf("%s %s (%s): status %d, want 404", r.method, r.path[:min(60, len(r.path))], name, status)
			}
		}
	}
	if calls := en.inv.Calls(); len(calls) != 0 {
		t.Errorf("malformed ids reached the domain: %v", calls)
	}
	if evs := en.audit.Events(); len(evs) != 0 {
		t.Errorf("malformed ids were audited: %+v", evs)
	}
	if strings.Contains(en.logs.String(), strings.Repeat("a", maxLogPath+1)) {
		t.Error("a 60,000-character path was written to the log whole")
	}
}

func TestWellFormedID(t *testing.T) {
	for range 100 {
		if id := newID(); !wellFormedID(id) {
			t.Fatalf("store.NewID made %q, which wellFormedID refuses", id)
		}
	}
	for _, id := range []string{"", "nope", strings.Repeat("a", 27), "aaaaaaaaaaaaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaaaaaaaaaaaa-", "aaaaaaaaaaaaaaaaaaaaaaaaa8"} {
		if wellFormedID(id) {
			t.Errorf("wellFormedID(%q) = true", id)
		}
	}
}

// TestRefusedActionsAreRateLimited is issue 14 item 1: a burst of refused actions (each audited by
// the domain) is cut off with 429 after the limit, per user, before the domain is asked again.
func TestRefusedActionsAreRateLimited(t *testing.T) {
	en := newEnv(t)
	attacker, other := en.signIn(ann), en.signIn(admin)
	reveals := 0
	en.inv.RevealRedeemURLFn = func(_ context.Context, inv invite.Inviter, _ string, _ invite.Meta) (string, error) {
		if inv.ObjectID == ann.ObjectID {
			reveals++
		}
		return "", invite.ErrNotFound // someone else's invitation: refused (and audited by invite)
	}
	id := newID()
	for i := range refusalBurst {
		want(t, attacker.post("/invitations/"+id+"/reveal", nil), http.StatusNotFound)
		if reveals != i+1 {
			t.Fatalf("refusal %d did not reach the domain", i+1)
		}
	}
	rec := attacker.post("/invitations/"+id+"/reveal", nil)
	want(t, rec, http.StatusTooManyRequests, "refused several of your requests")
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	want(t, attacker.get("/invitations/"+newID()), http.StatusTooManyRequests)
	if reveals != refusalBurst {
		t.Errorf("%d reveals reached the domain, want %d", reveals, refusalBurst)
	}
	// Another user is not slowed down by the attacker.
	want(t, other.post("/invitations/"+id+"/reveal", nil), http.StatusNotFound)

	// The allowance comes back with time.
	en.now = en.now.Add(refusalEvery)
	want(t, attacker.post("/invitations/"+id+"/reveal", nil), http.StatusNotFound)
	want(t, attacker.post("/invitations/"+id+"/reveal", nil), http.StatusTooManyRequests)
}

// TestJoinAcceptRefusesNullOrigin is issue 14 item 10: a cross-site POST to accept a partner's
// invitation is refused, including from an opaque origin ("null") without Fetch Metadata.
func TestJoinAcceptRefusesNullOrigin(t *testing.T) {
	en := newEnv(t)
	en.inv.AcceptJoinFn = func(context.Context, string, invite.Meta) (string, error) {
		return "https://login.microsoftonline.com/redeem?x=1", nil
	}
	tok := strings.Repeat("A", 43)
	p := en.anon()
	for _, tt := range []struct {
		name         string
		origin, site string
		status       int
	}{
		{"null origin, no fetch metadata", "null", "", http.StatusForbidden},
		{"null origin, cross-site", "null", "cross-site", http.StatusForbidden},
		{"null origin, same-site", "null", "same-site", http.StatusForbidden},
		{"no origin, cross-site", "", "cross-site", http.StatusForbidden},
		{"other origin", "https://evil.example", "", http.StatusForbidden},
		{"own origin", "http://portico.test", "same-origin", http.StatusFound},
		// A same-origin form on a no-referrer page: browsers send Origin null with this header.
		{"null origin from Portico's own page", "null", "same-origin", http.StatusFound},
		{"no headers (non-browser client)", "", "", http.StatusFound},
	} {
		rec := p.post("/join/"+tok+"/accept", nil, "Origin", tt.origin, "Sec-Fetch-Site", tt.site)
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, rec.Code, tt.status)
		}
	}
	if n := len(en.inv.Calls()); n != 3 {
		t.Errorf("AcceptJoin ran %d times, want 3 (only the allowed requests)", n)
	}
}
