package app

import (
	"io"
	"log/slog"
	"os"
)

// NewLogger logs JSON when the output is not a terminal (services, containers) and text
// otherwise; forceJSON (PORTICO_LOG_FORMAT) overrides that.
func NewLogger(level string, forceJSON *bool, w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	useJSON := !isTerminal(w)
	if forceJSON != nil {
		useJSON = *forceJSON
	}
	if useJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
