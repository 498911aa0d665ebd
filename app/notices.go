package app

import (
	"slices"

	"portico/auth"
	"portico/config"
	"portico/devtenant"
	"portico/notify"
)

// buildNotices chooses the notices' transport from the configuration: SMTP (PORTICO_SMTP_URL), or
// Graph sendMail from PORTICO_NOTICE_MAILBOX with Portico's application identity appID (in demo
// mode, devtenant's notices mailbox). Without either, or with PORTICO_NOTICES=none, notices are off.
func (a *App) buildNotices(appID *auth.AppTokens) {
	n := a.Config.Notices
	var t notify.Transport
	switch n.Transport() {
	case "smtp":
		t = &notify.SMTPTransport{Server: *n.SMTP, From: n.From, TLSConfig: a.smtpTLS}
	case "graph":
		if appID == nil {
			a.Logger.Warn("notices are off: PORTICO_NOTICE_MAILBOX needs application credentials")
			return
		}
		t = &notify.GraphTransport{Graph: a.Graph, Tokens: appID, Mailbox: n.Mailbox}
	default:
		a.Logger.Info("notices are off: set PORTICO_SMTP_URL or PORTICO_NOTICE_MAILBOX to send them")
		return
	}
	a.notices = &notify.Deliverer{Store: a.Store, Transport: t, Kinds: n.Kinds, Log: a.Logger.With("component", "notify")}
	a.Logger.Info("notices on", "transport", t.Name(), "kinds", n.Kinds.String())
}

// demoOutboxURL is devtenant's outbox page in demo mode, where the notices sent appear.
func (a *App) demoOutboxURL() string {
	if a.Tenant == nil {
		return ""
	}
	return a.Tenant.URL() + "/outbox"
}

// demoAppRoles are the application permissions the demo devtenant grants: the configured ones,
// or devtenant's default plus Mail.Send when notices go through Graph sendMail.
func demoAppRoles(cfg *config.Config) []string {
	if len(cfg.DemoAppPermissions) > 0 {
		return cfg.DemoAppPermissions
	}
	roles := devtenant.DefaultAppRoles()
	if cfg.Notices.Transport() == "graph" && !slices.Contains(roles, "Mail.Send") {
		roles = append(roles, "Mail.Send")
	}
	return append(roles, lifecycleDemoRoles(cfg)...)
}
