package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/config"
	"portico/graph"
	"portico/invite"
	"portico/store"
)

// fakeAccess is an Access whose answers are set per test.
type fakeAccess struct {
	groups     []invite.GuestGroup
	people     func(term string) ([]invite.DirectoryPerson, error)
	access     func(id string) ([]store.InvitationSponsor, []store.InvitationGroup, error)
	sponsors   func(ids []string) (map[string][]invite.DirectoryPerson, error)
	searchToks []oauth2.TokenSource
}

func (f *fakeAccess) GuestGroups(context.Context, oauth2.TokenSource) []invite.GuestGroup {
	return f.groups
}

func (f *fakeAccess) SearchPeople(_ context.Context, ts oauth2.TokenSource, term string) ([]invite.DirectoryPerson, error) {
	f.searchToks = append(f.searchToks, ts)
	return f.people(term)
}

func (f *fakeAccess) InvitationAccess(_ context.Context, id string) ([]store.InvitationSponsor, []store.InvitationGroup, error) {
	return f.access(id)
}

func (f *fakeAccess) GuestSponsors(_ context.Context, _ oauth2.TokenSource, ids []string) (map[string][]invite.DirectoryPerson, error) {
	return f.sponsors(ids)
}

// withAccess rebuilds the env's router with fa as its Access.
func withAccess(en *env, fa *fakeAccess) {
	en.e = New(Deps{Config: en.cfg, Logger: slog.New(slog.NewTextHandler(en.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sessions: en.sessions, RP: en.rp, Tokens: en.tokens, Invites: en.inv, Audit: en.audit, DB: en.db, Access: fa,
		Clock: func() time.Time { return en.now }})
}

func TestFormSponsorsAndGroups(t *testing.T) {
	en := newEnv(t)
	fa := &fakeAccess{groups: []invite.GuestGroup{{ID: "g1", Name: "Falcon"}, {ID: "g2", Name: "Marketing", Team: true}, {ID: "g3"}}}
	withAccess(en, fa)
	b := en.signIn(ann)
	rec := b.get("/")
	want(t, rec, http.StatusOK, `name="sponsors"`, `id="sponsor-3"`, `list="people-list"`, `value="g1"`, "Falcon", "Marketing", "(team)", "Group g3")
	if n := strings.Count(rec.Body.String(), `name="sponsors"`); n != invite.MaxExtraSponsors {
		t.Errorf("%d sponsor fields, want %d", n, invite.MaxExtraSponsors)
	}

	// The form posts every sponsor field and the ticked groups; per-field errors come back by the field.
	var got invite.Request
	en.inv.SendFn = func(_ context.Context, _ oauth2.TokenSource, _ invite.Inviter, req invite.Request, _ invite.Meta) (*invite.Result, error) {
		got = req
		return nil, &invite.ValidationError{Fields: invite.FieldErrors{"sponsors.1": "pat@fabrikam.example is a guest; guests cannot be sponsors."}}
	}
	form := inviteForm("new@fabrikam.example")
	form["sponsors"] = []string{"megan@contoso.example", "pat@fabrikam.example", "", ""}
	form["groups"] = []string{"g2"}
	rec = b.post("/invitations", form)
	want(t, rec, http.StatusBadRequest, `href="#sponsor-1"`, "Sponsor 3", "is a guest; guests cannot be sponsors.", `aria-describedby="sponsors.1-error"`,
		`value="megan@contoso.example"`)
	if !slices.Equal(got.Sponsors, form["sponsors"]) || !slices.Equal(got.Groups, []string{"g2"}) {
		t.Errorf("request sponsors %q groups %q", got.Sponsors, got.Groups)
	}
	body := rec.Body.String()
	if i := strings.Index(body, `value="g2"`); i < 0 || !strings.Contains(body[i:i+40], "checked") {
		t.Error("the ticked group is not kept ticked")
	}
}

func TestPeoplePicker(t *testing.T) {
	en := newEnv(t)
	fa := &fakeAccess{people: func(term string) ([]invite.DirectoryPerson, error) {
		if term == "boom" {
			return nil, &invite.GraphError{Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges.", Err: &graph.Error{Status: 403}}
		}
		return []invite.DirectoryPerson{{ObjectID: "m1", DisplayName: "Megan <Bowen>", Address: "megan@contoso.example"}, {ObjectID: "x", DisplayName: "No address"}}, nil
	}}
	withAccess(en, fa)
	b := en.signIn(ann)
	rec := b.get("/people?q=meg", "Accept", "application/json")
	want(t, rec, http.StatusOK, `"address":"megan@contoso.example"`, `"name":"Megan \u003cBowen\u003e"`)
	if strings.Contains(rec.Body.String(), "No address") || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("people answer %s, headers %v", rec.Body, rec.Header())
	}
	if tok, err := fa.searchToks[0].Token(); err != nil || tok.AccessToken != "graph-token" {
		t.Errorf("searched with %v, %v: want the token provider's", tok, err)
	}
	want(t, b.get("/people?q="+strings.Repeat("a", 65), "Accept", "application/json"), http.StatusBadRequest)

	// Someone Portico's policy does not let invite cannot search the directory through it.
	barred := newEnv(t, func(c *config.Config) { c.Inviters = []string{"Portico.Invite"} })
	withAccess(barred, fa)
	searches := len(fa.searchToks)
	if rec := barred.signIn(ann).get("/people?q=meg", "Accept", "application/json"); rec.Code != http.StatusForbidden || len(fa.searchToks) != searches {
		t.Errorf("a barred employee searched: %d, %d searches", rec.Code, len(fa.searchToks)-searches)
	}
	if rec := b.get("/people?q=boom", "Accept", "application/json"); rec.Code < 400 {
		t.Errorf("a Graph refusal answered %d", rec.Code)
	}
	if rec := en.anon().get("/people?q=meg"); rec.Code != http.StatusFound && rec.Code != http.StatusSeeOther && rec.Code != http.StatusUnauthorized {
		t.Errorf("signed out: %d", rec.Code)
	}
}

func TestInvitationShowsSponsorsAndGroups(t *testing.T) {
	en := newEnv(t)
	id := newID()
	fa := &fakeAccess{
		access: func(got string) ([]store.InvitationSponsor, []store.InvitationGroup, error) {
			if got != id {
				t.Errorf("access of %s", got)
			}
			return []store.InvitationSponsor{{SponsorOID: "oid-ann", DisplayName: "Ann"}, {SponsorOID: "oid-megan", DisplayName: "Megan Bowen"}}, []store.InvitationGroup{
				{GroupID: "g1", GroupName: "Falcon", Status: store.GroupAdded},
				{GroupID: "g2", GroupName: "Finance", Status: store.GroupFailed, ErrorCode: "Authorization_RequestDenied",
					ErrorMessage: "Insufficient privileges to complete the operation.", GraphRequestID: "rid-g2"},
				{GroupID: "g3", Status: store.GroupPending, ErrorMessage: "busy"},
			}, nil
		},
	}
	withAccess(en, fa)
	en.inv.GetFn = func(context.Context, invite.Inviter, string) (*invitation, error) {
		r := created(id)
		r.GraphUserID = "guest-1"
		return r, nil
	}
	b := en.signIn(ann)

	fa.sponsors = func(ids []string) (map[string][]invite.DirectoryPerson, error) {
		if !slices.Equal(ids, []string{"guest-1"}) {
			t.Errorf("sponsors of %v", ids)
		}
		return map[string][]invite.DirectoryPerson{"guest-1": {
			{ObjectID: "oid-erin", DisplayName: "Erin Earlier", Address: "erin@contoso.example"},
			{ObjectID: "oid-ann", DisplayName: "Ann", Address: "ann@contoso.example"},
			{ObjectID: "oid-megan", DisplayName: "Megan Bowen", Address: "megan@contoso.example"}}}, nil
	}
	rec := b.get("/invitations/" + id)
	want(t, rec, http.StatusOK, "Sponsors and access", "Megan Bowen", `data-status="added"`, `data-status="failed"`, `data-status="pending"`,
		"Microsoft's answer:", "Insufficient privileges to complete the operation.", "Authorization_RequestDenied", "rid-g2", "Last attempt:", "Group g3",
		"Also sponsored by one other person in your organization.")
	// A sponsor this record did not name (an earlier inviter) is counted, not named, except to admins.
	if strings.Contains(rec.Body.String(), "Erin") {
		t.Error("an earlier inviter's name is shown to the record's owner")
	}
	want(t, en.signIn(admin).get("/invitations/"+id), http.StatusOK, "Erin Earlier")

	// Graph does not answer: the sponsors named at sending are shown, and said to be so.
	fa.sponsors = func([]string) (map[string][]invite.DirectoryPerson, error) { return nil, errors.New("graph: 503") }
	want(t, b.get("/invitations/"+id), http.StatusOK, "Microsoft Graph did not answer", "Ann")
}

func TestSponsoredList(t *testing.T) {
	en := newEnv(t)
	withAccess(en, &fakeAccess{})
	other := *created(newID())
	other.InviterOID, other.InviterName, other.Email = "oid-erin", "Erin", "sky@fabrikam.example"
	var asked invite.ListFilter
	en.inv.ListFn = func(_ context.Context, _ invite.Inviter, f invite.ListFilter) (*invite.ListPage, error) {
		asked = f
		return &invite.ListPage{Invitations: []invitation{other}, Total: 1}, nil
	}
	b := en.signIn(ann)
	rec := b.get("/invitations?scope=sponsored")
	want(t, rec, http.StatusOK, "Guests you sponsor", "sky@fabrikam.example", "Erin", "Show only my invitations")
	if !asked.Sponsored || asked.Everyone {
		t.Errorf("list filter %+v", asked)
	}
	if strings.Contains(rec.Body.String(), `href="/invitations/`+other.ID+`"`) {
		t.Error("a sponsor is linked to another inviter's invitation page")
	}
	want(t, b.get("/invitations"), http.StatusOK, `href="/invitations?state=all&amp;scope=sponsored"`)
}
