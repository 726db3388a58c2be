package cli

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Runtime is what a long-running fieldsync process (window, agent, serve)
// is built from. The process that builds it owns it and closes it.
type Runtime struct {
	Config config.Config
	// Sources are the settings layers Config was loaded from; the settings
	// UI writes Sources.User.
	Sources config.Sources
	Logger  *slog.Logger
	Env     Env
	// Set by openParts:
	Store   *store.Store
	Schema  *schema.Set
	Drill   *drill.Client // nil when no Drillbit is configured
	Agent   *agent.Agent
	Capture *agent.Capture
	Events  *eventHub

	closers []io.Closer
}

// Close releases the runtime's parts in reverse order of opening.
func (rt *Runtime) Close() error {
	var errs []error
	for i := len(rt.closers) - 1; i >= 0; i-- {
		errs = append(errs, rt.closers[i].Close())
	}
	rt.closers = nil
	return errors.Join(errs...)
}

func runDesktop(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	if env.Desktop == nil {
		return errors.New("this build has no window: use 'fieldsync serve' or 'fieldsync agent'")
	}
	// The store opens once the window knows it is the only instance (see
	// NewDeferredBackend): a second start only shows the running window.
	rt, err := openRuntime(ctx, env, g)
	if err != nil {
		return err
	}
	defer rt.Close()
	return env.Desktop(ctx, rt)
}

// openRuntime loads the settings and opens the log file.
func openRuntime(_ context.Context, env Env, g *globals) (*Runtime, error) {
	c, err := loadConfig(env, g)
	if err != nil {
		return nil, err
	}
	lf, err := openLogFile(c.DataDir)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{Config: c, Sources: sourcesFor(env, g), Env: env}
	rt.closers = append(rt.closers, lf)
	term := c.Log
	if g.quiet && g.logLevel == "" {
		term.Level = "warn"
	}
	rt.Logger = slog.New(slog.NewMultiHandler(newLogger(env.Stderr, term).Handler(), newLogger(lf, c.Log).Handler()))
	return rt, nil
}
