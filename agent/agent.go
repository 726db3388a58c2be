package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/schema"
)

// Defaults of Options.
const (
	DefaultSpec        = "@every 5m"
	DefaultBatchRows   = 500
	DefaultBatchBytes  = 512 << 10
	DefaultPageRows    = 1000
	DefaultRefPageRows = 10_000
	// DefaultPushParallel is how many batches a push has in flight; see
	// docs/BENCHMARKS.md for the measurement behind it.
	DefaultPushParallel = 2
	DefaultLookBack     = time.Hour
	DefaultMaxOffset    = time.Minute
	DefaultMinBackoff   = 30 * time.Second
	DefaultMaxBackoff   = 30 * time.Minute
	DefaultSaveDelay    = 30 * time.Second
	DefaultMaxProbe     = 2 * time.Minute
	// DefaultMaxClockAhead bounds how far ahead of the clocks a version may
	// be (see Options.MaxClockAhead).
	DefaultMaxClockAhead = 24 * time.Hour
	// DefaultPullRetries is how many failed reads of a batch quarantine it.
	DefaultPullRetries = 8
	// DefaultPullRetryWait is the wait after a batch's second failed read;
	// it doubles per read after that, up to six hours.
	DefaultPullRetryWait = time.Minute
)

// Options configures an Agent. Store, Drill and Schema are required; every
// other zero field means its default.
type Options struct {
	Store  Store
	Drill  Drill
	Schema *schema.Set
	// Workspace is the Drill workspace of the change log, "plugin.workspace"
	// (default "dfs.fieldsync").
	Workspace string
	// Spec is the sync schedule in cron syntax, including descriptors such
	// as "@every 5m" (default DefaultSpec).
	Spec string
	// MaxOffset bounds the per-device offset added to every scheduled run,
	// so a fleet does not hit Drill in the same second. The offset is
	// derived from the device id, so it is stable across restarts. It also
	// bounds the fleet-wide jitter: the random delay (drawn from a source
	// seeded by the device id) before a sync triggered by saves or by
	// Drill answering again.
	MaxOffset time.Duration
	// MinBackoff and MaxBackoff bound the wait after failed syncs, which
	// doubles per consecutive failure, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// SaveDelay is how long after the last local save (Saved) the running
	// schedule syncs, plus the jitter (default DefaultSaveDelay).
	SaveDelay time.Duration
	// MaxProbe bounds the wait between probes of an unreachable Drill,
	// which doubles from MinBackoff, with jitter (default DefaultMaxProbe).
	// Probes need a Drill that is a Prober.
	MaxProbe time.Duration
	// OnSync, when set, is called after every sync, scheduled or not, with
	// its outcome (metrics). It must not block for long.
	OnSync func(SyncResult)
	// BatchRows and BatchBytes bound one pushed batch; BatchBytes counts
	// the batch's JSON text in the CTAS. A single change larger than
	// BatchBytes goes in a batch of its own. Measured on Drill 1.22: a CTAS
	// of 0.8 MB takes about 2 s, of 1.6 MB 7.5 s, of 3.2 MB 84 s.
	BatchRows, BatchBytes int
	// BatchFormat is the file format batches are written in: "parquet"
	// (the default) or "json" (BatchJSON), which Drill reads 5-9 times
	// cheaper per file; it needs a Drill that takes per-query options
	// (OptionQuerier) and every device of the fleet on a release that
	// reads both (docs/OPERATIONS.md, "Batch format").
	BatchFormat string
	// PushParallel bounds the batches a push has in flight at once
	// (default DefaultPushParallel; 1 writes one after the other). The next
	// batch is always planned and its SQL built while one is in flight.
	PushParallel int
	// PageRows bounds the rows read from Drill per query when pulling.
	PageRows int
	// LookBack is how far before the pull watermark batches are listed
	// again, because CTAS results appear late and clocks differ.
	LookBack time.Duration
	// MaxClockAhead bounds versions (default DefaultMaxClockAhead): a
	// pulled version more than this ahead of both this computer's clock and
	// Drill's is quarantined; a local one more than this ahead of Drill's is
	// not pushed.
	MaxClockAhead time.Duration
	// PullRetries is how many failed reads of a pulled batch (unreadable,
	// empty or short) quarantine it (default DefaultPullRetries).
	PullRetries int
	// PullRetryWait is the wait after a batch's second failed read,
	// doubling after each further one (default DefaultPullRetryWait).
	PullRetryWait time.Duration
	// Events receives status, progress and applied changes (nil: discard).
	Events Events
	// Logger receives the agent's logs (nil: discard).
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// DrillClock, when set, replaces Drill's clock: the clock that names
	// pushed batches and their hour partitions, places heartbeats, bounds
	// versions and dates snapshots (nil: asked of Drill once per sync).
	// For simulations and tests only (a device that was away for hours;
	// the fleet simulation, whose simulated time passes days in minutes
	// against a real Drillbit); everything else still runs in Drill.
	// CompactOptions.DrillClock is the compactor's.
	DrillClock func() time.Time
	// QueryTimeout is the time limit of one query of the Drill client
	// (default drill.DefaultQueryTimeout): a CTAS this device sent may
	// still be writing a batch until then, or MaxWriteTime when that is
	// shorter (see MaxBatchNameAge).
	QueryTimeout time.Duration
	// Cluster names the Drill cluster (its URLs) in what the agent
	// remembers of it (the analyst views it made, store.ViewMark), so
	// another cluster is checked anew.
	Cluster string
	// AppVersion is reported in the fleet table (see FleetDir).
	AppVersion string
	// Scope holds the device's settings a reference query may name as
	// ${key} (author, region, …); ${device} is always this device's id.
	Scope map[string]string
	// RefPageRows bounds the rows read per query when pulling a reference
	// collection (default DefaultRefPageRows).
	RefPageRows int
}

