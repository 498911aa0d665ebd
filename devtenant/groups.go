package devtenant

import (
	"slices"
	"strings"
	"time"
)

// Directory role template ids that may manage group membership besides the group's owners
// (group-post-members: Groups Administrator, Directory Writers, User Administrator; Global
// Administrator always can).
const (
	RoleGroupsAdministrator = "fdd7a751-b60b-444a-984c-02652fe8fa1c"
	RoleDirectoryWriters    = "9360feb5-f418-4baa-8175-e2a00bac4301"
)

// Group is a directory group (a security group, or a Microsoft 365 group, possibly team-enabled).
type Group struct {
	ID              string
	DisplayName     string
	Description     string
	Mail            string
	MailEnabled     bool
	SecurityEnabled bool
	GroupTypes      []string // "Unified" for Microsoft 365 groups
	Team            bool     // resourceProvisioningOptions: ["Team"]
	Visibility      string   // Private or Public (Microsoft 365 groups)
	Owners          []string // user object ids
	Members         []string // directory object ids
	CreatedDateTime time.Time
}

// Demo groups seeded in every tenant: the demo employee owns the first, nobody they are allowed
// to act for owns the second; the third is a team owned by Megan.
var (
	GroupProjectFalcon   = StableID("group:Project Falcon partners")
	GroupFinancePartners = StableID("group:Finance partners")
	GroupMarketingTeam   = StableID("group:Marketing team")
)

func (t *Tenant) seedGroups(created time.Time) {
	employee, megan := StableID("employee@contoso.example"), StableID("megan@contoso.example")
	for _, g := range []*Group{
		{ID: GroupProjectFalcon, DisplayName: "Project Falcon partners", Description: "Partners working on Project Falcon",
			SecurityEnabled: true, Owners: []string{employee}, Members: []string{employee}},
		{ID: GroupFinancePartners, DisplayName: "Finance partners", Description: "External accountants and auditors",
			SecurityEnabled: true, Owners: []string{megan}, Members: []string{megan}},
		{ID: GroupMarketingTeam, DisplayName: "Marketing team", Description: "The marketing team and its agencies",
			Mail: "marketing@contoso.example", MailEnabled: true, GroupTypes: []string{"Unified"}, Team: true, Visibility: "Private",
			Owners: []string{megan}, Members: []string{megan, employee}},
	} {
		g.CreatedDateTime = created
		t.groups[g.ID] = g
		t.groupOrder = append(t.groupOrder, g.ID)
	}
}

// AddGroup seeds a group (an empty ID gets StableID of "group:"+DisplayName); an existing group
// with the same ID is replaced.
func (t *Tenant) AddGroup(g Group) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if g.ID == "" {
		g.ID = StableID("group:" + g.DisplayName)
	}
	if g.CreatedDateTime.IsZero() {
		g.CreatedDateTime = t.now().UTC().Truncate(time.Second)
	}
	c := cloneGroup(&g)
	if _, ok := t.groups[c.ID]; !ok {
		t.groupOrder = append(t.groupOrder, c.ID)
	}
	t.groups[c.ID] = c
	return c.ID
}

// GroupByID returns a snapshot of the group with this object id.
func (t *Tenant) GroupByID(id string) (Group, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if g := t.groups[strings.ToLower(id)]; g != nil {
		return *cloneGroup(g), true
	}
	return Group{}, false
}

// Groups lists snapshots of every group in creation order.
func (t *Tenant) Groups() []Group {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Group, 0, len(t.groupOrder))
	for _, id := range t.groupOrder {
		out = append(out, *cloneGroup(t.groups[id]))
	}
	return out
}

// SetManager makes managerID the manager of userID ("" removes it).
func (t *Tenant) SetManager(userID, managerID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.users[userID]; u != nil {
		u.Manager = managerID
	}
}

func cloneGroup(g *Group) *Group {
	c := *g
	c.GroupTypes = slices.Clone(g.GroupTypes)
	c.Owners = slices.Clone(g.Owners)
	c.Members = slices.Clone(g.Members)
	return &c
}

// groupProperty is one property of g as Graph serialises it.
func groupProperty(g *Group, name string) any {
	switch name {
	case "id":
		return g.ID
	case "displayName":
		return strOrNil(g.DisplayName)
	case "description":
		return strOrNil(g.Description)
	case "mail":
		return strOrNil(g.Mail)
	case "mailEnabled":
		return g.MailEnabled
	case "securityEnabled":
		return g.SecurityEnabled
	case "groupTypes":
		return nonNil(g.GroupTypes)
	case "visibility":
		return strOrNil(g.Visibility)
	case "resourceProvisioningOptions":
		if g.Team {
			return []string{"Team"}
		}
		return []string{}
	case "createdDateTime":
		return g.CreatedDateTime.UTC().Format(time.RFC3339)
	case "mailNickname":
		return strings.ReplaceAll(strings.ToLower(g.DisplayName), " ", "")
	}
	return nil
}

// groupProperties are the group properties devtenant models; the default set is all of them.
var groupProperties = []string{"id", "displayName", "description", "mail", "mailEnabled", "mailNickname",
	"securityEnabled", "groupTypes", "visibility", "resourceProvisioningOptions", "createdDateTime"}
