package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// runInvite is `portico invite`: one invitation through a running Portico's API, with the same
// checks and policy as the web form.
func runInvite(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("portico invite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	portico, asJSON := clientFlags(fs, getenv)
	email := fs.String("email", "", "the partner's email address (required)")
	name := fs.String("name", "", "the partner's display name")
	message := fs.String("message", "", "a personal message in the invitation email")
	cc := fs.String("cc", "", "one address to copy on the invitation email")
	redirect := fs.String("redirect", "", "where the partner lands after accepting (default: Portico's landing page)")
	member := fs.Bool("member", false, "invite as a Member instead of a Guest (administrators only)")
	link := fs.Bool("link", false, "send no email: print a join link to share instead")
	key := fs.String("idempotency-key", "", "name this request: running it again with the same key never invites twice")
	if err := parseClientFlags(fs, args, "invite"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return exitWith(exitUsage, "portico invite: unexpected argument %q", fs.Arg(0))
	}
	if strings.TrimSpace(*email) == "" {
		return exitWith(exitUsage, "portico invite: --email is required")
	}
	c, err := newClient(ctx, *portico, *asJSON, getenv, stderr)
	if err != nil {
		return err
	}
	body := map[string]any{"invitedUserEmailAddress": *email, "sendInvitationMessage": !*link}
	if *name != "" {
		body["invitedUserDisplayName"] = *name
	}
	if *redirect != "" {
		body["inviteRedirectUrl"] = *redirect
	}
	if *member {
		body["invitedUserType"] = "Member"
	}
	if *message != "" || *cc != "" {
		mi := map[string]any{}
		if *message != "" {
			mi["customizedMessageBody"] = *message
		}
		if *cc != "" {
			mi["ccRecipients"] = []any{map[string]any{"emailAddress": map[string]string{"address": *cc}}}
		}
		body["invitedUserMessageInfo"] = mi
	}
	hdr := map[string]string{}
	if *key != "" {
		hdr["Idempotency-Key"] = *key
	}
	status, b, err := c.call(ctx, "POST", "/api/invitations", body, hdr)
	if err != nil {
		if *asJSON && b != nil {
			_ = printJSON(stdout, b)
		}
		return err
	}
	if *asJSON {
		return printJSON(stdout, b)
	}
	var r struct {
		ID, InvitedUserEmailAddress, Redemption, JoinURL, Status string
		InviteRedeemURL                                          *string
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return exitWith(exitFailed, "portico: unexpected answer: %w", err)
	}
	switch {
	case status == 202:
		fmt.Fprintf(stdout, "Sending the invitation to %s (Graph has not answered yet). Check with: portico invitations\n", r.InvitedUserEmailAddress)
	case r.Redemption == "emailed":
		fmt.Fprintf(stdout, "Invited %s: Microsoft emails the invitation.\n", r.InvitedUserEmailAddress)
	default:
		fmt.Fprintf(stdout, "Invited %s.\n", r.InvitedUserEmailAddress)
	}
	if r.JoinURL != "" {
		fmt.Fprintf(stdout, "Join link to share: %s\n", r.JoinURL)
	}
	fmt.Fprintf(stdout, "Record: %s/invitations/%s\n", c.base, url.PathEscape(r.ID))
	return nil
}
