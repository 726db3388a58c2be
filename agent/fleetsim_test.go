package agent

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/schema"
)

// The fleet simulation of issue 8: devices, each with its own store, and
// the hourly compactor run on a simulated clock (Options.DrillClock and
// CompactOptions.DrillClock) against the real Drillbit, so that simulated
// days pass in minutes while every CTAS, listing, read, compaction and
// snapshot refresh runs in Drill. It runs in a dfs workspace of its own,
// so that its compactor, days ahead of the real clock, never folds the
// heartbeats other tests write into the shared workspace meanwhile.
//
// The simulated clock starts at the next UTC midnight, so a simulated day
// is the UTC day compaction folds, and only runs ahead of the real one, so
// the Drillbit's directory times (real) are never after the simulated
// times in names: nothing looks late.

// simConfig shapes a simulation.
type simConfig struct {
	devices int
	days    int
	// every is the time between a device's syncs, at an offset of its own
	// within spread (0: every); each sync moves by up to ± jitter (all
	// seeded).
	every, spread, jitter time.Duration
	// activeHours are the first hours of each simulated day in which the
	// devices sync (24: all day); compaction runs every compactEvery all
	// day, as the systemd timer does.
	activeHours  int
	compactEvery time.Duration
	// convertEvery, when set, runs a light pass (Compactor.Convert) that
	// often, with JSON batches settled after jsonSettle (0: the default).
	convertEvery, jsonSettle time.Duration
	// shared is how many records every device edits; one edit in three
	// creates a record of the device's own instead.
	shared int
	seed   uint64
	// ghosts write batches straight into the workspace at the devices'
	// schedule (fleetghost_test.go): the rest of a fleet too large to run.
	ghosts int
}

// simDevice is one simulated device.
type simDevice struct {
	n      *node
	offset time.Duration
	made   int // records of its own created
}

// simDay holds one simulated day's figures.
type simDay struct {
	day             int
	syncs, drill    []float64          // per sync: wall time, time in Drill queries (s)
	cpu             []float64          // per sync: the Drillbit's CPU (s); empty when unknown
	byKind          map[string]float64 // time in Drill queries of all syncs by kind (queryKind), s
	pushed, pulled  int
	ghostChanges    int       // changes the ghosts wrote
	passes, passCPU []float64 // per compaction pass: wall time, Drillbit CPU (s)
	converts        []float64 // per light pass (Compactor.Convert): wall time (s)
	converted       int       // JSON batches rewritten by the light passes
	peakHeap        uint64    // the Go heap's peak while devices synced (bytes)
	files, dirs     int       // under the workspace, on disk, at the end of the day
	peakFiles       int       // the most files seen before a pass (all batches of the day's open hours)
	peakDirs        int       // directories at that moment
	topChanges      int       // entries at the top of the collection's changes/
	rawHours        int       // of which hour partitions not compacted yet
	topHeartbeats   int       // entries at the top of the heartbeat log
	currentRows     int64     // rows of <collection>_current
	currentS        float64   // SELECT COUNT(*) over it (s)
	listMS          float64   // SHOW FILES, ms per entry (0: not measured)
	listN           int       // entries of the partition it was measured on
}

// fleetSim is a running simulation.
type fleetSim struct {
	tb      testing.TB
	cfg     simConfig
	dr      *queryTimer // Drillbit 1's: the compactor's and the checks'
	spent   *spentTime  // the time in Drill queries of every Drillbit
	client  *drill.Client
	plugin  string
	ws      string // workspace name
	dir     string // the workspace's location (on disk, or on the cluster's HDFS)
	fs      simFS  // where dir is
	where   string // the Drill the simulation runs against, in words
	set     *schema.Set
	coll    string
	start   time.Time
	drillCk *clock // Drill's simulated clock
	devs    []*simDevice
	ghosts  []*simGhost
	comp    *Compactor
	rng     *rand.Rand
	cpu     func() (time.Duration, bool)
	syncing atomic.Bool
	peak    atomic.Uint64
	pushed  int // changes pushed in all (each once: the log's size)
}

// newFleetSim makes the workspace, the devices and the compactor. With
// FIELDSYNC_BENCH_CLUSTER=1 it runs on the development cluster
// (drilltest.Cluster: its Drillbits, their workspace on HDFS), the devices
// spread over the Drillbits in turn; otherwise on the embedded Drillbit.
func newFleetSim(tb testing.TB, cfg simConfig, logger func(*Options)) *fleetSim {
	tb.Helper()
	tag := fmt.Sprintf("fleetsim%d_%d", time.Now().UnixNano()%1_000_000_000, itSeq.Add(1))
	s := &fleetSim{tb: tb, cfg: cfg, spent: &spentTime{}, plugin: "dfs", ws: tag, coll: tag + "_inspections",
		rng: rand.New(rand.NewPCG(cfg.seed, 8))}
	var urls []string
	if os.Getenv("FIELDSYNC_BENCH_CLUSTER") == "1" {
		dc := drilltest.Cluster(tb)
		urls = dc.URLs()
		s.dir = "/fieldsync/" + tag
		h := &hdfsFS{tb: tb, base: dc.WebHDFS(tb), root: s.dir}
		tb.Cleanup(h.removeAll)
		s.fs = h
		s.cpu = processCPU(tb, clusterPidFiles(dc.Dir(), len(urls))...)
		s.where = fmt.Sprintf("the development cluster: %d Drillbits, workspace on HDFS", len(urls))
	} else {
		urls = []string{drilltest.URL(tb)}
		s.dir = filepath.Join(drilltest.WorkspaceDir(tb), tag)
		s.fs = localFS{tb: tb, root: s.dir}
		s.where = "the embedded Drillbit, workspace on the local file system"
		s.cpu = processCPU(tb, filepath.Join(filepath.Dir(drilltest.WorkspaceDir(tb)), "drillbit.pid"))
	}
	var drs []*queryTimer
	for i, u := range urls {
		c, err := drill.New(drill.Options{Endpoints: []string{u}})
		if err != nil {
			tb.Fatal(err)
		}
		drs = append(drs, &queryTimer{Drill: DrillClient(c), acc: s.spent})
		if i == 0 {
			s.client = c
		}
	}
	s.dr = drs[0]
	if err := s.fs.mkdirAll(""); err != nil {
		tb.Fatalf("workspace directory of the simulation: %v", err)
	}
	ctx := context.Background()
	if _, err := s.client.EnsureWorkspace(ctx, s.plugin, s.ws, s.dir, true); err != nil {
		tb.Fatalf("workspace of the simulation: %v", err)
	}
	tb.Cleanup(func() { dropWorkspace(tb, s.client, s.plugin, s.ws) })
	var err error
	s.set, err = schema.Parse([]byte(`{"collections":[{"name":"` + s.coll + `","policy":"lww","fields":[` +
		`{"name":"site","type":"text","required":true},{"name":"n","type":"integer"}]}]}`))
	if err != nil {
		tb.Fatal(err)
	}
	s.start = time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	s.drillCk = newClock(s.start.UnixMilli())
	for i := range cfg.devices {
		n := mustNode(tb, fmt.Sprintf("sim%03d", i), s.start.UnixMilli(), drs[i%len(drs)], func(o *Options) {
			o.Schema, o.Workspace, o.DrillClock = s.set, s.plugin+"."+s.ws, s.drillCk.Now
			o.Events = nil // a recorder would keep every change applied: the heap measured is the devices'
			if logger != nil {
				logger(o)
			}
		})
		spread := cmp.Or(cfg.spread, cfg.every)
		s.devs = append(s.devs, &simDevice{n: n, offset: time.Duration(s.rng.Int64N(int64(spread)))})
	}
	s.newGhosts(cfg.ghosts)
	s.comp, err = NewCompactor(CompactOptions{Drill: s.dr, Schema: s.set, Workspace: s.plugin + "." + s.ws,
		Writer: "sim", DrillClock: s.drillCk.Now, Logger: benchLog(), JSONSettle: cfg.jsonSettle})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// dropWorkspace removes a workspace from a file-system storage plugin.
func dropWorkspace(tb testing.TB, c *drill.Client, plugin, ws string) {
	ctx := context.Background()
	p, err := c.StoragePlugin(ctx, plugin)
	if err != nil {
		tb.Logf("drop workspace %s.%s: %v", plugin, ws, err)
		return
	}
	var conf, wss map[string]json.RawMessage
	err = json.Unmarshal(p.Config, &conf)
	if err == nil {
		err = json.Unmarshal(conf["workspaces"], &wss)
	}
	if err == nil {
		delete(wss, ws)
		conf["workspaces"], err = json.Marshal(wss)
	}
	if err == nil {
		p.Config, err = json.Marshal(conf)
	}
	if err == nil {
		err = c.SetStoragePlugin(ctx, p)
	}
	if err != nil {
		tb.Logf("drop workspace %s.%s: %v", plugin, ws, err)
	}
}

// simEvent is a device's sync (dev ≥ 0), a compaction pass (-1), a light
// pass (-2) or a ghost's batch (ghostEvent).
type simEvent struct {
	at  time.Time
	dev int
	g   int // the ghost, when dev is ghostEvent
}

// dayEvents returns a simulated day's events in time order: the devices'
// syncs in the active hours, the compaction passes at the end of every
// compactEvery (the one at the day's end included).
func (s *fleetSim) dayEvents(day int) []simEvent {
	from := s.start.Add(time.Duration(day) * 24 * time.Hour)
	var ev []simEvent
	active := time.Duration(s.cfg.activeHours) * time.Hour
	for i, dv := range s.devs {
		for t := time.Duration(0); t < active; t += s.cfg.every {
			at := t + dv.offset
			if s.cfg.jitter > 0 {
				at += time.Duration(s.rng.Int64N(int64(2*s.cfg.jitter))) - s.cfg.jitter
			}
			ev = append(ev, simEvent{at: from.Add(max(at, 0)), dev: i})
		}
	}
	ev = append(ev, s.ghostEvents(from, active)...)
	for t := s.cfg.compactEvery; t <= 24*time.Hour; t += s.cfg.compactEvery {
		ev = append(ev, simEvent{at: from.Add(t), dev: -1})
	}
	if s.cfg.convertEvery > 0 {
		for t := s.cfg.convertEvery; t <= active+s.cfg.every; t += s.cfg.convertEvery {
			if t%s.cfg.compactEvery != 0 {
				ev = append(ev, simEvent{at: from.Add(t), dev: -2})
			}
		}
	}
	slices.SortStableFunc(ev, func(a, b simEvent) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return b.dev - a.dev // syncs before a pass at the same time
	})
	return ev
}

