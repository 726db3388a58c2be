package cli

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"runtime"

	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/service"
)

// Desktop is what the desktop window opens with.
type Desktop struct {
	// Service is not open yet: the window opens it once Wails knows this
	// is the one instance for the data directory.
	Service *service.Service
	Logger  *slog.Logger
	// DataDir is the settings' data directory.
	DataDir string
	// Assets is the built web UI.
	Assets fs.FS
	// Version is the build's version.
	Version string
}

// DesktopFunc runs the desktop window until it is closed.
type DesktopFunc func(ctx context.Context, d Desktop) error

func runDesktop(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	if env.Desktop == nil {
		return errors.New("this build has no window: use 'fieldsync serve' or 'fieldsync agent'")
	}
	if !hasDisplay(env.Environ, runtime.GOOS) {
		return errors.New("the window needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set: " +
			"run 'fieldsync serve' to use fieldsync in a browser, or 'fieldsync agent' to sync without a window")
	}
	p, err := openProcess(env, g)
	if err != nil {
		return err
	}
	defer p.Close()
	return env.Desktop(ctx, Desktop{Service: p.svc, Logger: p.log, DataDir: p.cfg.DataDir, Assets: env.Assets, Version: version})
}

// hasDisplay reports whether a window can open: on Linux and the BSDs an X
// or Wayland display must be named in the environment; Windows and macOS
// always have their own.
func hasDisplay(environ []string, goos string) bool {
	switch goos {
	case "windows", "darwin":
		return true
	}
	_, x := config.LookupEnv(environ, "DISPLAY")
	_, wl := config.LookupEnv(environ, "WAYLAND_DISPLAY")
	return x || wl
}

// process is what a command runs with: the settings in force, the logger
// (to the terminal and the log file) and the application service over
// them, which opens its store only when asked to.
type process struct {
	cfg     config.Config
	log     *slog.Logger
	svc     *service.Service
	logFile io.Closer
}

// openProcess loads the settings, opens the log file and builds the
// service; the store is not opened yet.
func openProcess(env Env, g *globals) (*process, error) {
	c, err := loadConfig(env, g)
	if err != nil {
		return nil, err
	}
	origins, err := originsFor(env, g)
	if err != nil {
		return nil, err
	}
	lf, err := openLogFile(c.DataDir, c.Log)
	if err != nil {
		return nil, err
	}
	term := c.Log
	if g.quiet && g.logLevel == "" {
		term.Level = "warn"
	}
	log := slog.New(slog.NewMultiHandler(newLogger(env.Stderr, term).Handler(), newLogger(lf, c.Log).Handler()))
	svc := service.New(service.Options{
		Config:  c,
		Sources: sourcesFor(env, g),
		Origins: origins,
		Logger:  log,
		Keyring: env.Keyring,
		Version: version,
	})
	return &process{cfg: c, log: log, svc: svc, logFile: lf}, nil
}

// Close closes the service (and its store), then the log file.
func (p *process) Close() error {
	return errors.Join(p.svc.Close(), p.logFile.Close())
}

// withService runs fn with an opened service and closes it after.
func withService(ctx context.Context, env Env, g *globals, fn func(*process) error) error {
	p, err := openProcess(env, g)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.svc.Open(ctx); err != nil {
		return err
	}
	return fn(p)
}
