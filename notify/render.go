package notify

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"sync"
	"text/template"
)

// parsed holds each wording source parsed once (the sources are constants; a parsed
// text/template is safe for concurrent Execute), so a notice does not re-parse its wording.
var parsed sync.Map // source -> *template.Template

func wordingTemplate(src string) (*template.Template, error) {
	if t, ok := parsed.Load(src); ok {
		return t.(*template.Template), nil
	}
	t, err := template.New("").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	parsed.Store(src, t)
	return t, nil
}

// Message is one rendered notice for one recipient: plain text and simple HTML with the same content.
type Message struct {
	To       Recipient
	Subject  string // one line: no CR, LF or other control character
	Text     string
	HTML     string
	Language string // the language it was written in ("en", "fr", ...)
}

// wording is one kind's words in one language: text/template sources over view (see render);
// Lines are paragraphs. None of them is HTML: the HTML part escapes what they produce.
type wording struct {
	Subject string
	Lines   []string
}

// language is one language's words: a greeting, the link's label, the footer, and each kind.
type language struct {
	Hello  string // with {{.Name}}
	Open   string // the link's label
	Footer string
	Kinds  map[Kind]wording
}

// languages holds the notices' languages by base tag; "en" is the fallback. Add a language by
// adding an entry with every kind (TestLanguagesComplete checks).
var languages = map[string]language{
	"en": {
		Hello:  "Hello {{.Name}},",
		Open:   "Open in Portico",
		Footer: "You receive this notice because of your part in a guest invitation in Portico. Sign-in is required to open the link.",
		Kinds: map[Kind]wording{
			KindApprovalWaiting: {Subject: "Approval needed: {{.Requester}} wants to invite {{.Partner}}",
				Lines: []string{"{{.Requester}} asks to invite {{.Partner}} as a guest. The request needs an approver's decision.", "{{if .Reason}}Why approval is needed: {{.Reason}}{{end}}"}},
			KindApprovalApproved: {Subject: "Approved: your invitation of {{.Partner}}",
				Lines: []string{"Your request to invite {{.Partner}} was approved{{if .Approver}} by {{.Approver}}{{end}}, and the invitation was sent."}},
			KindApprovalDenied: {Subject: "Denied: your invitation of {{.Partner}}",
				Lines: []string{"Your request to invite {{.Partner}} was denied{{if .Approver}} by {{.Approver}}{{end}}.", "{{if .Reason}}Reason: {{.Reason}}{{end}}"}},
			KindInvitationAccepted: {Subject: "{{.Partner}} accepted the invitation",
				Lines: []string{"{{.Partner}} accepted the guest invitation and can now use what was shared with them."}},
			KindJoinLinkOpened: {Subject: "{{.Partner}} opened the invitation link",
				Lines: []string{"{{.Partner}} opened the invitation's join link for the first time."}},
			KindInvitationReminded: {Subject: "Reminder sent to {{.Partner}}",
				Lines: []string{"{{.Partner}} has not accepted your guest invitation yet, so Portico sent it again with your original message.", "{{if .Reason}}{{.Reason}}{{end}}"}},
			KindGuestExpiring: {Subject: "{{.Partner}} never accepted: the guest account will be removed",
				Lines: []string{"{{.Partner}} never accepted your guest invitation.", "{{if .Reason}}{{.Reason}}{{end}}", "Ask an administrator to exempt the guest if they still need access."}},
			KindReviewDue: {Subject: "Review needed: do you still work with {{.Partner}}?",
				Lines: []string{"{{.Partner}} is a guest you invited or sponsor. Please confirm that you still work with them, or ask to remove their access.", "Answer by {{.Date}}.{{if eq .Action \"disable\"}} Without an answer the guest account will be disabled.{{else if eq .Action \"delete\"}} Without an answer the guest account will be deleted.{{end}}"}},
			KindGuestActionSoon: {Subject: "Reminder: {{.Partner}}'s access ends on {{.Date}} without your answer",
				Lines: []string{"Nobody has reviewed the guest {{.Partner}} yet. Without an answer by {{.Date}} the guest account will be {{if eq .Action \"delete\"}}deleted{{else}}disabled{{end}}."}},
		},
	},
	"fr": {
		Hello:  "Bonjour {{.Name}},",
		Open:   "Ouvrir dans Portico",
		Footer: "Vous recevez cet avis en raison de votre rôle dans une invitation d'invité dans Portico. Une connexion est requise pour ouvrir le lien.",
		Kinds: map[Kind]wording{
			KindApprovalWaiting: {Subject: "Approbation requise : {{.Requester}} souhaite inviter {{.Partner}}",
				Lines: []string{"{{.Requester}} demande à inviter {{.Partner}} comme invité. La demande attend la décision d'un approbateur.", "{{if .Reason}}Motif de l'approbation : {{.Reason}}{{end}}"}},
			KindApprovalApproved: {Subject: "Approuvée : votre invitation de {{.Partner}}",
				Lines: []string{"Votre demande d'invitation de {{.Partner}} a été approuvée{{if .Approver}} par {{.Approver}}{{end}} et l'invitation a été envoyée."}},
			KindApprovalDenied: {Subject: "Refusée : votre invitation de {{.Partner}}",
				Lines: []string{"Votre demande d'invitation de {{.Partner}} a été refusée{{if .Approver}} par {{.Approver}}{{end}}.", "{{if .Reason}}Motif : {{.Reason}}{{end}}"}},
			KindInvitationAccepted: {Subject: "{{.Partner}} a accepté l'invitation",
				Lines: []string{"{{.Partner}} a accepté l'invitation d'invité et peut maintenant utiliser ce qui a été partagé."}},
			KindJoinLinkOpened: {Subject: "{{.Partner}} a ouvert le lien d'invitation",
				Lines: []string{"{{.Partner}} a ouvert le lien d'invitation pour la première fois."}},
			KindInvitationReminded: {Subject: "Rappel envoyé à {{.Partner}}",
				Lines: []string{"{{.Partner}} n'a pas encore accepté votre invitation ; Portico l'a renvoyée avec votre message d'origine.", "{{if .Reason}}{{.Reason}}{{end}}"}},
			KindGuestExpiring: {Subject: "{{.Partner}} n'a jamais accepté : le compte invité sera retiré",
				Lines: []string{"{{.Partner}} n'a jamais accepté votre invitation.", "{{if .Reason}}{{.Reason}}{{end}}", "Demandez à un administrateur d'exempter l'invité s'il a encore besoin d'accès."}},
			KindReviewDue: {Subject: "Revue requise : travaillez-vous toujours avec {{.Partner}} ?",
				Lines: []string{"{{.Partner}} est un invité que vous avez invité ou parrainez. Confirmez que vous travaillez toujours avec cette personne, ou demandez la suppression de son accès.", "Réponse attendue avant le {{.Date}}.{{if eq .Action \"disable\"}} Sans réponse, le compte invité sera désactivé.{{else if eq .Action \"delete\"}} Sans réponse, le compte invité sera supprimé.{{end}}"}},
			KindGuestActionSoon: {Subject: "Rappel : l'accès de {{.Partner}} prend fin le {{.Date}} sans votre réponse",
				Lines: []string{"Personne n'a encore revu l'invité {{.Partner}}. Sans réponse avant le {{.Date}}, le compte invité sera {{if eq .Action \"delete\"}}supprimé{{else}}désactivé{{end}}."}},
		},
	},
	"de": {
		Hello:  "Hallo {{.Name}},",
		Open:   "In Portico öffnen",
		Footer: "Sie erhalten diese Benachrichtigung wegen Ihrer Rolle bei einer Gasteinladung in Portico. Zum Öffnen des Links ist eine Anmeldung erforderlich.",
		Kinds: map[Kind]wording{
			KindApprovalWaiting: {Subject: "Genehmigung erforderlich: {{.Requester}} möchte {{.Partner}} einladen",
				Lines: []string{"{{.Requester}} möchte {{.Partner}} als Gast einladen. Die Anfrage wartet auf die Entscheidung einer genehmigenden Person.", "{{if .Reason}}Grund für die Genehmigung: {{.Reason}}{{end}}"}},
			KindApprovalApproved: {Subject: "Genehmigt: Ihre Einladung von {{.Partner}}",
				Lines: []string{"Ihre Anfrage, {{.Partner}} einzuladen, wurde{{if .Approver}} von {{.Approver}}{{end}} genehmigt, und die Einladung wurde gesendet."}},
			KindApprovalDenied: {Subject: "Abgelehnt: Ihre Einladung von {{.Partner}}",
				Lines: []string{"Ihre Anfrage, {{.Partner}} einzuladen, wurde{{if .Approver}} von {{.Approver}}{{end}} abgelehnt.", "{{if .Reason}}Grund: {{.Reason}}{{end}}"}},
			KindInvitationAccepted: {Subject: "{{.Partner}} hat die Einladung angenommen",
				Lines: []string{"{{.Partner}} hat die Gasteinladung angenommen und kann nun nutzen, was geteilt wurde."}},
			KindJoinLinkOpened: {Subject: "{{.Partner}} hat den Einladungslink geöffnet",
				Lines: []string{"{{.Partner}} hat den Beitrittslink der Einladung zum ersten Mal geöffnet."}},
			KindInvitationReminded: {Subject: "Erinnerung an {{.Partner}} gesendet",
				Lines: []string{"{{.Partner}} hat Ihre Gasteinladung noch nicht angenommen; Portico hat sie mit Ihrer ursprünglichen Nachricht erneut gesendet.", "{{if .Reason}}{{.Reason}}{{end}}"}},
			KindGuestExpiring: {Subject: "{{.Partner}} hat nie angenommen: das Gastkonto wird entfernt",
				Lines: []string{"{{.Partner}} hat Ihre Gasteinladung nie angenommen.", "{{if .Reason}}{{.Reason}}{{end}}", "Bitten Sie eine Administratorin oder einen Administrator, den Gast auszunehmen, falls noch Zugriff nötig ist."}},
			KindReviewDue: {Subject: "Überprüfung nötig: Arbeiten Sie noch mit {{.Partner}}?",
				Lines: []string{"{{.Partner}} ist ein Gast, den Sie eingeladen haben oder betreuen. Bitte bestätigen Sie, dass Sie noch zusammenarbeiten, oder lassen Sie den Zugriff entfernen.", "Antwort bis {{.Date}}.{{if eq .Action \"disable\"}} Ohne Antwort wird das Gastkonto deaktiviert.{{else if eq .Action \"delete\"}} Ohne Antwort wird das Gastkonto gelöscht.{{end}}"}},
			KindGuestActionSoon: {Subject: "Erinnerung: Der Zugriff von {{.Partner}} endet ohne Ihre Antwort am {{.Date}}",
				Lines: []string{"Niemand hat den Gast {{.Partner}} bisher überprüft. Ohne Antwort bis {{.Date}} wird das Gastkonto {{if eq .Action \"delete\"}}gelöscht{{else}}deaktiviert{{end}}."}},
		},
	},
}

