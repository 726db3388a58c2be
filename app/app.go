package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync/service"
)

// ErrInvalidInput is wrapped by every error a binding returns for input it
// rejects; nothing is changed when it is returned. It is the service's own
// sentinel, so input the service refuses is told apart the same way.
var ErrInvalidInput = service.ErrInvalidInput

// Limits on what the frontend may send to the bindings.
const (
	// MaxPingLen is the longest message Ping accepts, in bytes.
	MaxPingLen = 1024
	// MaxUserAgentLen is the longest user agent a self-check may carry, in bytes.
	MaxUserAgentLen = 1024
	// MaxCheckErrorLen is the longest error text one check may carry, in bytes.
	MaxCheckErrorLen = 4096
)

// EventSelfCheck is emitted to the frontend with the SelfCheckReport each time
// ReportSelfCheck accepts a result.
const EventSelfCheck = "app:selfcheck"

// Options configures an App. The zero value works: it logs nowhere, writes
// no self-check file and uses the real Wails runtime once started.
type Options struct {
	// Logger receives the bindings' logs; nil discards them.
	Logger *slog.Logger
	// Version is what App.Version reports; empty means "dev".
	Version string
	// SelfCheckPath, when set, is the file that each accepted self-check
	// report is written to as JSON (0600, replaced atomically).
	SelfCheckPath string
	// Window makes the Window when Wails starts the window; nil means
	// NewWailsWindow.
	Window WindowFactory
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// App is the object bound into the webview: every exported method is callable
// from the frontend as window.go.app.App.<Method>. It is safe for concurrent
// use; Wails calls bindings from several goroutines.
type App struct {
	log           *slog.Logger
	version       string
	selfCheckPath string
	newWindow     WindowFactory
	now           func() time.Time

	mu   sync.Mutex
	rt   Window // nil outside startup..shutdown
	last *SelfCheckReport
}

// New returns an App configured by opts.
func New(opts Options) *App {
	a := &App{
		log:           opts.Logger,
		version:       opts.Version,
		selfCheckPath: opts.SelfCheckPath,
		newWindow:     opts.Window,
		now:           opts.Now,
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.version == "" {
		a.version = "dev"
	}
	if a.newWindow == nil {
		a.newWindow = NewWailsWindow
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a
}

// startup is Wails' OnStartup hook: it attaches the runtime for this window.
func (a *App) startup(wailsCtx context.Context) {
	rt := a.newWindow(wailsCtx)
	a.mu.Lock()
	a.rt = rt
	a.mu.Unlock()
	a.log.Info("desktop window started", "version", a.version)
}

// shutdown is Wails' OnShutdown hook: it detaches the runtime, after which
// events are dropped.
func (a *App) shutdown(context.Context) {
	a.mu.Lock()
	a.rt = nil
	a.mu.Unlock()
	a.log.Info("desktop window stopped")
}

// runtime returns the attached Window, or nil before startup and after
// shutdown.
func (a *App) window() Window {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rt
}

// emit sends an event when a window is running and drops it otherwise.
func (a *App) emit(name string, data ...any) {
	if rt := a.window(); rt != nil {
		rt.EventsEmit(name, data...)
	}
}

// quit ends the window's main loop; it reports whether a window was running.
func (a *App) quit() bool {
	rt := a.window()
	if rt == nil {
		return false
	}
	rt.Quit()
	return true
}

// showWindow brings a hidden window back, e.g. when a second instance starts.
func (a *App) showWindow() {
	if rt := a.window(); rt != nil {
		rt.WindowShow()
	}
}

// hideWindow hides the window; sync goes on in the background.
func (a *App) hideWindow() {
	if rt := a.window(); rt != nil {
		rt.WindowHide()
	}
}

// Version returns the version of the running fieldsync build.
func (a *App) Version() string {
	return a.version
}

// Ping returns msg unchanged, so the frontend can prove that a value makes the
// round trip through the bindings. Messages longer than MaxPingLen bytes or
// not valid UTF-8 are rejected with ErrInvalidInput.
func (a *App) Ping(msg string) (string, error) {
	if len(msg) > MaxPingLen {
		return "", fmt.Errorf("ping: message is %d bytes, the limit is %d: %w", len(msg), MaxPingLen, ErrInvalidInput)
	}
	if !utf8.ValidString(msg) {
		return "", fmt.Errorf("ping: message is not valid UTF-8: %w", ErrInvalidInput)
	}
	return msg, nil
}
