package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/auth"
	"portico/devtenant"
	"portico/graph"
	"portico/store"
)

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func enqueueOne(t *testing.T, db *store.DB, to string) string {
	t.Helper()
	n := Notice{Kind: KindInvitationAccepted, EventKey: EventKey(KindInvitationAccepted, "r1"),
		To: []Recipient{{Address: to, Name: "Ines"}, {Address: strings.ToUpper(to)}}, Link: "https://portico.example/invitations/r1",
		Data: map[string]string{DataPartner: "Pat Partner"}}
	created, err := Enqueue(context.Background(), db, n)
	if err != nil || created != 1 {
		t.Fatalf("Enqueue = %d, %v; want 1 (the same address twice is one notice)", created, err)
	}
	if created, _ := Enqueue(context.Background(), db, n); created != 0 {
		t.Fatalf("the event seen again made %d more notices", created)
	}
	list, err := db.NoticesByEvent(context.Background(), n.EventKey)
	if err != nil || len(list) != 1 {
		t.Fatalf("notices = %d, %v", len(list), err)
	}
	return list[0].ID
}

func TestEnqueueRefusesInjectedAddresses(t *testing.T) {
	db := openStore(t)
	for _, bad := range []string{"a@b.example\r\nBcc: eve@evil.example", "Eve <eve@evil.example>", "a@b.example, c@d.example"} {
		_, err := Enqueue(context.Background(), db, Notice{Kind: KindApprovalWaiting, EventKey: "approval.waiting:1",
			To: []Recipient{{Address: bad}}})
		if err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := Enqueue(context.Background(), db, Notice{Kind: "nonsense", EventKey: "x", To: []Recipient{{Address: "a@b.example"}}}); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := Enqueue(context.Background(), db, Notice{Kind: KindApprovalWaiting, EventKey: "x", To: []Recipient{{Name: "nobody"}}}); !errors.Is(err, ErrNoRecipient) {
		t.Errorf("no address: %v", err)
	}
	if list, _ := db.RecentNotices(context.Background(), 10); len(list) != 0 {
		t.Fatalf("refused notices were stored: %+v", list)
	}
}

// fakeTransport counts sends and answers with the errors it is given, one per call.
type fakeTransport struct {
	answers []error
	sent    int
	begun   int
}

func (f *fakeTransport) Name() string { return "fake" }

func (f *fakeTransport) Send(_ context.Context, _ Message, begin func() error) error {
	if err := begin(); err != nil {
		return err
	}
	f.begun++
	var err error
	if len(f.answers) > 0 {
		err, f.answers = f.answers[0], f.answers[1:]
	}
	if err == nil {
		f.sent++
	}
	return err
}

func TestDeliverOutcomes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		answers   []error
		last      bool
		wantErr   error
		state     string
		wantInErr string
	}{
		{"sent", nil, false, nil, store.NoticeSent, ""},
		{"refused is final", []error{ErrRefused}, false, nil, store.NoticeFailed, "refused"},
		{"uncertain is final", []error{ErrUncertain}, false, nil, store.NoticeFailed, "outcome unknown"},
		{"unclassified counts as uncertain", []error{errors.New("weird")}, false, nil, store.NoticeFailed, "outcome unknown"},
		{"not sent is retried", []error{ErrNotSent}, false, ErrNotSent, store.NoticeQueued, "will try again"},
		{"not sent on the last attempt fails", []error{ErrNotSent}, true, nil, store.NoticeFailed, "gave up after the last attempt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openStore(t)
			id := enqueueOne(t, db, "ines@contoso.example")
			ft := &fakeTransport{answers: tc.answers}
			d := &Deliverer{Store: db, Transport: ft, Kinds: DefaultKinds}
			err := d.Deliver(ctx, id, tc.last)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Deliver = %v, want %v", err, tc.wantErr)
			}
			n, _ := db.GetNotice(ctx, id)
			if n.State != tc.state || !strings.Contains(n.LastError, tc.wantInErr) || n.Attempts != 1 {
				t.Fatalf("notice state %q attempts %d error %q; want %q with %q", n.State, n.Attempts, n.LastError, tc.state, tc.wantInErr)
			}
			// A settled notice is never sent again.
			if n.State != store.NoticeQueued {
				_ = d.Deliver(ctx, id, false)
				if ft.begun != 1 {
					t.Fatalf("a settled notice was handed over again (%d)", ft.begun)
				}
				ev, _ := db.ListAudit(ctx, store.AuditFilter{Action: ActionNoticeSend})
				if len(ev) != 1 || ev[0].Target != "ines@contoso.example" || !json.Valid([]byte(ev[0].Detail)) || !strings.Contains(ev[0].Detail, id) {
					t.Fatalf("audit events %+v; want one for the recipient", ev)
				}
			}
		})
	}
}

