package store

import (
	"os"
	"testing"

	"portico/internal/skipreport"
)

// TestMain names the PostgreSQL suite in `go test ./...` output when it was skipped (internal/skipreport).
func TestMain(m *testing.M) { os.Exit(skipreport.Main(m)) }
