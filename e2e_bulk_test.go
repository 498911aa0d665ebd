package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/oauth2"

	"portico/devtenant"
)

const guestInviterRole = "95e79109-95c0-4d8e-aee3-d01accf2d47b"

// bulkTokens is Portico's own identity in devtenant with the permissions bulk sending needs
// (devtenant's default grant: User.Invite.All, User.Read.All and Organization.Read.All, which the
// checks before each send need to read the tenant's domains after a restart).
func bulkTokens(t *testing.T, tenant *devtenant.Tenant) oauth2.TokenSource {
	t.Helper()
	tok, err := tenant.AppAccessToken()
	if err != nil {
		t.Fatal(err)
	}
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, Expiry: time.Now().Add(time.Hour)})
}

// upload posts the /bulk form as a browser does: multipart, the CSRF token first, the file last.
func (b *browser) upload(fields map[string]string, fileName string, file []byte) *page {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("_csrf", b.csrf())
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	if fileName != "" {
		fw, _ := mw.CreateFormFile("file", fileName)
		_, _ = fw.Write(file)
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.abs("/bulk"), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.h.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// entraBulkFile is Entra's bulk-invite template as people fill it in (the examples row kept).
func entraBulkFile(addrs ...string) []byte {
	var b strings.Builder
	b.WriteString("version:v1.0\r\n")
	b.WriteString("Email address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] Required,Send invitation message (true or false) [sendEmail],Customized invitation message [customizedMessageBody]\r\n")
	b.WriteString("Example:    test@example.com,Example:    https://myapplications.microsoft.com,Example:    true,Example:    Hello. You are invited to the Contoso organization.\r\n")
	for i, a := range addrs {
		send := "true"
		if i%2 == 1 {
			send = "false"
		}
		fmt.Fprintf(&b, "%s,https://myapplications.microsoft.com,%s,Welcome to the project\r\n", a, send)
	}
	return []byte(b.String())
}

// awaitBulk reloads the job page until the job is no longer sending.
func awaitBulk(t *testing.T, h *harness, b *browser, path string) *page {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := b.get(path)
		must(t, p.Status == http.StatusOK, "job page %d", p.Status)
		if p.Header.Get("Refresh") == "" {
			must(t, p.Doc.Find(`[data-testid="bulk-live"]`).Length() == 0, "no refresh but the page says it updates itself")
			return p
		}
		must(t, p.Doc.Find(`[data-testid="bulk-live"]`).Length() == 1, "the page refreshes itself and says how to stop it")
		must(t, time.Now().Before(deadline), "the bulk job did not finish in 30 s\n%s", h.Logs)
		time.Sleep(200 * time.Millisecond)
	}
}

func TestBulkJourneyEntraTemplate(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t)}, bulkTokens(t, tenant))
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	home := admin.get("/")
	must(t, home.Doc.Find(`nav.main a[href="/bulk"]`).Length() == 1, "the header links to /bulk for an admin")

	form := admin.get("/bulk")
	must(t, form.Status == http.StatusOK && form.Doc.Find(`input[type=file][name=file]`).Length() == 1, "the form has a file field: %d", form.Status)
	tpl := admin.get("/bulk/template.csv")
	must(t, tpl.Status == http.StatusOK && strings.HasPrefix(tpl.Body, "email,display name,message"), "template: %d %q", tpl.Status, tpl.Body)

	tenant.ResetRequests()
	up := admin.upload(map[string]string{"delivery": "email"}, "entra.csv",
		entraBulkFile("ann@fabrikam.example", "bob@fabrikam.example", "pending.guest@fabrikam.example", "megan@contoso.example", "ANN@fabrikam.example"))
	must(t, up.Status == http.StatusSeeOther && strings.HasPrefix(up.Header.Get("Location"), "/bulk/"), "upload: %d %s", up.Status, up.Body)
	must(t, len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations")) == 0, "the dry run sent nothing")
	jobPath := up.Header.Get("Location")

	review := admin.get(jobPath)
	rows := review.Doc.Find(`[data-testid="bulk-row"]`)
	must(t, rows.Length() == 5, "5 rows reviewed (the examples row dropped): %d", rows.Length())
	verdicts := []string{}
	rows.Each(func(_ int, s *goquery.Selection) { v, _ := s.Attr("data-verdict"); verdicts = append(verdicts, v) })
	must(t, strings.Join(verdicts, ",") == "invite,invite,resend,skip,skip", "verdicts %v", verdicts)
	must(t, strings.Contains(rows.Eq(4).Text(), "same address as row 1"), "the duplicate is marked: %q", rows.Eq(4).Text())

	verd := admin.get(jobPath + "/verdicts.csv")
	must(t, verd.Status == http.StatusOK && strings.Contains(verd.Body, "Will resend"), "verdicts CSV %d %q", verd.Status, verd.Body)

	// Leave out bob, then send.
	rowsField, _ := review.Doc.Find(`input[name="rows"]`).Attr("value")
	conf := admin.post(jobPath+"/confirm", url.Values{"rows": {rowsField}, "exclude": {"2"}, "action": {"send"}})
	must(t, conf.Status == http.StatusSeeOther, "confirm %d %s", conf.Status, conf.Body)
	done := awaitBulk(t, h, admin, jobPath)
	must(t, text(done, `[data-testid="count-invited"]`) == "1" && text(done, `[data-testid="count-resent"]`) == "1" &&
		text(done, `[data-testid="count-excluded"]`) == "1" && text(done, `[data-testid="count-skipped"]`) == "2",
		"final counts:\n%s", done.Doc.Find(`[data-testid="bulk-progress"]`).Text())
	posts := graphRequests(tenant, http.MethodPost, "/v1.0/invitations")
	must(t, len(posts) == 2, "2 invitations posted: %d", len(posts))
	for _, p := range posts {
		must(t, p.Header.Get("x-ms-throttle-priority") == "low", "bulk POST at low priority: %q", p.Header.Get("x-ms-throttle-priority"))
	}
	link, ok := done.Doc.Find(`[data-testid="bulk-row"][data-state="invited"] a`).Attr("href")
	must(t, ok && strings.HasPrefix(link, "/invitations/"), "the invited row links to its invitation: %q", link)
	must(t, admin.get(link).Status == http.StatusOK, "the invitation page opens")

	res := admin.get(jobPath + "/results.csv")
	must(t, res.Status == http.StatusOK, "results %d", res.Status)
	recs, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
	must(t, err == nil && len(recs) == 6, "results CSV: %v, %d records", err, len(recs))
	must(t, recs[1][2] == "ann@fabrikam.example" && recs[1][5] == "Invited", "row 1 in the results: %v", recs[1])
	audit := admin.get("/admin/audit?action=bulk.download")
	must(t, audit.Doc.Find(`tbody tr`).Length() >= 2, "downloads audited:\n%s", audit.Body)
	list := admin.get("/invitations")
	must(t, strings.Contains(list.Body, "ann@fabrikam.example"), "the bulk row's invitation is in My invitations")
}

