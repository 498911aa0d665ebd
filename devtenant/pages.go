package devtenant

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
)

// pageTemplates are devtenant's own small pages: self-contained, inline CSS, no scripts, no external assets.
const pageTemplates = `
{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}} · devtenant</title>
<style>
:root{color-scheme:light dark;--fg:#1b1b1b;--bg:#f2f2f2;--card:#fff;--muted:#5c5c5c;--accent:#0b5cad;--border:#c8c8c8}
@media (prefers-color-scheme:dark){:root{--fg:#f0f0f0;--bg:#1b1b1b;--card:#2b2b2b;--muted:#bdbdbd;--accent:#6cb8ff;--border:#555}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:30rem;margin:3rem auto;padding:2rem;background:var(--card);border:1px solid var(--border);border-radius:4px}
.brand{font-weight:600;color:var(--muted);margin:0 0 1rem}
.ribbon{display:inline-block;font-size:.75rem;text-transform:uppercase;letter-spacing:.05em;padding:.1rem .4rem;border:1px solid var(--muted);border-radius:3px;margin-left:.5rem}
h1{font-size:1.5rem;margin:0 0 1rem}
p{margin:0 0 1rem}
ul{list-style:none;margin:0;padding:0}
li{margin:0 0 .5rem}
button{font:inherit;cursor:pointer}
.account{display:flex;width:100%;align-items:center;gap:.75rem;padding:.75rem;text-align:left;background:transparent;color:inherit;border:1px solid var(--border);border-radius:4px}
.account:hover,.account:focus-visible{border-color:var(--accent);outline:2px solid var(--accent);outline-offset:1px}
.avatar{flex:none;width:2.5rem;height:2.5rem;border-radius:50%;display:grid;place-items:center;background:var(--accent);color:var(--card);font-weight:600}
.who{display:block;font-weight:600}.what{display:block;color:var(--muted);font-size:.9rem}
.primary{padding:.5rem 1.5rem;border:0;border-radius:3px;background:var(--accent);color:var(--card);font-weight:600}
.primary:focus-visible{outline:3px solid var(--fg);outline-offset:2px}
.muted,small{color:var(--muted)}
code,pre{font-family:ui-monospace,Consolas,monospace;font-size:.85rem;overflow-wrap:anywhere;white-space:pre-wrap}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{color:var(--muted)}dd{margin:0}
</style>
</head>
<body>
<main>
<p class="brand">{{.Org}}<span class="ribbon">devtenant</span></p>
{{end}}
{{define "foot"}}</main>
</body>
</html>
{{end}}

{{define "picker"}}{{template "head" .}}
<h1 id="title">Pick an account</h1>
<p>Demo tenant: no password needed. Choose who signs in.</p>
<form method="post" action="{{.Action}}" aria-labelledby="title">
{{range .Hidden}}<input type="hidden" name="{{index . 0}}" value="{{index . 1}}">
{{end}}<ul>
{{range .Accounts}}<li><button class="account" type="submit" name="account" value="{{.UPN}}" data-testid="account"{{if .Hinted}} autofocus{{end}}>
<span class="avatar" aria-hidden="true">{{.Initials}}</span>
<span><span class="who">{{.Name}}</span><span class="what">{{.UPN}} · {{.Description}}</span></span>
</button></li>
{{end}}</ul>
</form>
{{template "foot" .}}{{end}}

{{define "error"}}{{template "head" .}}
<h1>Sorry, but we're having trouble signing you in.</h1>
<p data-testid="error-code">AADSTS{{.Code}}: {{.Message}}</p>
<dl>
<dt>Request Id</dt><dd><code>{{.TraceID}}</code></dd>
<dt>Correlation Id</dt><dd><code>{{.CorrelationID}}</code></dd>
<dt>Timestamp</dt><dd><code>{{.Timestamp}}</code></dd>
</dl>
{{template "foot" .}}{{end}}

{{define "signedout"}}{{template "head" .}}
<h1>You signed out of your account</h1>
<p>It's a good idea to close all browser windows.</p>
{{template "foot" .}}{{end}}

{{define "redeem"}}{{template "head" .}}
<h1>Review permissions</h1>
<p><strong>{{.Org}}</strong> invited you to access its applications and resources.</p>
<dl>
<dt>Invited by</dt><dd data-testid="inviter">{{.InviterName}}{{if .InviterUPN}} ({{.InviterUPN}}){{end}}</dd>
<dt>Account</dt><dd>{{.Email}}</dd>
</dl>
<p class="muted">By accepting, you allow {{.Org}} to use your name, email address and photo, as a guest in its directory.</p>
<form method="post" action="/redeem">
<input type="hidden" name="tenant" value="{{.Tenant}}">
<input type="hidden" name="user" value="{{.User}}">
<input type="hidden" name="ticket" value="{{.Ticket}}">
<button class="primary" type="submit" data-testid="accept">Accept</button>
</form>
{{template "foot" .}}{{end}}

{{define "redeemerror"}}{{template "head" .}}
<h1>This invitation link can't be used</h1>
<p data-testid="redeem-error">{{.Message}}</p>
<p>Ask the person who invited you to send a new invitation.</p>
{{template "foot" .}}{{end}}

{{define "devicelogin"}}{{template "head" .}}
{{if .Done}}{{if .Declined}}<h1 data-testid="device-declined">You declined the request</h1>
<p>The application on your device was not signed in. You can close this window.</p>
{{else}}<h1 data-testid="device-done">You're signed in</h1>
<p>You have signed in to the application on your device. You can close this window.</p>
{{end}}{{else}}<h1 id="title">Enter code</h1>
<p>Enter the code displayed on your device, pick who signs in, and allow or decline.</p>
{{if .Error}}<p role="alert" data-testid="device-error">{{.Error}}</p>
{{end}}<form method="post" action="/devicelogin" aria-labelledby="title">
<p><label for="otc">Code</label><br><input id="otc" name="otc" value="{{.Code}}" autocomplete="off" autocapitalize="characters" required></p>
<fieldset><legend>Account</legend><ul>
{{range $i, $a := .Accounts}}<li><input type="radio" name="account" id="acct{{$i}}" value="{{$a.UPN}}"{{if eq $i 0}} checked{{end}}> <label for="acct{{$i}}">{{$a.DisplayName}} <span class="muted">{{$a.UPN}}</span></label></li>
{{end}}</ul></fieldset>
<p><button class="primary" type="submit" name="action" value="allow" data-testid="device-allow">Allow</button>
<button type="submit" name="action" value="decline" data-testid="device-decline">Decline</button></p>
</form>
{{end}}{{template "foot" .}}{{end}}

{{define "index"}}{{template "head" .}}
<h1>devtenant</h1>
<p>A local stand-in for one Microsoft Entra tenant and the Microsoft Graph endpoints Portico uses.</p>
<dl>
<dt>Issuer</dt><dd><code>{{.Issuer}}</code></dd>
<dt>Discovery</dt><dd><code>{{.Discovery}}</code></dd>
<dt>Graph</dt><dd><code>{{.Graph}}</code></dd>
</dl>
<h2>Demo accounts</h2>
<ul>{{range .Accounts}}<li><strong>{{.UPN}}</strong> <span class="muted">{{.DisplayName}}, {{.Description}}</span></li>{{end}}</ul>
<h2>Groups and teams</h2>
<ul data-testid="groups">{{range .Groups}}<li><strong>{{.Name}}</strong> <code>{{.ID}}</code> <span class="muted">owners: {{.Owners}}; members: {{.Members}}</span></li>{{end}}</ul>
<p><a href="outbox">Outbox</a>: the invitation emails and notices sent so far.</p>
{{template "foot" .}}{{end}}

{{define "outbox"}}{{template "head" .}}
<h1>Outbox</h1>
<p>What people would have received: invitation emails from Microsoft and Portico's notices (sent with Graph <code>sendMail</code>), newest first.</p>
{{if .Items}}<ul>{{range .Items}}<li data-testid="outbox-item">
<article aria-label="{{.Subject}}">
<h2 style="font-size:1.1rem;margin:1rem 0 .25rem">{{.Subject}}</h2>
<dl><dt>Kind</dt><dd>{{.Kind}}</dd><dt>From</dt><dd>{{.From}}</dd><dt>To</dt><dd>{{.To}}</dd><dt>Sent</dt><dd>{{.SentAt}}</dd></dl>
<pre>{{.Body}}</pre>
</article></li>
{{end}}</ul>{{else}}<p data-testid="outbox-empty">Nothing sent yet.</p>{{end}}
<p><a href="./">devtenant</a></p>
{{template "foot" .}}{{end}}
`

func parsePages() (*template.Template, error) {
	tpl, err := template.New("pages").Parse(pageTemplates)
	if err != nil {
		return nil, fmt.Errorf("devtenant: parse pages: %w", err)
	}
	return tpl, nil
}

func (t *Tenant) renderPage(w http.ResponseWriter, status int, name string, data map[string]any) {
	if _, ok := data["Org"]; !ok {
		data["Org"] = orgDisplayName
	}
	var buf bytes.Buffer
	if err := t.pages.ExecuteTemplate(&buf, name, data); err != nil {
		t.log.Error("devtenant: render page", "page", name, "err", err)
		http.Error(w, "devtenant: cannot render page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Robots-Tag", "noindex")
	noStore(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage is Entra's sign-in error page: the AADSTS code and ids for support, never a redirect.
func (t *Tenant) errorPage(w http.ResponseWriter, r *http.Request, status, code int, msg string) {
	t.renderPage(w, status, "error", map[string]any{
		"Title":         "Sign-in error",
		"Code":          code,
		"Message":       msg,
		"TraceID":       newUUID(),
		"CorrelationID": correlationID(r),
		"Timestamp":     t.now().UTC().Format("2006-01-02T15:04:05Z"),
	})
}
