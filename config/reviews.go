package config

import (
	"strings"
	"time"
)

// What happens to a guest whose review ended in "remove", or got no answer within the grace
// (PORTICO_REVIEW_ACTION).
const (
	ReviewReport  = "report"  // record and tell; change nothing in the directory (the default)
	ReviewDisable = "disable" // PATCH /users/{id} accountEnabled=false
	ReviewDelete  = "delete"  // DELETE /users/{id} (restorable from deleted items for 30 days)
)

// Defaults of the sponsor reviews.
const (
	DefaultReviewGrace = 14 * 24 * time.Hour
	DefaultWarnBefore  = 7 * 24 * time.Hour
)

// loadReviews reads PORTICO_REVIEW_EVERY (empty or 0: no reviews), PORTICO_REVIEW_GRACE,
// PORTICO_REVIEW_ACTION and PORTICO_WARN_BEFORE.
func loadReviews(c *Config, e source, p *Problems) {
	c.ReviewEvery = duration(e, "PORTICO_REVIEW_EVERY", 0, p)
	c.ReviewGrace = duration(e, "PORTICO_REVIEW_GRACE", DefaultReviewGrace, p)
	c.WarnBefore = duration(e, "PORTICO_WARN_BEFORE", DefaultWarnBefore, p)
	switch a := strings.ToLower(e.get("PORTICO_REVIEW_ACTION")); a {
	case "":
		c.ReviewAction = ReviewReport
	case ReviewReport, ReviewDisable, ReviewDelete:
		c.ReviewAction = a
	default:
		p.addf("PORTICO_REVIEW_ACTION: %q must be report, disable or delete", e.get("PORTICO_REVIEW_ACTION"))
	}
	switch {
	case c.ReviewEvery < 0:
		p.addf("PORTICO_REVIEW_EVERY: must not be negative")
	case c.ReviewEvery > 0 && c.ReviewEvery < 24*time.Hour:
		p.addf("PORTICO_REVIEW_EVERY: %s is shorter than a day; reviews are counted in days (e.g. 180d)", c.ReviewEvery)
	}
	if c.ReviewGrace <= 0 {
		p.addf("PORTICO_REVIEW_GRACE: must be positive (e.g. 14d)")
	}
	if c.WarnBefore < 0 {
		p.addf("PORTICO_WARN_BEFORE: must not be negative")
	} else if c.ReviewGrace > 0 && c.WarnBefore >= c.ReviewGrace && c.ReviewEvery > 0 {
		p.addf("PORTICO_WARN_BEFORE: %s must be shorter than PORTICO_REVIEW_GRACE (%s): the warning comes inside the grace", c.WarnBefore, c.ReviewGrace)
	}
}
