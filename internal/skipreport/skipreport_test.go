package skipreport

import (
	"slices"
	"testing"
)

func TestNoteKeepsTheFirstReasonPerSuite(t *testing.T) {
	Note("PostgreSQL tests", "first")
	Note("PostgreSQL tests", "second")
	Note("browser tests (Chromium)", "no chromium")
	t.Cleanup(func() {
		mu.Lock()
		clear(notes)
		mu.Unlock()
	})
	want := []string{"SKIPPED PostgreSQL tests: first", "SKIPPED browser tests (Chromium): no chromium"}
	if got := Lines(); !slices.Equal(got, want) {
		t.Errorf("Lines() = %q, want %q", got, want)
	}
}
