package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/menu"
	"github.com/wailsapp/wails/v2/pkg/menu/keys"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/options/linux"
	"github.com/wailsapp/wails/v2/pkg/options/windows"
)

// Window defaults.
const (
	// WindowTitle is the desktop window's title.
	WindowTitle = "fieldsync"
	// DefaultInstanceID is the single-instance id used when
	// DesktopOptions.InstanceID is empty.
	DefaultInstanceID = "io.github.fieldsync.desktop"

	defaultWidth  = 1200
	defaultHeight = 800
	minWidth      = 720
	minHeight     = 480
)

// ErrNoFrontend is returned by RunDesktop when its assets hold no index.html,
// which happens when the frontend was not built before the binary.
var ErrNoFrontend = errors.New("frontend not built: index.html missing from the embedded assets (run `make build`)")

// DesktopOptions configures RunDesktop.
type DesktopOptions struct {
	// Assets is the built frontend with index.html at its root, e.g.
	// fs.Sub(embedded, "frontend/dist"). Required.
	Assets fs.FS
	// Logger receives Wails' logs, and the App's when RunDesktop makes it;
	// nil discards them.
	Logger *slog.Logger
	// App is the bound App. Give one made with New when other parts need
	// it before the window opens (NewEmitter for the agent's events); nil
	// means RunDesktop makes one from Logger, Version and SelfCheckPath.
	App *App
	// Bind lists further objects whose exported methods the page may call,
	// such as the *UI (window.go.app.UI.<Method>).
	Bind []any
	// Version is the build's version, reported by App.Version; used only
	// when App is nil.
	Version string
	// SelfCheckPath is where the latest start-up self-check report is
	// written as JSON; empty means it is only logged. Used only when App is
	// nil.
	SelfCheckPath string
	// WebviewDataDir is a stable folder of fieldsync's own for the webview's
	// storage (IndexedDB and friends). Required on Windows, where it becomes
	// WebView2's user data folder; WebKitGTK on Linux always uses
	// $XDG_DATA_HOME/<executable name> and ignores it.
	WebviewDataDir string
	// InstanceID identifies the single instance: a second start with the same
	// id shows the running window and exits. Empty means DefaultInstanceID.
	InstanceID string
	// Icon is the window icon (PNG) on Linux; nil means none.
	Icon []byte
	// StartHidden starts with the window hidden.
	StartHidden bool
	// OnStartup, when set, runs with RunDesktop's ctx once the window is
	// starting: after Wails' single-instance check (a second start only
	// shows the running window and never gets here) and before the page
	// loads. Open what only the one instance may open here, such as the
	// store. Binding generation (wails build) never calls it either.
	OnStartup func(ctx context.Context)
	// HideOnClose hides the window when it is closed instead of quitting,
	// so sync goes on in the background; the menu's Quit (Ctrl+Q) ends it,
	// and starting fieldsync again shows the window.
	HideOnClose bool
}

// quitGrace is how long RunDesktop waits, once its ctx ends, for the
// window to close on its own before it quits it.
const quitGrace = 3 * time.Second