func TestBulkLinkModeResultsCarryJoinLinks(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t)}, bulkTokens(t, tenant))
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	admin.get("/bulk")
	up := admin.upload(map[string]string{"delivery": "link", "paste": "Dana Diaz <dana@fabrikam.example>\n=cmd|'/c calc'!A1 <eve@fabrikam.example>\n"}, "", nil)
	must(t, up.Status == http.StatusSeeOther, "paste: %d %s", up.Status, up.Body)
	jobPath := up.Header.Get("Location")
	review := admin.get(jobPath)
	rowsField, _ := review.Doc.Find(`input[name="rows"]`).Attr("value")
	admin.post(jobPath+"/confirm", url.Values{"rows": {rowsField}, "action": {"send"}})
	awaitBulk(t, h, admin, jobPath)
	res := admin.get(jobPath + "/results.csv")
	recs, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
	must(t, err == nil && len(recs) == 3, "results: %v %q", err, res.Body)
	must(t, recs[1][7] == "link" && strings.Contains(recs[1][9], "/join/"), "a link-mode row has its join link: %v", recs[1])
	must(t, strings.HasPrefix(recs[2][3], "'="), "a formula in a cell comes back as text: %q", recs[2][3])
	must(t, len(tenant.Outbox()) == 0, "no email for link-mode rows")
}

