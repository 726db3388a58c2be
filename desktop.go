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

// desktop opens the Wails window with the runtime's parts. It returns when
// the window is closed, or closes it when ctx is cancelled (SIGINT/SIGTERM).
func desktop(ctx context.Context, rt *cli.Runtime) error {
	dataDir := rt.Config.DataDir
	return app.RunDesktop(ctx, app.DesktopOptions{
		Assets:         rt.Env.Assets,
		Logger:         rt.Logger,
		Version:        cli.Version(),
		SelfCheckPath:  filepath.Join(dataDir, "selfcheck.json"),
		WebviewDataDir: filepath.Join(dataDir, "webview"),
		InstanceID:     app.InstanceIDFor(dataDir),
		Icon:           appIcon,
	})
}
