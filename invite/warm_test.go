package invite

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
)

var warmToken = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "delegated"})

// failingTokens is a token source that cannot give a token (a session whose refresh failed).
type failingTokens struct{}

func (failingTokens) Token() (*oauth2.Token, error) {
	return nil, errors.New("auth: reauthentication required")
}

// heldOrg makes the fake's first organization read wait until release is closed, then answer
// with err (nil: the organization); later reads answer the organization at once.
func heldOrg(h *harness, err error) (release chan struct{}) {
	release = make(chan struct{})
	var first sync.Once
	h.graph.org = func() (*graph.Organization, error) {
		var firstErr error
		first.Do(func() {
			<-release
			firstErr = err
		})
		if firstErr != nil {
			return nil, firstErr
		}
		return &graph.Organization{ID: "t1", VerifiedDomains: []graph.VerifiedDomain{
			{Name: "contoso.example", IsDefault: true},
			{Name: "contoso.onmicrosoft.com", IsInitial: true},
		}}, nil
	}
	return release
}

// TestWarmThenFirstCheck: after Warm (sign-in, the form opened), the first check after start waits
// for that read and sends both directory queries in one Lookup: no identities query of its own,
// so an invitation costs two sequential round trips (Lookup, POST) even on a cold cache.
func TestWarmThenFirstCheck(t *testing.T) {
	tests := []struct {
		name      string
		warmErr   error // the warm read fails
		wantOrg   int
		wantAlone int
	}{
		{name: "warm read succeeds", wantOrg: 1},
		{name: "warm read fails: the check reads again with its own token", warmErr: &graph.Error{Status: 503}, wantOrg: 2, wantAlone: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Policy{})
			h.graph.byIdent = func(id, issuer string) ([]graph.User, error) {
				if id == "local@fabrikam.example" && issuer == "contoso.onmicrosoft.com" {
					return []graph.User{{ID: "u-local", UserType: "Member"}}, nil
				}
				return nil, nil
			}
			release := heldOrg(h, tt.warmErr)
			ctx, cancel := context.WithCancel(context.Background())
			h.svc.Warm(ctx, warmToken, employee.TenantID) // returns while the read is held
			cancel()                                      // the request that warmed is over
			if n := h.graph.n("org"); n > 1 {
				t.Fatalf("%d organization reads", n)
			}

			type answer struct {
				p   *Preflight
				err error
			}
			done := make(chan answer, 1)
			go func() {
				p, err := h.svc.Preflight(context.Background(), nil, employee, "local@fabrikam.example")
				done <- answer{p, err}
			}()
			time.Sleep(20 * time.Millisecond) // the check is waiting for the warm read
			close(release)
			a := <-done
			if a.err != nil {
				t.Fatal(a.err)
			}
			if a.p.Verdict != VerdictMember || a.p.Source != SourceIdentities {
				t.Fatalf("verdict %s from %s, want member from identities", a.p.Verdict, a.p.Source)
			}
			if got := h.graph.n("org"); got != tt.wantOrg {
				t.Errorf("%d organization reads, want %d", got, tt.wantOrg)
			}
			if got := h.graph.n("byIdentity.alone"); got != tt.wantAlone {
				t.Errorf("%d identities queries of their own, want %d", got, tt.wantAlone)
			}
			if tt.warmErr != nil && !eventually(func() bool { return strings.Contains(h.logs.String(), "warming the organization cache failed") }) {
				t.Errorf("the warm read's failure is not logged: %s", h.logs.String())
			}
		})
	}
}

// TestWarmReadsOnlyWhenNeeded: Warm asks Graph nothing when the domains are cached or a read is
// under way, and nothing without a token.
func TestWarmReadsOnlyWhenNeeded(t *testing.T) {
	t.Run("cached", func(t *testing.T) {
		h := newHarness(t, Policy{})
		if _, err := h.svc.Preflight(context.Background(), nil, employee, "new@fabrikam.example"); err != nil {
			t.Fatal(err)
		}
		h.svc.Warm(context.Background(), failingTokens{}, employee.TenantID) // a token asked for would be logged
		if n := h.graph.n("org"); n != 1 || strings.Contains(h.logs.String(), "not warming") {
			t.Fatalf("%d organization reads; logs %s", n, h.logs.String())
		}
	})
	t.Run("concurrent calls share one read", func(t *testing.T) {
		h := newHarness(t, Policy{})
		release := heldOrg(h, nil)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { h.svc.Warm(context.Background(), warmToken, employee.TenantID) })
		}
		wg.Wait()
		close(release)
		if _, err := h.svc.organization(context.Background(), nil, employee.TenantID); err != nil {
			t.Fatal(err)
		}
		if n := h.graph.n("org"); n != 1 {
			t.Fatalf("%d organization reads, want 1", n)
		}
	})
	t.Run("no token", func(t *testing.T) {
		h := newHarness(t, Policy{})
		h.svc.Warm(context.Background(), failingTokens{}, employee.TenantID)
		if n := h.graph.n("org"); n != 0 || !strings.Contains(h.logs.String(), "not warming") {
			t.Fatalf("%d organization reads; logs %s", n, h.logs.String())
		}
	})
	t.Run("no tenant", func(t *testing.T) {
		h := newHarness(t, Policy{})
		h.svc.Warm(context.Background(), warmToken, "")
		if n := h.graph.n("org"); n != 0 {
			t.Fatalf("%d organization reads", n)
		}
	})
}

// eventually reports whether cond holds within a second (it is set by a background goroutine).
func eventually(cond func() bool) bool {
	for range 100 {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
