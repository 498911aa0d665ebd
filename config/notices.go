package config

import (
	"net/mail"
	"strings"

	"portico/notify"
)

// Notices is how Portico sends email notices.
type Notices struct {
	// SMTP is the server of PORTICO_SMTP_URL (nil: not set). Its password never prints.
	SMTP *notify.SMTPConfig
	// From is PORTICO_MAIL_FROM, the sender of SMTP notices.
	From *mail.Address
	// Mailbox is PORTICO_NOTICE_MAILBOX: the user id or UPN whose mailbox sends notices with Graph
	// sendMail (application permission Mail.Send). In demo mode it defaults to devtenant's.
	Mailbox string
	// Kinds are the notices that are on (PORTICO_NOTICES; default notify.DefaultKinds).
	Kinds notify.Kinds
}

// Transport names the configured transport: "smtp", "graph" or "" (notices off).
func (n Notices) Transport() string {
	switch {
	case len(n.Kinds) == 0:
		return ""
	case n.SMTP != nil:
		return "smtp"
	case n.Mailbox != "":
		return "graph"
	}
	return ""
}

// DemoNoticeMailbox is the mailbox of devtenant's directory that sends the demo's notices.
const DemoNoticeMailbox = "notices@contoso.example"

// loadNotices reads PORTICO_SMTP_URL, PORTICO_MAIL_FROM, PORTICO_NOTICE_MAILBOX and PORTICO_NOTICES.
// It runs after loadApplication (the Graph transport needs application credentials).
func loadNotices(c *Config, e source, p *Problems) {
	n := &c.Notices
	n.Kinds = notify.DefaultKinds
	if v := e.get("PORTICO_NOTICES"); v != "" {
		ks, err := notify.ParseKinds(v)
		if err != nil {
			p.addf("PORTICO_NOTICES: %v", err)
		}
		n.Kinds = ks
	}
	if v := e.get("PORTICO_SMTP_URL"); v != "" {
		s, err := notify.ParseSMTPURL(v)
		if err != nil {
			p.addf("PORTICO_SMTP_URL: %v", err) // the error never repeats the URL: it may hold a password
		} else {
			n.SMTP = &s
		}
	}
	if v := e.get("PORTICO_MAIL_FROM"); v != "" {
		a, err := mail.ParseAddress(v)
		switch {
		case err != nil || strings.ContainsAny(v, "\r\n"):
			p.addf("PORTICO_MAIL_FROM %q is not one email address (e.g. Portico <portico@contoso.com>)", v)
		default:
			n.From = a
		}
	}
	n.Mailbox = e.get("PORTICO_NOTICE_MAILBOX")
	if n.Mailbox != "" && strings.ContainsAny(n.Mailbox, "/?#\\ \r\n") {
		p.addf("PORTICO_NOTICE_MAILBOX %q must be a user id or user principal name", n.Mailbox)
	}
	switch {
	case n.SMTP != nil && n.Mailbox != "":
		p.addf("PORTICO_SMTP_URL and PORTICO_NOTICE_MAILBOX are both set: notices go one way; set only one")
	case n.SMTP != nil && n.From == nil && !strings.Contains(p.Error(), "PORTICO_MAIL_FROM"):
		p.addf("PORTICO_SMTP_URL needs PORTICO_MAIL_FROM, the notices' sender (e.g. Portico <portico@contoso.com>)")
	case n.SMTP == nil && n.From != nil && e.get("PORTICO_SMTP_URL") == "":
		p.addf("PORTICO_MAIL_FROM is set without PORTICO_SMTP_URL (notices sent with Graph come from PORTICO_NOTICE_MAILBOX)")
	case n.Mailbox != "" && !c.HasAppCredentials() && !c.Demo:
		p.addf("PORTICO_NOTICE_MAILBOX needs application credentials (PORTICO_CLIENT_CERTIFICATE_FILE or PORTICO_CLIENT_SECRET) with the application permission Mail.Send")
	}
	if c.Demo && n.SMTP == nil && n.Mailbox == "" {
		n.Mailbox = DemoNoticeMailbox
	}
}
