package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/internal/metrics"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Options configures a Service.
type Options struct {
	// Config is the settings in force (all layers and flags applied).
	Config config.Config
	// Sources are the settings layers Config was loaded from: SaveSettings
	// writes Sources.User, and the managed file and the environment (Env)
	// lock the keys they set.
	Sources config.Sources
	// Origins says where each settings key not at its default came from,
	// flags included; nil means what Sources alone tell.
	Origins map[string]config.Origin
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
	// Keyring is the OS keyring that holds the Drill password; nil means
	// config.OSKeyring.
	Keyring config.Keyring
	// Version is the build's version, reported in Info and to Drill.
	Version string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service is the application service of one fieldsync process (window,
// serve or a command). It owns the store and the sync agent. Saving
// settings builds a new agent (and Drill client) over the same store and
// event hub and swaps it in; the schedule keeps running across the swap
// when it was started. It is safe for concurrent use.
type Service struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	store  *store.Store // nil until Open
	events eventHub
	status *statusFile // nil until Open

	// gate is held for reading by calls that use the agent for a whole
	// sync or resolution, and for writing by a swap, so a swap waits for
	// them and two agents never sync at once. Calls that only read the
	// store do not take it: they answer while a sync runs.
	gate sync.RWMutex
	// mu guards cur and openErr; it is held only briefly.
	mu      sync.RWMutex
	cur     engine
	openErr error // why Open failed

	runMu      sync.Mutex
	cancel     context.CancelFunc // nil while the schedule is stopped
	loopDone   chan struct{}
	swaps      chan swapRequest
	wg         sync.WaitGroup
	metrics    *metrics.Metrics
	metricsSrv *metrics.Server // nil while metrics are not served

	refresh statusRefresh // the status recount after saves
}

// engine is what a settings change replaces as one: the settings, the
// declarations, the agent built from them and the capture path.
type engine struct {
	cfg     config.Config
	set     *schema.Set
	agent   *agent.Agent
	capture *Capture
}

type swapRequest struct {
	next *agent.Agent
	done chan struct{}
}

// errStarting is answered by a Service's calls before Open.
var errStarting = errors.New("fieldsync is still starting: try again in a moment")

// New returns a Service whose parts open later, with Open: the window
// binds it before Wails' single-instance check and opens the store only
// once it knows it is the one instance. Until Open its calls fail with a
// sentence saying fieldsync is starting; after a failed Open they fail with
// that error.
func New(opts Options) *Service {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Keyring == nil {
		opts.Keyring = config.OSKeyring{}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Service{opts: opts, log: log.With("component", "service"), now: now, swaps: make(chan swapRequest)}
	s.refresh.log = s.log
	s.metrics = s.newMetrics()
	return s
}

// Open opens the store, the declarations and the agent unless they are open.
func (s *Service) Open(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.agent != nil {
		return nil
	}
	e, err := s.openParts(ctx)
	if err != nil {
		s.openErr = err
		return err
	}
	s.cur = e
	s.openErr = nil
	if s.status == nil {
		// The store is locked while this process runs: `fieldsync status`
		// reads this file instead.
		s.status = &statusFile{path: filepath.Join(e.cfg.DataDir, StatusFile), store: s.store, log: s.log}
		s.events.add(s.status)
	}
	if _, err := e.agent.RefreshStatus(ctx); err != nil {
		s.log.Warn("read the status at open", "err", err)
	}
	return nil
}

// Close stops the schedule and closes the store. The Service cannot be used
// after.
func (s *Service) Close() error {
	s.Stop()
	s.refresh.wait(context.Background()) // it reads the store and writes the status file
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.agent != nil {
		s.cur.agent.Stop()
	}
	s.cur = engine{}
	s.openErr = errors.New("fieldsync is closed")
	if s.store == nil {
		return nil
	}
	if s.status != nil {
		s.status.remove()
	}
	err := s.store.Close()
	s.store = nil
	return err
}

// ready returns the engine in use, or why there is none.
func (s *Service) ready() (engine, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cur.agent != nil {
		return s.cur, nil
	}
	if s.openErr != nil {
		return engine{}, s.openErr
	}
	return engine{}, errStarting
}

// Config returns the settings in force.
func (s *Service) Config() config.Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cur.agent == nil {
		return s.opts.Config
	}
	return s.cur.cfg
}

// Store returns the open store, nil before Open.
func (s *Service) Store() *store.Store {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.store
}

// Schema returns the collection declarations in force, nil before Open.
func (s *Service) Schema() *schema.Set {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur.set
}

// Agent returns the agent in use now, nil before Open. It is stale after
// a settings change: use Start/Stop and SyncNow for the schedule.
func (s *Service) Agent() *agent.Agent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur.agent
}

// AddEvents makes sink receive the agent's events (the window or the
// bridge). Call it after Open and before Start.
func (s *Service) AddEvents(sink agent.Events) { s.events.add(sink) }