// advance moves Drill's clock and a device's clock (nil: none) to at.
func (s *fleetSim) advance(at time.Time, dv *simDevice) {
	if ahead := at.Sub(s.drillCk.Now()); ahead > 0 {
		s.drillCk.Advance(ahead)
	}
	if dv != nil {
		if ahead := at.Sub(dv.n.clk.Now()); ahead > 0 {
			dv.n.clk.Advance(ahead)
		}
	}
}

// edit makes 1 to 3 edits on a device: one in three creates a record of
// its own, the others edit shared records (so conflicts happen).
func (s *fleetSim) edit(dv *simDevice, day int) {
	for range 1 + s.rng.IntN(3) {
		id := fmt.Sprint("s", s.rng.IntN(s.cfg.shared))
		if s.rng.IntN(3) == 0 {
			dv.made++
			id = fmt.Sprintf("%s-%d", dv.n.device, dv.made)
		}
		dv.n.edit(s.tb, s.coll, id, fmt.Sprintf(`{"site":"%s day %d","n":%d}`, dv.n.device, day+1, dv.n.n))
	}
}

// runDay runs one simulated day and measures it.
func (s *fleetSim) runDay(ctx context.Context, day int) simDay {
	s.tb.Helper()
	d := simDay{day: day + 1}
	s.peak.Store(0)
	listAt := s.start.Add(time.Duration(day)*24*time.Hour + time.Duration(min(s.cfg.activeHours, 24))*time.Hour)
	for _, e := range s.dayEvents(day) {
		if e.dev == ghostEvent {
			s.advance(e.at, nil)
			n := s.writeGhost(s.ghosts[e.g], day)
			d.ghostChanges += n
			s.pushed += n
			continue
		}
		if e.dev == -2 {
			s.advance(e.at, nil)
			t0 := time.Now()
			rep, err := s.comp.Convert(ctx)
			if err != nil {
				s.tb.Fatalf("light pass at %s: %v (%+v)", e.at.Format(time.RFC3339), err, rep)
			}
			d.converts = append(d.converts, time.Since(t0).Seconds())
			for _, lc := range rep.Logs {
				d.converted += lc.Converted
			}
			continue
		}
		if e.dev < 0 {
			s.advance(e.at, nil)
			if f, dirs := s.fs.count(""); f > d.peakFiles {
				d.peakFiles, d.peakDirs = f, dirs
			}
			if d.listMS == 0 && !e.at.Before(listAt) {
				d.listMS, d.listN = s.listCost(ctx)
			}
			d.passes, d.passCPU = s.timed(d.passes, d.passCPU, func() {
				if rep, err := s.comp.Compact(ctx); err != nil {
					s.tb.Fatalf("compaction at %s: %v (%+v)", e.at.Format(time.RFC3339), err, rep)
				}
			})
			continue
		}
		dv := s.devs[e.dev]
		s.advance(e.at, dv)
		s.edit(dv, day)
		var rep Report
		s.spent.take()
		s.syncing.Store(true)
		d.syncs, d.cpu = s.timed(d.syncs, d.cpu, func() {
			var err error
			if rep, err = dv.n.ag.SyncNow(ctx); err != nil {
				s.tb.Fatalf("%s sync at %s: %v", dv.n.device, e.at.Format(time.RFC3339), err)
			}
		})
		s.syncing.Store(false)
		spent, kinds := s.spent.takeKinds()
		d.drill = append(d.drill, spent.Seconds())
		if d.byKind == nil {
			d.byKind = map[string]float64{}
		}
		for k, v := range kinds {
			d.byKind[k] += v.Seconds()
		}
		d.pushed += rep.Pushed
		d.pulled += rep.Pulled
		s.pushed += rep.Pushed
	}
	d.peakHeap = s.peak.Load()
	d.files, d.dirs = s.fs.count("")
	for _, e := range s.top(s.coll + "/changes") {
		d.topChanges++
		if _, ok := parsePartition(e); ok {
			d.rawHours++
		}
	}
	d.topHeartbeats = len(s.top(HeartbeatDir))
	t0 := time.Now()
	r := queryOne(s.tb, s.dr.Drill, fmt.Sprintf("SELECT COUNT(*) AS n FROM %s", s.table(s.coll+"_current")))
	d.currentS = time.Since(t0).Seconds()
	d.currentRows, _ = asInt(r["n"])
	s.spent.take()
	return d
}

