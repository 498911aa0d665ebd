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

// DefaultReviewGrace is how long a due review waits for an answer when PORTICO_REVIEW_GRACE is not set.
const DefaultReviewGrace = 14 * 24 * time.Hour

// loadReviews reads PORTICO_REVIEW_EVERY (unset or off: no reviews), PORTICO_REVIEW_GRACE and
// PORTICO_REVIEW_ACTION. The warning before an action is PORTICO_WARN_BEFORE (Lifecycle.WarnBefore),
// shared with the pending expiry. A disable or delete action without the permission is not an
// error here: Portico degrades it to report at start and says why.
func loadReviews(c *Config, e source, p *Problems) {
	if v := e.get("PORTICO_REVIEW_EVERY"); v != "" && v != "off" {
		d, err := parseDuration(v)
		switch {
		case err != nil || d <= 0:
			p.addf("PORTICO_REVIEW_EVERY %q must be a positive duration like 180d, or off", v)
		case d < 24*time.Hour:
			p.addf("PORTICO_REVIEW_EVERY %q is shorter than a day; reviews are counted in days (e.g. 180d)", v)
		default:
			c.ReviewEvery = d
		}
	}
	c.ReviewGrace = duration(e, "PORTICO_REVIEW_GRACE", DefaultReviewGrace, p)
	c.ReviewAction = ReviewReport
	if v := strings.ToLower(e.get("PORTICO_REVIEW_ACTION")); v != "" {
		switch v {
		case ReviewReport, ReviewDisable, ReviewDelete:
			c.ReviewAction = v
		default:
			p.addf("PORTICO_REVIEW_ACTION %q must be report, disable or delete", e.get("PORTICO_REVIEW_ACTION"))
		}
		if c.ReviewEvery == 0 && v != ReviewReport {
			p.addf("PORTICO_REVIEW_ACTION=%s needs PORTICO_REVIEW_EVERY (e.g. 180d)", v)
		}
	}
	if w := c.Lifecycle.WarnBefore; c.ReviewEvery > 0 && w > 0 && w >= c.ReviewGrace {
		p.addf("PORTICO_WARN_BEFORE %q must be shorter than PORTICO_REVIEW_GRACE (%s): the warning comes inside the grace",
			e.get("PORTICO_WARN_BEFORE"), e.get("PORTICO_REVIEW_GRACE"))
	}
}