// Start runs the sync schedule until ctx ends or Stop is called, across
// settings changes, and serves the metrics meanwhile when the settings
// name metrics.addr.
func (s *Service) Start(ctx context.Context) error {
	// mu (read) is held so that a swap cannot slip between reading the
	// agent and marking the schedule as running; nothing takes mu while
	// holding runMu.
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.cancel != nil {
		return errors.New("service: already started")
	}
	ag := s.cur.agent
	if ag == nil {
		return fmt.Errorf("service: start: %w", errStarting)
	}
	ctx, cancel := context.WithCancel(ctx)
	if err := ag.Start(ctx); err != nil {
		cancel()
		return fmt.Errorf("service: %w", err)
	}
	s.cancel = cancel
	s.startMetrics(s.cur.cfg.Metrics.Addr)
	s.loopDone = make(chan struct{})
	s.wg.Add(1)
	go func(done chan struct{}) {
		defer s.wg.Done()
		defer close(done)
		s.loop(ctx, ag)
	}(s.loopDone)
	return nil
}

// loop keeps the current agent's schedule running and swaps agents.
func (s *Service) loop(ctx context.Context, ag *agent.Agent) {
	for {
		select {
		case <-ctx.Done():
			ag.Stop()
			return
		case req := <-s.swaps:
			ag.Stop()
			ag = req.next
			if err := ag.Start(ctx); err != nil {
				s.log.Error("the new sync schedule did not start", "err", err)
			}
			close(req.done)
		}
	}
}

// Stop stops the schedule and waits for a running sync to end. The UI keeps
// working; SyncNow still syncs.
func (s *Service) Stop() {
	s.runMu.Lock()
	cancel := s.cancel
	s.cancel = nil
	srv := s.metricsSrv
	s.metricsSrv = nil
	s.runMu.Unlock()
	s.stopMetrics(srv)
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
}

// reconfigure builds an agent for c and swaps it in, stopping the old one
// (after its running sync) and starting the new one's schedule when the
// schedule runs.
func (s *Service) reconfigure(ctx context.Context, c config.Config, set *schema.Set) error {
	ag, err := s.newAgent(c, set)
	if err != nil {
		return err
	}
	s.gate.Lock()
	defer s.gate.Unlock()
	s.mu.Lock()
	old := s.cur
	s.cur = engine{cfg: c, set: set, agent: ag, capture: s.newCapture(c, set)}
	s.mu.Unlock()
	s.runMu.Lock()
	running, loopDone := s.cancel != nil, s.loopDone
	s.runMu.Unlock()
	if running {
		req := swapRequest{next: ag, done: make(chan struct{})}
		select {
		case s.swaps <- req:
			<-req.done
		case <-loopDone:
		}
	} else {
		old.agent.Stop()
	}
	s.refreshStatus(ctx, ag, "a settings change")
	return nil
}

// saved tells the agent that local changes were journaled (its running
// schedule syncs a while after the last save) and has the status recounted
// soon, in the background: a burst of saves (an import's batches) shares
// refreshes instead of paying one each (see statusRefresh).
func (s *Service) saved(_ context.Context, ag *agent.Agent, after string) {
	ag.Saved()
	s.refresh.request(ag, after)
}

// statusRefresh recounts the status after saves, off the caller's path and
// one recount at a time: the first save after a quiet spell is recounted
// at once; a save while a recount runs, or within statusRefreshEvery of its
// start, asks for one more, run when that time is up, with the newest
// agent, and shared by every save meanwhile. So the status (with the status
// file and the sync:status event, on which the page catches up and rereads
// its outbox) is recounted after the last save of a burst, and at most
// once per statusRefreshEvery during it, instead of once per batch.
type statusRefresh struct {
	mu    sync.Mutex
	ag    *agent.Agent  // the agent to recount with
	after string        // what was saved, for the log
	again bool          // a save came while a recount ran
	last  time.Time     // when the last recount started
	idle  chan struct{} // closed when the recounts due are done; nil when none is
	log   *slog.Logger
}

// request asks for a recount after a save.
func (r *statusRefresh) request(ag *agent.Agent, after string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ag, r.after = ag, after
	if r.idle != nil {
		r.again = true
		return
	}
	r.idle = make(chan struct{})
	go r.run()
}

// run recounts until no save asked for another meanwhile, each recount
// statusRefreshEvery or more after the start of the one before.
func (r *statusRefresh) run() {
	for {
		r.mu.Lock()
		wait := time.Until(r.last.Add(statusRefreshEvery))
		r.mu.Unlock()
		time.Sleep(wait) // saves meanwhile share this recount
		r.mu.Lock()
		ag, after := r.ag, r.after
		r.again = false
		r.last = time.Now()
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), statusRefreshTimeout)
		if _, err := ag.RefreshStatus(ctx); err != nil {
			r.log.Warn("status not refreshed", "after", after, "err", err)
		}
		cancel()
		r.mu.Lock()
		if !r.again {
			close(r.idle)
			r.idle = nil
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
	}
}

const (
	// statusRefreshEvery is the least time between the starts of two
	// recounts after saves.
	statusRefreshEvery = 200 * time.Millisecond
	// statusRefreshTimeout bounds one background recount.
	statusRefreshTimeout = 10 * time.Second
)

// wait returns when the recounts asked for so far are done, or ctx ends.
func (r *statusRefresh) wait(ctx context.Context) {
	r.mu.Lock()
	idle := r.idle
	r.mu.Unlock()
	if idle == nil {
		return
	}
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// refreshStatus recounts what the status shows after a change the agent
// did not make itself; a failure is only logged.
func (s *Service) refreshStatus(ctx context.Context, ag *agent.Agent, after string) {
	if _, err := ag.RefreshStatus(ctx); err != nil {
		s.log.Warn("status not refreshed", "after", after, "err", err)
	}
}
