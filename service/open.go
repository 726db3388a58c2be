package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// StoreFile is the bbolt file inside the data dir.
const StoreFile = "fieldsync.db"

// openParts opens the store and loads the declarations, then builds the
// agent and the capture path; callers hold mu.
func (s *Service) openParts(ctx context.Context) (engine, error) {
	c := s.opts.Config
	if s.store == nil {
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return engine{}, fmt.Errorf("data dir: %w", err)
		}
		// AutoCompact: a store that synced a large journal gives its
		// free pages back on the next start (docs/OPERATIONS.md).
		st, err := store.Open(ctx, filepath.Join(c.DataDir, StoreFile), &store.Options{Logger: s.opts.Logger, DeviceID: c.Device,
			MaxClockAhead: time.Duration(c.Drill.MaxClockAhead), AutoCompact: true})
		if err != nil {
			return engine{}, err
		}
		s.store = st
	}
	set, err := loadSchema(c.Collections)
	if err != nil {
		return engine{}, err
	}
	ag, err := s.newAgent(c, set)
	if err != nil {
		return engine{}, err
	}
	return engine{cfg: c, set: set, agent: ag, capture: s.newCapture(c, set)}, nil
}

// loadSchema loads the declarations file; none gives an empty set.
func loadSchema(file string) (*schema.Set, error) {
	if file == "" {
		return &schema.Set{}, nil
	}
	return schema.Load(file)
}

func (s *Service) newCapture(c config.Config, set *schema.Set) *Capture {
	return &Capture{Journal: s.store, Schema: set, Author: c.Author, Refs: s.store}
}

// Secrets returns where the Drill password of c is kept.
func (s *Service) Secrets(c config.Config) config.Secrets {
	return SecretsFor(c, s.opts.Keyring, s.opts.Sources.Env)
}

// SecretsFor returns where the Drill password of c is kept: the keyring,
// the FIELDSYNC_DRILL_PASSWORD variable of environ, or the 0600 file in
// the data dir when there is no keyring.
func SecretsFor(c config.Config, kr config.Keyring, environ []string) config.Secrets {
	return config.Secrets{Keyring: kr, Env: environ, PasswordFile: filepath.Join(c.DataDir, "drill-password")}
}

// noDrill stands in for Drill when no Drillbit is configured: every sync
// fails with a sentence that says so, and capture keeps working offline.
type noDrill struct{}

func (noDrill) Query(context.Context, string) ([]agent.Row, error) {
	return nil, fmt.Errorf("%w: no Drillbit is configured (set drill.urls in the settings or pass --drill URL)", drill.ErrUnavailable)
}

// noPassword stands in for Drill while the settings ask for a login but no
// password is stored: every sync fails with a sentence that says so.
type noPassword struct{ err error }

func (n noPassword) Query(context.Context, string) ([]agent.Row, error) {
	return nil, n.err
}

// newAgent builds an agent for c over the store and the event hub: at
// Open, and again when the settings change. Settings that ask for a login
// before a password is stored give an agent whose syncs say so, not an
// error, so that the window still opens to take the password.
func (s *Service) newAgent(c config.Config, set *schema.Set) (*agent.Agent, error) {
	d, err := s.drillFor(c)
	if err != nil {
		return nil, err
	}
	return agent.New(agent.Options{
		Store:        s.store,
		Drill:        d,
		Schema:       set,
		Workspace:    c.Drill.Plugin + "." + c.Drill.Workspace,
		Spec:         c.Schedule,
		BatchRows:    c.Drill.BatchRows,
		BatchFormat:  c.Drill.BatchFormat,
		PushParallel: c.Drill.PushParallel,
		// The same bound as the store's, so a version the agent accepts
		// is one the store's clock may observe.
		MaxClockAhead: time.Duration(c.Drill.MaxClockAhead),
		PullRetries:   c.Drill.PullRetries,
		QueryTimeout:  time.Duration(c.Drill.QueryTimeout),
		Cluster:       strings.Join(c.Drill.URLs, ","),
		AppVersion:    s.opts.Version,
		OnSync:        s.metrics.Observe,
		Events:        &s.events,
		Logger:        s.opts.Logger,
		Scope:         scopeOf(c),
	})
}

