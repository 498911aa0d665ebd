package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for creating test databases

	"portico/keyring"
	"portico/store"
)

func TestTwoInstancesSharePostgres(t *testing.T) {
	dbURL := freshPostgres(t)
	tenant := newTenant(t)
	shared := map[string]string{
		"PORTICO_DATABASE_URL": dbURL,
		"PORTICO_SESSION_KEYS": "shared-session-key-for-two-instances-7Qx",
		"PORTICO_DATA_KEY":     testDataKey,
	}
	a := start(t, tenant, shared)
	b := start(t, tenant, shared)
	must(t, a.URL != b.URL, "two addresses")

	// Sign in through A; the same cookie is a signed-in session on B.
	onA := a.browser()
	onA.signIn("employee@contoso.example")
	onB := b.browser()
	must(t, !onB.signedIn(), "B's browser starts signed out")
	shareSession(t, onA, onB)
	home := onB.get("/")
	must(t, home.Status == http.StatusOK && strings.Contains(home.Body, "Erin Employee"), "B knows the session signed in on A: %d", home.Status)
	must(t, onB.csrf() == onA.csrf(), "one session, one CSRF token on both instances")

	// Invite on A; B lists it and shows the same invitation with a join link on B's address.
	path, join := inviteByLink(t, onA, "scale.partner@fabrikam.example")
	must(t, strings.HasPrefix(join, a.URL+"/join/"), "A's join link names A: %q", join)
	list := onB.get("/invitations")
	must(t, list.Status == http.StatusOK && strings.Contains(list.Body, "scale.partner@fabrikam.example"), "B's My invitations lists A's invitation: %d", list.Status)
	detail := onB.get(path)
	must(t, detail.Status == http.StatusOK, "B shows the invitation: %d", detail.Status)
	onBJoin, _ := detail.Doc.Find("#join-url").Attr("value")
	token := join[strings.LastIndex(join, "/")+1:]
	must(t, onBJoin == b.URL+"/join/"+token, "B rebuilds the same link on its own address: %q", onBJoin)

	// The join link issued by A opens on B, and accepting there sends the partner to Microsoft.
	partner := b.browser()
	viaB := rebase(t, join, b.URL)
	p := partner.get(viaB)
	must(t, p.Status == http.StatusOK && strings.Contains(text(p, `[data-testid="join-inviter"]`), "Erin Employee"), "A's link opens on B: %d", p.Status)
	acc := partner.post(strings.TrimPrefix(viaB, b.URL)+"/accept", url.Values{"_csrf": {""}})
	must(t, acc.Status == http.StatusFound && strings.HasPrefix(acc.Header.Get("Location"), tenant.URL()+"/redeem?"), "accept on B: %d %q", acc.Status, acc.Header.Get("Location"))

	// A state-changing action on B with the session from A: a new link on B kills A's link on A.
	p = onB.post(path+"/link", nil)
	must(t, p.Status == http.StatusSeeOther, "new link on B: %d", p.Status)
	must(t, a.browser().get(join).Status == http.StatusGone, "A no longer serves the replaced link: it says it was replaced")

	// Admins on either instance see the events of both.
	admin := b.browser()
	admin.signIn("admin@contoso.example")
	events := auditLines(t, admin, "")
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action)
	}
	for _, want := range []string{"signin", "invitation.create", "joinlink.accept", "joinlink.create"} {
		must(t, slices.Contains(actions, want), "B's audit trail lacks %s: %v", want, actions)
	}

	// Sign-out on B ends the session on A as well.
	p = onB.post("/logout", nil)
	must(t, p.Status == http.StatusSeeOther, "logout on B: %d", p.Status)
	must(t, !onA.signedIn(), "the session signed out on B is gone on A")

	// The audit trail of the shared database refuses changes even from outside Portico.
	raw, err := sql.Open("pgx", dbURL)
	must(t, err == nil, "open: %v", err)
	defer raw.Close()
	for _, stmt := range []string{"UPDATE audit_events SET outcome = 'forged'", "DELETE FROM audit_events", "TRUNCATE audit_events"} {
		_, err := raw.ExecContext(t.Context(), stmt)
		must(t, err != nil && strings.Contains(err.Error(), "append-only"), "%s: %v", stmt, err)
	}
	must(t, len(auditLines(t, admin, "")) >= len(events), "audit trail unchanged")
}

