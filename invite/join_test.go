package invite

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func sendOne(t *testing.T, h *harness, inv Inviter, mutate func(r *Request)) *Result {
	t.Helper()
	req := validReq()
	if mutate != nil {
		mutate(&req)
	}
	res, err := h.svc.Send(context.Background(), nil, inv, req, meta)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return res
}

func TestJoinOpenAndAccept(t *testing.T) {
	h := newHarness(t, Policy{})
	res := sendOne(t, h, employee, func(r *Request) { r.Language = "fr-FR" })
	partner := Meta{ClientIP: "203.0.113.9", RequestID: "req-partner"}

	for i := 1; i <= 2; i++ {
		h.clock.Add(time.Minute)
		v, err := h.svc.OpenJoin(context.Background(), res.JoinToken, partner)
		if err != nil {
			t.Fatalf("OpenJoin: %v", err)
		}
		if v.InviterName != "Erin Employee" || v.InviterEmail != "employee@contoso.example" || v.InviteeName != "Taylor Partner" ||
			v.Message != "Welcome to the project." || v.Language != "fr-FR" || v.InvitationID != res.Invitation.ID ||
			!v.ExpiresAt.Equal(res.JoinLink.ExpiresAt) {
			t.Fatalf("view %+v", v)
		}
		l := h.store.links()[0]
		if l.OpenCount != i || l.FirstOpenedAt == nil || !l.LastOpenedAt.Equal(h.clock.Now()) {
			t.Fatalf("open %d: link %+v", i, l)
		}
	}

	u, err := h.svc.AcceptJoin(context.Background(), res.JoinToken, partner)
	if err != nil || !strings.Contains(u, sentinelTicket) {
		t.Fatalf("AcceptJoin = %q, %v", u, err)
	}
	evs := h.store.audits()
	last := evs[len(evs)-1]
	if last.Action != ActionJoinLinkAccept || last.ClientIP != partner.ClientIP || last.Target != "taylor@fabrikam.example" ||
		!strings.Contains(last.Detail, TokenFingerprint(res.JoinToken)) {
		t.Fatalf("accept audit %+v", last)
	}
	assertNoSecrets(t, h, res.JoinToken)
	if !strings.Contains(h.logs.String(), TokenFingerprint(res.JoinToken)) {
		t.Fatal("logs do not name the token by its fingerprint")
	}
}

func TestJoinGone(t *testing.T) {
	h := newHarness(t, Policy{})
	live := sendOne(t, h, employee, nil)
	revoked := sendOne(t, h, employee, func(r *Request) { r.Email = "revoked@fabrikam.example" })
	if err := h.svc.RevokeJoinLink(context.Background(), employee, revoked.Invitation.ID, meta); err != nil {
		t.Fatal(err)
	}
	expiring := sendOne(t, h, employee, func(r *Request) { r.Email = "expiring@fabrikam.example" })
	h.clock.Add(30*24*time.Hour + time.Second) // every link made above is now expired
	fresh := sendOne(t, h, employee, func(r *Request) { r.Email = "fresh@fabrikam.example" })

	unknown := strings.Repeat("A", 43)
	// Known links that cannot be accepted say why (tokens are 256 random bits: no oracle), and
	// never hand out the redemption URL.
	for name, tc := range map[string]struct {
		token string
		want  JoinState
	}{
		"revoked":      {revoked.JoinToken, JoinRevoked},
		"expired":      {expiring.JoinToken, JoinExpired},
		"expired live": {live.JoinToken, JoinExpired},
	} {
		if v, err := h.svc.OpenJoin(context.Background(), tc.token, meta); err != nil || v.State != tc.want || v.InviterName != employee.Name {
			t.Errorf("OpenJoin(%s) = %+v, %v; want state %s", name, v, err, tc.want)
		}
		var closed *JoinClosedError
		if u, err := h.svc.AcceptJoin(context.Background(), tc.token, meta); u != "" || !errors.As(err, &closed) || closed.View.State != tc.want {
			t.Errorf("AcceptJoin(%s) = %q, %v; want a JoinClosedError in state %s", name, u, err, tc.want)
		}
	}
	tokens := map[string]string{
		"unknown":       unknown,
		"empty":         "",
		"short":         fresh.JoinToken[:20],
		"long":          fresh.JoinToken + "A",
		"padded":        fresh.JoinToken + "=",
		"std alphabet":  strings.NewReplacer("-", "+", "_", "/").Replace(strings.Repeat("-_", 21)) + "A",
		"path":          "../../etc/passwd",
		"CRLF":          fresh.JoinToken[:41] + "\r\n",
		"unicode":       strings.Repeat("é", 22),
		"sql":           "' OR 1=1 --" + strings.Repeat("x", 32),
		"non canonical": fresh.JoinToken[:42] + "B",
	}
	for name, tok := range tokens {
		if name == "non canonical" && tok == fresh.JoinToken {
			continue
		}
		if _, err := h.svc.OpenJoin(context.Background(), tok, meta); !errors.Is(err, ErrJoinGone) || err != ErrJoinGone {
			t.Errorf("OpenJoin(%s) err %v; want exactly ErrJoinGone", name, err)
		}
		if _, err := h.svc.AcceptJoin(context.Background(), tok, meta); err != ErrJoinGone {
			t.Errorf("AcceptJoin(%s) err %v; want exactly ErrJoinGone", name, err)
		}
	}
	if _, err := h.svc.OpenJoin(context.Background(), fresh.JoinToken, meta); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	for _, l := range h.store.links() {
		if l.InvitationID != fresh.Invitation.ID && l.OpenCount != 0 {
			t.Errorf("a refused token counted an open: %+v", l)
		}
	}
	assertNoSecrets(t, h, revoked.JoinToken)
	assertNoSecrets(t, h, expiring.JoinToken)
}

