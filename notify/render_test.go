package notify

import (
	"strings"
	"testing"
)

func TestLanguagesComplete(t *testing.T) {
	for tag, l := range languages {
		if l.Hello == "" || l.Open == "" || l.Footer == "" {
			t.Errorf("%s: greeting, link label or footer missing", tag)
		}
		for _, k := range AllKinds {
			w, ok := l.Kinds[k]
			if !ok || w.Subject == "" || len(w.Lines) == 0 {
				t.Errorf("%s: no wording for %s", tag, k)
				continue
			}
			if _, err := Render(k, Recipient{Address: "a@contoso.example", Language: tag}, "https://portico.example/x",
				map[string]string{DataPartner: "P", DataRequester: "R", DataApprover: "A", DataReason: "why"}); err != nil {
				t.Errorf("%s %s: %v", tag, k, err)
			}
		}
	}
}

func TestRenderAccepted(t *testing.T) {
	m, err := Render(KindInvitationAccepted, Recipient{Address: "ines@contoso.example", Name: "Ines Inviter"},
		"https://portico.example/invitations/r1", map[string]string{DataPartner: "Pat Partner", DataPartnerEmail: "pat@fabrikam.example"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Pat Partner accepted the invitation" || m.Language != "en" {
		t.Fatalf("subject %q language %q", m.Subject, m.Language)
	}
	for _, want := range []string{"Hello Ines Inviter,", "Pat Partner accepted the guest invitation", "Open in Portico: https://portico.example/invitations/r1"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{`<html lang="en">`, `<a href="https://portico.example/invitations/r1">Open in Portico</a>`, "<p>Pat Partner accepted"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, m.HTML)
		}
	}
}

func TestRenderLanguage(t *testing.T) {
	for _, tc := range []struct{ tag, lang, word string }{
		{"fr-FR", "fr", "a accepté"}, {"de_CH", "de", "angenommen"}, {"FR", "fr", "a accepté"},
		{"ja-JP", "en", "accepted"}, {"", "en", "accepted"}, {"x\r\ny", "en", "accepted"},
	} {
		m, err := Render(KindInvitationAccepted, Recipient{Address: "a@contoso.example", Language: tc.tag}, "", map[string]string{DataPartner: "P"})
		if err != nil {
			t.Fatal(err)
		}
		if m.Language != tc.lang || !strings.Contains(m.Subject, tc.word) {
			t.Errorf("%q: language %q subject %q; want %q with %q", tc.tag, m.Language, m.Subject, tc.lang, tc.word)
		}
	}
}

func TestRenderDeniedReason(t *testing.T) {
	m, err := Render(KindApprovalDenied, Recipient{Address: "e@contoso.example"}, "https://portico.example/approvals/1",
		map[string]string{DataPartner: "pat@fabrikam.example", DataApprover: "Avery Admin", DataReason: "Not a customer"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "denied by Avery Admin") || !strings.Contains(m.Text, "Reason: Not a customer") {
		t.Fatalf("text:\n%s", m.Text)
	}
	// Without a reason the line is left out, not printed empty.
	m, _ = Render(KindApprovalDenied, Recipient{Address: "e@contoso.example"}, "", map[string]string{DataPartner: "p"})
	if strings.Contains(m.Text, "Reason") {
		t.Fatalf("empty reason printed:\n%s", m.Text)
	}
}

// Everything that comes from people (names, reasons) is escaped in HTML and cannot break out of
// a header: names and subjects are one line.
func TestRenderEscapesAndOneLine(t *testing.T) {
	evil := "Eve <script>alert(1)</script> & \"co\"\r\nBcc: victim@example.com"
	m, err := Render(KindApprovalWaiting, Recipient{Address: "admin@contoso.example", Name: "Adm\r\nBcc: x@y.example"},
		"https://portico.example/approvals/1", map[string]string{DataPartner: evil, DataRequester: evil, DataReason: "<img src=x onerror=alert(1)>"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") || strings.ContainsAny(m.To.Name, "\r\n") {
		t.Fatalf("subject %q or name %q spans lines", m.Subject, m.To.Name)
	}
	for _, bad := range []string{"<script>", "<img", `"co"`} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("HTML holds %q unescaped:\n%s", bad, m.HTML)
		}
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") || !strings.Contains(m.HTML, "&lt;img src=x") {
		t.Errorf("HTML does not show the escaped text:\n%s", m.HTML)
	}
	if strings.Contains(m.Text, "\nBcc:") {
		t.Errorf("text has a line starting with Bcc:\n%s", m.Text)
	}
}