// countMigrations is the number of embedded migrations for an engine, read from the source tree.
func countMigrations(t *testing.T, dialect string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("store", "migrations", dialect, "*.sql"))
	must(t, err == nil && len(files) > 0, "no %s migrations: %v", dialect, err)
	return len(files)
}

func TestInstancesMigrateConcurrently(t *testing.T) {
	tenant := newTenant(t)
	want := countMigrations(t, store.DialectPostgres)
	for round := range 3 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			env := map[string]string{"PORTICO_DATABASE_URL": freshPostgres(t)}
			const n = 3
			ins := make([]*instance, n)
			for i := range ins {
				ins[i] = launch(t, tenant, env) // each run goes straight to store.Open on the empty database
			}
			applied := 0
			for _, in := range ins {
				in.await(t)
				applied += strings.Count(in.Logs.String(), `"msg":"store: migration applied"`)
			}
			must(t, applied == want, "migrations applied across %d instances = %d, want %d (each exactly once)", n, applied, want)

			raw, err := sql.Open("pgx", env["PORTICO_DATABASE_URL"])
			must(t, err == nil, "open: %v", err)
			defer raw.Close()
			var rows int
			must(t, raw.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&rows) == nil, "read schema_migrations")
			must(t, rows == want, "schema_migrations holds %d rows, want %d", rows, want)

			// Every instance works on the schema the others may have created.
			first := ins[0].browser()
			first.signIn("employee@contoso.example")
			for _, in := range ins[1:] {
				other := in.browser()
				shareSession(t, first, other)
				must(t, other.signedIn(), "instance %s serves the shared session", in.URL)
			}
		})
	}
}

// printedSettings parses the KEY=value lines devtenant prints (values possibly single-quoted for a shell).
func printedSettings(out string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || !strings.HasPrefix(k, "PORTICO_") {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, "'")
		}
		m[k] = v
	}
	return m
}

func TestDevtenantSubcommandServesInstances(t *testing.T) {
	out, errs := &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"devtenant", "-addr", "127.0.0.1:0"}, func(string) string { return "" }, out, errs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("devtenant: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Accounts:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	settings := printedSettings(out.String())
	for _, k := range []string{"PORTICO_AUTHORITY", "PORTICO_TENANT_ID", "PORTICO_CLIENT_ID", "PORTICO_CLIENT_SECRET", "PORTICO_GRAPH_URL"} {
		must(t, settings[k] != "", "devtenant did not print %s:\n%s\n%s", k, out, errs)
	}
	authority := mustURL(settings["PORTICO_AUTHORITY"])
	must(t, authority.Scheme == "http" && authority.Hostname() == "127.0.0.1" && authority.Port() != "0" && authority.Port() != "",
		"authority names the bound loopback port: %s", authority)
	must(t, settings["PORTICO_GRAPH_URL"] == settings["PORTICO_AUTHORITY"], "Graph on the same listener: %v", settings)
	for _, upn := range []string{"employee@contoso.example", "admin@contoso.example", "inviter@contoso.example"} {
		must(t, strings.Contains(out.String(), upn), "accounts list lacks %s", upn)
	}

	// Two instances configured only from the printed settings, in normal (not demo) mode.
	env := maps.Clone(settings)
	env["PORTICO_SESSION_KEYS"] = "devtenant-session-key-0123456789abcdef"
	env["PORTICO_DATA_KEY"] = testDataKey
	env["PORTICO_DATABASE_URL"] = filepath.Join(t.TempDir(), "portico.db")
	for i := range 2 {
		in := launch(t, nil, env)
		in.await(t)
		must(t, !strings.Contains(in.Logs.String(), "Demo mode"), "instance %d runs in normal mode", i)
		b := in.browser()
		p := b.get("/")
		must(t, p.Doc.Find(`[data-testid="demo-ribbon"]`).Length() == 0 && p.Doc.Find(`[data-testid="demo-account"]`).Length() == 0, "no demo ribbon or buttons")
		b.signIn("employee@contoso.example")
		home := b.get("/")
		must(t, strings.Contains(home.Body, "Erin Employee"), "instance %d signed in through the shared devtenant", i)
		_, join := inviteByLink(t, b, fmt.Sprintf("devtenant%d@fabrikam.example", i))
		must(t, strings.HasPrefix(join, in.URL+"/join/"), "instance %d invites through the devtenant's Graph", i)
	}
}

