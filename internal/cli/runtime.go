package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// storeFile is the bbolt file inside the data dir.
const storeFile = "fieldsync.db"

// noDrill stands in for Drill when no Drillbit is configured: every sync
// fails with a sentence that says so, and capture keeps working offline.
type noDrill struct{}

func (noDrill) Query(context.Context, string) ([]agent.Row, error) {
	return nil, fmt.Errorf("%w: no Drillbit is configured (set drill.urls in the settings or pass --drill URL)", drill.ErrUnavailable)
}

// openParts opens the store, loads the collections and builds the Drill
// client, the agent and the capture path on top of an opened Runtime.
func openParts(ctx context.Context, rt *Runtime) error {
	c := rt.Config
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	st, err := store.Open(ctx, filepath.Join(c.DataDir, storeFile), &store.Options{Logger: rt.Logger, DeviceID: c.Device})
	if err != nil {
		return err
	}
	rt.Store = st
	rt.closers = append(rt.closers, st)

	set := &schema.Set{}
	if c.Collections != "" {
		if set, err = schema.Load(c.Collections); err != nil {
			return err
		}
	}
	rt.Schema = set

	rt.Events = &eventHub{}
	ag, dc, err := newAgent(rt, c, set)
	if err != nil {
		return err
	}
	rt.Drill = dc
	rt.Agent = ag
	rt.Capture = &agent.Capture{Journal: st, Schema: set, Author: c.Author}
	return nil
}

// newAgent builds the Drill client (nil when no Drillbit is configured) and
// an agent for c over rt's store and event hub: at start, and again by the
// Backend when the settings change. Settings that ask for a login before a
// password is stored give an agent whose syncs say so, not an error, so
// that the window still opens to take the password.
func newAgent(rt *Runtime, c config.Config, set *schema.Set) (*agent.Agent, *drill.Client, error) {
	var d agent.Drill = noDrill{}
	var dc *drill.Client
	if len(c.Drill.URLs) > 0 {
		var err error
		dc, err = newDrillClient(rt.Env, c, rt.Logger)
		switch {
		case errors.Is(err, config.ErrNoPassword):
			d = noPassword{err: err}
		case err != nil:
			return nil, nil, err
		default:
			d = agent.DrillClient(dc)
			if c.Drill.Location != "" {
				d = &ensureWorkspace{Drill: d, client: dc, cfg: c.Drill, log: rt.Logger}
			}
		}
	}
	ag, err := agent.New(agent.Options{
		Store:      rt.Store,
		Drill:      d,
		Schema:     set,
		Workspace:  c.Drill.Plugin + "." + c.Drill.Workspace,
		Spec:       c.Schedule,
		BatchRows:  c.Drill.BatchRows,
		AppVersion: Version(),
		Events:     rt.Events,
		Logger:     rt.Logger,
	})
	if err != nil {
		return nil, nil, err
	}
	return ag, dc, nil
}

// noPassword stands in for Drill while the settings ask for a login but no
// password is stored: every sync fails with a sentence that says so.
type noPassword struct{ err error }

func (n noPassword) Query(context.Context, string) ([]agent.Row, error) {
	return nil, n.err
}

// ensureWorkspace creates fieldsync's workspace in the storage plugin before
// the first query, when the settings name a location for it. It tries again
// on the next query after a failure (e.g. Drill was down).
type ensureWorkspace struct {
	agent.Drill
	client *drill.Client
	cfg    config.Drill
	log    *slog.Logger
	mu     sync.Mutex
	done   bool
}

// Query ensures the workspace once, then runs sql.
func (e *ensureWorkspace) Query(ctx context.Context, sql string) ([]agent.Row, error) {
	e.mu.Lock()
	if !e.done {
		changed, err := e.client.EnsureWorkspace(ctx, e.cfg.Plugin, e.cfg.Workspace, e.cfg.Location, true)
		if err != nil {
			e.mu.Unlock()
			return nil, fmt.Errorf("create workspace %s.%s at %s: %w", e.cfg.Plugin, e.cfg.Workspace, e.cfg.Location, err)
		}
		if changed {
			e.log.Info("created the Drill workspace", "plugin", e.cfg.Plugin, "workspace", e.cfg.Workspace, "location", e.cfg.Location)
		}
		e.done = true
	}
	e.mu.Unlock()
	return e.Drill.Query(ctx, sql)
}

// newDrillClient builds the REST client from the settings and the keyring.
func newDrillClient(env Env, c config.Config, log *slog.Logger) (*drill.Client, error) {
	opts := drill.Options{
		Logger:         log,
		Endpoints:      c.Drill.URLs,
		CAFile:         c.Drill.CAFile,
		RequestTimeout: time.Duration(c.Drill.Timeout),
	}
	switch c.Drill.Auth {
	case "basic":
		opts.Auth = drill.AuthBasic
	case "form":
		opts.Auth = drill.AuthForm
	}
	if opts.Auth != drill.AuthNone {
		pw, _, err := secretsFor(env, c).DrillPassword(c.Drill)
		if err != nil {
			return nil, err
		}
		opts.User, opts.Password = c.Drill.User, pw
	}
	return drill.New(opts)
}

// eventHub fans the agent's events out to whoever listens (the window or
// the browser bridge), set once the listener exists.
type eventHub struct {
	sinks []agent.Events
}

// Emit forwards an event to every sink.
func (h *eventHub) Emit(name string, payload any) {
	for _, s := range h.sinks {
		s.Emit(name, payload)
	}
}

// add registers a sink; call it before the agent starts.
func (h *eventHub) add(s agent.Events) { h.sinks = append(h.sinks, s) }

// withParts runs fn with a fully opened runtime and closes it after.
func withParts(ctx context.Context, env Env, g *globals, fn func(*Runtime) error) error {
	rt, err := openRuntime(ctx, env, g)
	if err != nil {
		return err
	}
	defer rt.Close()
	if err := openParts(ctx, rt); err != nil {
		return err
	}
	return fn(rt)
}
