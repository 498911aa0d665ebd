package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// validText reports whether every s can be stored and compared on both engines: valid UTF-8
// (which excludes overlong encodings and surrogates) without NUL, which PostgreSQL's text refuses.
func validText(s ...string) bool {
	for _, v := range s {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return false
		}
	}
	return true
}

// checkText returns an *InputError naming the first field whose text is not validText.
func checkText(fields ...[2]string) error {
	for _, f := range fields {
		if !validText(f[1]) {
			return &InputError{Field: f[0]}
		}
	}
	return nil
}

// Bounds of audit fields, in runes: the trail is append-only, so what goes in stays.
const (
	MaxAuditDetail = 2000 // detail
	MaxAuditField  = 200  // every other text field (target, actor, action, outcome, ids, address)
)

// cleanAuditText makes s safe to keep and to show: invalid UTF-8 becomes U+FFFD, line breaks and
// tabs become a space (so one event stays one line in every export and log), other control
// characters (NUL, escapes, C1) and the invisible bidirectional controls that reorder what a reader
// sees (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C) are removed, and the result is cut to
// limit runes, ending in "…" when cut.
func cleanAuditText(s string, limit int) string {
	if validText(s) && utf8.RuneCountInString(s) <= limit && strings.IndexFunc(s, unsafeRune) < 0 {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	n := 0
	for _, r := range s {
		if unsafeRune(r) {
			if !unicode.IsSpace(r) {
				continue
			}
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	out := b.String()
	if n > limit {
		out = string([]rune(out)[:limit-1]) + "…"
	}
	return out
}

func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	}
	return false
}

// cleanAudit bounds and cleans every text field of ev in place, before it is appended.
func cleanAudit(ev *AuditEvent) {
	for _, f := range []*string{&ev.ActorTID, &ev.ActorOID, &ev.ActorUPN, &ev.Action, &ev.Target, &ev.Outcome,
		&ev.GraphRequestID, &ev.ClientIP, &ev.RequestID} {
		*f = cleanAuditText(*f, MaxAuditField)
	}
	ev.Detail = cleanAuditText(ev.Detail, MaxAuditDetail)
}