func TestQuotaSharedAcrossInstances(t *testing.T) {
	tenant := newTenant(t)
	env := map[string]string{"PORTICO_INVITE_QUOTA": "1/h", "PORTICO_DATABASE_URL": filepath.Join(t.TempDir(), "shared.db")}
	a := start(t, tenant, env)
	b := start(t, tenant, env)
	onA := a.browser()
	onA.signIn("employee@contoso.example")
	inviteByLink(t, onA, "shared.quota.one@fabrikam.example")
	onB := b.browser()
	onB.signIn("employee@contoso.example")
	tenant.ResetRequests()
	p := onB.post("/invitations", inviteForm("shared.quota.two@fabrikam.example"))
	must(t, p.Status == http.StatusTooManyRequests && p.Header.Get("Retry-After") != "", "second instance enforces the same quota: %d", p.Status)
	must(t, countPosts(tenant, "/v1.0/invitations") == 0, "no Graph call over quota")
}

func TestKeyRotation(t *testing.T) {
	const (
		sessA = "session-key-A-0123456789abcdef0123456789"
		sessB = "session-key-B-0123456789abcdef0123456789"
		dataA = testDataKey
		dataB = testDataKey2
	)
	tenant := newTenant(t)
	dbFile := filepath.Join(t.TempDir(), "portico.db")
	instanceWith := func(sessionKeys, dataKeys string) *instance {
		in := launch(t, tenant, map[string]string{"PORTICO_DATABASE_URL": dbFile, "PORTICO_SESSION_KEYS": sessionKeys, "PORTICO_DATA_KEY": dataKeys})
		in.await(t)
		return in
	}
	// carry puts a saved cookie into a new browser for in, as the same user's browser would after a restart.
	carry := func(in *instance, c *http.Cookie) *browser {
		b := in.browser()
		b.c.Jar.SetCookies(mustURL(in.URL), []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
		return b
	}

	// 1. Everything written with key A: a session, a redemption URL, a join token.
	one := instanceWith(sessA, dataA)
	emp := one.browser()
	emp.signIn("employee@contoso.example")
	cookieA := emp.cookie("portico_session")
	must(t, cookieA != nil, "session cookie")
	oldPath, oldJoin := inviteByLink(t, emp, "rotate.old@fabrikam.example")
	token := oldJoin[strings.LastIndex(oldJoin, "/")+1:]
	one.stop(t)

	// 2. Restart with "B,A" for both: what A wrote still reads, new data is written with B.
	two := instanceWith(sessB+","+sessA, dataB+","+dataA)
	again := carry(two, cookieA)
	must(t, again.signedIn(), "a session cookie signed with A (and its record sealed with A) works under B,A")
	detail := again.get(oldPath)
	shown, _ := detail.Doc.Find("#join-url").Attr("value")
	must(t, shown == two.URL+"/join/"+token, "the join token sealed with A still opens: %q", shown)
	rev := revealRedeemURL(t, again, oldPath)
	must(t, rev.Status == http.StatusOK && strings.HasPrefix(rev.Doc.Find("#redeem-url").AttrOr("value", ""), tenant.URL()+"/redeem?"), "the redemption URL sealed with A still opens: %d", rev.Status)
	partner := two.browser()
	acc := partner.post("/join/"+token+"/accept", url.Values{"_csrf": {""}})
	must(t, acc.Status == http.StatusFound && strings.HasPrefix(acc.Header.Get("Location"), tenant.URL()+"/redeem?"), "a join link written under A is accepted under B,A: %d", acc.Status)
	fresh := two.browser()
	fresh.signIn("employee@contoso.example")
	cookieB := fresh.cookie("portico_session")
	newPath, _ := inviteByLink(t, fresh, "rotate.new@fabrikam.example")
	two.stop(t)

	// The first key seals: the new redemption URL opens with B alone, not with A.
	st, err := store.Open(t.Context(), dbFile, nil)
	must(t, err == nil, "open store: %v", err)
	rec, err := st.GetInvitation(t.Context(), strings.TrimPrefix(newPath, "/invitations/"))
	must(t, err == nil, "read invitation: %v", err)
	st.Close()
	for keys, wantOK := range map[string]bool{dataB: true, dataA: false} {
		key, err := keyring.DecodeKey(keys)
		must(t, err == nil, "key: %v", err)
		ring, err := keyring.New(key)
		must(t, err == nil, "keyring: %v", err)
		_, err = ring.Open(rec.RedeemURLSealed, []byte(rec.ID))
		must(t, (err == nil) == wantOK, "redemption URL written under B,A opens with %s only: %v", keys[:4], err)
	}

	// 3. A rolling rotation's first step ("A,B" on instances not yet moved) reads what "B,A" wrote.
	rolling := instanceWith(sessA+","+sessB, dataA+","+dataB)
	must(t, carry(rolling, cookieB).signedIn(), "an A,B instance accepts a cookie signed, and a session sealed, with B")
	must(t, carry(rolling, cookieA).signedIn(), "and still one signed with A")
	rolling.stop(t)

	// 4. Session key A retired: its cookies no longer work, B's do, and data keys are untouched.
	three := instanceWith(sessB, dataB+","+dataA)
	must(t, !carry(three, cookieA).signedIn(), "a cookie signed with A fails under B")
	b := carry(three, cookieB)
	must(t, b.signedIn(), "a cookie signed with B works under B")
	must(t, revealRedeemURL(t, b, oldPath).Status == http.StatusOK, "data sealed with A still reads while A is among the data keys")
	three.stop(t)

	// 5. Data key A retired (what the README warns about): links stored under A are dead, "Send
	// again" gives the partner a working one; sessions sealed with B are untouched.
	four := instanceWith(sessB, dataB)
	b = carry(four, cookieB)
	must(t, b.signedIn(), "a session sealed with B survives retiring data key A")
	gone := four.browser().post("/join/"+token+"/accept", url.Values{"_csrf": {""}})
	must(t, gone.Status == http.StatusNotFound, "a join link stored under A no longer leads to Microsoft: %d", gone.Status)
	b.get(oldPath)
	res := b.post(oldPath+"/resend", nil)
	must(t, res.Status == http.StatusSeeOther, "send again: %d %s", res.Status, res.Body)
	resent := b.get(res.Header.Get("Location"))
	newJoin, _ := resent.Doc.Find("#join-url").Attr("value")
	acc = four.browser().post(strings.TrimPrefix(newJoin, four.URL)+"/accept", url.Values{"_csrf": {""}})
	must(t, acc.Status == http.StatusFound && strings.HasPrefix(acc.Header.Get("Location"), tenant.URL()+"/redeem?"), "the resent invitation's link works: %d", acc.Status)
}
