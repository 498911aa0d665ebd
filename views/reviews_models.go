package views

import "time"

// ReviewRow is one guest due for review in a reviewer's list.
type ReviewRow struct {
	ID           string
	Partner      string
	Email        string
	Inviter      string
	Reviewers    string
	Round        int
	Due          time.Time
	AnswerBy     time.Time
	Invited      time.Time
	Accepted     *time.Time
	LastJoinOpen *time.Time
	LastSignIn   *time.Time
	SignInKnown  bool
	Error        string // the reason field's error, after a failed "remove"
	Reason       string // what was typed, after a failed "remove"
}

// ReviewInbox is /reviews: the guests the viewer invited or sponsors that are due for review.
type ReviewInbox struct {
	Page
	Rows []ReviewRow
	// Consequence says what "remove" and no answer do under the policy ("disabled", "deleted", or
	// "reported to the administrators"); Degraded explains a policy that fell back to report.
	Consequence string
	Degraded    string
	Every       string
}

// GuestReviews is /admin/guests' section on sponsor reviews: each reviewed guest's latest round.
type GuestReviews struct {
	Rows []GuestReviewRow
}

// GuestReviewRow is one guest's latest review round.
type GuestReviewRow struct {
	InvitationID string
	Partner      string
	Email        string
	Reviewers    string
	Round        int
	State        string // scheduled, open, removing, removed, reported, failed
	StateLabel   string
	Due          time.Time
	AnswerBy     time.Time
	Decision     string // "keep", "remove", "no answer", "" (none yet)
	DecidedBy    string
	Reason       string
	Action       string // what was (or will be) done: report, disable, delete
	Note         string // why the action is what it is, or the error
}
