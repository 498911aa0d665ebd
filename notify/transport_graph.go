package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"

	"portico/graph"
)

// GraphMailer is the part of the Graph client the Graph transport uses.
type GraphMailer interface {
	SendMail(ctx context.Context, ts oauth2.TokenSource, mailbox string, msg *graph.MailMessage) (string, error)
}

// GraphTransport sends notices with Graph's sendMail from one mailbox, as Portico's application
// (application permission Mail.Send; limit it to that mailbox with an application access policy).
type GraphTransport struct {
	Graph   GraphMailer
	Tokens  oauth2.TokenSource // Portico's application token
	Mailbox string             // user id or user principal name of the sending mailbox
}

// Name implements Transport.
func (*GraphTransport) Name() string { return "graph" }

// Send implements Transport. Graph's JSON message has one body, so the HTML part is sent (mail
// clients that show only text get Exchange's text rendering of it).
func (t *GraphTransport) Send(ctx context.Context, m Message, begin func() error) error {
	if t.Tokens == nil || t.Graph == nil || t.Mailbox == "" {
		return fmt.Errorf("%w: the Graph transport has no application identity or mailbox", ErrRefused)
	}
	addr, err := PlainAddress(m.To.Address)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	// Fetch the token before begin: a token failure sends nothing.
	if _, err := t.Tokens.Token(); err != nil {
		return fmt.Errorf("%w: application token: %w", ErrNotSent, err)
	}
	if err := begin(); err != nil {
		return err
	}
	msg := &graph.MailMessage{Subject: oneLine(m.Subject), Body: graph.MailBody{ContentType: "HTML", Content: m.HTML},
		ToRecipients: []graph.MailRecipient{{EmailAddress: graph.MailAddress{Address: addr, Name: oneLine(m.To.Name)}}}}
	_, err = t.Graph.SendMail(ctx, t.Tokens, t.Mailbox, msg)
	return classifyGraph(err)
}

// classifyGraph says what a sendMail error means for the notice.
func classifyGraph(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, graph.ErrUncertain) {
		return fmt.Errorf("%w: %w", ErrUncertain, err)
	}
	var ge *graph.Error
	if !errors.As(err, &ge) {
		// No answer from Graph: the client reports ErrUncertain once a connection carried the
		// request, so anything else failed before the request left.
		return fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	switch {
	case ge.Status == http.StatusTooManyRequests || ge.Status == http.StatusServiceUnavailable:
		return &RetryAfterError{After: ge.RetryAfter, Err: err}
	case ge.Status == http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", ErrNotSent, err) // the token was refused before anything was done
	case ge.Status >= 500:
		// A server error on a write does not say whether the message went out.
		return fmt.Errorf("%w: %w", ErrUncertain, err)
	default: // 400 invalid message, 403 Mail.Send missing or outside the access policy, 404 no mailbox
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
}
