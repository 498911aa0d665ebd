package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
)

// runResend is `portico resend ID`: the invitation sent again (pending invitations only).
func runResend(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("portico resend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	portico, asJSON := clientFlags(fs, getenv)
	if err := parseClientFlags(fs, args, "resend"); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return exitWith(exitUsage, "portico resend: give one invitation id (portico invitations lists them)")
	}
	c, err := newClient(ctx, *portico, *asJSON, getenv, stderr)
	if err != nil {
		return err
	}
	_, b, err := c.call(ctx, "POST", "/api/invitations/"+url.PathEscape(fs.Arg(0))+"/resend", nil, nil)
	if err != nil {
		if *asJSON && b != nil {
			_ = printJSON(stdout, b)
		}
		return err
	}
	if *asJSON {
		return printJSON(stdout, b)
	}
	var r struct{ InvitedUserEmailAddress, JoinURL string }
	_ = json.Unmarshal(b, &r)
	fmt.Fprintf(stdout, "Sent the invitation to %s again.\n", r.InvitedUserEmailAddress)
	if r.JoinURL != "" {
		fmt.Fprintf(stdout, "Join link to share: %s\n", r.JoinURL)
	}
	return nil
}
