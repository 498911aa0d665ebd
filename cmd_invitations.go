package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
)

// runInvitations is `portico invitations`: the caller's invitations, newest first, every page.
func runInvitations(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("portico invitations", flag.ContinueOnError)
	fs.SetOutput(stderr)
	portico, asJSON := clientFlags(fs, getenv)
	state := fs.String("state", "all", "pending, accepted or all")
	everyone := fs.Bool("everyone", false, "the whole tenant's invitations (administrators only)")
	if err := parseClientFlags(fs, args, "invitations"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return exitWith(exitUsage, "portico invitations: unexpected argument %q", fs.Arg(0))
	}
	filter := map[string]string{"all": "all", "pending": "PendingAcceptance", "pendingacceptance": "PendingAcceptance", "accepted": "Accepted"}[strings.ToLower(*state)]
	if filter == "" {
		return exitWith(exitUsage, "portico invitations: --state must be pending, accepted or all")
	}
	c, err := newClient(ctx, *portico, *asJSON, getenv, stderr)
	if err != nil {
		return err
	}
	q := url.Values{"state": {filter}}
	if *everyone {
		q.Set("scope", "everyone")
	}
	path := "/api/invitations?" + q.Encode()
	var all []json.RawMessage
	type row struct {
		ID, InvitedUserEmailAddress, InvitedUserDisplayName, State, ExternalUserState string
		SentDateTime                                                                  string
	}
	var rows []row
	for pages := 0; path != "" && pages < 1000; pages++ {
		_, b, err := c.call(ctx, "GET", path, nil, nil)
		if err != nil {
			return err
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return exitWith(exitFailed, "portico: unexpected answer: %w", err)
		}
		all = append(all, page.Value...)
		for _, v := range page.Value {
			var r row
			_ = json.Unmarshal(v, &r)
			rows = append(rows, r)
		}
		path = ""
		if page.NextLink != "" {
			// Follow only links to the same Portico: the token never goes anywhere else.
			nl, err := url.Parse(page.NextLink)
			if err != nil || nl.IsAbs() && (nl.Scheme != c.base.Scheme || nl.Host != c.base.Host) {
				return exitWith(exitFailed, "portico: the next page link leaves %s", c.base)
			}
			path = nl.EscapedPath() + "?" + nl.RawQuery
		}
	}
	if *asJSON {
		b, _ := json.Marshal(map[string]any{"value": all})
		return printJSON(stdout, b)
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "No invitations.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tSTATE\tSENT")
	for _, r := range rows {
		sent := r.SentDateTime
		if len(sent) >= 16 {
			sent = strings.Replace(sent[:16], "T", " ", 1)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.InvitedUserEmailAddress, r.InvitedUserDisplayName, r.State, sent)
	}
	return tw.Flush()
}
