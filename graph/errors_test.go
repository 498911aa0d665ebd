package graph

import "net/http"

// Status predicates for the tests; Portico itself reads *Error's Status where it needs one.

// isThrottled reports whether err carries a 429 Too Many Requests answer.
func isThrottled(err error) bool { return statusOf(err) == http.StatusTooManyRequests }

// isTransient reports whether err carries an answer worth trying again later (429, 503 or 504).
func isTransient(err error) bool { return retryableStatus(statusOf(err)) }

// isBadRequest reports whether err carries a 400 answer.
func isBadRequest(err error) bool { return statusOf(err) == http.StatusBadRequest }

// isUnauthorized reports whether err carries a 401 answer (missing, expired or wrong-audience token).
func isUnauthorized(err error) bool { return statusOf(err) == http.StatusUnauthorized }

// isForbidden reports whether err carries a 403 answer.
func isForbidden(err error) bool { return statusOf(err) == http.StatusForbidden }

// isNotFound reports whether err carries a 404 answer.
func isNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }
