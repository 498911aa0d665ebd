package invite

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"portico/graph"
	"portico/keyring"
	"portico/notify"
	"portico/store"
)

// The accepted notice is written with the first Accepted state, once per invitation whatever
// reads the state again; the first open of a join link is noticed once; kinds that are off write
// nothing. On SQLite and PostgreSQL.
func TestNoticesWrittenWithTheirEvents(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keys, _ := keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
		fg := &fakeGraph{}
		state := "PendingAcceptance"
		fg.getUser = func(_ context.Context, id string) (*graph.User, error) {
			return &graph.User{ID: id, UserType: "Guest", ExternalUserState: state}, nil
		}
		clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
		svc := NewService(Config{Graph: fg, Store: NewStoreAdapter(db), Keys: keys, JoinTTL: testJoinTTL, Clock: clock.Now,
			Policy: Policy{DefaultRedirectURL: "https://portico.example/welcome"}, PublicURL: "https://portico.example"})
		var kicked atomic.Int32
		svc.SetNotices(notify.Kinds{notify.KindInvitationAccepted: true}, func(context.Context) { kicked.Add(1) })

		req := validReq()
		req.SendEmail = false
		res, err := svc.Send(ctx, nil, employee, req, meta)
		if err != nil {
			t.Fatal(err)
		}
		id := res.Invitation.ID
		// First opens are off: opening writes no notice.
		if _, err := svc.OpenJoin(ctx, res.JoinToken, meta); err != nil {
			t.Fatal(err)
		}
		if l, _ := db.NoticesByEvent(ctx, notify.EventKey(notify.KindJoinLinkOpened, id)); len(l) != 0 {
			t.Fatalf("a notice of a kind that is off: %+v", l)
		}
		ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
		if _, err := svc.SyncStates(ctx, ts, SyncOptions{}); err != nil {
			t.Fatal(err)
		}
		if l, _ := db.NoticesByEvent(ctx, notify.EventKey(notify.KindInvitationAccepted, id)); len(l) != 0 || kicked.Load() != 0 {
			t.Fatalf("pending partner noticed: %+v", l)
		}
		state = "Accepted"
		clock.Add(time.Minute)
		if _, err := svc.SyncStates(ctx, ts, SyncOptions{}); err != nil {
			t.Fatal(err)
		}
		for range 3 { // seen again: by a landing's refresh, a list page
			if _, err := svc.RefreshState(ctx, ts, id); err != nil {
				t.Fatal(err)
			}
		}
		l, _ := db.NoticesByEvent(ctx, notify.EventKey(notify.KindInvitationAccepted, id))
		if len(l) != 1 || kicked.Load() != 1 {
			t.Fatalf("accepted notices %d (queue kicked %d times); want 1 and 1", len(l), kicked.Load())
		}
		n := l[0]
		if n.Address != employee.UPN || n.Name != employee.Name || n.Link != "https://portico.example/invitations/"+id ||
			n.Data[notify.DataPartner] != "Taylor Partner" || n.Data[notify.DataPartnerEmail] != "taylor@fabrikam.example" {
			t.Fatalf("notice %+v", n)
		}
		if rec, _ := db.GetInvitation(ctx, id); rec.ExternalUserState != "Accepted" {
			t.Fatalf("state %q", rec.ExternalUserState)
		}

		// First opens on: a second invitation's link opened twice → one notice.
		svc.SetNotices(notify.Kinds{notify.KindJoinLinkOpened: true}, nil)
		req.Email = "sam@fabrikam.example"
		res2, err := svc.Send(ctx, nil, employee, req, meta)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := svc.OpenJoin(ctx, res2.JoinToken, meta); err != nil {
				t.Fatal(err)
			}
		}
		if l, _ := db.NoticesByEvent(ctx, notify.EventKey(notify.KindJoinLinkOpened, res2.Invitation.ID)); len(l) != 1 || l[0].Address != employee.UPN {
			t.Fatalf("first-open notices %+v; want one to the inviter", l)
		}
	})
}

// The accepted notice goes to the inviter and to the sponsors named with the invitation, once
// each (the inviter listed again as a sponsor is not told twice). On SQLite and PostgreSQL.
func TestAcceptedNoticeReachesSponsors(t *testing.T) {
	onEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keys, _ := keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
		fg := &fakeGraph{}
		fg.getUser = func(_ context.Context, id string) (*graph.User, error) {
			return &graph.User{ID: id, UserType: "Guest", ExternalUserState: "Accepted"}, nil
		}
		svc := NewService(Config{Graph: fg, Store: NewStoreAdapter(db), Keys: keys, JoinTTL: testJoinTTL,
			Policy: Policy{DefaultRedirectURL: "https://portico.example/welcome"}, PublicURL: "https://portico.example"})
		svc.SetNotices(notify.Kinds{notify.KindInvitationAccepted: true}, func(context.Context) {})
		res, err := svc.Send(ctx, nil, employee, validReq(), meta)
		if err != nil {
			t.Fatal(err)
		}
		id := res.Invitation.ID
		if err := db.SetInvitationSponsors(ctx, id, []store.InvitationSponsor{
			{SponsorOID: employee.ObjectID, DisplayName: employee.Name, Address: employee.UPN},
			{SponsorOID: "sponsor-oid", DisplayName: "Sam Sponsor", Address: "sam@contoso.example"},
			{SponsorOID: "no-address", DisplayName: "No Address", Address: "not an address"},
		}); err != nil {
			t.Fatal(err)
		}
		ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
		if _, err := svc.RefreshState(ctx, ts, id); err != nil {
			t.Fatal(err)
		}
		l, err := db.NoticesByEvent(ctx, notify.EventKey(notify.KindInvitationAccepted, id))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, n := range l {
			got[n.Address] = n.Name
		}
		if len(l) != 2 || got[employee.UPN] != employee.Name || got["sam@contoso.example"] != "Sam Sponsor" {
			t.Fatalf("accepted notices %+v; want one to the inviter and one to Sam Sponsor", l)
		}
	})
}