// Languages lists the base tags notices are written in.
func Languages() []string { return []string{"en", "fr", "de"} }

// baseLanguage maps a recipient's tag ("fr-FR", "de_CH", "FR") to a language notices have, or "en".
func baseLanguage(tag string) string {
	base, _, _ := strings.Cut(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(tag)), "_", "-"), "-")
	if _, ok := languages[base]; ok {
		return base
	}
	return "en"
}

// view is what the wordings can name. Every value is plain text, already one line.
type view struct {
	Name, Partner, PartnerEmail, Requester, Approver, Reason, Org, Date, Action string
}

var htmlLayout = htmltemplate.Must(htmltemplate.New("notice").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family:system-ui,-apple-system,'Segoe UI',sans-serif;line-height:1.5;color:#1b1b1b;max-width:40em">
<p>{{.Hello}}</p>
{{range .Lines}}<p>{{.}}</p>
{{end}}{{if .Link}}<p><a href="{{.Link}}">{{.Open}}</a></p>
{{end}}<hr>
<p style="font-size:0.875em;color:#555">{{.Footer}}</p>
</body></html>
`))

// Render writes the notice of kind k for r in r's language (English when it has none or one
// notices are not written in). data holds the Data* keys; link is the page in Portico. Text from
// data is made one line and, in the HTML part, escaped; link must be http(s).
func Render(k Kind, r Recipient, link string, data map[string]string) (Message, error) {
	lang := baseLanguage(r.Language)
	l := languages[lang]
	w, ok := l.Kinds[k]
	if !ok {
		return Message{}, fmt.Errorf("notify: no wording for notice kind %q", k)
	}
	if link != "" && !strings.HasPrefix(link, "https://") && !strings.HasPrefix(link, "http://") {
		return Message{}, fmt.Errorf("notify: link %q is not an http(s) URL", link)
	}
	v := view{Name: oneLine(r.Name), Partner: oneLine(data[DataPartner]), PartnerEmail: oneLine(data[DataPartnerEmail]),
		Requester: oneLine(data[DataRequester]), Approver: oneLine(data[DataApprover]), Reason: oneLine(data[DataReason]), Date: oneLine(data[DataDate]), Action: oneLine(data[DataAction]),
		Org: oneLine(data[DataOrg])}
	if v.Name == "" {
		v.Name = r.Address
	}
	if v.Partner == "" {
		v.Partner = v.PartnerEmail
	}
	if v.Partner == "" {
		v.Partner = "—"
	}
	exec := func(src string) (string, error) {
		t, err := wordingTemplate(src)
		if err != nil {
			return "", fmt.Errorf("notify: wording %q: %w", src, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, v); err != nil {
			return "", fmt.Errorf("notify: wording %q: %w", src, err)
		}
		return strings.TrimSpace(b.String()), nil
	}
	subject, err := exec(w.Subject)
	if err != nil {
		return Message{}, err
	}
	hello, err := exec(l.Hello)
	if err != nil {
		return Message{}, err
	}
	var lines []string
	for _, src := range w.Lines {
		s, err := exec(src)
		if err != nil {
			return Message{}, err
		}
		if s != "" {
			lines = append(lines, s)
		}
	}
	var text strings.Builder
	text.WriteString(hello + "\n\n")
	for _, s := range lines {
		text.WriteString(s + "\n\n")
	}
	if link != "" {
		text.WriteString(l.Open + ": " + link + "\n\n")
	}
	text.WriteString("-- \n" + l.Footer + "\n")

	var html bytes.Buffer
	if err := htmlLayout.Execute(&html, map[string]any{"Lang": lang, "Subject": oneLine(subject), "Hello": hello,
		"Lines": lines, "Link": link, "Open": l.Open, "Footer": l.Footer}); err != nil {
		return Message{}, fmt.Errorf("notify: html: %w", err)
	}
	return Message{To: Recipient{Address: r.Address, Name: oneLine(r.Name), Language: r.Language},
		Subject: oneLine(subject), Text: text.String(), HTML: html.String(), Language: lang}, nil
}
