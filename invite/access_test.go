package invite

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/keyring"
	"portico/store"
)

// fakeAccess is an AccessGraph whose group adds answer from a script by group id.
type fakeAccess struct {
	mu    sync.Mutex
	adds  []string // group/member
	toks  []oauth2.TokenSource
	addFn func(group string) (string, error)
}

func (f *fakeAccess) GetGroups(_ context.Context, _ oauth2.TokenSource, ids []string) (map[string]*graph.Group, error) {
	out := map[string]*graph.Group{}
	for _, id := range ids {
		out[id] = &graph.Group{ID: id, DisplayName: "Name of " + id}
	}
	return out, nil
}

func (f *fakeAccess) AddGroupMember(_ context.Context, ts oauth2.TokenSource, group, member string) (string, error) {
	f.mu.Lock()
	f.adds = append(f.adds, group+"/"+member)
	f.toks = append(f.toks, ts)
	f.mu.Unlock()
	if f.addFn != nil {
		return f.addFn(group)
	}
	return "rid-add", nil
}

func (f *fakeAccess) SearchUsers(context.Context, oauth2.TokenSource, string, int) ([]graph.User, error) {
	return []graph.User{{ID: "m1", DisplayName: "Megan", Mail: "megan@contoso.example", UserType: "Member"}, {ID: "g1", UserType: "Guest"}}, nil
}

func (f *fakeAccess) Sponsors(context.Context, oauth2.TokenSource, []string) (map[string][]graph.User, error) {
	return nil, nil
}

var accessDirectory = map[string]graph.User{
	"megan@contoso.example":          {ID: "oid-megan", DisplayName: "Megan Bowen", UserType: "Member"},
	"pat@contoso.example":            {ID: "oid-pat", DisplayName: "Pat", UserType: "Member"},
	"guest.sponsor@fabrikam.example": {ID: "oid-guest", UserType: "Guest"},
}

func accessService(t *testing.T, db *store.DB, appOnly bool, fa *fakeAccess) (*Service, *fakeGraph) {
	keys, _ := keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
	fg := &fakeGraph{byAddr: func(email string) ([]graph.User, error) {
		if u, ok := accessDirectory[email]; ok {
			return []graph.User{u}, nil
		}
		return nil, nil
	}}
	return NewService(Config{
		Graph: fg, Store: NewStoreAdapter(db), Keys: keys, Access: fa, GuestGroups: []string{"grp-a", "grp-b", "grp-c"},
		Policy:    Policy{DefaultRedirectURL: "https://portico.example/welcome"},
		PublicURL: "https://portico.example", JoinTTL: testJoinTTL, AppOnly: appOnly,
	}), fg
}

func TestSponsorsAndGroupsDelegated(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		fa := &fakeAccess{addFn: func(g string) (string, error) {
			switch g {
			case "grp-b":
				return "", &graph.Error{Status: 400, Code: "Request_BadRequest", Message: "One or more added object references already exist for the following modified properties: 'members'.", RequestID: "rid-b"}
			case "grp-c":
				return "", &graph.Error{Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation.", RequestID: "rid-c"}
			}
			return "rid-a", nil
		}}
		svc, fg := accessService(t, db, false, fa)
		svc.GuestGroups(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})) // names cached
		ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "inviter"})
		req := validReq()
		req.Sponsors = []string{"megan@contoso.example, employee@contoso.example"}
		req.Groups = []string{"grp-a", "grp-b", "grp-c"}
		res, err := svc.Send(ctx, ts, employee, req, meta)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		posted := fg.posted[0].InvitedUserSponsors
		if !slices.Equal(posted, []graph.DirectoryObject{{ID: "oid-employee"}, {ID: "oid-megan"}}) {
			t.Errorf("invitedUserSponsors = %v, want the inviter, then Megan", posted)
		}
		sp, groups, err := svc.InvitationAccess(ctx, res.Invitation.ID)
		if err != nil || len(sp) != 2 || sp[1].SponsorOID != "oid-megan" || sp[1].DisplayName != "Megan Bowen" {
			t.Fatalf("sponsors %+v, %v", sp, err)
		}
		want := map[string]string{"grp-a": store.GroupAdded, "grp-b": store.GroupAdded, "grp-c": store.GroupFailed}
		for _, g := range groups {
			if g.Status != want[g.GroupID] || g.AddedBy != "delegated" || g.GroupName != "Name of "+g.GroupID {
				t.Errorf("group %+v, want %s", g, want[g.GroupID])
			}
			if g.GroupID == "grp-c" && (g.ErrorCode != "Authorization_RequestDenied" || g.ErrorMessage != "Insufficient privileges to complete the operation." || g.GraphRequestID != "rid-c") {
				t.Errorf("denied group keeps Graph's answer: %+v", g)
			}
		}
		for _, tok := range fa.toks {
			if tok != ts {
				t.Error("a delegated add did not use the inviter's token")
			}
		}
		audit, _ := db.ListAudit(ctx, store.AuditFilter{Action: ActionGroupAdd})
		if len(audit) != 3 {
			t.Errorf("group audit events = %d, want 3", len(audit))
		}
		// "Sponsored by me": Megan finds the invitation.
		list, _ := db.ListInvitations(ctx, store.InvitationFilter{TenantID: "t1", SponsorOID: "oid-megan"})
		if len(list) != 1 || list[0].ID != res.Invitation.ID {
			t.Errorf("sponsored by Megan = %d invitations", len(list))
		}
	})
}

