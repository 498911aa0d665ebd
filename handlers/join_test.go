package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/config"
	"portico/invite"
)

func TestJoinPages(t *testing.T) {
	tok := strings.Repeat("B", 43)
	en := newEnv(t)
	p := en.anon()
	en.inv.OpenJoinFn = func(_ context.Context, got string, m invite.Meta) (*invite.JoinView, error) {
		if got != tok {
			return nil, invite.ErrJoinGone
		}
		if m.RequestID == "" {
			t.Error("OpenJoin without request id")
		}
		return &invite.JoinView{InviterName: "Ann", InviterEmail: "ann@contoso.example", InviteeName: "Pat", Message: "Welcome aboard", Language: "fr-FR", ExpiresAt: en.now.Add(time.Hour)}, nil
	}
	en.inv.AcceptJoinFn = func(_ context.Context, got string, _ invite.Meta) (string, error) {
		if got != tok {
			return "", invite.ErrJoinGone
		}
		return "https://login.microsoftonline.com/redeem?rd=1", nil
	}

	rec := p.get("/join/" + tok)
	want(t, rec, http.StatusOK, "Ann", "Welcome aboard", `lang="fr"`, "/join/"+tok+"/accept")
	for k, v := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"} {
		if rec.Header().Get(k) != v {
			t.Errorf("join page %s = %q", k, rec.Header().Get(k))
		}
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Error("the partner's page set a cookie")
	}

	rec = p.post("/join/"+tok+"/accept", nil)
	want(t, rec, http.StatusFound)
	if rec.Header().Get("Location") != "https://login.microsoftonline.com/redeem?rd=1" {
		t.Errorf("accept went to %q", rec.Header().Get("Location"))
	}

	// Dead links: one page, one status, whether the token was unknown, revoked or expired.
	dead := strings.Repeat("C", 43)
	want(t, p.get("/join/"+dead), http.StatusNotFound, "This link no longer works")
	want(t, p.post("/join/"+dead+"/accept", nil), http.StatusNotFound, "This link no longer works")

	// Link scanners' HEAD shows nothing and counts nothing.
	before := len(en.inv.Calls())
	req, _ := http.NewRequest(http.MethodHead, "/join/"+tok, nil)
	want(t, p.do(req), http.StatusOK)
	if len(en.inv.Calls()) != before {
		t.Error("HEAD looked the token up")
	}

	// A store failure is a 500, not a dead link.
	en.inv.OpenJoinFn = func(context.Context, string, invite.Meta) (*invite.JoinView, error) {
		return nil, errors.New("db down")
	}
	want(t, p.get("/join/"+tok), http.StatusInternalServerError, "Something went wrong")
	if !strings.Contains(en.logs.String(), "db down") {
		t.Error("the 500's cause is not in the log")
	}
}

func TestJoinPagesAreRateLimitedPerAddress(t *testing.T) {
	en := newEnv(t)
	en.inv.OpenJoinFn = func(context.Context, string, invite.Meta) (*invite.JoinView, error) { return nil, invite.ErrJoinGone }
	p := en.anon()
	got429 := false
	for range 40 {
		if rec := p.get("/join/" + strings.Repeat("D", 43)); rec.Code == http.StatusTooManyRequests {
			got429 = rec.Header().Get("Retry-After") != ""
			break
		}
	}
	if !got429 {
		t.Error("40 join page requests from one address were never slowed down")
	}
}

func TestHealth(t *testing.T) {
	en := newEnv(t)
	p := en.anon()
	want(t, p.get("/healthz"), http.StatusOK, "ok")
	want(t, p.get("/readyz"), http.StatusOK, "ready")
	en.rp.DiscoverFn = func(context.Context) error { return errors.New("no metadata") }
	want(t, p.get("/readyz"), http.StatusServiceUnavailable, "identity provider")
	en.db.err = errors.New("db down")
	want(t, p.get("/readyz"), http.StatusServiceUnavailable, "database")
}

func TestPublicPages(t *testing.T) {
	en := newEnv(t, func(c *config.Config) {
		c.Demo = true
		c.WelcomeLinks = []config.Link{{Label: "Team site", URL: "https://contoso.example/team"}}
	})
	p := en.anon()
	want(t, p.get("/"), http.StatusOK, "Contoso")
	want(t, p.get("/welcome"), http.StatusOK, "Team site", "https://contoso.example/team")
	rec := p.get("/favicon.ico")
	want(t, rec, http.StatusMovedPermanently)
	b := en.signIn(ann)
	want(t, b.get("/no-such-page"), http.StatusNotFound, "Page not found")
	want(t, b.get("/no-such-page", "Accept", "application/json"), http.StatusNotFound, `"code":"Request_ResourceNotFound"`)
}