// RunDesktop opens the fieldsync desktop window and blocks until it is closed
// or ctx is cancelled, in which case it closes the window and returns nil.
// It must be called from the main goroutine of a binary built with the Wails
// build tags (desktop,production and webkit2_41 on Linux); without them it
// fails with Wails' error.
func RunDesktop(ctx context.Context, opts DesktopOptions) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("desktop: %w", err)
	}
	if opts.Assets == nil {
		return fmt.Errorf("desktop: %w", ErrNoFrontend)
	}
	if _, err := fs.Stat(opts.Assets, "index.html"); err != nil {
		return fmt.Errorf("desktop: %w", ErrNoFrontend)
	}
	if runtime.GOOS == "windows" && opts.WebviewDataDir == "" {
		return errors.New("desktop: WebviewDataDir is required on Windows")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := opts.App
	if a == nil {
		a = New(Options{
			Logger:        log,
			Version:       opts.Version,
			SelfCheckPath: opts.SelfCheckPath,
		})
	}

	var wg sync.WaitGroup
	stopped := make(chan struct{})
	wopts := wailsOptions(a, opts, log, runtime.GOOS)
	wopts.OnStartup = func(wailsCtx context.Context) {
		a.startup(wailsCtx)
		if opts.OnStartup != nil {
			opts.OnStartup(ctx)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
			case <-stopped:
				return
			}
			// Wails handles SIGINT and SIGTERM itself (the signals that
			// cancel main's ctx) and quits its main loop: a second
			// gtk_main_quit from here, racing the window's teardown on
			// the main thread, crashed the app with SIGSEGV (desktop
			// smoke, 03:25 UTC). Quit only when Wails has not stopped on
			// its own shortly after.
			log.Info("closing desktop window", "reason", context.Cause(ctx))
			select {
			case <-stopped:
			case <-time.After(quitGrace):
				a.quit()
			}
		}()
	}

	err := wails.Run(wopts)
	close(stopped)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("desktop: run window: %w", err)
	}
	return nil
}

// wailsOptions builds the Wails options for a on the given OS, leaving
// OnStartup to RunDesktop.
func wailsOptions(a *App, opts DesktopOptions, log *slog.Logger, goos string) *options.App {
	id := opts.InstanceID
	if id == "" {
		id = DefaultInstanceID
	}
	o := &options.App{
		Title:             WindowTitle,
		Width:             defaultWidth,
		Height:            defaultHeight,
		MinWidth:          minWidth,
		MinHeight:         minHeight,
		StartHidden:       opts.StartHidden,
		HideWindowOnClose: opts.HideOnClose,
		Menu:              appMenu(a),
		BackgroundColour:  options.NewRGB(0xf6, 0xf7, 0xf9),
		AssetServer:       &assetserver.Options{Assets: opts.Assets},
		OnShutdown:        a.shutdown,
		Bind:              append([]any{a}, opts.Bind...),
		Logger:            newWailsLogger(log),
		LogLevel:          wailsLevel(log),
		// Production builds log below WARNING only when the slog handler
		// asks for it; Wails' own info chatter is noise for users.
		LogLevelProduction: wailsLevel(log),
		SingleInstanceLock: &options.SingleInstanceLock{
			UniqueId: id,
			OnSecondInstanceLaunch: func(d options.SecondInstanceData) {
				log.Info("second instance started; showing this window", "args", d.Args)
				a.showWindow()
			},
		},
		Linux: &linux.Options{
			Icon:        opts.Icon,
			ProgramName: "fieldsync",
			// Never: GPU compositing in WebKitGTK shows blank windows on
			// some drivers and under Xvfb; a forms UI does not need it.
			WebviewGpuPolicy: linux.WebviewGpuPolicyNever,
		},
	}
	if goos == "windows" {
		o.Windows = &windows.Options{WebviewUserDataPath: opts.WebviewDataDir}
	}
	return o
}

// appMenu is the window's menu: with the window hiding on close, Quit is
// how people end fieldsync.
func appMenu(a *App) *menu.Menu {
	m := menu.NewMenu()
	sub := m.AddSubmenu("fieldsync")
	sub.AddText("Hide window", keys.CmdOrCtrl("w"), func(*menu.CallbackData) { a.hideWindow() })
	sub.AddSeparator()
	sub.AddText("Quit fieldsync", keys.CmdOrCtrl("q"), func(*menu.CallbackData) { a.quit() })
	return m
}

// InstanceIDFor returns the single-instance id for a data directory, so that
// one window runs per data directory (the store allows one process per
// directory anyway) while fieldsync processes with other data directories,
// such as tests, run side by side.
func InstanceIDFor(dataDir string) string {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte(filepath.Clean(dataDir)))
	return DefaultInstanceID + "." + hex.EncodeToString(sum[:8])
}
