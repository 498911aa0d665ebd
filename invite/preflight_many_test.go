package invite

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"portico/graph"
)

// PreflightMany gives every address the verdict Preflight gives it alone, with one LookupMany
// per preflightChunk addresses instead of one lookup each.
func TestPreflightManyAgreesWithPreflight(t *testing.T) {
	users := map[string][]graph.User{
		"pending@fabrikam.example":  {{ID: "u-p", UserType: "Guest", ExternalUserState: "PendingAcceptance"}},
		"accepted@fabrikam.example": {{ID: "u-a", UserType: "Guest", ExternalUserState: "Accepted"}},
		"member@fabrikam.example":   {{ID: "u-m", UserType: "Member"}},
		"megan@contoso.example":     {{ID: "u-megan", UserType: "Member"}},
	}
	byAddr := func(e string) ([]graph.User, error) {
		if e == "broken@fabrikam.example" {
			return nil, errors.New("boom")
		}
		return users[e], nil
	}
	emails := []string{"new@fabrikam.example", "Pending@Fabrikam.example", "accepted@fabrikam.example", "member@fabrikam.example",
		"megan@contoso.example", "x@blocked.example", "not an address", "broken@fabrikam.example"}
	for i := range 250 {
		emails = append(emails, fmt.Sprintf("p%d@fabrikam.example", i))
	}
	h := newHarness(t, Policy{BlockedDomains: []string{"blocked.example"}})
	h.graph.byAddr = byAddr
	pfs, errs := h.svc.PreflightMany(context.Background(), nil, employee, emails)
	if n := h.graph.n("lookupMany"); n != 2 {
		t.Errorf("%d LookupMany calls for %d addresses, want 2", n, len(emails))
	}
	if h.graph.n("lookup") != 0 {
		t.Errorf("single lookups made: %v", h.graph.calls)
	}
	for i, e := range emails {
		one, oneErr := h.svc.Preflight(context.Background(), nil, employee, e)
		if (oneErr == nil) != (errs[i] == nil) {
			t.Fatalf("%s: many err %v, one err %v", e, errs[i], oneErr)
		}
		if oneErr != nil {
			continue
		}
		if pfs[i].Verdict != one.Verdict || pfs[i].Message != one.Message || pfs[i].Email != one.Email {
			t.Errorf("%s: many %+v, one %+v", e, pfs[i], one)
		}
	}
	var ve *ValidationError
	if !errors.As(errs[6], &ve) {
		t.Errorf("invalid address: %v", errs[6])
	}
	if errs[7] == nil {
		t.Error("a failed lookup gave a verdict")
	}
}

func TestPreflightManyBarredInviter(t *testing.T) {
	h := newHarness(t, Policy{})
	barred := employee
	barred.Barred = BarNotInviter
	_, errs := h.svc.PreflightMany(context.Background(), nil, barred, []string{"a@fabrikam.example"})
	if !errors.Is(errs[0], ErrNotInviter) || len(h.graph.calls) != 0 {
		t.Fatalf("err %v, calls %v", errs[0], h.graph.calls)
	}
}
