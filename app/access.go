package app

import (
	"portico/config"
	"portico/devtenant"
)

// guestGroups are the groups guests may be added to: PORTICO_GUEST_GROUPS, or in demo mode
// devtenant's demo groups (one the demo employee owns, one they do not, and a team).
func guestGroups(cfg *config.Config) []string {
	if len(cfg.GuestGroups) > 0 || !cfg.Demo {
		return cfg.GuestGroups
	}
	return []string{devtenant.GroupProjectFalcon, devtenant.GroupFinancePartners, devtenant.GroupMarketingTeam}
}

// delegatedGroupScopes is what the employee's sign-in asks for besides the usual Graph scopes:
// with guest groups in delegated mode, the inviter's own token adds guests to them (and reads
// their names), so it needs GroupMember.ReadWrite.All (admin consent).
func delegatedGroupScopes(cfg *config.Config) []string {
	if cfg.Application() || len(guestGroups(cfg)) == 0 {
		return nil
	}
	return []string{"GroupMember.ReadWrite.All"}
}