// Agent runs sync between the local store and Drill. Its methods are safe
// for concurrent use; at most one sync runs at a time.
type Agent struct {
	st        Store
	dr        Drill
	schema    *schema.Set
	plugin    string
	workspace string
	opts      Options
	log       *slog.Logger
	events    Events
	now       func() time.Time
	device    string
	sched     *schedule

	syncing chan struct{} // holds one token while a sync runs
	kick    chan struct{} // wakes the loop to plan again

	// refreshMu serializes RefreshStatus: its counts are read outside mu,
	// and two refreshes racing (one per accepted batch during a bulk
	// import) would otherwise set and emit an older read after a newer
	// one, so the status's pending count went backwards, which the page
	// takes for a finished push.
	refreshMu sync.Mutex

	mu     sync.Mutex
	status Status
	wake   wakeups
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ErrSyncRunning is returned by TrySync when a sync is already running.
var ErrSyncRunning = errors.New("agent: a sync is already running")

// New checks opts and returns an Agent; call Start to run the schedule, or
// SyncNow for one sync.
func New(opts Options) (*Agent, error) {
	if opts.Store == nil || opts.Drill == nil || opts.Schema == nil {
		return nil, errors.New("agent: Store, Drill and Schema are required")
	}
	plugin, ws, err := splitWorkspace(&opts.Workspace)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	switch opts.BatchFormat {
	case "", BatchParquet:
		opts.BatchFormat = BatchParquet
	case BatchJSON:
		if _, ok := opts.Drill.(OptionQuerier); !ok {
			return nil, errors.New("agent: batch format json needs a Drill that takes per-query options")
		}
	default:
		return nil, fmt.Errorf("agent: batch format %q: want %s or %s", opts.BatchFormat, BatchParquet, BatchJSON)
	}
	opts = opts.withDefaults()
	a := &Agent{
		st: opts.Store, dr: opts.Drill, schema: opts.Schema,
		plugin: plugin, workspace: ws, opts: opts,
		log: opts.Logger, events: opts.Events, now: opts.Now,
		device:  opts.Store.DeviceID(),
		syncing: make(chan struct{}, 1),
		kick:    make(chan struct{}, 1),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.events == nil {
		a.events = discardEvents{}
	}
	if a.now == nil {
		a.now = time.Now
	}
	sched, err := newSchedule(opts, a.device)
	if err != nil {
		return nil, err
	}
	a.sched = sched
	a.status = Status{State: StateIdle}
	return a, nil
}

// splitWorkspace splits "plugin.workspace", setting an empty one to
// dfs.fieldsync.
func splitWorkspace(workspace *string) (plugin, ws string, err error) {
	if *workspace == "" {
		*workspace = "dfs.fieldsync"
	}
	plugin, ws, ok := strings.Cut(*workspace, ".")
	if !ok || plugin == "" || ws == "" {
		return "", "", fmt.Errorf("workspace %q: want plugin.workspace, e.g. dfs.fieldsync", *workspace)
	}
	return plugin, ws, nil
}

// withDefaults returns o with every zero field that has a default set to it.
func (o Options) withDefaults() Options {
	if o.Spec == "" {
		o.Spec = DefaultSpec
	}
	setDefault := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDefault(&o.BatchRows, DefaultBatchRows)
	setDefault(&o.BatchBytes, DefaultBatchBytes)
	setDefault(&o.PageRows, DefaultPageRows)
	setDefault(&o.PushParallel, DefaultPushParallel)
	setDefault(&o.RefPageRows, DefaultRefPageRows)
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur(&o.LookBack, DefaultLookBack)
	setDur(&o.MaxOffset, DefaultMaxOffset)
	setDur(&o.MinBackoff, DefaultMinBackoff)
	setDur(&o.MaxBackoff, DefaultMaxBackoff)
	setDur(&o.SaveDelay, DefaultSaveDelay)
	setDur(&o.MaxProbe, DefaultMaxProbe)
	setDefault(&o.PullRetries, DefaultPullRetries)
	setDur(&o.MaxClockAhead, DefaultMaxClockAhead)
	setDur(&o.PullRetryWait, DefaultPullRetryWait)
	setDur(&o.QueryTimeout, drill.DefaultQueryTimeout)
	return o
}

// deviceOffset derives a stable offset in [0, max) from the device id.
func deviceOffset(device string, max time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(device))
	return time.Duration(h.Sum64() % uint64(max))
}

// Start runs the schedule until ctx is cancelled or Stop is called:
// syncs on the cron spec (or backoff after failures), a while after saves
// (Saved), and soon after an unreachable Drill answers again.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		return errors.New("agent: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.loop(ctx)
	}()
	return nil
}

