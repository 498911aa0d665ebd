package handlers

import (
	"strings"

	"portico/views"
)

// welcomeLink reads one PORTICO_WELCOME_LINKS entry, "Label|https://url".
func welcomeLink(s string) views.Link {
	label, u, ok := strings.Cut(s, "|")
	if !ok {
		return views.Link{Label: s, URL: s}
	}
	return views.Link{Label: strings.TrimSpace(label), URL: strings.TrimSpace(u)}
}