// drillFor returns the Drill the settings c name: a REST client (that
// creates the workspace first when they name its location), or a stand-in
// whose queries say that no Drillbit is set or no password is stored.
func (s *Service) drillFor(c config.Config) (agent.Drill, error) {
	if len(c.Drill.URLs) == 0 {
		return noDrill{}, nil
	}
	dc, err := NewDrillClient(c, s.Secrets(c), s.opts.Logger)
	switch {
	case errors.Is(err, config.ErrNoPassword):
		return noPassword{err: err}, nil
	case err != nil:
		return nil, err
	}
	var d agent.Drill = agent.DrillClient(dc)
	if c.Drill.Location != "" {
		d = &ensureWorkspace{Drill: d, client: dc, cfg: c.Drill, log: s.log}
	}
	return d, nil
}

var (
	_ agent.Prober    = (*ensureWorkspace)(nil)
	_ agent.RowReader = (*ensureWorkspace)(nil)
)

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
	if err := e.ensure(ctx); err != nil {
		return nil, err
	}
	return e.Drill.Query(ctx, sql)
}

// QueryEach ensures the workspace once, then runs sql, handing each row
// to each as it is read when the Drill underneath can (agent.RowReader).
func (e *ensureWorkspace) QueryEach(ctx context.Context, sql string, each func(agent.Row) error) error {
	if err := e.ensure(ctx); err != nil {
		return err
	}
	if rr, ok := e.Drill.(agent.RowReader); ok {
		return rr.QueryEach(ctx, sql, each)
	}
	rows, err := e.Drill.Query(ctx, sql)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := each(r); err != nil {
			return err
		}
	}
	return nil
}

// ensure creates the workspace unless an earlier call did.
func (e *ensureWorkspace) ensure(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return nil
	}
	changed, err := e.client.EnsureWorkspace(ctx, e.cfg.Plugin, e.cfg.Workspace, e.cfg.Location, true)
	if err != nil {
		return fmt.Errorf("create workspace %s.%s at %s: %w", e.cfg.Plugin, e.cfg.Workspace, e.cfg.Location, err)
	}
	if changed {
		e.log.Info("created the Drill workspace", "plugin", e.cfg.Plugin, "workspace", e.cfg.Workspace, "location", e.cfg.Location)
	}
	e.done = true
	return nil
}

// Probe asks Drill whether it answers, without ensuring the workspace (a
// probe runs no query), when the Drill underneath can be probed.
func (e *ensureWorkspace) Probe(ctx context.Context) error {
	if p, ok := e.Drill.(agent.Prober); ok {
		return p.Probe(ctx)
	}
	return errors.New("drill cannot be probed")
}

// NewDrillClient builds the REST client from the settings and, when they
// ask for a login, the password from secrets.
func NewDrillClient(c config.Config, secrets config.Secrets, log *slog.Logger) (*drill.Client, error) {
	opts := drill.Options{
		Logger:         log,
		Endpoints:      c.Drill.URLs,
		CAFile:         c.Drill.CAFile,
		RequestTimeout: time.Duration(c.Drill.Timeout),
		QueryTimeout:   time.Duration(c.Drill.QueryTimeout),
	}
	switch c.Drill.Auth {
	case "basic":
		opts.Auth = drill.AuthBasic
	case "form":
		opts.Auth = drill.AuthForm
	}
	if opts.Auth != drill.AuthNone {
		pw, _, err := secrets.DrillPassword(c.Drill)
		if err != nil {
			return nil, err
		}
		opts.User, opts.Password = c.Drill.User, pw
	}
	return drill.New(opts)
}

// eventHub fans the agent's events out to whoever listens (the window or
// the browser bridge). Sinks are added before the schedule starts.
type eventHub struct {
	mu    sync.RWMutex
	sinks []agent.Events
}

// Emit forwards an event to every sink.
func (h *eventHub) Emit(name string, payload any) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range h.sinks {
		s.Emit(name, payload)
	}
}

func (h *eventHub) add(s agent.Events) {
	h.mu.Lock()
	h.sinks = append(h.sinks, s)
	h.mu.Unlock()
}

// scopeOf returns the settings a reference query may name: the scope
// keys of the settings and the author.
func scopeOf(c config.Config) map[string]string {
	out := map[string]string{}
	for k, v := range c.Scope {
		out[k] = v
	}
	if c.Author != "" {
		out["author"] = c.Author
	}
	return out
}