// timed runs f and appends its wall time and the Drillbit's CPU time
// (when known) to the two lists.
func (s *fleetSim) timed(wall, cpu []float64, f func()) ([]float64, []float64) {
	c0, ok := s.cpu()
	t0 := time.Now()
	f()
	wall = append(wall, time.Since(t0).Seconds())
	if c1, ok1 := s.cpu(); ok && ok1 {
		cpu = append(cpu, (c1 - c0).Seconds())
	}
	return wall, cpu
}

// sampleHeap records the Go heap's peak while a device syncs, until ctx
// ends.
func (s *fleetSim) sampleHeap(ctx context.Context) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var m runtime.MemStats
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.syncing.Load() {
			continue
		}
		runtime.ReadMemStats(&m)
		if m.HeapInuse > s.peak.Load() {
			s.peak.Store(m.HeapInuse)
		}
	}
}

// settle syncs every device, with no edits, until a round moves nothing
// (everything pulled, conflicts settled and their resolutions spread).
func (s *fleetSim) settle(ctx context.Context) {
	s.tb.Helper()
	at := s.start.Add(time.Duration(s.cfg.days) * 24 * time.Hour)
	var rounds []string
	for round := range 6 {
		var pushed, pulled, settled int
		for _, dv := range s.devs {
			at = at.Add(time.Second)
			s.advance(at, dv)
			rep, err := dv.n.ag.SyncNow(ctx)
			if err != nil {
				s.tb.Fatalf("%s settling sync: %v", dv.n.device, err)
			}
			pushed, pulled, settled = pushed+rep.Pushed, pulled+rep.Pulled, settled+rep.AutoResolved
			s.pushed += rep.Pushed
		}
		rounds = append(rounds, fmt.Sprintf("%d pushed, %d pulled, %d settled", pushed, pulled, settled))
		if pushed+pulled == 0 && round > 0 {
			return
		}
	}
	s.tb.Errorf("the fleet still moved changes after 6 rounds of syncs with no edits (per round: %s)", strings.Join(rounds, "; "))
	s.explainConflicts(ctx)
}

