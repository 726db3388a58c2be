package main

import (
	"context"
	_ "embed"
	"os"
	"path/filepath"
	"runtime"

	"github.com/fieldsync/fieldsync/app"
	"github.com/fieldsync/fieldsync/internal/cli"
)

// appIcon is the window icon (Linux); Wails' packaging uses the same file.
//
//go:embed build/appicon.png
var appIcon []byte

// desktop opens the Wails window over the application service: the App
// and the UI bound into the page, the agent's events sent to the window,
// and the sync schedule running while fieldsync runs. The service opens its
// store only once Wails has made sure this is the one window for the data
// directory, so a second start just shows the running window. It returns
// when the window is quit, or closes it when ctx is cancelled
// (SIGINT/SIGTERM).
func desktop(ctx context.Context, d cli.Desktop) error {
	svc, log := d.Service, d.Logger
	a := app.New(app.Options{
		Logger:        log.With("component", "app"),
		Version:       d.Version,
		SelfCheckPath: filepath.Join(d.DataDir, "selfcheck.json"),
	})
	ui, err := app.NewUI(app.UIOptions{Service: svc, Logger: log.With("component", "ui"), Done: ctx.Done()})
	if err != nil {
		return err
	}
	defer svc.Stop()
	return app.RunDesktop(ctx, app.DesktopOptions{
		Assets:         d.Assets,
		Logger:         log,
		App:            a,
		Bind:           []any{ui},
		WebviewDataDir: webviewDataDir(runtime.GOOS, d.DataDir, os.Getenv),
		InstanceID:     app.InstanceIDFor(d.DataDir),
		Icon:           appIcon,
		HideOnClose:    true,
		OnStartup: func(ctx context.Context) {
			if err := svc.Open(ctx); err != nil {
				// Every call from the page answers with this error.
				log.Error("the store did not open", "err", err)
				return
			}
			// Events sent before the page listens are dropped; it
			// catches up by mirror sequence when it starts.
			svc.AddEvents(app.NewEmitter(a))
			if err := svc.Start(ctx); err != nil {
				log.Error("the sync schedule did not start", "err", err)
			}
		},
	})
}