func TestTokenFingerprint(t *testing.T) {
	fp := TokenFingerprint("abc")
	if len(fp) != 8 || fp != "ba7816bf" {
		t.Fatalf("fingerprint %q", fp)
	}
	if _, err := hex.DecodeString(fp); err != nil {
		t.Fatal(err)
	}
	if TokenFingerprint("abd") == fp {
		t.Fatal("fingerprints collide")
	}
}

func TestJoinTokensAreRandom(t *testing.T) {
	h := newHarness(t, Policy{})
	seen := map[string]bool{}
	for range 50 {
		l, tok, err := h.svc.newLink("inv")
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok] || !wellFormedToken(tok) || len(l.tokenHash) != 32 {
			t.Fatalf("token %q", tok)
		}
		seen[tok] = true
	}
}

func TestJoinLinkManagement(t *testing.T) {
	h := newHarness(t, Policy{})
	res := sendOne(t, h, employee, nil)
	id := res.Invitation.ID

	u, l, err := h.svc.JoinURL(context.Background(), employee, id)
	if err != nil || u != res.JoinURL || l.ID != res.JoinLink.ID {
		t.Fatalf("JoinURL = %q, %+v, %v; want %q", u, l, err, res.JoinURL)
	}
	if _, _, err := h.svc.JoinURL(context.Background(), other, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stranger JoinURL err %v", err)
	}

	h.clock.Add(time.Second)
	u2, l2, err := h.svc.NewJoinLink(context.Background(), employee, id, meta)
	if err != nil || u2 == res.JoinURL || l2.ID == l.ID {
		t.Fatalf("NewJoinLink = %q, %v", u2, err)
	}
	if v, err := h.svc.OpenJoin(context.Background(), res.JoinToken, meta); err != nil || v.State != JoinSuperseded {
		t.Fatalf("old link after a new one: %+v, %v; want superseded", v, err)
	}
	tok2 := strings.TrimPrefix(u2, "https://portico.example/join/")
	if _, err := h.svc.OpenJoin(context.Background(), tok2, meta); err != nil {
		t.Fatalf("new link: %v", err)
	}
	if got, _, _ := h.svc.JoinURL(context.Background(), admin, id); got != u2 {
		t.Fatalf("admin JoinURL %q; want %q", got, u2)
	}

	if err := h.svc.RevokeJoinLink(context.Background(), admin, id, meta); err != nil {
		t.Fatal(err)
	}
	if v, err := h.svc.OpenJoin(context.Background(), tok2, meta); err != nil || v.State != JoinRevoked {
		t.Fatalf("revoked link: %+v, %v; want revoked", v, err)
	}
	if got, gl, err := h.svc.JoinURL(context.Background(), employee, id); got != "" || gl != nil || err != nil {
		t.Fatalf("JoinURL after revoke = %q, %v, %v", got, gl, err)
	}
	if err := h.svc.RevokeJoinLink(context.Background(), other, id, meta); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stranger revoke err %v", err)
	}

	var actions []string
	for _, ev := range h.store.audits() {
		actions = append(actions, ev.Action)
	}
	want := []string{ActionInvitationCreate, ActionJoinLinkCreate, ActionJoinLinkRevoke}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Fatalf("audit actions %v; want %v", actions, want)
	}
	assertNoSecrets(t, h, res.JoinToken)
	assertNoSecrets(t, h, tok2)
}

func TestNoJoinLinkWithoutRedeemURL(t *testing.T) {
	h := newHarness(t, Policy{})
	_ = h.store.CreateInvitation(context.Background(), &Invitation{ID: "inv-x", TenantID: "t1", InviterOID: employee.ObjectID, Email: "x@fabrikam.example", Outcome: OutcomeCreated})
	if _, _, err := h.svc.NewJoinLink(context.Background(), employee, "inv-x", meta); !errors.Is(err, ErrNoRedeemURL) {
		t.Fatalf("err %v; want ErrNoRedeemURL", err)
	}
	if _, err := h.svc.RevealRedeemURL(context.Background(), employee, "inv-x", meta); !errors.Is(err, ErrNoRedeemURL) {
		t.Fatalf("reveal err %v; want ErrNoRedeemURL", err)
	}
}