// explainConflicts logs the conflicts still open on the first device
// (three at most): their leaves, what is missing, the agent's note, and how
// the device that should settle each sees that record.
func (s *fleetSim) explainConflicts(ctx context.Context) {
	s.tb.Helper()
	first := s.devs[0].n
	cfs, err := first.st.Conflicts(ctx, s.coll)
	if err != nil {
		s.tb.Logf("conflicts of %s: %v", first.device, err)
		return
	}
	byName := map[string]*node{}
	for _, dv := range s.devs {
		byName[dv.n.device] = dv.n
	}
	for i, cf := range cfs {
		if i == 3 {
			break
		}
		var leaves []string
		for _, l := range cf.Leaves {
			leaves = append(leaves, fmt.Sprintf("%s by %s (parents %v)", l.Version, l.Device, l.Parents))
		}
		s.tb.Logf("%s: open conflict on %s: leaves %s; missing %v; note %q", first.device, cf.RecordID, strings.Join(leaves, ", "), cf.Missing, cf.Note)
		lit, _ := drill.String(cf.RecordID)
		rows, err := s.dr.Drill.Query(ctx, "SELECT `dir0`, `dir1`, `change_id`, `version`, `parents`, `device`, `fieldsync_resolution` IS NOT NULL AS `res` FROM "+
			s.table(s.coll+logGlob)+" WHERE `record_id` = "+lit+" ORDER BY `version`")
		if err != nil {
			s.tb.Logf("  the log of %s: %v", cf.RecordID, err)
		}
		resolver, _ := resolverOf(cf)
		involved := map[string]bool{resolver: true}
		for _, l := range cf.Leaves {
			involved[l.Device] = true
		}
		var ids []string
		for _, r := range rows {
			s.tb.Logf("  log: %v/%v %v %v parents %v by %v resolution %v", r["dir0"], r["dir1"], r["change_id"], r["version"], r["parents"], r["device"], r["res"])
			id, _ := r["change_id"].(string)
			ids = append(ids, id)
			if d, ok := r["device"].(string); ok {
				involved[d] = true
			}
		}
		for _, dv := range s.devs {
			n := dv.n
			if !involved[n.device] && n != first {
				continue
			}
			rc, cerr := n.st.Conflict(ctx, s.coll, cf.RecordID)
			rec, _ := n.st.Record(ctx, s.coll, cf.RecordID)
			var lacks []string
			for _, id := range ids {
				if ok, _ := n.st.HasChange(ctx, id); !ok {
					lacks = append(lacks, id)
				}
			}
			q, _ := n.st.QuarantineList(ctx)
			s.tb.Logf("  %s: record %s, conflict leaves %d (%v), missing %v, note %q; lacks %v; %d quarantined",
				n.device, rec.Version, len(rc.Leaves), cerr, rc.Missing, rc.Note, lacks, len(q))
			for i, it := range q {
				if i == 3 {
					break
				}
				s.tb.Logf("    quarantined: %+v", it)
			}
		}
	}
}

