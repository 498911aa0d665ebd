package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// MailBody is a message's body: ContentType "Text" or "HTML".
type MailBody struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}

// MailAddress is an emailAddress of a recipient.
type MailAddress struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
}

// MailRecipient is one recipient of a message.
type MailRecipient struct {
	EmailAddress MailAddress `json:"emailAddress"`
}

// MailMessage is the part of Graph's message resource Portico sends.
type MailMessage struct {
	Subject      string          `json:"subject"`
	Body         MailBody        `json:"body"`
	ToRecipients []MailRecipient `json:"toRecipients"`
}

type sendMailRequest struct {
	Message         MailMessage `json:"message"`
	SaveToSentItems bool        `json:"saveToSentItems"`
}

// SendMail sends msg from mailbox (a user id or user principal name) with POST
// /v1.0/users/{mailbox}/sendMail, not saved to Sent Items; Graph answers 202 Accepted with no body.
// It is a write: an error wrapping ErrUncertain means Graph may have accepted it, so it must not
// be sent again. Application permission Mail.Send (scoped by an application access policy).
// It returns Graph's request-id.
func (c *Client) SendMail(ctx context.Context, ts oauth2.TokenSource, mailbox string, msg *MailMessage) (string, error) {
	if mailbox == "" || msg == nil {
		return "", errors.New("graph: send mail: a mailbox and a message are required")
	}
	body, err := json.Marshal(sendMailRequest{Message: *msg, SaveToSentItems: false})
	if err != nil {
		return "", fmt.Errorf("graph: send mail: %w", err)
	}
	return c.do(ctx, ts, request{method: http.MethodPost, path: "/users/" + url.PathEscape(mailbox) + "/sendMail",
		body: body, want: http.StatusAccepted}, nil)
}
