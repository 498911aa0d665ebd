package jobs

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"portico/notify"
	"portico/store"
)

// flakyTransport is a mail server that is down for its first `down` connections (nothing handed
// over), then accepts every message; it counts what it accepted per recipient.
type flakyTransport struct {
	mu       sync.Mutex
	down     int
	accepted map[string]int
}

func (f *flakyTransport) Name() string { return "smtp" }

func (f *flakyTransport) Send(_ context.Context, m notify.Message, begin func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down > 0 {
		f.down--
		return notify.ErrNotSent
	}
	if err := begin(); err != nil {
		return err
	}
	f.accepted[m.To.Address+" "+m.Subject]++
	return nil
}

func (f *flakyTransport) total() (n, most int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.accepted {
		n += c
		if c > most {
			most = c
		}
	}
	return n, most
}

// Partners accept → the state sync writes one "accepted" notice per invitation in the same
// transaction → the queue delivers it through a mail server that is down at first (retries, with
// backoff) → each inviter gets it once; syncing again adds nothing. On SQLite and PostgreSQL.
func TestAcceptedNoticesThroughTheQueue(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newEnv(t, eng.url(t), 6, 2)
			ft := &flakyTransport{down: 3, accepted: map[string]int{}}
			d := &notify.Deliverer{Store: e.db, Transport: ft, Kinds: notify.DefaultKinds}
			r := e.runner(t, Config{Notices: d, NoticePoll: 200 * time.Millisecond,
				NoticeRetry: func(int) time.Duration { return 100 * time.Millisecond }})
			e.invites.SetNotices(notify.DefaultKinds, func(ctx context.Context) {
				if _, err := r.DispatchNotices(ctx); err != nil {
					t.Errorf("dispatch: %v", err)
				}
			})
			start(t, r)
			if _, err := r.SyncNow(context.Background()); err != nil {
				t.Fatal(err)
			}
			var list []store.Notice
			waitFor(t, "two notices sent", 30*time.Second, func() bool {
				var err error
				if list, err = e.db.RecentNotices(context.Background(), 10); err != nil {
					t.Fatal(err)
				}
				sent := 0
				for _, n := range list {
					if n.State == store.NoticeSent {
						sent++
					}
				}
				return sent == 2
			})
			attempts := 0
			for _, n := range list {
				if n.Kind != string(notify.KindInvitationAccepted) || n.Address != "inviter@contoso.example" || n.JobID == nil {
					t.Errorf("notice %+v", n)
				}
				attempts += n.Attempts
			}
			if len(list) != 2 || attempts != 2+3 {
				t.Fatalf("%d notices with %d attempts; want 2 notices, 5 attempts (3 while the server was down)", len(list), attempts)
			}
			// The states are seen again (another sync, a landing's refresh): nothing more.
			if _, err := r.SyncNow(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, rec := range e.recs[:2] {
				if _, err := e.invites.RefreshState(context.Background(), e.tokens, rec.ID); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(500 * time.Millisecond)
			if list, _ := e.db.RecentNotices(context.Background(), 10); len(list) != 2 {
				t.Fatalf("%d notices after seeing the states again, want 2", len(list))
			}
			if n, most := ft.total(); n != 2 || most != 1 {
				t.Fatalf("the server accepted %d messages (at most %d for one); want 2, once each", n, most)
			}
		})
	}
}

// Notices whose writer stopped before queuing their job (no DispatchNotices call) are found by
// the periodic dispatch; two instances dispatching and delivering the same notices together send
// each exactly once. On SQLite and PostgreSQL.
func TestNoticesDispatchedOnceByTwoInstances(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newEnv(t, eng.url(t), 0, 0)
			ctx := context.Background()
			const n = 12
			for i := range n {
				if _, err := notify.Enqueue(ctx, e.db, notify.Notice{Kind: notify.KindApprovalWaiting,
					EventKey: notify.EventKey(notify.KindApprovalWaiting, "req", string(rune('a'+i))),
					To:       []notify.Recipient{{Address: "approver@contoso.example"}, {Address: "admin@contoso.example"}},
					Data:     map[string]string{notify.DataRequester: "Erin", notify.DataPartner: "p" + string(rune('a'+i)) + "@fabrikam.example"}}); err != nil {
					t.Fatal(err)
				}
			}
			ft := &flakyTransport{accepted: map[string]int{}}
			for _, id := range []string{"one", "two"} {
				d := &notify.Deliverer{Store: e.db, Transport: ft, Kinds: notify.DefaultKinds}
				r := e.runner(t, Config{ID: id, Notices: d, NoticePoll: 150 * time.Millisecond})
				start(t, r)
			}
			waitFor(t, "every notice sent", 30*time.Second, func() bool {
				got, _ := ft.total()
				return got >= 2*n
			})
			time.Sleep(500 * time.Millisecond)
			if got, most := ft.total(); got != 2*n || most != 1 {
				t.Fatalf("the server accepted %d messages, at most %d for one; want %d, once each", got, most, 2*n)
			}
			list, _ := e.db.RecentNotices(ctx, 100)
			for _, nt := range list {
				if nt.State != store.NoticeSent || nt.Attempts != 1 {
					t.Fatalf("notice %+v", nt)
				}
			}
		})
	}
}

// An administrator cancels a notice's job before it runs: the notice ends failed, saying so.
func TestCancelledNoticeJobFailsTheNotice(t *testing.T) {
	e := newEnv(t, sqliteURL(t), 0, 0)
	ctx := context.Background()
	if _, err := notify.Enqueue(ctx, e.db, notify.Notice{Kind: notify.KindApprovalDenied, EventKey: "approval.denied:r9",
		To: []notify.Recipient{{Address: "erin@contoso.example"}}}); err != nil {
		t.Fatal(err)
	}
	d := &notify.Deliverer{Store: e.db, Transport: &flakyTransport{accepted: map[string]int{}}, Kinds: notify.DefaultKinds}
	r := e.runner(t, Config{Notices: d, NoticePoll: -1}) // not started: the job waits
	if n, err := r.DispatchNotices(ctx); err != nil || n != 1 {
		t.Fatalf("dispatch = %d, %v", n, err)
	}
	list, _ := e.db.NoticesByEvent(ctx, "approval.denied:r9")
	if err := r.Cancel(ctx, *list[0].JobID); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.db.GetNotice(ctx, list[0].ID); n.State != store.NoticeFailed || !strings.Contains(n.LastError, "job was cancelled") {
		t.Fatalf("notice %+v", n)
	}
}
