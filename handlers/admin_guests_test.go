package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"portico/invite"
)

// fakeLifecycle records who asked for what; it never checks roles (the router must).
type fakeLifecycle struct {
	guests       []invite.GuestLife
	calls        []string
	sponsorReads int
}

func (f *fakeLifecycle) Guests(context.Context) ([]invite.GuestLife, error) { return f.guests, nil }
func (f *fakeLifecycle) Guest(_ context.Context, id string) (*invite.GuestLife, error) {
	for i := range f.guests {
		if f.guests[i].Invitation.ID == id {
			return &f.guests[i], nil
		}
	}
	return nil, invite.ErrNotFound
}
func (f *fakeLifecycle) Activities(context.Context, []invite.GuestLife) map[string]invite.Activity {
	return map[string]invite.Activity{}
}
func (f *fakeLifecycle) Sponsors(_ context.Context, ids []string) map[string]string {
	f.sponsorReads++
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		out[id] = "Megan Bowen"
	}
	return out
}
func (f *fakeLifecycle) Policy() invite.LifecyclePolicy {
	return invite.LifecyclePolicy{RemindAfter: []time.Duration{7 * 24 * time.Hour}, PendingExpiry: 30 * 24 * time.Hour, ExpiryAction: "disable"}
}
func (f *fakeLifecycle) ExpiryEffect() (string, string) { return "disable", "" }
func (f *fakeLifecycle) SignInActivity() bool           { return false }
func (f *fakeLifecycle) CanResetRedemption() (bool, string) {
	return true, ""
}
func (f *fakeLifecycle) Run(context.Context, invite.Meta, bool) (*invite.RunResult, error) {
	f.calls = append(f.calls, "dry-run")
	return &invite.RunResult{}, nil
}
func (f *fakeLifecycle) RunNow(_ context.Context, a invite.Inviter, _ invite.Meta) error {
	f.calls = append(f.calls, "run "+a.UPN)
	return nil
}
func (f *fakeLifecycle) SetExempt(_ context.Context, a invite.Inviter, _ invite.Meta, id string, on bool, note string) error {
	f.calls = append(f.calls, "exempt "+a.UPN+" "+id+" "+note)
	return nil
}
func (f *fakeLifecycle) ActNow(_ context.Context, a invite.Inviter, _ invite.Meta, id string) (string, error) {
	f.calls = append(f.calls, "act "+a.UPN+" "+id)
	return "disable", nil
}
func (f *fakeLifecycle) Restore(_ context.Context, a invite.Inviter, _ invite.Meta, id string) error {
	f.calls = append(f.calls, "restore "+a.UPN+" "+id)
	return &invite.LifecycleError{Reason: "Portico did not disable or delete this guest"}
}
func (f *fakeLifecycle) ResetRedemption(_ context.Context, a invite.Inviter, _ invite.Meta, id, email string) error {
	f.calls = append(f.calls, "reset "+a.UPN+" "+id+" "+email)
	return nil
}

var _ GuestLifecycle = (*fakeLifecycle)(nil)