func TestBulkAccess(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t), "PORTICO_BULK_INVITERS": guestInviterRole}, bulkTokens(t, tenant))
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	must(t, emp.get("/").Doc.Find(`nav.main a[href="/bulk"]`).Length() == 0, "no bulk link for an employee outside PORTICO_BULK_INVITERS")
	must(t, emp.get("/bulk").Status == http.StatusForbidden, "GET /bulk is 403")
	tenant.ResetRequests()
	up := emp.upload(nil, "a.csv", []byte("email\nx@fabrikam.example\n"))
	must(t, up.Status == http.StatusForbidden, "POST /bulk is 403: %d", up.Status)
	must(t, len(tenant.Requests()) == 0, "no Graph call for a refused upload: %d", len(tenant.Requests()))

	inv := h.browser()
	inv.signIn("inviter@contoso.example")
	must(t, inv.get("/bulk").Status == http.StatusOK, "a Guest Inviter listed in PORTICO_BULK_INVITERS may")
	up = inv.upload(nil, "a.csv", []byte("email\nx@fabrikam.example\n"))
	must(t, up.Status == http.StatusSeeOther, "their upload: %d", up.Status)
	jobPath := up.Header.Get("Location")
	must(t, emp.get(jobPath).Status == http.StatusForbidden, "another employee cannot open the job")
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	must(t, admin.get(jobPath).Status == http.StatusOK, "an admin can")
	must(t, admin.get(jobPath+"/results.csv").Status == http.StatusOK, "an admin can download the results")
}

func TestBulkRefusesNonCSV(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t)}, bulkTokens(t, tenant))
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	admin.get("/bulk")
	tenant.ResetRequests()
	for _, tc := range []struct{ name, body, want string }{
		{"book.xlsx", "PK\x03\x04\x14\x00\x06\x00binary", "Line 1: This is a zip archive"},
		{"names.csv", "name;company\r\nAnn;Fabrikam\r\n", "Line 1: No email column"},
		{"bad.csv", "email;message\nann@fabrikam.example;\"unclosed\n", "Line 2: This is not valid CSV"},
	} {
		p := admin.upload(nil, tc.name, []byte(tc.body))
		must(t, p.Status == http.StatusUnprocessableEntity, "%s: %d", tc.name, p.Status)
		must(t, strings.Contains(text(p, `[data-testid="bulk-error"]`), tc.want), "%s: %q", tc.name, text(p, `[data-testid="bulk-error"]`))
	}
	must(t, admin.get("/bulk").Doc.Find(`[data-testid="bulk-jobs"]`).Length() == 0, "nothing was kept")
	must(t, len(tenant.Requests()) == 0, "no Graph call for refused files")
}

func TestBulkUploadOverTheByteLimit(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t), "PORTICO_BULK_MAX_BYTES": "64KB"}, bulkTokens(t, tenant))
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	admin.get("/bulk")
	tenant.ResetRequests()
	big := "email\n" + strings.Repeat("someone.with.a.long.address@fabrikam.example\n", 10000) // 450 KB
	p := admin.upload(nil, "big.csv", []byte(big))
	must(t, p.Status == http.StatusRequestEntityTooLarge && strings.Contains(p.Body, "PORTICO_BULK_MAX_BYTES"), "over the limit: %d", p.Status)
	p = admin.api(http.MethodPost, "/api/bulk", "text/csv", big)
	must(t, p.Status == http.StatusRequestEntityTooLarge && strings.Contains(p.Body, "PORTICO_BULK_MAX_BYTES"), "API over the limit: %d %s", p.Status, p.Body)
	var small strings.Builder
	small.WriteString("email\n")
	for i := range 1000 {
		fmt.Fprintf(&small, "p%04d@fabrikam.example\n", i) // 23 KB
	}
	p = admin.upload(nil, "small.csv", []byte(small.String()))
	must(t, p.Status == http.StatusSeeOther, "under the limit: %d %s", p.Status, text(p, `[data-testid="bulk-error"]`))
	must(t, len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations")) == 0, "nothing sent")
}

func TestBulkAbuseBlockStopsTheJob(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t)}, bulkTokens(t, tenant))
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	admin.get("/bulk")
	var file strings.Builder
	file.WriteString("email\n")
	for i := range 30 {
		fmt.Fprintf(&file, "blocked%d@fabrikam.example\n", i)
	}
	up := admin.upload(nil, "many.csv", []byte(file.String()))
	jobPath := up.Header.Get("Location")
	review := admin.get(jobPath)
	rowsField, _ := review.Doc.Find(`input[name="rows"]`).Attr("value")
	tenant.InjectFault(devtenant.AbuseBlock())
	admin.post(jobPath+"/confirm", url.Values{"rows": {rowsField}, "action": {"send"}})
	done := awaitBulk(t, h, admin, jobPath)
	must(t, done.Doc.Find(`[data-testid="bulk-blocked"]`).Length() == 1, "the job page says Microsoft blocked invitations:\n%s", done.Body)
	must(t, strings.Contains(text(done, `[data-testid="bulk-blocked"]`), "support case"), "and tells the admin what to do")
	must(t, text(done, `[data-testid="count-not_sent"]`) == "30", "every row not sent: %q", text(done, `[data-testid="count-not_sent"]`))
	posts := graphRequests(tenant, http.MethodPost, "/v1.0/invitations")
	must(t, len(posts) >= 1 && len(posts) <= 4, "stopped at the first block (one per worker at most): %d POSTs", len(posts))
}

