package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"
)

// CheckOutcome is the result of one start-up check run in the webview.
type CheckOutcome struct {
	// OK reports whether the check passed.
	OK bool `json:"ok"`
	// Error is the failure, written for people; empty when OK.
	Error string `json:"error,omitempty"`
}

// SelfCheckResult is what the frontend reports after its start-up self-check.
// Field names match frontend/src/lib/selfcheck.ts.
type SelfCheckResult struct {
	// IndexedDB is the outcome of opening the fieldsync database and writing,
	// reading back and deleting a probe record in one transaction.
	IndexedDB CheckOutcome `json:"indexedDB"`
	// Binding is the outcome of the Ping round trip.
	Binding CheckOutcome `json:"binding"`
	// UserAgent is the webview's navigator.userAgent.
	UserAgent string `json:"userAgent"`
	// DurationMs is how long the checks took in the webview, in milliseconds.
	DurationMs float64 `json:"durationMs"`
}

// OK reports whether every check passed.
func (r SelfCheckResult) OK() bool {
	return r.IndexedDB.OK && r.Binding.OK
}

// Validate returns an error wrapping ErrInvalidInput when r is malformed.
func (r SelfCheckResult) Validate() error {
	var errs []error
	for _, c := range []struct {
		name string
		out  CheckOutcome
	}{{"indexedDB", r.IndexedDB}, {"binding", r.Binding}} {
		switch {
		case c.out.OK && c.out.Error != "":
			errs = append(errs, fmt.Errorf("%s: passed but carries an error %q", c.name, c.out.Error))
		case !c.out.OK && c.out.Error == "":
			errs = append(errs, fmt.Errorf("%s: failed without an error message", c.name))
		case len(c.out.Error) > MaxCheckErrorLen:
			errs = append(errs, fmt.Errorf("%s: error is %d bytes, the limit is %d", c.name, len(c.out.Error), MaxCheckErrorLen))
		case !utf8.ValidString(c.out.Error):
			errs = append(errs, fmt.Errorf("%s: error is not valid UTF-8", c.name))
		}
	}
	if len(r.UserAgent) > MaxUserAgentLen {
		errs = append(errs, fmt.Errorf("userAgent is %d bytes, the limit is %d", len(r.UserAgent), MaxUserAgentLen))
	}
	if !utf8.ValidString(r.UserAgent) {
		errs = append(errs, errors.New("userAgent is not valid UTF-8"))
	}
	if r.DurationMs < 0 {
		errs = append(errs, fmt.Errorf("durationMs is negative (%g)", r.DurationMs))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidInput, errors.Join(errs...))
	}
	return nil
}

// SelfCheckReport is an accepted SelfCheckResult as Go records it: logged,
// emitted as EventSelfCheck and written to Options.SelfCheckPath.
type SelfCheckReport struct {
	SelfCheckResult
	// Healthy is SelfCheckResult.OK at the time of the report.
	Healthy bool `json:"healthy"`
	// Version is the fieldsync version that received the report.
	Version string `json:"version"`
	// PID is the process id of the fieldsync process that received it.
	PID int `json:"pid"`
	// ReceivedAt is when Go received the report.
	ReceivedAt time.Time `json:"receivedAt"`
}

// ReportSelfCheck records the result of the frontend's start-up self-check:
// it logs it (INFO when every check passed, ERROR otherwise), keeps it as the
// latest report, emits EventSelfCheck and, when configured, writes it to the
// self-check file. A malformed result is rejected with ErrInvalidInput and
// logged as a warning.
func (a *App) ReportSelfCheck(r SelfCheckResult) error {
	if err := r.Validate(); err != nil {
		a.log.Warn("self-check report rejected", "err", err)
		return fmt.Errorf("self-check: %w", err)
	}
	rep := SelfCheckReport{
		SelfCheckResult: r,
		Healthy:         r.OK(),
		Version:         a.version,
		PID:             os.Getpid(),
		ReceivedAt:      a.now().UTC(),
	}
	level := slog.LevelInfo
	msg := "self-check passed"
	if !rep.Healthy {
		level = slog.LevelError
		msg = "self-check failed"
	}
	a.log.LogAttrs(context.Background(), level, msg,
		slog.Bool("indexeddb_ok", r.IndexedDB.OK),
		slog.String("indexeddb_error", r.IndexedDB.Error),
		slog.Bool("binding_ok", r.Binding.OK),
		slog.String("binding_error", r.Binding.Error),
		slog.String("user_agent", r.UserAgent),
		slog.Float64("duration_ms", r.DurationMs),
	)

	a.mu.Lock()
	a.last = &rep
	a.mu.Unlock()
	a.emit(EventSelfCheck, rep)

	if a.selfCheckPath != "" {
		if err := writeJSONFile(a.selfCheckPath, rep); err != nil {
			a.log.Error("self-check report not saved", "path", a.selfCheckPath, "err", err)
			return fmt.Errorf("self-check: save report: %w", err)
		}
	}
	return nil
}

// writeJSONFile writes v as indented JSON to path, creating its directory
// (0700) and replacing the file (0600) atomically so readers never see a
// partial document.
func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create dir: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	return nil
}