func TestRenderRefusesLinks(t *testing.T) {
	for _, link := range []string{"javascript:alert(1)", "data:text/html,x", "//evil.example", "ftp://x"} {
		if _, err := Render(KindInvitationAccepted, Recipient{Address: "a@b.example"}, link, nil); err == nil {
			t.Errorf("link %q accepted", link)
		}
	}
}

func TestPlainAddress(t *testing.T) {
	for _, ok := range []string{"ines@contoso.example", " ines@contoso.example ", "o'brien+x@contoso.example"} {
		if _, err := PlainAddress(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ines", "Ines <ines@contoso.example>", "a@b.example, c@d.example", "a@b.example\r\nBcc: c@d.example",
		"a@b.example\nX: y", "a@b.example;c@d.example", "\"a\"@b.example", "a@b.example\x00"} {
		if _, err := PlainAddress(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseKinds(t *testing.T) {
	ks, err := ParseKinds("invitation.accepted, joinlink.opened")
	if err != nil || !ks.On(KindInvitationAccepted) || !ks.On(KindJoinLinkOpened) || ks.On(KindApprovalDenied) {
		t.Fatalf("ParseKinds = %v, %v", ks, err)
	}
	if ks, _ := ParseKinds("all"); len(ks) != len(AllKinds) {
		t.Fatalf("all = %v", ks)
	}
	if ks, _ := ParseKinds("none"); len(ks) != 0 || ks.String() != "none" {
		t.Fatalf("none = %v", ks)
	}
	if _, err := ParseKinds("invitation.accepted,typo"); err == nil || !strings.Contains(err.Error(), `"typo"`) {
		t.Fatalf("typo: %v", err)
	}
	if DefaultKinds.On(KindJoinLinkOpened) || !DefaultKinds.On(KindInvitationAccepted) {
		t.Fatal("first opens must be off by default, accepted on")
	}
}

func TestParseSMTPURL(t *testing.T) {
	c, err := ParseSMTPURL("smtp://portico%40contoso.example:p%40ss@mail.contoso.example")
	if err != nil || c.Host != "mail.contoso.example" || c.Port != 587 || c.Username != "portico@contoso.example" || c.Password != "p@ss" || c.ImplicitTLS || c.NoTLS {
		t.Fatalf("smtp = %+v, %v", c, err)
	}
	if s := c.String(); strings.Contains(s, "p@ss") || strings.Contains(s, "p%40ss") || !strings.Contains(s, "redacted") {
		t.Fatalf("String leaks the password: %s", s)
	}
	c, err = ParseSMTPURL("smtps://mail.contoso.example")
	if err != nil || c.Port != 465 || !c.ImplicitTLS {
		t.Fatalf("smtps = %+v, %v", c, err)
	}
	if c, err := ParseSMTPURL("smtp://127.0.0.1:25?tls=none"); err != nil || !c.NoTLS {
		t.Fatalf("loopback tls=none = %+v, %v", c, err)
	}
	for in, want := range map[string]string{
		"http://mail.example":                    "scheme",
		"smtp://":                                "no host",
		"smtp://mail.example:99999":              "port",
		"smtp://mail.example?tls=none":           "loopback",
		"smtps://127.0.0.1?tls=none":             "contradicts",
		"smtp://u:p@127.0.0.1?tls=none":          "password in clear",
		"smtp://mail.example?insecure=1":         "unknown parameter",
		"smtp://mail.example/path":               "path",
		"smtp://user:secret@mail.example:notnum": "",
	} {
		_, err := ParseSMTPURL(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: the error repeats the password: %v", in, err)
		}
	}
}

// A wording is parsed once and the cached template gives the same message with other data.
func TestRenderParsesWordingOnce(t *testing.T) {
	k := AllKinds[0]
	r := Recipient{Address: "a@contoso.example", Language: "en"}
	first, err := Render(k, r, "https://portico.example/x", map[string]string{DataPartner: "Pat"})
	if err != nil {
		t.Fatal(err)
	}
	src := languages["en"].Kinds[k].Subject
	cached, ok := parsed.Load(src)
	if !ok {
		t.Fatalf("subject %q not cached after a render", src)
	}
	second, err := Render(k, r, "https://portico.example/x", map[string]string{DataPartner: "Quinn"})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := parsed.Load(src); again != cached {
		t.Error("the subject was parsed again")
	}
	if first.Text == second.Text || !strings.Contains(second.Text, "Quinn") && !strings.Contains(second.Subject, "Quinn") {
		t.Errorf("cached template did not take the new data: %q / %q", first.Subject, second.Subject)
	}
}