// table quotes a table path of the simulation's workspace.
func (s *fleetSim) table(rest string) string {
	p, err := drill.TablePath(s.plugin, s.ws, rest)
	if err != nil {
		s.tb.Fatal(err)
	}
	return p
}

// top lists the directories at the top of a log directory.
func (s *fleetSim) top(rest string) []string {
	return s.fs.subdirs(rest)
}

// listCost times SHOW FILES over the largest hour partition of the
// change log and over the top of the log (three times each, median) and
// returns the cost per entry in ms and the partition's entries.
func (s *fleetSim) listCost(ctx context.Context) (float64, int) {
	s.tb.Helper()
	best, bestN := "", 0
	for _, e := range s.top(s.coll + "/changes") {
		if _, ok := parsePartition(e); !ok {
			continue
		}
		if n := len(s.fs.subdirs(s.coll + "/changes/" + e)); n > bestN {
			best, bestN = e, n
		}
	}
	if best == "" {
		return 0, 0
	}
	list := func(rest string) (float64, int) {
		var ts []float64
		n := 0
		for range 3 {
			t0 := time.Now()
			rows, err := s.dr.Drill.Query(ctx, "SHOW FILES IN "+s.table(rest))
			if err != nil {
				s.tb.Fatalf("SHOW FILES IN %s: %v", rest, err)
			}
			ts = append(ts, time.Since(t0).Seconds()*1000)
			n = len(rows)
		}
		return quantile(ts, 0.5), n
	}
	big, n := list(s.coll + "/changes/" + best)
	small, m := list(s.coll + "/changes")
	if n <= m {
		return 0, 0
	}
	return max(big-small, 0) / float64(n-m), n
}

// run runs every simulated day, then settles the fleet.
func (s *fleetSim) run(ctx context.Context, each func(simDay)) []simDay {
	s.tb.Helper()
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.sampleHeap(sctx) })
	defer func() { stop(); wg.Wait() }()
	var days []simDay
	for day := range s.cfg.days {
		d := s.runDay(ctx, day)
		days = append(days, d)
		if each != nil {
			each(d)
		}
	}
	s.settle(ctx)
	return days
}

// queryTimer is a Drill that adds the time its queries take (a streamed
// read's time less the time its rows spend being applied) to acc, which
// the timers of several Drillbits can share.
type queryTimer struct {
	Drill
	acc *spentTime
}

var (
	_ Drill     = (*queryTimer)(nil)
	_ RowReader = (*queryTimer)(nil)
)

// spentTime sums time spent in queries, in all and by kind of statement
// (queryKind), since the last take.
type spentTime struct {
	mu     sync.Mutex
	spent  time.Duration
	byKind map[string]time.Duration
}

// Kinds of statement a sync sends, for the breakdown of its Drill time.
var queryKinds = []string{"list", "write", "read", "other"}

