package bulk

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"portico/invite"
	"portico/store"
)

// Defaults are chosen on the /bulk page (or sent with an API call) and fill a row's empty cells.
type Defaults struct {
	Message     string
	RedirectURL string
	Language    string
	Delivery    Delivery // email or link; "" counts as email
}

// Checker is the part of invite.Service the dry run uses.
type Checker interface {
	Policy() invite.Policy
	PreflightMany(ctx context.Context, ts oauth2.TokenSource, inv invite.Inviter, emails []string) ([]*invite.Preflight, []error)
}

// Request is the invitation row r asks for, with d filling its empty cells.
func Request(r Row, d Defaults) invite.Request {
	req := invite.Request{
		DisplayName: r.DisplayName, Email: r.Email, Message: r.Message, CC: r.CC, RedirectURL: r.RedirectURL,
		Language: r.Language, UserType: r.UserType,
	}
	if req.Message == "" {
		req.Message = d.Message
	}
	if req.RedirectURL == "" {
		req.RedirectURL = d.RedirectURL
	}
	if req.Language == "" {
		req.Language = d.Language
	}
	delivery := r.Delivery
	if delivery == DeliveryDefault {
		delivery = d.Delivery
	}
	req.SendEmail = delivery != DeliveryLink
	return req
}

// fieldLabels names invite's fields as the file's columns do.
var fieldLabels = map[string]string{
	invite.FieldEmail: "email", invite.FieldDisplayName: "display name", invite.FieldMessage: "message",
	invite.FieldCC: "cc", invite.FieldRedirectURL: "landing page", invite.FieldLanguage: "language",
	invite.FieldUserType: "user type", invite.FieldSendEmail: "send",
}

func fieldProblems(fe invite.FieldErrors) string {
	keys := make([]string, 0, len(fe))
	for k := range fe {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		label := fieldLabels[k]
		if label == "" {
			label = k
		}
		parts = append(parts, label+": "+fe[k])
	}
	return strings.Join(parts, "; ")
}

// DryRun gives every row its verdict before anything is sent: the row's own problems, the same
// validation and policy as the form (invite's Policy.Validate and the Member rule), then the
// preflight of every remaining address at once (PreflightMany: the tenant's own domains, the
// allow and block lists, the directory, Portico's own records) in batched Graph lookups. The
// rows come back as draft bulk rows: pending (will invite or will resend) or skipped with the
// reason.
func DryRun(ctx context.Context, c Checker, ts oauth2.TokenSource, actor invite.Inviter, rows []Row, d Defaults) []store.BulkRow {
	out := make([]store.BulkRow, len(rows))
	pol := c.Policy()
	var emails []string
	var idx []int
	for i, r := range rows {
		req := Request(r, d)
		br := store.BulkRow{N: r.N, Line: r.Line, Email: r.Email, DisplayName: r.DisplayName, Message: req.Message,
			CCAddress: r.CC, RedirectURL: req.RedirectURL, Language: req.Language, UserType: r.UserType, SendEmail: req.SendEmail,
			Verdict: store.VerdictSkip, State: store.RowSkipped}
		switch {
		case r.Problem != "":
			br.Reason = r.Problem
		case r.DuplicateOf > 0:
			br.Reason = "the same address as row " + strconv.Itoa(r.DuplicateOf) + ": one invitation is enough"
		case strings.EqualFold(strings.TrimSpace(r.UserType), invite.UserTypeMember) && !actor.CanInviteMember():
			br.Reason = "only administrators may invite members"
		default:
			v, fe := pol.Validate(req, actor)
			if fe != nil {
				br.Reason = fieldProblems(fe)
				break
			}
			// What is stored is what will be sent: the normalised values.
			br.Email, br.DisplayName, br.Message, br.CCAddress = v.Email, v.DisplayName, v.Message, v.CC
			br.RedirectURL, br.Language, br.UserType, br.SendEmail = v.RedirectURL, v.Language, v.UserType, v.SendEmail
			emails = append(emails, v.Email)
			idx = append(idx, i)
		}
		out[i] = br
	}
	if len(emails) == 0 {
		return out
	}
	pfs, errs := c.PreflightMany(ctx, ts, actor, emails)
	for k, i := range idx {
		br := &out[i]
		err, pf := errs[k], pfs[k]
		switch {
		case err != nil:
			br.Reason = checkFailure(err)
		case pf.Verdict == invite.VerdictAllowed:
			br.Verdict, br.State = store.VerdictInvite, store.RowPending
		case pf.Verdict == invite.VerdictPendingGuest:
			br.Verdict, br.State = store.VerdictResend, store.RowPending
			br.Reason = "invited before and not accepted yet: the invitation is sent again with a new link"
		default:
			br.Reason = pf.Message
		}
	}
	return out
}

// checkFailure is the reason a row could not be checked.
func checkFailure(err error) string {
	var ve *invite.ValidationError
	if errors.As(err, &ve) {
		return fieldProblems(ve.Fields)
	}
	if errors.Is(err, invite.ErrNotInviter) {
		return "your account may not invite partners"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "not checked: the check was stopped; upload the file again"
	}
	return "not checked: Microsoft Graph did not answer the lookup; upload the file again to check it"
}
