package invite

import (
	"context"
	"testing"
)

// The partner's redirect after redeeming passes through Portico's welcome page with the record's
// reference when the landing page is Portico's own or the invitation is shared by join link; the
// welcome page then learns where to forward them and whether the state is worth reading.
func TestLandThroughPortico(t *testing.T) {
	tests := []struct {
		name        string
		def         string // the policy's default landing page ("" : Portico's welcome page)
		redirect    string
		sendEmail   bool
		wantGraph   string // {ref}: the record id
		wantForward string
	}{
		{name: "default landing, email", sendEmail: true, wantGraph: "https://portico.example/welcome?i={ref}"},
		{name: "default landing, join link", wantGraph: "https://portico.example/welcome?i={ref}"},
		{name: "own landing, email: left as chosen", redirect: "https://apps.allowed.example/start", sendEmail: true,
			wantGraph: "https://apps.allowed.example/start", wantForward: "https://apps.allowed.example/start"},
		{name: "own landing, join link: through Portico, then forwarded", redirect: "https://apps.allowed.example/start",
			wantGraph: "https://portico.example/welcome?i={ref}", wantForward: "https://apps.allowed.example/start"},
		{name: "operator's default outside Portico: left as configured", def: "https://apps.allowed.example/home", sendEmail: true,
			wantGraph: "https://apps.allowed.example/home", wantForward: "https://apps.allowed.example/home"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Policy{DefaultRedirectURL: tt.def, AllowedRedirectHosts: []string{"apps.allowed.example"}})
			req := validReq()
			req.SendEmail, req.RedirectURL = tt.sendEmail, tt.redirect
			res, err := h.svc.Send(context.Background(), nil, employee, req, meta)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.wantGraph
			if i := len(want) - len("{ref}"); i > 0 && want[i:] == "{ref}" {
				want = want[:i] + res.Invitation.ID
			}
			if got := h.graph.posted[0].InviteRedirectURL; got != want {
				t.Errorf("Graph asked to redirect to %q, want %q", got, want)
			}
			forward, read := h.svc.Landing(context.Background(), res.Invitation.ID)
			if forward != tt.wantForward || !read {
				t.Errorf("Landing = %q, %v; want %q, true (a pending partner)", forward, read, tt.wantForward)
			}
		})
	}
	h := newHarness(t, Policy{})
	if forward, read := h.svc.Landing(context.Background(), "nosuchrecordaaaaaaaaaaaaaa"); forward != "" || read {
		t.Errorf("unknown reference: %q, %v", forward, read)
	}
}
