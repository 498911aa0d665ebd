package app

import (
	"errors"
	"strconv"
	"testing"

	"portico/handlers"
	"portico/invite"
	"portico/store"
)

// TestCancelJobIsAudited: an admin cancelling a background job leaves one audit event naming the
// admin, the job and the request; an unknown job is "not found" and leaves none.
func TestCancelJobIsAudited(t *testing.T) {
	a, err := New(t.Context(), demoConfig(t, nil), Options{Listener: listen(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	id, err := a.Jobs.SyncNow(t.Context()) // the queue is not started: the job waits
	if err != nil {
		t.Fatal(err)
	}
	admin := invite.Inviter{TenantID: "tid-1", ObjectID: "oid-ada", UPN: "ada@contoso.example"}
	jobsPage, _ := a.jobsDeps()
	if err := jobsPage.Cancel(t.Context(), id+1000, admin, invite.HTTPMeta("req-0", "192.0.2.1")); !errors.Is(err, handlers.ErrJobNotFound) {
		t.Fatalf("cancel of an unknown job: %v, want ErrJobNotFound", err)
	}
	if err := jobsPage.Cancel(t.Context(), id, admin, invite.HTTPMeta("req-1", "192.0.2.1")); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	evs, err := a.Store.ListAudit(t.Context(), store.AuditFilter{Action: ActionJobCancel})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d job.cancel events, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.ActorUPN != admin.UPN || ev.ActorOID != admin.ObjectID || ev.Target != strconv.FormatInt(id, 10) ||
		ev.RequestID != "req-1" || ev.ClientIP != "192.0.2.1" || ev.Outcome != string(invite.OutcomeSuccess) {
		t.Errorf("audit event %+v", ev)
	}
	if j, err := a.Jobs.Get(t.Context(), id); err != nil || j.State != "cancelled" {
		t.Errorf("job after cancel: %+v, %v", j, err)
	}
}
