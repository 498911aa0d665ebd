package devtenant

import (
	"encoding/json"
	"html"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Notice is one message sent with sendMail (Portico's notices), as the demo's outbox shows it.
type Notice struct {
	From        string // the mailbox's user principal name
	To          []string
	ToNames     []string
	Subject     string
	ContentType string // "Text" or "HTML"
	Content     string
	SaveToSent  bool
	RequestID   string
	SentAt      time.Time
}

// DemoMailbox is the demo directory's mailbox for Portico's notices.
const DemoMailbox = "notices@contoso.example"

// Notices lists the messages sent with sendMail so far, oldest first.
func (t *Tenant) Notices() []Notice {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Notice, len(t.notices))
	for i, n := range t.notices {
		n.To, n.ToNames = slices.Clone(n.To), slices.Clone(n.ToNames)
		out[i] = n
	}
	return out
}

type mailAddress struct {
	Address string `json:"address"`
	Name    string `json:"name"`
}

type mailRecipient struct {
	EmailAddress *mailAddress `json:"emailAddress"`
}

type sendMailBody struct {
	Message *struct {
		Subject string `json:"subject"`
		Body    *struct {
			ContentType string `json:"contentType"`
			Content     string `json:"content"`
		} `json:"body"`
		ToRecipients  []mailRecipient `json:"toRecipients"`
		CCRecipients  []mailRecipient `json:"ccRecipients"`
		BCCRecipients []mailRecipient `json:"bccRecipients"`
	} `json:"message"`
	SaveToSentItems *json.RawMessage `json:"saveToSentItems"`
}

// graphSendMail is POST /me/sendMail and POST /users/{id | userPrincipalName}/sendMail (JSON form).
// Microsoft's user-sendmail page: delegated Mail.Send (the signed-in user's own mailbox; another
// user's needs Mail.Send.Shared), application Mail.Send (any mailbox the access policy allows).
// 202 Accepted with an empty body.
func (t *Tenant) graphSendMail(g *graphCall) {
	path := strings.TrimPrefix(g.r.URL.Path, "/v1.0")
	key := strings.TrimSuffix(strings.TrimPrefix(path, "/users/"), "/sendMail")
	if g.who.app && path == "/me/sendMail" {
		g.fail(http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
		return
	}
	if !g.who.can("Mail.Send") && !(!g.who.app && g.who.can("Mail.Send.Shared")) {
		g.fail(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		return
	}
	t.mu.Lock()
	var u *User
	if path == "/me/sendMail" {
		u = t.findByUPNLocked(g.who.upn)
	} else if u = t.users[strings.ToLower(key)]; u == nil {
		u = t.findByUPNLocked(key)
	}
	t.mu.Unlock()
	if u == nil {
		g.fail(http.StatusNotFound, "ErrorInvalidUser", "The requested user '"+key+"' is invalid.")
		return
	}
	if !g.who.app && !strings.EqualFold(u.UserPrincipalName, g.who.upn) && !g.who.can("Mail.Send.Shared") {
		g.fail(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		return
	}
	if u.UserType != "Member" || u.Mail == "" || !u.AccountEnabled {
		g.fail(http.StatusNotFound, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
		return
	}
	if ct := g.r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		// The MIME form (text/plain, base64) is not supported by devtenant.
		g.fail(http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
		return
	}
	var body sendMailBody
	dec := json.NewDecoder(strings.NewReader(string(g.body)))
	if err := dec.Decode(&body); err != nil || body.Message == nil {
		g.fail(http.StatusBadRequest, "ErrorInvalidRequest", "Cannot read the request body.")
		return
	}
	m := body.Message
	save := true
	if body.SaveToSentItems != nil {
		// Microsoft's own example sends "false" as a string; both forms are accepted.
		switch strings.Trim(string(*body.SaveToSentItems), `"`) {
		case "false":
			save = false
		case "true":
		default:
			g.fail(http.StatusBadRequest, "ErrorInvalidRequest", "Cannot read the request body.")
			return
		}
	}
	contentType, content := "Text", ""
	if m.Body != nil {
		content = m.Body.Content
		switch {
		case strings.EqualFold(m.Body.ContentType, "html"):
			contentType = "HTML"
		case strings.EqualFold(m.Body.ContentType, "text") || m.Body.ContentType == "":
		default:
			g.fail(http.StatusBadRequest, "RequestBodyRead", "Requested value '"+m.Body.ContentType+"' was not found.")
			return
		}
	}
	all := slices.Concat(m.ToRecipients, m.CCRecipients, m.BCCRecipients)
	if len(all) == 0 {
		g.fail(http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient is required, but none were found.")
		return
	}
	n := Notice{From: u.UserPrincipalName, Subject: m.Subject, ContentType: contentType, Content: content,
		SaveToSent: save, RequestID: g.reqID, SentAt: t.now()}
	for _, r := range all {
		if r.EmailAddress == nil || !plainAddress(r.EmailAddress.Address) {
			addr := ""
			if r.EmailAddress != nil {
				addr = r.EmailAddress.Address
			}
			g.fail(http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient is not valid., Recipient '"+addr+
				"' is not resolved. All recipients must be resolved before a message can be submitted.")
			return
		}
		n.To = append(n.To, r.EmailAddress.Address)
		n.ToNames = append(n.ToNames, r.EmailAddress.Name)
	}
	t.mu.Lock()
	t.notices = append(t.notices, n)
	t.mu.Unlock()
	g.w.WriteHeader(http.StatusAccepted)
}

// plainAddress is a minimal check of one SMTP address, as Exchange resolves recipients.
func plainAddress(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>,;\"")
}

// handleOutbox is the demo's outbox page: the invitation emails Microsoft would have sent and the
// notices sent with sendMail, newest first, so a newcomer sees what people receive.
func (t *Tenant) handleOutbox(w http.ResponseWriter, r *http.Request) {
	type item struct {
		Kind, From, To, Subject, Body string
		SentAt                        string
	}
	var items []item
	for _, m := range t.Outbox() {
		body := m.Body
		if body == "" {
			body = "(Microsoft's default invitation text" + map[bool]string{true: ", in " + m.Language, false: ""}[m.Language != ""] + ")"
		}
		items = append(items, item{Kind: "Invitation email", From: "invites@microsoft.com (for " + m.InvitedBy + ")", To: m.To,
			Subject: m.Subject, Body: body, SentAt: m.SentAt.UTC().Format(time.DateTime + " UTC")})
	}
	for _, n := range t.Notices() {
		body := n.Content
		if n.ContentType == "HTML" {
			body = htmlText(body)
		}
		items = append(items, item{Kind: "Notice (sendMail)", From: n.From, To: strings.Join(n.To, ", "), Subject: n.Subject,
			Body: body, SentAt: n.SentAt.UTC().Format(time.DateTime + " UTC")})
	}
	slices.SortStableFunc(items, func(a, b item) int { return strings.Compare(b.SentAt, a.SentAt) })
	t.renderPage(w, http.StatusOK, "outbox", map[string]any{"Title": "Outbox", "Items": items})
}

// htmlText is the readable text of a simple HTML message: tags dropped, entities decoded, one
// blank line between paragraphs (the page escapes it again).
func htmlText(s string) string {
	if i := strings.Index(strings.ToLower(s), "<body"); i >= 0 {
		s = s[i:]
	}
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	var lines []string
	for l := range strings.SplitSeq(html.UnescapeString(b.String()), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n\n")
}