// An attacker without the admin role gets 403 on every lifecycle route and reaches nothing; an
// admin without the CSRF token is refused; with it, every action reaches the domain as the admin.
func TestGuestsAdminOnly(t *testing.T) {
	en := newEnv(t)
	fl := &fakeLifecycle{guests: []invite.GuestLife{{Invitation: invite.Invitation{ID: "r1", Email: "pat@fabrikam.example",
		DisplayName: "=cmd|' /C calc'!A0", InviterName: "Ann"}, GuestID: "g1", State: invite.GuestPending}}}
	en.e = New(Deps{Config: en.cfg, Logger: slog.New(slog.DiscardHandler), Sessions: en.sessions, RP: en.rp, Tokens: en.tokens,
		Invites: en.inv, Audit: en.audit, DB: en.db, Clock: func() time.Time { return en.now }, Lifecycle: fl})
	emp := en.signIn(ann)
	for _, p := range []string{"/admin/guests", "/admin/guests.csv", "/admin/guests/dry-run", "/admin/guests/r1"} {
		want(t, emp.get(p), http.StatusForbidden)
	}
	for _, p := range []string{"/admin/guests/run", "/admin/guests/r1/exempt", "/admin/guests/r1/act", "/admin/guests/r1/restore", "/admin/guests/r1/reset-redemption"} {
		want(t, emp.post(p, url.Values{"exempt": {"on"}}), http.StatusForbidden)
	}
	if len(fl.calls) != 0 {
		t.Fatalf("an employee reached the lifecycle: %v", fl.calls)
	}
	adm := en.signIn(admin)
	want(t, adm.post("/admin/guests/r1/act", url.Values{"_csrf": {"forged"}}), http.StatusForbidden)
	if len(fl.calls) != 0 {
		t.Fatalf("a forged CSRF token reached the lifecycle: %v", fl.calls)
	}
	want(t, adm.get("/admin/guests"), http.StatusOK, "Megan Bowen", "PORTICO_PENDING_EXPIRY_ACTION", "=cmd")
	csv := adm.get("/admin/guests.csv")
	want(t, csv, http.StatusOK, `'=cmd|`)
	if strings.Contains(csv.Body.String(), ",=cmd") {
		t.Error("a formula cell left live in the CSV")
	}
	want(t, adm.get("/admin/guests?state=bogus"), http.StatusBadRequest)
	want(t, adm.post("/admin/guests/r1/exempt", url.Values{"exempt": {"maybe"}}), http.StatusBadRequest)
	want(t, adm.post("/admin/guests/r1/exempt", url.Values{"exempt": {"on"}, "note": {"partner of the year"}}), http.StatusSeeOther)
	want(t, adm.post("/admin/guests/r1/act", nil), http.StatusSeeOther)
	want(t, adm.post("/admin/guests/r1/restore", nil), http.StatusConflict, "Portico did not disable or delete this guest")
	want(t, adm.post("/admin/guests/r1/reset-redemption", url.Values{"email": {"new@fabrikam.example"}}), http.StatusSeeOther)
	want(t, adm.post("/admin/guests/run", nil), http.StatusSeeOther)
	got := strings.Join(fl.calls, "\n")
	for _, w := range []string{"exempt " + admin.UPN + " r1 partner of the year", "act " + admin.UPN + " r1", "restore " + admin.UPN + " r1",
		"reset " + admin.UPN + " r1 new@fabrikam.example", "run " + admin.UPN} {
		if !strings.Contains(got, w) {
			t.Errorf("calls lack %q:\n%s", w, got)
		}
	}
	want(t, adm.get("/admin/guests/nope"), http.StatusNotFound)
	want(t, adm.get("/admin/guests/r1"), http.StatusOK, "Reset redemption", "pat@fabrikam.example")
}

// The guests page reads the recorded sponsors of all its rows in one call, not one per row.
func TestGuestsSponsorsOneRead(t *testing.T) {
	en := newEnv(t)
	fl := &fakeLifecycle{}
	for _, id := range []string{"r1", "r2", "r3"} {
		fl.guests = append(fl.guests, invite.GuestLife{Invitation: invite.Invitation{ID: id, Email: id + "@fabrikam.example"},
			GuestID: "g-" + id, State: invite.GuestPending})
	}
	en.e = New(Deps{Config: en.cfg, Logger: slog.New(slog.DiscardHandler), Sessions: en.sessions, RP: en.rp, Tokens: en.tokens,
		Invites: en.inv, Audit: en.audit, DB: en.db, Clock: func() time.Time { return en.now }, Lifecycle: fl})
	adm := en.signIn(admin)
	rec := adm.get("/admin/guests")
	want(t, rec, http.StatusOK, "r3@fabrikam.example")
	if n := strings.Count(rec.Body.String(), "Megan Bowen"); n < 3 {
		t.Errorf("sponsors shown on %d rows, want 3", n)
	}
	if fl.sponsorReads != 1 {
		t.Errorf("%d sponsor reads for 3 rows, want 1", fl.sponsorReads)
	}
}