func TestBulkCancel(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t), "PORTICO_BULK_RATE": "2"}, bulkTokens(t, tenant))
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	admin.get("/bulk")
	var file strings.Builder
	file.WriteString("email\n")
	for i := range 40 {
		fmt.Fprintf(&file, "slow%d@fabrikam.example\n", i)
	}
	up := admin.upload(nil, "slow.csv", []byte(file.String()))
	jobPath := up.Header.Get("Location")
	review := admin.get(jobPath)
	rowsField, _ := review.Doc.Find(`input[name="rows"]`).Attr("value")
	admin.post(jobPath+"/confirm", url.Values{"rows": {rowsField}, "action": {"send"}})
	deadline := time.Now().Add(20 * time.Second)
	for len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations")) == 0 {
		must(t, time.Now().Before(deadline), "sending did not start\n%s", h.Logs)
		time.Sleep(100 * time.Millisecond)
	}
	page := admin.get(jobPath)
	must(t, page.Doc.Find(`[data-testid="bulk-cancel"]`).Length() == 1, "a running job offers Cancel")
	c := admin.post(jobPath+"/cancel", url.Values{})
	must(t, c.Status == http.StatusSeeOther, "cancel %d %s", c.Status, c.Body)
	done := awaitBulk(t, h, admin, jobPath)
	time.Sleep(500 * time.Millisecond)
	posted := len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations"))
	notSent := text(done, `[data-testid="count-not_sent"]`)
	must(t, posted < 40 && notSent != "" && notSent != "0", "cancelled with %d sent and %s not sent", posted, notSent)
	time.Sleep(time.Second)
	must(t, len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations")) == posted, "nothing sent after cancelling")
}

// api sends a JSON client's request with the session's CSRF token in X-CSRF-Token.
func (b *browser) api(method, path, contentType, body string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.abs(path), strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", b.csrf())
	req.Header.Set("Origin", b.h.URL)
	return b.do(req)
}

