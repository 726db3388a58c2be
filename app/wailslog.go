package app

import (
	"context"
	"log/slog"

	wailslogger "github.com/wailsapp/wails/v2/pkg/logger"
)

// wailsLogger sends Wails' own log lines to slog under component=wails.
type wailsLogger struct {
	log *slog.Logger
}

var _ wailslogger.Logger = wailsLogger{}

func newWailsLogger(log *slog.Logger) wailsLogger {
	return wailsLogger{log: log.With("component", "wails")}
}

func (l wailsLogger) Print(message string)   { l.log.Info(message) }
func (l wailsLogger) Trace(message string)   { l.log.Debug(message) }
func (l wailsLogger) Debug(message string)   { l.log.Debug(message) }
func (l wailsLogger) Info(message string)    { l.log.Info(message) }
func (l wailsLogger) Warning(message string) { l.log.Warn(message) }
func (l wailsLogger) Error(message string)   { l.log.Error(message) }
func (l wailsLogger) Fatal(message string)   { l.log.Error(message, "fatal", true) }

// wailsLevel is the lowest Wails level that log's handler would keep, so
// Wails does not format lines that slog then drops. Wails' INFO lines are
// start-up chatter, so they are kept only when debug logging is on.
func wailsLevel(log *slog.Logger) wailslogger.LogLevel {
	ctx := context.Background()
	switch {
	case log.Enabled(ctx, slog.LevelDebug):
		return wailslogger.DEBUG
	case log.Enabled(ctx, slog.LevelWarn):
		return wailslogger.WARNING
	default:
		return wailslogger.ERROR
	}
}