// Stop stops the schedule and waits for a running sync to end.
func (a *Agent) Stop() {
	a.mu.Lock()
	cancel := a.cancel
	a.cancel = nil
	a.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	a.wg.Wait()
}

// SyncNow runs one sync (push, then pull) now. If a sync is already
// running it waits for it to end first, then runs its own.
func (a *Agent) SyncNow(ctx context.Context) (Report, error) {
	select {
	case a.syncing <- struct{}{}:
	case <-ctx.Done():
		return Report{}, fmt.Errorf("agent: sync now: %w", ctx.Err())
	}
	defer func() { <-a.syncing }()
	return a.runSync(ctx)
}

// TrySync runs one sync now, or returns ErrSyncRunning at once when one is
// running.
func (a *Agent) TrySync(ctx context.Context) (Report, error) {
	select {
	case a.syncing <- struct{}{}:
	default:
		return Report{}, ErrSyncRunning
	}
	defer func() { <-a.syncing }()
	return a.runSync(ctx)
}

// Report summarises one sync.
type Report struct {
	Pushed         int      `json:"pushed"`          // changes written to Drill
	Batches        int      `json:"batches"`         // batches written
	Pulled         int      `json:"pulled"`          // changes applied from other devices
	PulledBatches  int      `json:"pulled_batches"`  // batches read
	Incomplete     int      `json:"incomplete"`      // batches not read completely: read again later
	Waiting        int      `json:"waiting"`         // batches waiting to be read again, not due yet
	Quarantined    int      `json:"quarantined"`     // rows and batches newly quarantined
	AutoResolved   int      `json:"auto_resolved"`   // conflicts settled by policy
	Conflicts      int      `json:"conflicts"`       // conflicts open after the sync
	Unpushable     []string `json:"unpushable"`      // change ids that cannot be written, with why
	StartedAt      int64    `json:"started_at"`      // epoch ms
	FinishedAt     int64    `json:"finished_at"`     // epoch ms
	ViewsRefreshed int      `json:"views_refreshed"` // collections whose views were (re)created
	ViewsError     string   `json:"views_error,omitempty"`
	// References reports the reference collections checked in this sync.
	References []RefResult `json:"references,omitempty"`
}

