package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"testing"
)

const fullInvitationJSON = `{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#invitations/$entity",
  "id": "7b92124c-9fa9-406f-8b8e-225df8376ba9",
  "inviteRedeemUrl": "https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f%3fticket%3dTICKET-SENTINEL-123",
  "invitedUserDisplayName": "Taylor O'Neil",
  "invitedUserType": "Guest",
  "invitedUserEmailAddress": "taylor@fabrikam.example",
  "sendInvitationMessage": true,
  "resetRedemption": false,
  "inviteRedirectUrl": "https://portal.contoso.example/welcome",
  "status": "PendingAcceptance",
  "invitedUserMessageInfo": {
    "messageLanguage": "fr-FR",
    "customizedMessageBody": "Bienvenue",
    "ccRecipients": [{"emailAddress": {"name": "Megan", "address": "megan@contoso.example"}}]
  },
  "invitedUser": {"id": "243b1de4-ad9f-421c-a933-d55305fb165d"},
  "invitedUserSponsors": [{"id": "0f1c2d3e-0000-4000-8000-000000000001"}]
}`

func TestCreateInvitationDecodesFullAnswer(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("request-id", "rid-201")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(fullInvitationJSON))
	})
	c, _ := f.client()
	got, err := c.CreateInvitation(context.Background(), testTS, &Invitation{InvitedUserEmailAddress: "taylor@fabrikam.example", InviteRedirectURL: "https://portal.contoso.example/welcome"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Invitation{
		ID:                      "7b92124c-9fa9-406f-8b8e-225df8376ba9",
		InviteRedeemURL:         "https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f%3fticket%3dTICKET-SENTINEL-123",
		InviteRedirectURL:       "https://portal.contoso.example/welcome",
		InvitedUserDisplayName:  "Taylor O'Neil",
		InvitedUserEmailAddress: "taylor@fabrikam.example",
		InvitedUserType:         "Guest",
		Status:                  "PendingAcceptance",
		SendInvitationMessage:   true,
		InvitedUserMessageInfo: &MessageInfo{
			CustomizedMessageBody: "Bienvenue",
			MessageLanguage:       "fr-FR",
			CCRecipients:          []Recipient{{EmailAddress: EmailAddress{Address: "megan@contoso.example", Name: "Megan"}}},
		},
		InvitedUser:         &DirectoryObject{ID: "243b1de4-ad9f-421c-a933-d55305fb165d"},
		InvitedUserSponsors: []DirectoryObject{{ID: "0f1c2d3e-0000-4000-8000-000000000001"}},
		RequestID:           "rid-201",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n got %+v\nwant %+v", got, want)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCreateInvitationRequest(t *testing.T) {
	tests := []struct {
		name   string
		in     *Invitation
		want   map[string]any // exact keys and values Graph receives
		header map[string]string
		ctx    func(context.Context) context.Context
	}{
		{
			name: "minimal: sendInvitationMessage false is sent, defaults are omitted",
			in:   &Invitation{InvitedUserEmailAddress: "a@fabrikam.example", InviteRedirectURL: "https://x.example/"},
			want: map[string]any{
				"invitedUserEmailAddress": "a@fabrikam.example",
				"inviteRedirectUrl":       "https://x.example/",
				"sendInvitationMessage":   false,
			},
		},
		{
			name: "full with message, cc, language and member type",
			in: &Invitation{
				InvitedUserEmailAddress: "a@fabrikam.example", InviteRedirectURL: "https://x.example/",
				InvitedUserDisplayName: "A <b>", InvitedUserType: "Member", SendInvitationMessage: true,
				InvitedUserMessageInfo: &MessageInfo{
					CustomizedMessageBody: "Hello & welcome",
					MessageLanguage:       "de-DE",
					CCRecipients:          []Recipient{{EmailAddress: EmailAddress{Address: "c@contoso.example", Name: "C"}}},
				},
			},
			want: map[string]any{
				"invitedUserEmailAddress": "a@fabrikam.example",
				"inviteRedirectUrl":       "https://x.example/",
				"invitedUserDisplayName":  "A <b>",
				"invitedUserType":         "Member",
				"sendInvitationMessage":   true,
				"invitedUserMessageInfo": map[string]any{
					"customizedMessageBody": "Hello & welcome",
					"messageLanguage":       "de-DE",
					"ccRecipients":          []any{map[string]any{"emailAddress": map[string]any{"address": "c@contoso.example", "name": "C"}}},
				},
			},
			header: map[string]string{"x-ms-throttle-priority": "high"},
			ctx:    func(ctx context.Context) context.Context { return WithPriority(ctx, "high") },
		},
		{
			name: "reset redemption of an existing user, with a sponsor",
			in: &Invitation{
				InvitedUserEmailAddress: "a@fabrikam.example", InviteRedirectURL: "https://x.example/",
				ResetRedemption: true, InvitedUser: &DirectoryObject{ID: "u-1"},
				InvitedUserSponsors: []DirectoryObject{{ID: "s-1"}},
			},
			want: map[string]any{
				"invitedUserEmailAddress": "a@fabrikam.example",
				"inviteRedirectUrl":       "https://x.example/",
				"sendInvitationMessage":   false,
				"resetRedemption":         true,
				"invitedUser":             map[string]any{"id": "u-1"},
				"invitedUserSponsors":     []any{map[string]any{"id": "s-1"}},
			},
			header: map[string]string{"x-ms-throttle-priority": ""},
			ctx:    func(ctx context.Context) context.Context { return WithPriority(ctx, "urgent\r\nX: y") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusCreated, `{"id":"inv"}`) })
			c, _ := f.client()
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			if _, err := c.CreateInvitation(ctx, testTS, tt.in); err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests = %d, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != http.MethodPost || r.path != "/v1.0/invitations" || r.rawQuery != "" {
				t.Errorf("request %s %s?%s", r.method, r.path, r.rawQuery)
			}
			var got map[string]any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("body\n got %v\nwant %v", got, tt.want)
			}
			wantHeaders := map[string]string{
				"Authorization":            "Bearer " + testToken,
				"Content-Type":             "application/json",
				"Accept":                   "application/json",
				"return-client-request-id": "true",
			}
			for k, v := range tt.header {
				wantHeaders[k] = v
			}
			for k, v := range wantHeaders {
				if g := r.header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
			if crid := r.header.Get("client-request-id"); !uuidV4.MatchString(crid) {
				t.Errorf("client-request-id %q is not a UUID v4", crid)
			}
		})
	}
}

func TestCreateInvitationNil(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusCreated, `{}`) })
	c, _ := f.client()
	if _, err := c.CreateInvitation(context.Background(), testTS, nil); err == nil {
		t.Fatal("nil invitation accepted")
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("calls = %d, want 0", n)
	}
}