// queryKind names the kind of a statement: a listing (SHOW FILES), a write
// (CREATE TABLE: a batch, a heartbeat), a read (SELECT) or other (views,
// DROP, options).
func queryKind(sql string) string {
	switch {
	case strings.HasPrefix(sql, "SHOW FILES"):
		return "list"
	case strings.HasPrefix(sql, "CREATE TABLE"):
		return "write"
	case strings.HasPrefix(sql, "SELECT"), strings.HasPrefix(sql, "WITH"):
		return "read"
	}
	return "other"
}

func (t *spentTime) add(sql string, d time.Duration) {
	t.mu.Lock()
	t.spent += d
	if t.byKind == nil {
		t.byKind = map[string]time.Duration{}
	}
	t.byKind[queryKind(sql)] += d
	t.mu.Unlock()
}

// take returns the time spent since the last take.
func (t *spentTime) take() time.Duration {
	d, _ := t.takeKinds()
	return d
}

// takeKinds returns the time spent since the last take, in all and by
// kind.
func (t *spentTime) takeKinds() (time.Duration, map[string]time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, k := t.spent, t.byKind
	t.spent, t.byKind = 0, nil
	return d, k
}

func (d *queryTimer) Query(ctx context.Context, sql string) ([]Row, error) {
	start := time.Now()
	rows, err := d.Drill.Query(ctx, sql)
	d.acc.add(sql, time.Since(start))
	return rows, err
}

func (d *queryTimer) QueryWith(ctx context.Context, sql string, options map[string]string) ([]Row, error) {
	oq, ok := d.Drill.(OptionQuerier)
	if !ok {
		return nil, fmt.Errorf("query timer: %T takes no options", d.Drill)
	}
	start := time.Now()
	rows, err := oq.QueryWith(ctx, sql, options)
	d.acc.add(sql, time.Since(start))
	return rows, err
}

func (d *queryTimer) QueryEach(ctx context.Context, sql string, each func(Row) error) error {
	rr, ok := d.Drill.(RowReader)
	if !ok {
		return fmt.Errorf("query timer: %T cannot stream", d.Drill)
	}
	start := time.Now()
	var inApply time.Duration
	err := rr.QueryEach(ctx, sql, func(r Row) error {
		t0 := time.Now()
		err := each(r)
		inApply += time.Since(t0)
		return err
	})
	d.acc.add(sql, time.Since(start)-inApply)
	return err
}

// processCPU returns a reader of the CPU time (user + system, with their
// finished child processes) of the processes whose pid files are given: the
// Drillbits, when they run on this machine with a pid file
// (scripts/drillbit.sh, scripts/cluster.sh); it answers false when one is
// unreadable.
func processCPU(tb testing.TB, pidFiles ...string) func() (time.Duration, bool) {
	none := func() (time.Duration, bool) { return 0, false }
	var pids []string
	for _, f := range pidFiles {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Logf("the Drillbit's CPU is not measured: %v", err)
			return none
		}
		pids = append(pids, strings.TrimSpace(string(raw)))
	}
	read := func() (time.Duration, bool) {
		var ticks int64
		for _, pid := range pids {
			n, ok := cpuTicks(pid)
			if !ok {
				return 0, false
			}
			ticks += n
		}
		return time.Duration(ticks) * 10 * time.Millisecond, true // USER_HZ is 100 on Linux
	}
	if _, ok := read(); !ok {
		tb.Logf("the Drillbit's CPU is not measured: /proc/<pid>/stat of %v unreadable", pids)
		return none
	}
	return read
}

// cpuTicks reads a process's utime + stime + cutime + cstime, in clock
// ticks. The children count because Hadoop's local file system runs a
// process per entry it lists (without its native library).
func cpuTicks(pid string) (int64, bool) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command's closing parenthesis, from the 3rd (state):
	// utime, stime, cutime and cstime are the 14th to 17th.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) < 15 {
		return 0, false
	}
	var ticks int64
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	return ticks, true
}

// peakRSS is this process's peak resident memory (VmHWM) in bytes, 0 when
// unknown.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
