package main

import (
	"context"
	_ "embed"
	"path/filepath"

	"github.com/fieldsync/fieldsync/app"
	"github.com/fieldsync/fieldsync/internal/cli"
)

// appIcon is the window icon (Linux); Wails' packaging uses the same file.
//
//go:embed build/appicon.png
var appIcon []byte

// desktop opens the Wails window with the runtime's parts: the App and the
// UI bound into the page, the agent's events sent to the window, and the
// sync schedule running while fieldsync runs. The store opens only once
// Wails has made sure this is the one window for the data directory, so a
// second start just shows the running window. It returns when the window
// is quit, or closes it when ctx is cancelled (SIGINT/SIGTERM).
func desktop(ctx context.Context, rt *cli.Runtime) error {
	dataDir := rt.Config.DataDir
	b := cli.NewDeferredBackend(rt)
	a := app.New(app.Options{
		Logger:        rt.Logger.With("component", "app"),
		Version:       cli.Version(),
		SelfCheckPath: filepath.Join(dataDir, "selfcheck.json"),
	})
	ui, err := app.NewUI(app.UIOptions{Backend: b, Logger: rt.Logger.With("component", "ui"), Done: ctx.Done()})
	if err != nil {
		return err
	}
	defer b.Stop()
	return app.RunDesktop(ctx, app.DesktopOptions{
		Assets:         rt.Env.Assets,
		Logger:         rt.Logger,
		App:            a,
		Bind:           []any{ui},
		WebviewDataDir: filepath.Join(dataDir, "webview"),
		InstanceID:     app.InstanceIDFor(dataDir),
		Icon:           appIcon,
		HideOnClose:    true,
		OnStartup: func(ctx context.Context) {
			if err := b.Open(ctx); err != nil {
				// Every call from the page answers with this error.
				rt.Logger.Error("the store did not open", "err", err)
				return
			}
			// Events sent before the page listens are dropped; it
			// catches up by mirror sequence when it starts.
			b.AddEvents(app.NewEmitter(a))
			if err := b.Start(ctx); err != nil {
				rt.Logger.Error("the sync schedule did not start", "err", err)
			}
		},
	})
}
