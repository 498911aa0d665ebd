package config

import (
	"bytes"
	"fmt"

	"portico/keyring"
)

// keyHint ends every key problem: how to make a good key.
const keyHint = "make a random one with: openssl rand -base64 32"

// MinSessionKeyLength is the shortest session key accepted, in characters.
const MinSessionKeyLength = 32

// Thresholds below which a key is refused as low-entropy. 32 random bytes have about 30 distinct
// values and `openssl rand -base64 32` prints about 32 distinct characters; keys far below that were
// typed by hand, not generated.
const (
	minDistinctDataKeyBytes    = 16
	minDistinctSessionKeyChars = 10
)

// documentedSessionKeys and documentedDataKeys are example keys that were printed in Portico's
// documentation; anyone may know them, so they are refused like weak keys.
var (
	documentedSessionKeys = []string{"shared-session-key-0123456789abcdef0123"}
	documentedDataKeys    = []string{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
)

// weakSessionKey says why a session key must not be used, or "" when it may.
func weakSessionKey(k string) string {
	if n := len(k); n < MinSessionKeyLength {
		return fmt.Sprintf("is %d characters; each key needs at least %d", n, MinSessionKeyLength)
	}
	for _, d := range documentedSessionKeys {
		if k == d {
			return "is an example key printed in Portico's documentation, known to anyone"
		}
	}
	switch n := distinct([]rune(k)); {
	case n == 1:
		return "repeats one character; it is guessable"
	case n < minDistinctSessionKeyChars:
		return fmt.Sprintf("uses only %d different characters; it is guessable", n)
	}
	return ""
}

// distinct counts the different values in s.
func distinct[T comparable](s []T) int {
	seen := make(map[T]bool, len(s))
	for _, v := range s {
		seen[v] = true
	}
	return len(seen)
}

// weakDataKey says why a decoded 32-byte data key must not be used, or "" when it may.
func weakDataKey(b []byte) string {
	for _, d := range documentedDataKeys {
		if dk, err := keyring.DecodeKey(d); err == nil && bytes.Equal(dk, b) {
			return "is an example key printed in Portico's documentation, known to anyone"
		}
	}
	switch n := distinct(b); {
	case n == 1:
		return fmt.Sprintf("is %d bytes of the same value (0x%02x); it is guessable", len(b), b[0])
	case n < minDistinctDataKeyBytes:
		return fmt.Sprintf("has only %d different byte values out of %d; it is guessable", n, len(b))
	}
	if step := b[1] - b[0]; isProgression(b, step) {
		return fmt.Sprintf("is a counting sequence (each byte the previous plus %d); it is guessable", step)
	}
	return ""
}

// isProgression reports whether every byte is the previous one plus step (mod 256).
func isProgression(b []byte, step byte) bool {
	for i := 1; i < len(b); i++ {
		if b[i]-b[i-1] != step {
			return false
		}
	}
	return true
}