// A notice left in "sending" (the process died while handing it over) may have gone out: it is
// settled as failed with an unknown outcome and never handed over again.
func TestDeliverAfterCrashInSending(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	id := enqueueOne(t, db, "ines@contoso.example")
	if ok, err := db.StartNoticeAttempt(ctx, id, "smtp", time.Now()); !ok || err != nil {
		t.Fatal(ok, err)
	}
	ft := &fakeTransport{}
	if err := (&Deliverer{Store: db, Transport: ft, Kinds: DefaultKinds}).Deliver(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	n, _ := db.GetNotice(ctx, id)
	if ft.begun != 0 || n.State != store.NoticeFailed || !strings.Contains(n.LastError, "outcome unknown") {
		t.Fatalf("handed over %d times; notice %+v", ft.begun, n)
	}
}

func TestDeliverKindSwitchedOff(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	id := enqueueOne(t, db, "ines@contoso.example")
	ft := &fakeTransport{}
	_ = (&Deliverer{Store: db, Transport: ft, Kinds: Kinds{KindApprovalDenied: true}}).Deliver(ctx, id, false)
	if n, _ := db.GetNotice(ctx, id); ft.begun != 0 || n.State != store.NoticeFailed || !strings.Contains(n.LastError, "PORTICO_NOTICES") {
		t.Fatalf("notice %+v, handed over %d", n, ft.begun)
	}
}

// graphTransport sends as devtenant's application with the given application permissions.
func graphTransport(t *testing.T, roles []string) (*GraphTransport, *devtenant.Tenant) {
	t.Helper()
	tenant, err := devtenant.New(devtenant.Options{ClientSecret: "devtenant-test-secret-0123456789", AppRoles: roles})
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tenant.Close(context.Background()) })
	at, err := auth.NewAppTokens(auth.AppConfig{TokenURL: tenant.URL() + "/" + tenant.TenantID() + "/oauth2/v2.0/token",
		ClientID: devtenant.DefaultClientID, ClientSecret: "devtenant-test-secret-0123456789", Scope: "https://graph.microsoft.com/.default",
		HTTPClient: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	return &GraphTransport{Graph: graph.NewClient(tenant.URL(), nil), Tokens: at, Mailbox: devtenant.DemoMailbox}, tenant
}

func TestDeliverOverGraphSendMail(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	tr, tenant := graphTransport(t, []string{"User.Read.All", "Mail.Send"})
	id := enqueueOne(t, db, "ines@contoso.example")
	d := &Deliverer{Store: db, Transport: tr, Kinds: DefaultKinds}
	if err := d.Deliver(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	_ = d.Deliver(ctx, id, false) // settled: nothing more
	got := tenant.Notices()
	if len(got) != 1 {
		t.Fatalf("devtenant recorded %d messages, want 1", len(got))
	}
	m := got[0]
	if m.From != devtenant.DemoMailbox || len(m.To) != 1 || m.To[0] != "ines@contoso.example" || m.ToNames[0] != "Ines" ||
		m.Subject != "Pat Partner accepted the invitation" || m.ContentType != "HTML" || m.SaveToSent ||
		!strings.Contains(m.Content, `href="https://portico.example/invitations/r1"`) {
		t.Fatalf("devtenant recorded %+v", m)
	}
	var body struct {
		Message struct {
			ToRecipients []struct {
				EmailAddress struct{ Address string } `json:"emailAddress"`
			} `json:"toRecipients"`
		} `json:"message"`
		SaveToSentItems *bool `json:"saveToSentItems"`
	}
	for _, r := range tenant.Requests() {
		if strings.HasSuffix(r.Path, "/sendMail") {
			if r.Path != "/v1.0/users/"+devtenant.DemoMailbox+"/sendMail" || r.Status != http.StatusAccepted {
				t.Fatalf("request %s answered %d", r.Path, r.Status)
			}
			if err := json.Unmarshal(r.Body, &body); err != nil || body.SaveToSentItems == nil || *body.SaveToSentItems ||
				len(body.Message.ToRecipients) != 1 {
				t.Fatalf("body %s: %v", r.Body, err)
			}
		}
	}
	if n, _ := db.GetNotice(ctx, id); n.State != store.NoticeSent || n.Transport != "graph" {
		t.Fatalf("notice %+v", n)
	}
}

// Without Mail.Send Graph answers 403: the notice fails at once with Graph's message (retrying
// cannot grant a permission).
func TestDeliverOverGraphWithoutMailSend(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	tr, tenant := graphTransport(t, []string{"User.Read.All"})
	id := enqueueOne(t, db, "ines@contoso.example")
	if err := (&Deliverer{Store: db, Transport: tr, Kinds: DefaultKinds}).Deliver(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	n, _ := db.GetNotice(ctx, id)
	if n.State != store.NoticeFailed || !strings.Contains(n.LastError, "Access is denied") || !strings.Contains(n.LastError, "403") {
		t.Fatalf("notice %+v", n)
	}
	if len(tenant.Notices()) != 0 {
		t.Fatal("a message was recorded without Mail.Send")
	}
}

func TestDeliverOverGraphMissingMailbox(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	tr, _ := graphTransport(t, []string{"Mail.Send"})
	tr.Mailbox = "nobody@contoso.example"
	id := enqueueOne(t, db, "ines@contoso.example")
	_ = (&Deliverer{Store: db, Transport: tr, Kinds: DefaultKinds}).Deliver(ctx, id, false)
	if n, _ := db.GetNotice(ctx, id); n.State != store.NoticeFailed || !strings.Contains(n.LastError, "ErrorInvalidUser") {
		t.Fatalf("notice %+v", n)
	}
}

// The SMTP server is down (the port accepts, SMTP never answers) for the first attempts: the
// notice stays queued with why, then goes out once when the server is back; nothing twice.
func TestDeliverSMTPDownThenUp(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	srv, tr := downSMTP(t)
	id := enqueueOne(t, db, "ines@contoso.example")
	d := &Deliverer{Store: db, Transport: tr, Kinds: DefaultKinds}
	for i := 1; i <= 2; i++ {
		if err := d.Deliver(ctx, id, false); !errors.Is(err, ErrNotSent) {
			t.Fatalf("attempt %d while down: %v, want ErrNotSent", i, err)
		}
		n, _ := db.GetNotice(ctx, id)
		if n.State != store.NoticeQueued || n.Attempts != i || n.LastError == "" {
			t.Fatalf("attempt %d: notice %+v", i, n)
		}
	}
	srv.up()
	if err := d.Deliver(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	if got := srv.count(); got != 1 {
		t.Fatalf("server received %d messages, want 1", got)
	}
	if n, _ := db.GetNotice(ctx, id); n.State != store.NoticeSent || n.Attempts != 3 {
		t.Fatalf("notice %+v", n)
	}
}

// downServer is a STARTTLS+AUTH server that is down until up.
type downServer struct{ m *mailServer }

func (s downServer) up()        { s.m.down.Store(false) }
func (s downServer) count() int { return len(s.m.messages()) }

func downSMTP(t *testing.T) (downServer, *SMTPTransport) {
	cert, pool := testCert(t)
	m := &mailServer{user: "portico@contoso.example", pass: "pw"}
	m.down.Store(true)
	startMailServer(t, m, &cert)
	tr := smtpTransport(t, m, pool)
	tr.Timeout = 300 * time.Millisecond
	return downServer{m}, tr
}

// Graph took the message but the answer was lost: the notice fails "outcome unknown" and is
// never sent again (devtenant recorded it once). A 429 with Retry-After leaves it queued to try
// later, asking for that wait.
func TestDeliverOverGraphFaults(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	tr, tenant := graphTransport(t, []string{"Mail.Send"})
	tr.Graph = graph.NewClient(tenant.URL(), nil, graph.WithMaxRetries(0))
	d := &Deliverer{Store: db, Transport: tr, Kinds: DefaultKinds}

	tenant.InjectFault(devtenant.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/users/", DropConnection: true, Times: 1})
	id := enqueueOne(t, db, "ines@contoso.example")
	if err := d.Deliver(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	_ = d.Deliver(ctx, id, false)
	n, _ := db.GetNotice(ctx, id)
	if n.State != store.NoticeFailed || !strings.Contains(n.LastError, "outcome unknown") || len(tenant.Notices()) != 1 {
		t.Fatalf("lost answer: notice %+v, devtenant recorded %d", n, len(tenant.Notices()))
	}

	tenant.InjectFault(devtenant.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/users/", Status: http.StatusTooManyRequests, RetryAfter: "7", Times: 1})
	if _, err := Enqueue(ctx, db, Notice{Kind: KindInvitationAccepted, EventKey: "invitation.accepted:r2", To: []Recipient{{Address: "ines@contoso.example"}}}); err != nil {
		t.Fatal(err)
	}
	list, _ := db.NoticesByEvent(ctx, "invitation.accepted:r2")
	err := d.Deliver(ctx, list[0].ID, false)
	var ra *RetryAfterError
	if !errors.As(err, &ra) || ra.After != 7*time.Second || !errors.Is(err, ErrNotSent) {
		t.Fatalf("throttled: %v", err)
	}
	if n, _ := db.GetNotice(ctx, list[0].ID); n.State != store.NoticeQueued {
		t.Fatalf("throttled notice %+v", n)
	}
	if err := d.Deliver(ctx, list[0].ID, false); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.GetNotice(ctx, list[0].ID); n.State != store.NoticeSent || len(tenant.Notices()) != 2 {
		t.Fatalf("after the wait: %+v, %d recorded", n, len(tenant.Notices()))
	}
}
