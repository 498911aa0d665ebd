package app

import (
	"slices"
	"testing"

	"portico/config"
)

// Waiting requests are told to PORTICO_APPROVAL_NOTIFY; demo mode tells its administrator when
// the variable is not set; a real tenant gets no guessed recipients.
func TestApprovalNotify(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.Config
		want []string
	}{
		{"configured", config.Config{ApprovalNotify: []string{"approvers@contoso.com"}}, []string{"approvers@contoso.com"}},
		{"configured in demo mode", config.Config{Demo: true, ApprovalNotify: []string{"list@contoso.example"}}, []string{"list@contoso.example"}},
		{"demo default", config.Config{Demo: true}, []string{DemoApprovalNotify}},
		{"unset in a real tenant", config.Config{}, nil},
	} {
		if got := approvalNotify(&tc.cfg); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
