package config

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"portico/notify"
)

func TestLoadNotices(t *testing.T) {
	c, err := Load(nil, env(validEnv()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Notices.Transport() != "" || !c.Notices.Kinds.On(notify.KindInvitationAccepted) || c.Notices.Kinds.On(notify.KindJoinLinkOpened) {
		t.Fatalf("default notices: %+v", c.Notices)
	}

	e := validEnv()
	e["PORTICO_SMTP_URL"] = "smtp://portico%40contoso.com:p%40ssw0rd-secret@smtp.office365.com:587"
	e["PORTICO_MAIL_FROM"] = "Portico <portico@contoso.com>"
	e["PORTICO_NOTICES"] = "all"
	c, err = Load(nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Notices.SMTP
	if c.Notices.Transport() != "smtp" || s.Host != "smtp.office365.com" || s.Username != "portico@contoso.com" || s.Password != "p@ssw0rd-secret" ||
		c.Notices.From.Address != "portico@contoso.com" || len(c.Notices.Kinds) != len(notify.AllKinds) {
		t.Fatalf("smtp notices: %+v", c.Notices)
	}
	for _, out := range []string{c.String(), fmt.Sprintf("%v", c.Notices), fmt.Sprintf("%+v", c.Notices), fmt.Sprintf("%#v", *c.Notices.SMTP)} {
		if strings.Contains(out, "ssw0rd") {
			t.Errorf("the SMTP password prints: %s", out)
		}
	}

	e = validEnv()
	e["PORTICO_NOTICE_MAILBOX"] = "notices@contoso.com"
	if c, err = Load(nil, env(e), io.Discard); err != nil || c.Notices.Transport() != "graph" || c.Notices.Mailbox != "notices@contoso.com" {
		t.Fatalf("graph notices: %+v, %v", c.Notices, err)
	}
	e["PORTICO_NOTICES"] = "none"
	if c, _ = Load(nil, env(e), io.Discard); c.Notices.Transport() != "" {
		t.Fatalf("PORTICO_NOTICES=none leaves notices on: %+v", c.Notices)
	}

	c, err = Load([]string{"-demo"}, env(nil), io.Discard)
	if err != nil || c.Notices.Transport() != "graph" || c.Notices.Mailbox != DemoNoticeMailbox {
		t.Fatalf("demo notices: %+v, %v", c.Notices, err)
	}
	c, err = Load([]string{"-demo"}, env(map[string]string{"PORTICO_SMTP_URL": "smtp://127.0.0.1:2525?tls=none", "PORTICO_MAIL_FROM": "p@contoso.example"}), io.Discard)
	if err != nil || c.Notices.Transport() != "smtp" || c.Notices.Mailbox != "" {
		t.Fatalf("demo with SMTP: %+v, %v", c.Notices, err)
	}
}

func TestLoadNoticesRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"bad scheme", map[string]string{"PORTICO_SMTP_URL": "http://mail.contoso.com", "PORTICO_MAIL_FROM": "p@contoso.com"}, "PORTICO_SMTP_URL: scheme"},
		{"plain SMTP over the network", map[string]string{"PORTICO_SMTP_URL": "smtp://mail.contoso.com?tls=none", "PORTICO_MAIL_FROM": "p@contoso.com"}, "loopback"},
		{"no sender", map[string]string{"PORTICO_SMTP_URL": "smtp://mail.contoso.com"}, "needs PORTICO_MAIL_FROM"},
		{"bad sender", map[string]string{"PORTICO_SMTP_URL": "smtp://mail.contoso.com", "PORTICO_MAIL_FROM": "not an address"}, "PORTICO_MAIL_FROM"},
		{"sender without SMTP", map[string]string{"PORTICO_MAIL_FROM": "p@contoso.com"}, "without PORTICO_SMTP_URL"},
		{"both transports", map[string]string{"PORTICO_SMTP_URL": "smtp://mail.contoso.com", "PORTICO_MAIL_FROM": "p@contoso.com", "PORTICO_NOTICE_MAILBOX": "n@contoso.com"}, "both set"},
		{"mailbox with a path", map[string]string{"PORTICO_NOTICE_MAILBOX": "n@contoso.com/../x"}, "user id or user principal name"},
		{"unknown kind", map[string]string{"PORTICO_NOTICES": "invitation.acepted"}, `PORTICO_NOTICES: unknown notice kind "invitation.acepted"`},
		{"password never repeated", map[string]string{"PORTICO_SMTP_URL": "smtp://u:topsecret@mail.contoso.com:99999", "PORTICO_MAIL_FROM": "p@contoso.com"}, "PORTICO_SMTP_URL: port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := validEnv()
			for k, v := range tc.set {
				e[k] = v
			}
			_, err := Load(nil, env(e), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Fatalf("the error repeats the password: %v", err)
			}
		})
	}
	// A mailbox needs application credentials to send as Portico.
	e := validEnv()
	delete(e, "PORTICO_CLIENT_SECRET")
	e["PORTICO_CLIENT_CERTIFICATE_FILE"] = ""
	e["PORTICO_NOTICE_MAILBOX"] = "n@contoso.com"
	if _, err := Load(nil, env(e), io.Discard); err == nil || !strings.Contains(err.Error(), "PORTICO_NOTICE_MAILBOX needs application credentials") {
		t.Fatalf("mailbox without credentials: %v", err)
	}
}
