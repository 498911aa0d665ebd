package views

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func benchPage() Page {
	return Page{Title: "Invite a partner", User: &User{Name: "Erin Employee", UPN: "employee@contoso.example"}, CSRF: strings.Repeat("x", 52),
		Assets: Assets{CSS: "/static/app.0123456789.css", JS: "/static/app.0123456789.js"}, OrgName: "Contoso", Lang: "en", Nav: "invite"}
}

func sampleInvitations(n int) []Invitation {
	now := time.Now()
	out := make([]Invitation, n)
	for i := range out {
		out[i] = Invitation{ID: "abcdefghijklmnopqrstuvwxyz", Email: "partner@fabrikam.example", DisplayName: "Taylor Partner",
			InviterName: "Erin Employee", UserType: "Guest", Created: now, State: "pending", StateLabel: "Pending acceptance", JoinOpens: 1,
			JoinLastOpened: &now}
	}
	return out
}

// BenchmarkInviteFormPage measures server time to render the invitation form (budget: well under 1 ms).
func BenchmarkInviteFormPage(b *testing.B) {
	m := InviteForm{Page: benchPage(), Values: InviteValues{SendEmail: true, RedirectURL: "https://portal.contoso.com/welcome"}, MaxMessage: 1000}
	for range 45 {
		m.Languages = append(m.Languages, Option{Value: "fr-FR", Label: "French (français)"})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := InviteFormPage(m).Render(context.Background(), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInvitationListPage renders a full page of 25 invitations.
func BenchmarkInvitationListPage(b *testing.B) {
	m := InvitationList{Page: benchPage(), Items: sampleInvitations(25), State: "all", Total: 100, OlderURL: "/invitations?state=all&before=1.a"}
	b.ReportAllocs()
	for b.Loop() {
		if err := InvitationListPage(m).Render(context.Background(), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