func TestBulkAPI(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t)}, bulkTokens(t, tenant))
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	admin.get("/")

	// CSV, sent at once.
	p := admin.api(http.MethodPost, "/api/bulk", "text/csv", "email;display name\r\napi.one@fabrikam.example;\"One, Api\"\r\napi.two@fabrikam.example;Two\r\n")
	must(t, p.Status == http.StatusAccepted, "POST CSV: %d %s", p.Status, p.Body)
	var job struct {
		ID, URL, State string
		Total          int
		Counts         map[string]int
		Rows           []struct {
			Row                                 int
			Email, State, Verdict, InvitationID string
		}
	}
	must(t, json.Unmarshal([]byte(p.Body), &job) == nil && job.Total == 2 && p.Header.Get("Location") == job.URL, "202 body %s, Location %q", p.Body, p.Header.Get("Location"))
	must(t, job.State == "queued" || job.State == "running" || job.State == "done", "confirmed: %s", job.State)
	deadline := time.Now().Add(20 * time.Second)
	for job.State != "done" {
		must(t, time.Now().Before(deadline), "not done: %+v\n%s", job, h.Logs)
		time.Sleep(200 * time.Millisecond)
		g := admin.get(strings.TrimPrefix(job.URL, h.URL), "Accept", "application/json")
		must(t, g.Status == http.StatusOK && json.Unmarshal([]byte(g.Body), &job) == nil, "GET %d %s", g.Status, g.Body)
	}
	must(t, job.Counts["invited"] == 2 && job.Rows[0].InvitationID != "" && job.Rows[1].State == "invited", "results %+v", job)

	// A JSON array of Graph-shaped invitations, as a dry run: nothing sent.
	n := len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations"))
	body := `[{"invitedUserEmailAddress":"api.three@fabrikam.example","inviteRedirectUrl":"https://myapps.microsoft.com","sendInvitationMessage":false,
		"invitedUserMessageInfo":{"customizedMessageBody":"Hello, welcome","ccRecipients":[{"emailAddress":{"address":"cc@contoso.example"}}]}},
		{"invitedUserEmailAddress":"megan@contoso.example"}]`
	p = admin.api(http.MethodPost, "/api/bulk?dryRun=true", "application/json", body)
	must(t, p.Status == http.StatusAccepted && json.Unmarshal([]byte(p.Body), &job) == nil, "POST JSON: %d %s", p.Status, p.Body)
	must(t, job.State == "draft" && len(job.Rows) == 2 && job.Rows[0].Verdict == "invite" && job.Rows[1].Verdict == "skip", "dry run %+v", job)
	must(t, len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations")) == n, "a dry run sends nothing")

	// Errors in Graph's envelope.
	for _, tc := range []struct {
		ct, body string
		status   int
		msg      string
	}{
		{"text/csv", "name\nAnn\n", http.StatusUnprocessableEntity, "No email column"},
		{"application/json", `{"invitedUserEmailAddress":"x@fabrikam.example"}`, http.StatusBadRequest, "JSON array"},
		{"application/zip", "PK", http.StatusUnsupportedMediaType, "text/csv"},
	} {
		p = admin.api(http.MethodPost, "/api/bulk", tc.ct, tc.body)
		var env struct {
			Error struct{ Code, Message string }
		}
		must(t, p.Status == tc.status && json.Unmarshal([]byte(p.Body), &env) == nil && env.Error.Code != "" && strings.Contains(env.Error.Message, tc.msg),
			"%s: %d %s", tc.ct, p.Status, p.Body)
	}
	emp := h.browser()
	emp.signIn("employee@contoso.example")
	emp.get("/")
	p = emp.api(http.MethodPost, "/api/bulk", "text/csv", "email\nx@fabrikam.example\n")
	must(t, p.Status == http.StatusForbidden && strings.Contains(p.Body, `"code"`), "employee: %d %s", p.Status, p.Body)
	must(t, emp.get("/api/bulk/"+job.ID, "Accept", "application/json").Status == http.StatusForbidden, "another employee cannot read the job")
	anon := h.browser()
	must(t, anon.get("/api/bulk/"+job.ID).Status == http.StatusUnauthorized, "signed out: 401")
}

// Every state-changing bulk route refuses a request without the session's CSRF token or from
// another site (checklist item 14), and nothing is kept or sent.
func TestBulkCSRF(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t)}, bulkTokens(t, tenant))
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	admin.get("/bulk")
	up := admin.upload(nil, "a.csv", []byte("email\ncsrf@fabrikam.example\n"))
	must(t, up.Status == http.StatusSeeOther, "setup upload %d", up.Status)
	jobPath := up.Header.Get("Location")
	tenant.ResetRequests()

	multipartWith := func(token string, hdr ...string) *page {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		if token != "" {
			_ = mw.WriteField("_csrf", token)
		}
		fw, _ := mw.CreateFormFile("file", "b.csv")
		_, _ = fw.Write([]byte("email\nother@fabrikam.example\n"))
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, admin.abs("/bulk"), &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return admin.do(req)
	}
	token := admin.csrf()
	must(t, multipartWith("").Status == http.StatusForbidden, "upload without a token")
	must(t, multipartWith("not-the-token").Status == http.StatusForbidden, "upload with a wrong token")
	must(t, multipartWith(token, "Sec-Fetch-Site", "cross-site").Status == http.StatusForbidden, "cross-site upload with a valid token")
	must(t, multipartWith(token, "Origin", "https://evil.example").Status == http.StatusForbidden, "upload from another origin")
	for _, path := range []string{jobPath + "/confirm", jobPath + "/cancel"} {
		p := admin.post(path, url.Values{"_csrf": {""}, "action": {"send"}})
		must(t, p.Status == http.StatusForbidden, "%s without a token: %d", path, p.Status)
	}
	req, _ := http.NewRequest(http.MethodPost, admin.abs("/api/bulk"), strings.NewReader("email\napi@fabrikam.example\n"))
	req.Header.Set("Content-Type", "text/csv")
	must(t, admin.do(req).Status == http.StatusForbidden, "API without X-CSRF-Token")
	must(t, len(tenant.Requests()) == 0, "Graph got %d calls", len(tenant.Requests()))
	page := admin.get(jobPath)
	must(t, page.Doc.Find(`[data-testid="bulk-review"]`).Length() == 1, "the draft is still a draft")
	must(t, len(admin.get("/bulk").Doc.Find(`[data-testid="bulk-jobs"] tbody tr`).Nodes) == 1, "no other job was kept")
}

