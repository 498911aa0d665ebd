package views

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// iso is a machine-readable time for <time datetime>.
func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// human is the server's fallback rendering; the script shows it in the reader's time zone.
func human(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") }

func itoa(n int) string { return strconv.Itoa(n) }

// foreign reports a page in another language than the English of the layout around it, whose
// English parts then carry lang="en" so screen readers pronounce them right.
func foreign(p Page) bool { return p.Lang != "" && p.Lang != "en" }

func pageTitle(p Page) string {
	brand := "Portico"
	if p.Partner {
		brand = p.OrgName
	}
	switch {
	case p.Title == "":
		return brand
	case brand == "":
		return p.Title
	}
	return p.Title + " — " + brand
}

func describedBy(field string, errs map[string]string, hint bool) string {
	var ids []string
	if hint {
		ids = append(ids, field+"-hint")
	}
	if _, ok := errs[field]; ok {
		ids = append(ids, field+"-error")
	}
	return strings.Join(ids, " ")
}

func invalid(field string, errs map[string]string) string {
	if _, ok := errs[field]; ok {
		return "true"
	}
	return ""
}

// errorFields lists the fields with errors in form order, for the error summary.
func errorFields(errs map[string]string) []string {
	var out []string
	for _, f := range []string{"invitedUserEmailAddress", "invitedUserDisplayName", "customizedMessageBody", "ccRecipient", "inviteRedirectUrl", "messageLanguage", "invitedUserType", "sendInvitationMessage",
		"sponsors", "sponsors.0", "sponsors.1", "sponsors.2", "sponsors.3", "groups"} {
		if _, ok := errs[f]; ok {
			out = append(out, f)
		}
	}
	return out
}

var fieldLabels = map[string]string{
	"invitedUserEmailAddress": "Email address", "invitedUserDisplayName": "Name", "customizedMessageBody": "Personal message",
	"ccRecipient": "Copy to", "inviteRedirectUrl": "Landing page", "messageLanguage": "Email language",
	"invitedUserType": "Account type", "sendInvitationMessage": "Send the email",
	"sponsors": "Sponsors", "sponsors.0": "Sponsor 2", "sponsors.1": "Sponsor 3", "sponsors.2": "Sponsor 4", "sponsors.3": "Sponsor 5",
	"groups": "Groups and teams",
}

func viewBox(q QR) string { return "0 0 " + itoa(q.Size) + " " + itoa(q.Size) }

// quotaReached reports a configured quota with no invitation left.
func quotaReached(q *Quota) bool { return q != nil && q.Limit > 0 && q.Remaining == 0 }

// quotaPer is "per hour" or "per day".
func quotaPer(q Quota) string {
	if q.Day {
		return "per day"
	}
	return "per hour"
}

// quotaWindow is "this hour" or "in 24 hours": the window the places left belong to.
func quotaWindow(q Quota) string {
	if q.Day {
		return "in 24 hours"
	}
	return "this hour"
}

// listLink is My invitations (or everyone's) filtered by state, from its first page.
func listLink(state string, everyone bool) string {
	q := "?state=" + state
	if everyone {
		q += "&scope=everyone"
	}
	return "/invitations" + q
}

// tabLink is a state tab of the list, keeping its scope (mine, everyone's, sponsored by me).
func tabLink(state string, m InvitationList) string {
	if m.Sponsored {
		return "/invitations?state=" + state + "&scope=sponsored"
	}
	return listLink(state, m.Everyone)
}

// countText is "1 invitation", "25 invitations" or "more than 1,000 invitations".
func countText(n int, more bool) string {
	if more {
		return "more than " + thousands(n) + " invitations"
	}
	if n == 1 {
		return "1 invitation"
	}
	return thousands(n) + " invitations"
}

// capitalize upper-cases the first letter of an ASCII sentence.
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// thousands writes n with comma separators: 1,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// plural is "1 time" or "3 times".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}

// detailText shows an audit event's detail, a flat JSON object, as "key: value · key: value" in the
// object's own order; anything else is shown as it is.
func detailText(s string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return s
	}
	var parts []string
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return s
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return s
		}
		var str string
		if json.Unmarshal(v, &str) != nil {
			str = string(bytes.TrimSpace(v))
		}
		parts = append(parts, fmt.Sprintf("%v: %s", key, str))
	}
	return strings.Join(parts, " · ")
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// summaryTitle heads the form's error summary, with a plain default when the handler set no alert.
func summaryTitle(a *Alert) string {
	if a == nil || a.Title == "" {
		return "There is a problem"
	}
	return a.Title
}

// errorAnchor is the element the error summary links to for a field: its input, or for the
// user type the first radio (or, when the radios are not shown, the message itself).
func errorAnchor(field string, showUserType bool) string {
	switch field {
	case "sponsors":
		return "sponsor-0"
	case "groups":
		return "group-0"
	}
	if n, ok := strings.CutPrefix(field, "sponsors."); ok {
		return "sponsor-" + n
	}
	if field != "invitedUserType" {
		return field
	}
	if showUserType {
		return "invitedUserType-guest"
	}
	return "invitedUserType-error"
}

// approvalsLink is /approvals with its filters.
func approvalsLink(decided, mine bool) string {
	u := "/approvals"
	switch {
	case decided && mine:
		u += "?state=decided&mine=1"
	case decided:
		u += "?state=decided"
	case mine:
		u += "?mine=1"
	}
	return u
}
