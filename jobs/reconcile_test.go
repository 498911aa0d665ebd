package jobs

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"portico/devtenant"
	"portico/store"
)

// A send that crashed between Graph's answer and its commit left an open intent and a record
// "sending"; devtenant holds the guest. The periodic reconciler, on two instances, settles it as
// confirmed by lookup and never POSTs; an intent whose guest is not (yet) in the directory stays
// open for a later run. On SQLite and PostgreSQL.
func TestReconcilerSettlesCrashedSends(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, eng.url(t), 0, 0)
			e.tenant.AddUser(devtenant.User{ID: "guest-crashed", DisplayName: "Crashed", Mail: "crashed@fabrikam.example",
				UserPrincipalName: "crashed_fabrikam.example#EXT#@contoso.example", UserType: "Guest",
				ExternalUserState: "PendingAcceptance", CreationType: "Invitation", AccountEnabled: true})
			past := time.Now().Add(-5 * time.Minute).UTC()
			open := func(id, address string) {
				rec := &store.Invitation{ID: "rec-" + id, TenantID: e.tenant.TenantID(), InviterOID: "inviter", InviterUPN: "inviter@contoso.example",
					InviterName: "Inviter", Email: address, Outcome: "sending", UserType: "Guest", CreatedAt: past, SendEmail: true}
				if err := e.db.CreateInvitation(ctx, rec); err != nil {
					t.Fatal(err)
				}
				payload, _ := json.Marshal(map[string]any{
					"action": "invitation.create",
					"actor":  map[string]any{"TenantID": e.tenant.TenantID(), "ObjectID": "inviter", "UPN": "inviter@contoso.example", "Name": "Inviter"},
					"owner":  map[string]any{"TenantID": e.tenant.TenantID(), "ObjectID": "inviter", "UPN": "inviter@contoso.example", "Name": "Inviter"},
					"valid":  map[string]any{"Email": address, "Key": address, "UserType": "Guest", "SendEmail": true},
				})
				if err := e.db.OpenIntent(ctx, &store.SendIntent{ID: id, TenantID: e.tenant.TenantID(), Address: address, Kind: store.IntentInvite,
					InvitationID: rec.ID, ActorOID: "inviter", OwnerOID: "inviter", Request: payload, OpenedAt: past, LeaseUntil: past.Add(time.Minute)}); err != nil {
					t.Fatal(err)
				}
			}
			open("crashed", "crashed@fabrikam.example")
			open("lost", "lost@fabrikam.example")

			for range 2 { // two instances on one database
				r := e.runner(t, Config{ReconcileInterval: 100 * time.Millisecond})
				start(t, r)
			}
			waitFor(t, "the crashed send settled", 20*time.Second, func() bool {
				in, err := e.db.GetIntent(ctx, "crashed")
				return err == nil && in.State == store.IntentDone
			})
			rec, err := e.db.GetInvitation(ctx, "rec-crashed")
			if err != nil || rec.Outcome != "created" || rec.GraphUserID != "guest-crashed" {
				t.Fatalf("record %+v, %v", rec, err)
			}
			evs, _ := e.db.ListAudit(ctx, store.AuditFilter{})
			if len(evs) != 1 || evs[0].Outcome != "created" || evs[0].Target != "crashed@fabrikam.example" {
				t.Fatalf("audit %+v; want one event for the settled send", evs)
			}
			if in, _ := e.db.GetIntent(ctx, "lost"); in.State != store.IntentOpen || in.Attempts < 1 {
				t.Fatalf("lost intent %+v: want still open, looked up", in)
			}
			for _, rq := range e.tenant.Requests() {
				if rq.Method == http.MethodPost {
					t.Fatalf("the reconciler wrote to Graph: %s %s", rq.Method, rq.Path)
				}
			}
		})
	}
}