// Cancelling the sending job on /admin/jobs cancels the bulk invitation: its unsent rows are
// "not sent", not left waiting for ever.
func TestBulkCancelFromTheJobsPage(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t), "PORTICO_BULK_RATE": "1"}, bulkTokens(t, tenant))
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	admin.get("/bulk")
	up := admin.upload(nil, "slow.csv", []byte("email\ns1@fabrikam.example\ns2@fabrikam.example\ns3@fabrikam.example\ns4@fabrikam.example\ns5@fabrikam.example\ns6@fabrikam.example\n"))
	jobPath := up.Header.Get("Location")
	review := admin.get(jobPath)
	rowsField, _ := review.Doc.Find(`input[name="rows"]`).Attr("value")
	admin.post(jobPath+"/confirm", url.Values{"rows": {rowsField}, "action": {"send"}})
	jobsPage := admin.get("/admin/jobs")
	row := jobsPage.Doc.Find(`tr[data-kind="bulk_send"]`)
	must(t, row.Length() == 1 && strings.Contains(row.Text(), "Bulk invitation sending"), "the jobs page lists the bulk job:\n%s", jobsPage.Body)
	action, ok := row.Find("form").Attr("action")
	must(t, ok, "it can be cancelled")
	c := admin.post(action, url.Values{})
	must(t, c.Status == http.StatusSeeOther, "cancel %d", c.Status)
	done := awaitBulk(t, h, admin, jobPath)
	must(t, strings.Contains(text(done, "h1"), "cancelled"), "the bulk invitation is cancelled: %q", text(done, "h1"))
	must(t, text(done, `[data-testid="count-not_sent"]`) != "", "its unsent rows are not sent")
	n := len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations"))
	time.Sleep(1500 * time.Millisecond)
	must(t, len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations")) == n, "nothing sent after cancelling")
}

// The review of a long file is paged; the choice made on a page applies to that page's rows.
func TestBulkReviewPages(t *testing.T) {
	tenant := newTenant(t)
	h := startWithBackground(t, tenant, map[string]string{"PORTICO_DATABASE_URL": sqliteFile(t)}, bulkTokens(t, tenant))
	admin := h.browser()
	admin.signIn("admin@contoso.example")
	admin.get("/bulk")
	var file strings.Builder
	file.WriteString("email\n")
	for i := range 450 {
		fmt.Fprintf(&file, "page%03d@fabrikam.example\n", i)
	}
	up := admin.upload(nil, "long.csv", []byte(file.String()))
	jobPath := up.Header.Get("Location")
	first := admin.get(jobPath)
	must(t, first.Doc.Find(`[data-testid="bulk-row"]`).Length() == 200, "200 rows a page")
	next, ok := first.Doc.Find(`a[rel="next"]`).Attr("href")
	must(t, ok && strings.HasSuffix(next, "?after=200"), "next page link %q", next)
	second := admin.get(next)
	action, _ := second.Doc.Find(`[data-testid="bulk-review"]`).Attr("action")
	rowsField, _ := second.Doc.Find(`input[name="rows"]`).Attr("value")
	must(t, strings.HasPrefix(rowsField, "201,") && strings.HasSuffix(rowsField, ",400"), "the form names its page's rows: %q", rowsField[:min(len(rowsField), 20)])
	saved := admin.post(action, url.Values{"rows": {rowsField}, "exclude": {"250"}, "action": {"save"}})
	must(t, saved.Status == http.StatusSeeOther && strings.HasSuffix(saved.Header.Get("Location"), "?after=200"), "back to the same page: %q", saved.Header.Get("Location"))
	again := admin.get(saved.Header.Get("Location"))
	must(t, again.Doc.Find(`#ex-250:checked`).Length() == 1 && text(again, `[data-testid="count-excluded"]`) == "1", "row 250 left out")
	must(t, len(graphRequests(tenant, http.MethodPost, "/v1.0/invitations")) == 0, "nothing sent")
}
