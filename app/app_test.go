package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wailsapp/wails/v2/pkg/options"
)

// fakeWindow records what App asks of the Wails runtime.
type fakeWindow struct {
	mu     sync.Mutex
	events []fakeEvent
	shows  int
	hides  int
	quits  int
}

type fakeEvent struct {
	name string
	data []any
}

var _ Window = (*fakeWindow)(nil)

func (f *fakeWindow) EventsEmit(name string, data ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, fakeEvent{name: name, data: data})
}

func (f *fakeWindow) WindowShow() { f.mu.Lock(); f.shows++; f.mu.Unlock() }
func (f *fakeWindow) WindowHide() { f.mu.Lock(); f.hides++; f.mu.Unlock() }
func (f *fakeWindow) Quit()       { f.mu.Lock(); f.quits++; f.mu.Unlock() }

func (f *fakeWindow) eventNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, e := range f.events {
		names = append(names, e.name)
	}
	return names
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records decodes the JSON log lines written so far.
func (b *syncBuffer) records(tb testing.TB) []map[string]any {
	tb.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			tb.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

var fixedNow = time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)

// newTestApp returns an App logging JSON into the returned buffer, started
// with a fake runtime.
func newTestApp(tb testing.TB, selfCheckPath string) (*App, *fakeWindow, *syncBuffer) {
	tb.Helper()
	logs := &syncBuffer{}
	rt := &fakeWindow{}
	a := New(Options{
		Logger:        slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:       "1.2.3",
		SelfCheckPath: selfCheckPath,
		Window:        func(context.Context) Window { return rt },
		Now:           func() time.Time { return fixedNow },
	})
	a.startup(context.Background())
	return a, rt, logs
}

func healthyResult() SelfCheckResult {
	return SelfCheckResult{
		IndexedDB:  CheckOutcome{OK: true},
		Binding:    CheckOutcome{OK: true},
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15",
		DurationMs: 12.5,
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	if got := a.Version(); got != "dev" {
		t.Errorf("Version() = %q, want dev", got)
	}
	// Without a started window, events and quit are dropped, not fatal.
	a.emit("x")
	if a.quit() {
		t.Error("quit() = true before startup, want false")
	}
	if err := a.ReportSelfCheck(healthyResult()); err != nil {
		t.Errorf("ReportSelfCheck without window or file: %v", err)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msg     string
		wantErr bool
	}{
		{"empty", "", false},
		{"ascii", "probe-123", false},
		{"unicode", "Grüße ☕ 🚜", false},
		{"at limit", strings.Repeat("a", MaxPingLen), false},
		{"over limit", strings.Repeat("a", MaxPingLen+1), true},
		{"invalid utf8", "a\xffb", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := New(Options{})
			got, err := a.Ping(tt.msg)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("Ping error = %v, want ErrInvalidInput", err)
				}
				if !strings.HasPrefix(err.Error(), "ping: ") {
					t.Errorf("error %q lacks the ping: prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if got != tt.msg {
				t.Errorf("Ping(%q) = %q", tt.msg, got)
			}
		})
	}
}

func TestSelfCheckResultValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*SelfCheckResult)
		wantErr string // substring; empty means valid
	}{
		{"healthy", func(*SelfCheckResult) {}, ""},
		{"indexeddb failed with message", func(r *SelfCheckResult) {
			r.IndexedDB = CheckOutcome{Error: "QuotaExceededError"}
		}, ""},
		{"ok with error", func(r *SelfCheckResult) {
			r.Binding = CheckOutcome{OK: true, Error: "boom"}
		}, "binding: passed but carries an error"},
		{"failed without message", func(r *SelfCheckResult) {
			r.IndexedDB = CheckOutcome{}
		}, "indexedDB: failed without an error message"},
		{"error too long", func(r *SelfCheckResult) {
			r.IndexedDB = CheckOutcome{Error: strings.Repeat("e", MaxCheckErrorLen+1)}
		}, "indexedDB: error is 4097 bytes"},
		{"error invalid utf8", func(r *SelfCheckResult) {
			r.Binding = CheckOutcome{Error: "\xff"}
		}, "binding: error is not valid UTF-8"},
		{"user agent too long", func(r *SelfCheckResult) {
			r.UserAgent = strings.Repeat("u", MaxUserAgentLen+1)
		}, "userAgent is 1025 bytes"},
		{"negative duration", func(r *SelfCheckResult) {
			r.DurationMs = -1
		}, "durationMs is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := healthyResult()
			tt.mutate(&r)
			err := r.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Validate error = %v, want ErrInvalidInput", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestReportSelfCheck(t *testing.T) {
	t.Parallel()
	failed := healthyResult()
	failed.IndexedDB = CheckOutcome{Error: "UnknownError: Database deleted by request of the user"}

	tests := []struct {
		name      string
		result    SelfCheckResult
		wantLevel string
		wantMsg   string
	}{
		{"healthy", healthyResult(), "INFO", "self-check passed"},
		{"indexeddb failed", failed, "ERROR", "self-check failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state", "selfcheck.json")
			a, rt, logs := newTestApp(t, path)

			if err := a.ReportSelfCheck(tt.result); err != nil {
				t.Fatalf("ReportSelfCheck: %v", err)
			}

			var rec map[string]any
			for _, r := range logs.records(t) {
				if r["msg"] == tt.wantMsg {
					rec = r
				}
			}
			if rec == nil {
				t.Fatalf("no %q log line in %v", tt.wantMsg, logs.records(t))
			}
			if rec["level"] != tt.wantLevel {
				t.Errorf("level = %v, want %s", rec["level"], tt.wantLevel)
			}
			if rec["indexeddb_error"] != tt.result.IndexedDB.Error || rec["user_agent"] != tt.result.UserAgent {
				t.Errorf("log line %v does not carry the result", rec)
			}

			want := SelfCheckReport{
				SelfCheckResult: tt.result,
				Healthy:         tt.result.OK(),
				Version:         "1.2.3",
				PID:             os.Getpid(),
				ReceivedAt:      fixedNow,
			}
			got, ok := a.lastSelfCheck()
			if !ok || got != want {
				t.Errorf("lastSelfCheck() = %+v, %v; want %+v", got, ok, want)
			}

			info, err := os.Stat(path)
			if err != nil {
				t.Fatalf("self-check file: %v", err)
			}
			if perm := info.Mode().Perm(); perm != 0o600 {
				t.Errorf("self-check file mode = %o, want 600", perm)
			}
			if dinfo, err := os.Stat(filepath.Dir(path)); err != nil || dinfo.Mode().Perm() != 0o700 {
				t.Errorf("self-check dir: %v, mode %v; want 0700", err, dinfo.Mode().Perm())
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var fromFile SelfCheckReport
			if err := json.Unmarshal(data, &fromFile); err != nil {
				t.Fatalf("decode self-check file: %v\n%s", err, data)
			}
			if fromFile != want {
				t.Errorf("file holds %+v, want %+v", fromFile, want)
			}
			for _, key := range []string{`"indexedDB"`, `"binding"`, `"healthy"`, `"userAgent"`} {
				if !bytes.Contains(data, []byte(key)) {
					t.Errorf("file lacks key %s:\n%s", key, data)
				}
			}
			if names := rt.eventNames(); len(names) != 1 || names[0] != EventSelfCheck {
				t.Errorf("events = %v, want [%s]", names, EventSelfCheck)
			}
		})
	}
}

func TestReportSelfCheckRejectsInvalid(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "selfcheck.json")
	a, rt, logs := newTestApp(t, path)
	bad := healthyResult()
	bad.IndexedDB = CheckOutcome{}

	err := a.ReportSelfCheck(bad)
	if !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("ReportSelfCheck error = %v, want ErrInvalidInput", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("self-check file written for a rejected report: %v", statErr)
	}
	if _, ok := a.lastSelfCheck(); ok {
		t.Error("rejected report kept as the latest")
	}
	if names := rt.eventNames(); len(names) != 0 {
		t.Errorf("events = %v for a rejected report", names)
	}
	var warned bool
	for _, r := range logs.records(t) {
		warned = warned || (r["level"] == "WARN" && r["msg"] == "self-check report rejected")
	}
	if !warned {
		t.Errorf("no warning logged: %v", logs.records(t))
	}
}

func TestReportSelfCheckReplacesFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "selfcheck.json")
	a, _, _ := newTestApp(t, path)
	failed := healthyResult()
	failed.Binding = CheckOutcome{Error: "timeout"}
	for _, r := range []SelfCheckResult{failed, healthyResult()} {
		if err := a.ReportSelfCheck(r); err != nil {
			t.Fatalf("ReportSelfCheck: %v", err)
		}
	}
	var got SelfCheckReport
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Healthy {
		t.Errorf("file holds %+v, want the latest (healthy) report", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only selfcheck.json (temp files left behind?)", len(entries))
	}
}

func TestReportSelfCheckUnwritableFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a, _, logs := newTestApp(t, filepath.Join(blocker, "selfcheck.json"))

	err := a.ReportSelfCheck(healthyResult())
	if err == nil || !strings.HasPrefix(err.Error(), "self-check: save report: ") {
		t.Fatalf("ReportSelfCheck error = %v, want a save error", err)
	}
	// The report is still logged and kept: nothing is lost.
	if _, ok := a.lastSelfCheck(); !ok {
		t.Error("report not kept after a failed save")
	}
	var logged bool
	for _, r := range logs.records(t) {
		logged = logged || r["msg"] == "self-check passed"
	}
	if !logged {
		t.Error("report not logged after a failed save")
	}
}

func TestWindowLifecycle(t *testing.T) {
	t.Parallel()
	a, rt, _ := newTestApp(t, "")

	a.emit("sync:progress", 1)
	a.showWindow()
	if !a.quit() {
		t.Error("quit() = false with a running window")
	}
	a.shutdown(context.Background())
	a.emit("sync:progress", 2) // dropped
	a.showWindow()             // dropped
	if a.quit() {
		t.Error("quit() = true after shutdown")
	}

	if names := rt.eventNames(); len(names) != 1 || names[0] != "sync:progress" {
		t.Errorf("events = %v, want one sync:progress", names)
	}
	if rt.shows != 1 || rt.quits != 1 {
		t.Errorf("shows=%d quits=%d, want 1 and 1", rt.shows, rt.quits)
	}
}

func TestWailsOptions(t *testing.T) {
	t.Parallel()
	assets := fstest.MapFS{"index.html": {Data: []byte("<html></html>")}}
	tests := []struct {
		name        string
		goos        string
		opts        DesktopOptions
		wantID      string
		wantWindows bool
	}{
		{"linux defaults", "linux", DesktopOptions{Assets: assets}, DefaultInstanceID, false},
		{"custom instance", "linux", DesktopOptions{Assets: assets, InstanceID: "test-1"}, "test-1", false},
		{"windows webview dir", "windows", DesktopOptions{Assets: assets, WebviewDataDir: `C:\fs\webview`}, DefaultInstanceID, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := &fakeWindow{}
			a := New(Options{Window: func(context.Context) Window { return rt }})
			o := wailsOptions(a, tt.opts, slog.New(slog.DiscardHandler), tt.goos)

			if o.Title != WindowTitle {
				t.Errorf("Title = %q", o.Title)
			}
			if o.AssetServer == nil || o.AssetServer.Assets == nil {
				t.Fatal("no assets configured")
			}
			if len(o.Bind) != 1 || o.Bind[0] != any(a) {
				t.Errorf("Bind = %v, want only the App", o.Bind)
			}
			if o.SingleInstanceLock == nil || o.SingleInstanceLock.UniqueId != tt.wantID {
				t.Fatalf("SingleInstanceLock = %+v, want id %q", o.SingleInstanceLock, tt.wantID)
			}
			if o.Linux == nil || o.Linux.ProgramName != "fieldsync" {
				t.Errorf("Linux options = %+v", o.Linux)
			}
			if got := o.Windows != nil; got != tt.wantWindows {
				t.Fatalf("Windows options set = %v, want %v", got, tt.wantWindows)
			}
			if tt.wantWindows && o.Windows.WebviewUserDataPath != tt.opts.WebviewDataDir {
				t.Errorf("WebviewUserDataPath = %q", o.Windows.WebviewUserDataPath)
			}

			// A second instance brings the running window to the front.
			a.startup(context.Background())
			o.SingleInstanceLock.OnSecondInstanceLaunch(optionsSecondInstance())
			if rt.shows != 1 {
				t.Errorf("second instance: shows = %d, want 1", rt.shows)
			}
			o.OnShutdown(context.Background())
			if a.window() != nil {
				t.Error("OnShutdown did not detach the runtime")
			}
		})
	}
}

func TestRunDesktopRejectsBadOptions(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		opts    DesktopOptions
		wantErr error
	}{
		{"no assets", context.Background(), DesktopOptions{}, ErrNoFrontend},
		{"unbuilt frontend", context.Background(), DesktopOptions{Assets: fstest.MapFS{".gitkeep": {}}}, ErrNoFrontend},
		{"cancelled", cancelled, DesktopOptions{Assets: fstest.MapFS{"index.html": {}}}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := RunDesktop(tt.ctx, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RunDesktop error = %v, want %v", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "desktop: ") {
				t.Errorf("error %q lacks the desktop: prefix", err)
			}
		})
	}
}

func TestWailsLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug, "debug"},
		{slog.LevelInfo, "warning"},
		{slog.LevelWarn, "warning"},
		{slog.LevelError, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			t.Parallel()
			log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: tt.level}))
			if got := wailsLevel(log).String(); got != tt.want {
				t.Errorf("wailsLevel = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWailsLogger(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	l := newWailsLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Trace("t")
	l.Debug("d")
	l.Print("p")
	l.Info("i")
	l.Warning("w")
	l.Error("e")
	l.Fatal("f")
	want := []string{"DEBUG t", "DEBUG d", "INFO p", "INFO i", "WARN w", "ERROR e", "ERROR f"}
	recs := logs.records(t)
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if got := r["level"].(string) + " " + r["msg"].(string); got != want[i] || r["component"] != "wails" {
			t.Errorf("record %d = %v, want %q with component=wails", i, r, want[i])
		}
	}
}

func optionsSecondInstance() options.SecondInstanceData {
	return options.SecondInstanceData{Args: []string{"--flag"}, WorkingDirectory: "/"}
}

func TestInstanceIDFor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := InstanceIDFor(dir)
	if b := InstanceIDFor(dir + string(filepath.Separator) + "."); a != b {
		t.Errorf("same dir, different ids: %q and %q", a, b)
	}
	if c := InstanceIDFor(filepath.Join(dir, "other")); a == c {
		t.Errorf("different dirs share id %q", a)
	}
	if !strings.HasPrefix(a, DefaultInstanceID+".") {
		t.Errorf("id %q does not start with %s.", a, DefaultInstanceID)
	}
	// Wails turns the id into a D-Bus name by replacing '.' and '-' with '_';
	// D-Bus allows only [A-Za-z0-9_] in a name element.
	for _, r := range a {
		if !(r == '.' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			t.Fatalf("id %q holds %q, which cannot be part of a D-Bus name", a, r)
		}
	}
}

func TestEmitter(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	e := NewEmitter(a)
	e.Emit("sync:status", 1) // nothing attached: dropped, not fatal

	rt := &fakeWindow{}
	AttachWindow(a, rt)
	e.Emit("sync:status", map[string]int{"pending": 2})
	AttachWindow(a, nil)
	e.Emit("sync:status", 3)

	if len(rt.events) != 1 || rt.events[0].name != "sync:status" {
		t.Fatalf("events = %+v, want one sync:status", rt.events)
	}
	if got := rt.events[0].data; len(got) != 1 || got[0].(map[string]int)["pending"] != 2 {
		t.Errorf("payload = %#v, want the one map argument", got)
	}
}

func TestWailsOptionsBindsExtraObjects(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	extra := &struct{ Name string }{"ui"}
	o := wailsOptions(a, DesktopOptions{App: a, Bind: []any{extra}}, slog.New(slog.DiscardHandler), "linux")
	if len(o.Bind) != 2 || o.Bind[0] != any(a) || o.Bind[1] != any(extra) {
		t.Errorf("Bind = %v, want the App then the extra object", o.Bind)
	}
}

func TestHideOnCloseAndMenu(t *testing.T) {
	t.Parallel()
	assets := fstest.MapFS{"index.html": {Data: []byte("<html></html>")}}
	rt := &fakeWindow{}
	a := New(Options{Window: func(context.Context) Window { return rt }})
	o := wailsOptions(a, DesktopOptions{Assets: assets, HideOnClose: true}, slog.New(slog.DiscardHandler), "linux")
	if !o.HideWindowOnClose {
		t.Fatal("HideWindowOnClose not set: closing the window would stop background sync")
	}
	if o.Menu == nil || len(o.Menu.Items) != 1 {
		t.Fatalf("menu = %+v, want one fieldsync submenu", o.Menu)
	}
	a.startup(context.Background())
	byLabel := map[string]func(){}
	for _, it := range o.Menu.Items[0].SubMenu.Items {
		if it.Click != nil {
			item := it
			byLabel[it.Label] = func() { item.Click(nil) }
		}
	}
	hide, quit := byLabel["Hide window"], byLabel["Quit fieldsync"]
	if hide == nil || quit == nil {
		t.Fatalf("menu items = %v, want Hide window and Quit fieldsync", byLabel)
	}
	hide()
	quit()
	if rt.hides != 1 || rt.quits != 1 {
		t.Errorf("hides=%d quits=%d, want 1 and 1", rt.hides, rt.quits)
	}
}

// lastSelfCheck returns (for tests) the latest accepted report, if any.
func (a *App) lastSelfCheck() (SelfCheckReport, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		return SelfCheckReport{}, false
	}
	return *a.last, true
}