// pushAndPull runs the push and, as soon as the listing taken beside it
// (listAhead) is in, the pull: while Drill writes this device's batches,
// the pull reads and applies what the others wrote. Neither needs the
// other. The listing was taken before the push wrote anything, so it never
// holds this device's new batches (which a pull would skip anyway); the
// clocks were read before both and are only read by them; the store
// serialises their transactions, as it does a push and the user's edits.
// A resolution the pull makes is journaled and leaves with the push after
// the pull (runSync). The push's error comes first: it is the one a user
// must see (unsent changes); what the pull applied meanwhile stays applied.
// A pull whose listing could not be taken ahead (a collection never pulled,
// which starts from a snapshot; a failed listing) runs after the push, as
// every pull once did.
func (a *Agent) pushAndPull(ctx context.Context, rep *Report, clk *syncClock, listed <-chan pullListing) error {
	if listed == nil {
		return a.push(ctx, rep, clk) // no collection declared: nothing to pull
	}
	type pullResult struct {
		ran     bool        // false: the listing failed, the pull is still to run
		listing pullListing // when it did not run
		err     error
	}
	var pulled Report
	pullDone := make(chan pullResult, 1)
	go func() {
		l := <-listed
		if l.err != nil {
			pullDone <- pullResult{listing: l}
			return
		}
		pullDone <- pullResult{ran: true, err: a.pull(ctx, &pulled, clk, &l)}
	}()
	pushErr := a.push(ctx, rep, clk)
	if pushErr == nil {
		a.setState(StatePulling, nil)
	}
	res := <-pullDone
	rep.addPull(pulled)
	switch {
	case pushErr != nil:
		return pushErr
	case !res.ran:
		return a.pull(ctx, rep, clk, &res.listing)
	}
	return res.err
}

// addPull adds what a pull reported to r.
func (r *Report) addPull(p Report) {
	r.Pulled += p.Pulled
	r.PulledBatches += p.PulledBatches
	r.Incomplete += p.Incomplete
	r.Waiting += p.Waiting
	r.Quarantined += p.Quarantined
	r.AutoResolved += p.AutoResolved
	r.Conflicts += p.Conflicts
}

func (a *Agent) runSync(ctx context.Context) (Report, error) {
	started := a.now()
	rep := Report{StartedAt: started.UnixMilli()}
	prev := a.Status()
	a.setState(StatePushing, nil)
	clk := &syncClock{}
	// The pull's listing runs beside the push (see listAhead), and so does
	// the pull once it has its listing (see pushAndPull).
	listed, err := a.listAhead(ctx, clk)
	if err == nil {
		err = a.pushAndPull(ctx, &rep, clk, listed)
	}
	if err == nil && rep.AutoResolved > 0 {
		// Resolutions made by policy leave in the sync that made them.
		// Held until the next sync, each of two devices would see its
		// own unsent resolution as the newest leaf of a conflict, be its
		// resolver, and the two would resolve each other's previous
		// resolution forever (TestCompetingResolutionsSettle).
		a.setState(StatePushing, nil)
		err = a.push(ctx, &rep, clk)
	}
	if err == nil {
		// The analyst views are a convenience beside the log: failing to
		// refresh them does not fail the sync; the next sync tries again.
		if verr := a.refreshViews(ctx, &rep); verr != nil {
			rep.ViewsError = verr.Error()
			a.log.Warn("refresh analyst views", "err", verr)
		}
	}
	if err == nil {
		// Reference data has its own schedule; a source that fails is
		// reported in rep.References and does not fail the sync.
		rep.References = a.pullReferences(ctx, false)
	}
	if err == nil {
		a.heartbeat(ctx, rep, prev)
	}
	rep.FinishedAt = a.now().UnixMilli()
	a.finish(ctx, &rep, started, err)
	if err != nil {
		return rep, err
	}
	return rep, nil
}
