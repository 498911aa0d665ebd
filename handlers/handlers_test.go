package handlers

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"portico/invite"
)

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0",
		"+1":                 "'+1",
		"-1":                 "'-1",
		"@SUM(A1)":           "'@SUM(A1)",
		"\tx":                "'\tx",
		"plain":              "plain",
		"":                   "",
		"a=b":                "a=b",
		// Issue 14, item 2: spreadsheets skip leading blanks and line breaks before a formula.
		"\r=1+1":             "'\r=1+1",
		"\n=1+1":             "'\n=1+1",
		" =1+1":              "' =1+1",
		"   @SUM(A1)":        "'   @SUM(A1)",
		"\t\t+1":             "'\t\t+1",
		"\n -2":              "'\n -2",
		"\u00a0=1":           "'\u00a0=1",
		"\u3000=HYPERLINK()": "'\u3000=HYPERLINK()",
		" plain":             " plain",
		" ":                  " ",
		"x\n=1":              "x\n=1",
	} {
		if got := CSVSafe(in); got != want {
			t.Errorf("CSVSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBindInvitationJSON(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    string
		check      func(t *testing.T, r invite.Request)
	}{
		{name: "full", body: `{"invitedUserEmailAddress":"a@b.example","invitedUserDisplayName":"A","inviteRedirectUrl":"https://x.example/","invitedUserType":"Guest","sendInvitationMessage":true,"invitedUserMessageInfo":{"customizedMessageBody":"hi","messageLanguage":"fr-FR","ccRecipients":[{"emailAddress":{"address":"c@d.example"}}]}}`,
			check: func(t *testing.T, r invite.Request) {
				if r.Email != "a@b.example" || r.CC != "c@d.example" || !r.SendEmail || r.Language != "fr-FR" || r.Message != "hi" || r.UserType != "Guest" {
					t.Errorf("bound %+v", r)
				}
			}},
		{name: "send defaults to false as in Graph", body: `{"invitedUserEmailAddress":"a@b.example"}`,
			check: func(t *testing.T, r invite.Request) {
				if r.SendEmail {
					t.Error("sendInvitationMessage absent must mean false")
				}
			}},
		{name: "unknown field", body: `{"invitedUserEmailAddress":"a@b.example","resetRedemption":true}`, wantErr: "resetRedemption"},
		{name: "wrong type", body: `{"invitedUserEmailAddress":42}`, wantErr: "wrong type"},
		{name: "two objects", body: `{"invitedUserEmailAddress":"a@b.example"}{}`, wantErr: "exactly one"},
		{name: "trailing brace", body: `{"invitedUserEmailAddress":"a@b.example"}}`, wantErr: "exactly one"},
		{name: "not json", body: `invitedUserEmailAddress=a`, wantErr: "one JSON invitation object"},
		{name: "two cc", body: `{"invitedUserEmailAddress":"a@b.example","invitedUserMessageInfo":{"ccRecipients":[{"emailAddress":{"address":"c@d.example"}},{"emailAddress":{"address":"e@f.example"}}]}}`, wantErr: "ccRecipient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := bindInvitationJSON(strings.NewReader(tt.body))
			if tt.wantErr != "" {
				var ve *invite.ValidationError
				msg := ""
				if errors.As(err, &ve) {
					for k := range ve.Fields {
						msg += k
					}
				} else if err != nil {
					msg = err.Error()
				}
				if !strings.Contains(msg, tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func TestGraphStatus(t *testing.T) {
	for _, tt := range []struct {
		ge   invite.GraphError
		want int
	}{
		{invite.GraphError{Status: 429, Outcome: "throttled"}, http.StatusTooManyRequests},
		{invite.GraphError{Status: 401}, http.StatusUnauthorized},
		{invite.GraphError{Status: 403}, http.StatusForbidden},
		{invite.GraphError{Status: 400}, http.StatusBadRequest},
		{invite.GraphError{Status: 0}, http.StatusGatewayTimeout},
		{invite.GraphError{Status: 500}, http.StatusBadGateway},
		{invite.GraphError{Status: 503}, http.StatusBadGateway},
	} {
		if got := graphStatus(&tt.ge); got != tt.want {
			t.Errorf("graphStatus(%d %s) = %d, want %d", tt.ge.Status, tt.ge.Outcome, got, tt.want)
		}
	}
}

// Microsoft's abuse-protection block has its own title and code, and the inviter's message.
func TestProblemOfInvitationsBlocked(t *testing.T) {
	ge := &invite.GraphError{Status: 403, Code: "Authorization_RequestDenied", Blocked: true, Message: invite.InvitationsBlockedMessage,
		RequestID: "r-abuse", Err: errors.New("blocked")}
	p := problemOf(ge)
	if p.Status != http.StatusForbidden || p.Code != "InvitationsBlocked" || !strings.Contains(p.Title, "blocked") ||
		p.Text != invite.InvitationsBlockedMessage || p.GraphRequestID != "r-abuse" {
		t.Fatalf("problem %+v", p)
	}
	if p := problemOf(&invite.GraphError{Status: 403, Code: "Authorization_RequestDenied", Err: errors.New("x")}); p.Code != "Authorization_RequestDenied" {
		t.Fatalf("an ordinary 403 is not a block: %+v", p)
	}
}

func TestQRForEncodesAndStaysSmall(t *testing.T) {
	q := qrFor("https://portal.contoso.com/join/DbE0y805qNwpr_-OMU-n_mbWiyaZfX7qTZB9z2vgYww")
	if q.Size < 21+8 || q.Path == "" || !strings.HasPrefix(q.Path, "M") {
		t.Fatalf("qr %d %q", q.Size, q.Path[:min(20, len(q.Path))])
	}
	if len(q.Path) > 8000 {
		t.Errorf("QR path is %d bytes; pages must stay small", len(q.Path))
	}
}

func TestStatusTextNeverLeaksInternals(t *testing.T) {
	title, text := statusText(http.StatusInternalServerError, "pq: relation \"x\" does not exist")
	if strings.Contains(text, "pq:") || title != "Something went wrong" {
		t.Errorf("500 text %q %q", title, text)
	}
	_, text = statusText(http.StatusForbidden, "Only admins can see everyone's invitations.")
	if text != "Only admins can see everyone's invitations." {
		t.Errorf("4xx keeps its own message: %q", text)
	}
}

func TestOAuthCode(t *testing.T) {
	for in, want := range map[string]string{"access_denied": "access_denied", "<b>hi</b>": "unknown_error", "Call 555": "unknown_error", "": "unknown_error"} {
		if got := oauthCode(in); got != want {
			t.Errorf("oauthCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoginHint(t *testing.T) {
	for in, want := range map[string]string{"a@b.example": "a@b.example", "a b": "", "x\r\ny": "", strings.Repeat("a", 300): ""} {
		if got := loginHint(in); got != want {
			t.Errorf("loginHint(%q) = %q", in, got)
		}
	}
}
