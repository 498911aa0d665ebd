package config

import (
	"net/mail"
	"slices"
	"strings"
	"time"
)

// Reasons PORTICO_APPROVAL may list: which requests go to an approver instead of being refused.
const (
	ApprovalDomain = "domain" // an address whose domain is not in PORTICO_ALLOWED_DOMAINS (blocked domains stay refused)
	ApprovalMember = "member" // invitedUserType Member asked for by someone who is not an administrator
	ApprovalQuota  = "quota"  // an employee whose invitation quota is used up
	ApprovalAll    = "all"    // every invitation
	ApprovalNone   = "none"   // no approvals: requests outside policy are refused (the default)
)

// ApproversManager is the PORTICO_APPROVERS entry that makes the requester's manager (Graph
// /users/{id}/manager) the approver of their requests, falling back to the other approvers.
const ApproversManager = "manager"

// DefaultApprovalTTL is how long an approval request waits before it expires (PORTICO_APPROVAL_TTL).
const DefaultApprovalTTL = 14 * 24 * time.Hour

// NeedsApproval reports whether PORTICO_APPROVAL names reason (or all).
func (c *Config) NeedsApproval(reason string) bool {
	return slices.Contains(c.Approval, reason) || slices.Contains(c.Approval, ApprovalAll)
}

// loadApprovals reads PORTICO_APPROVAL, PORTICO_APPROVERS and PORTICO_APPROVAL_TTL.
func loadApprovals(c *Config, e source, p *Problems) {
	for _, s := range lowerList(e.get("PORTICO_APPROVAL")) {
		switch s {
		case ApprovalDomain, ApprovalMember, ApprovalQuota, ApprovalAll:
			if !slices.Contains(c.Approval, s) {
				c.Approval = append(c.Approval, s)
			}
		case ApprovalNone:
			if len(lowerList(e.get("PORTICO_APPROVAL"))) > 1 {
				p.addf("PORTICO_APPROVAL: %q cannot be combined with other values", ApprovalNone)
			}
		default:
			p.addf("PORTICO_APPROVAL: %q must be domain, member, quota, all or none (a comma-separated list)", s)
		}
	}
	for _, s := range list(e.get("PORTICO_APPROVERS")) {
		switch {
		case strings.EqualFold(s, ApproversManager):
			c.ApproverManager = true
		case strings.ContainsAny(s, " \t\"'"), strings.EqualFold(s, InvitersAll):
			p.addf("PORTICO_APPROVERS: %q is not an app role name, a directory role template id, a group id or manager", s)
		default:
			c.Approvers = append(c.Approvers, s)
		}
	}
	c.ApprovalTTL = duration(e, "PORTICO_APPROVAL_TTL", DefaultApprovalTTL, p)
	for _, s := range list(e.get("PORTICO_APPROVAL_NOTIFY")) {
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s || strings.ContainsAny(s, "<>\r\n") {
			p.addf("PORTICO_APPROVAL_NOTIFY: %q is not one plain email address", s)
			continue
		}
		c.ApprovalNotify = append(c.ApprovalNotify, s)
	}
}