func TestSponsorValidation(t *testing.T) {
	db := openSQLite(t)
	svc, fg := accessService(t, db, false, &fakeAccess{})
	tests := []struct {
		name     string
		sponsors []string
		groups   []string
		field    string
	}{
		{"not an address", []string{"megan"}, nil, "sponsors.0"},
		{"too many", []string{"a@contoso.example,b@contoso.example,c@contoso.example,d@contoso.example,e@contoso.example"}, nil, "sponsors"},
		{"unknown, second field", []string{"megan@contoso.example", "nobody@contoso.example"}, nil, "sponsors.1"},
		{"guest", []string{"", "", "guest.sponsor@fabrikam.example"}, nil, "sponsors.2"},
		{"group not offered", nil, []string{"grp-x"}, "groups"},
	}
	for _, tt := range tests {
		req := validReq()
		req.Sponsors, req.Groups = tt.sponsors, tt.groups
		_, err := svc.Send(context.Background(), nil, employee, req, meta)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Fields[tt.field] == "" {
			t.Errorf("%s: %v, want a %s field error", tt.name, err, tt.field)
		}
	}
	if fg.n("create") != 0 {
		t.Errorf("%d invitations sent despite invalid sponsors or groups", fg.n("create"))
	}
}

func TestGroupRetries(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		fail := true
		fa := &fakeAccess{addFn: func(string) (string, error) {
			if fail {
				return "", &graph.Error{Status: 503, Code: "ServiceUnavailable", Message: "busy"}
			}
			return "rid-ok", nil
		}}
		// Delegated without a background identity: a transient failure is final, with Graph's message.
		svc, _ := accessService(t, db, false, fa)
		req := validReq()
		req.Groups = []string{"grp-a"}
		res, err := svc.Send(ctx, nil, employee, req, meta)
		if err != nil {
			t.Fatal(err)
		}
		_, gs, _ := svc.InvitationAccess(ctx, res.Invitation.ID)
		if gs[0].Status != store.GroupFailed || gs[0].ErrorMessage != "busy" {
			t.Errorf("without retries: %+v", gs[0])
		}
		// Application mode with a queue: the request only queues; the job's run adds, retrying a 503.
		var queued []string
		app, _ := accessService(t, db, true, fa)
		app.groupQueue = func(_ context.Context, id string) error { queued = append(queued, id); return nil }
		req.Email = "second@fabrikam.example"
		res, err = app.Send(ctx, nil, employee, req, meta)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(queued, []string{res.Invitation.ID}) {
			t.Fatalf("queued %v", queued)
		}
		var re *GroupRetryError
		if n, err := app.AssignGroups(ctx, nil, res.Invitation.ID, "application"); n != 0 || !errors.As(err, &re) || !re.At.After(time.Now()) {
			t.Errorf("first run finished %d, %v; want a retry later", n, err)
		}
		_, gs, _ = app.InvitationAccess(ctx, res.Invitation.ID)
		if gs[0].Status != store.GroupPending || gs[0].Attempts != 1 || !gs[0].NextAttemptAt.After(time.Now()) {
			t.Errorf("after a 503: %+v", gs[0])
		}
		fail = false
		app.now = func() time.Time { return time.Now().Add(time.Hour) }
		if ids, _ := app.PendingGroupInvitations(ctx, 10); !slices.Equal(ids, []string{res.Invitation.ID}) {
			t.Errorf("pending = %v", ids)
		}
		if n, err := app.AssignGroups(ctx, nil, "", "application"); n != 1 || err != nil {
			t.Errorf("sweep finished %d, %v", n, err)
		}
		_, gs, _ = app.InvitationAccess(ctx, res.Invitation.ID)
		if gs[0].Status != store.GroupAdded || gs[0].Attempts != 2 || gs[0].AddedBy != "application" {
			t.Errorf("after the retry: %+v", gs[0])
		}
		if n, _ := app.AssignGroups(ctx, nil, "", "application"); n != 0 {
			t.Errorf("an added group was added again")
		}
	})
}

