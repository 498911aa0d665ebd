// Package skipreport makes `go test ./...` say which test suites were skipped and why (no
// Chromium, no axe-core, no PostgreSQL), even for a package that passes.
//
// For a passing package in package-list mode (`go test ./...`), the go command discards everything
// the test binary printed and shows one "ok" line (cmd/go/internal/test: buf.Reset() unless -v or
// -json); t.Skip messages, t.Log and a TestMain's own output are all lost. So Report writes the
// notes to the go command's own standard output as well (on Linux, /proc/<parent>/fd/1 when the
// parent is the go command), and keeps the result out of the test cache so a later `go test ./...` repeats
// them instead of printing "ok (cached)" without them. Where the go command's output cannot be
// reached safely (not Linux, or a file it writes that this process cannot share), the notes are
// printed only where -v shows them. With -v, -json or a failure the go command
// shows the binary's output, so the notes are printed there only once.
package skipreport

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
)

var (
	mu        sync.Mutex
	notes     = map[string]string{} // suite → why
	cacheOnce sync.Once
)

// Note records that suite was skipped and why; the first reason given for a suite is kept.
func Note(suite, why string) {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := notes[suite]; ok {
		return
	}
	notes[suite] = why
	cacheOnce.Do(preventCaching)
}

// Main runs the tests and reports the skipped suites; use it as
// `func TestMain(m *testing.M) { os.Exit(skipreport.Main(m)) }`.
func Main(m *testing.M) int {
	code := m.Run()
	lines := Lines()
	if len(lines) == 0 {
		return code
	}
	text := strings.Join(lines, "\n") + "\n"
	fmt.Print(text)
	if code == 0 && !testing.Verbose() {
		if w := goCommandStdout(); w != nil {
			_, _ = io.WriteString(w, text)
			_ = w.Close()
		}
	}
	return code
}

// Lines are the report, one line per skipped suite, sorted.
func Lines() []string {
	mu.Lock()
	defer mu.Unlock()
	var out []string
	for suite, why := range notes {
		out = append(out, fmt.Sprintf("SKIPPED %s: %s", suite, why))
	}
	slices.Sort(out)
	return out
}
