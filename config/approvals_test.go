package config

import (
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadApprovals(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		approval  []string
		approvers []string
		manager   bool
		ttl       time.Duration
		problems  []string
	}{
		{name: "default: none", ttl: DefaultApprovalTTL},
		{name: "none", env: map[string]string{"PORTICO_APPROVAL": "none"}, ttl: DefaultApprovalTTL},
		{name: "a list", env: map[string]string{"PORTICO_APPROVAL": "Domain, member,quota,domain", "PORTICO_APPROVERS": "Portico.Approve, 95e79109-95c0-4d8e-aee3-d01accf2d47b,manager",
			"PORTICO_APPROVAL_TTL": "7d"},
			approval: []string{"domain", "member", "quota"}, approvers: []string{"Portico.Approve", "95e79109-95c0-4d8e-aee3-d01accf2d47b"}, manager: true, ttl: 7 * 24 * time.Hour},
		{name: "all", env: map[string]string{"PORTICO_APPROVAL": "all"}, approval: []string{"all"}, ttl: DefaultApprovalTTL},
		{name: "wrong values", env: map[string]string{"PORTICO_APPROVAL": "domain,everything,none", "PORTICO_APPROVERS": "all,bad name", "PORTICO_APPROVAL_TTL": "-1h",
			"PORTICO_APPROVAL_NOTIFY": "ok@contoso.example,Bad <x@y.example>"},
			problems: []string{`PORTICO_APPROVAL: "everything" must be domain`, `PORTICO_APPROVAL: "none" cannot be combined`,
				`PORTICO_APPROVERS: "all" is not`, `PORTICO_APPROVERS: "bad name" is not`, `PORTICO_APPROVAL_TTL "-1h" must be a positive duration`,
				`PORTICO_APPROVAL_NOTIFY: "Bad <x@y.example>" is not one plain email address`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := validEnv()
			maps.Copy(e, tc.env)
			c, err := Load(nil, env(e), io.Discard)
			if len(tc.problems) > 0 {
				if err == nil {
					t.Fatal("no problem reported")
				}
				for _, p := range tc.problems {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("problems lack %q:\n%v", p, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Approval, tc.approval) || !slices.Equal(c.Approvers, tc.approvers) || c.ApproverManager != tc.manager || c.ApprovalTTL != tc.ttl {
				t.Errorf("got approval=%v approvers=%v manager=%t ttl=%v", c.Approval, c.Approvers, c.ApproverManager, c.ApprovalTTL)
			}
			if tc.name == "all" && (!c.NeedsApproval(ApprovalMember) || !c.NeedsApproval(ApprovalDomain)) {
				t.Error("all covers every reason")
			}
		})
	}
}