// Delegated with a background identity: a transient failure of the inviter's add stays pending for
// the sweep, which is not due before the inviter's own attempt could run, and retries with the
// application's token.
func TestDelegatedGroupRetryBySweep(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	fail := true
	fa := &fakeAccess{addFn: func(string) (string, error) {
		if fail {
			return "", &graph.Error{Status: 429, Code: "TooManyRequests", Message: "slow down", RetryAfter: 5 * time.Second}
		}
		return "rid-ok", nil
	}}
	svc, _ := accessService(t, db, false, fa)
	svc.SetBackgroundGroups(true)
	inviterTS := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "inviter"})
	req := validReq()
	req.Groups = []string{"grp-a"}
	res, err := svc.Send(ctx, inviterTS, employee, req, meta)
	if err != nil {
		t.Fatal(err)
	}
	_, gs, _ := svc.InvitationAccess(ctx, res.Invitation.ID)
	if gs[0].Status != store.GroupPending || gs[0].ErrorCode != "TooManyRequests" {
		t.Fatalf("after a 429: %+v", gs[0])
	}
	if d := time.Until(gs[0].NextAttemptAt); d < 3*time.Second || d > 6*time.Second {
		t.Errorf("next attempt in %v, want Graph's Retry-After", d)
	}
	if ids, _ := svc.PendingGroupInvitations(ctx, 10); len(ids) != 0 {
		t.Errorf("due before Retry-After: %v", ids)
	}
	fail = false
	appTS := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "app"})
	svc.now = func() time.Time { return time.Now().Add(10 * time.Second) }
	if n, err := svc.AssignGroups(ctx, appTS, "", "application"); n != 1 || err != nil {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if len(fa.toks) != 2 || fa.toks[0] != inviterTS || fa.toks[1] != appTS {
		t.Errorf("tokens used: %v", fa.toks)
	}
	_, gs, _ = svc.InvitationAccess(ctx, res.Invitation.ID)
	if gs[0].Status != store.GroupAdded || gs[0].AddedBy != "application" {
		t.Errorf("after the sweep: %+v", gs[0])
	}
	audit, _ := db.ListAudit(ctx, store.AuditFilter{Action: ActionGroupAdd})
	if len(audit) != 2 || audit[0].Outcome == audit[1].Outcome {
		t.Errorf("audit: %+v", audit)
	}
}

// SponsorNames reads every listed invitation's sponsors in batches (here one invitation a batch)
// and joins each invitation's names in position order, the address standing in for a missing name.
func TestSponsorNamesBatched(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc, _ := accessService(t, db, false, &fakeAccess{})
		old := sponsorNamesBatch
		sponsorNamesBatch = 1
		t.Cleanup(func() { sponsorNamesBatch = old })
		var ids []string
		for _, email := range []string{"a@fabrikam.example", "b@fabrikam.example", "c@fabrikam.example"} {
			req := validReq()
			req.Email = email
			res, err := svc.Send(ctx, nil, employee, req, meta)
			if err != nil {
				t.Fatalf("Send %s: %v", email, err)
			}
			ids = append(ids, res.Invitation.ID)
		}
		if err := db.SetInvitationSponsors(ctx, ids[0], []store.InvitationSponsor{
			{SponsorOID: "o1", DisplayName: "Megan Bowen", Address: "megan@contoso.example"},
			{SponsorOID: "o2", Address: "adele@contoso.example"},
		}); err != nil {
			t.Fatal(err)
		}
		if err := db.SetInvitationSponsors(ctx, ids[2], []store.InvitationSponsor{{SponsorOID: "o3", DisplayName: "Sam"}}); err != nil {
			t.Fatal(err)
		}
		got, err := svc.SponsorNames(ctx, append(ids, "no-such-invitation"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{ids[0]: "Megan Bowen, adele@contoso.example", ids[2]: "Sam"}
		if !maps.Equal(got, want) {
			t.Errorf("SponsorNames = %v, want %v", got, want)
		}
	})
}
