package agent

// The end-state checks of the fleet simulation (fleetsim_test.go), its
// day report, and the tests that run it.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// finish runs a last compaction pass after the fleet settled, late enough
// that it rewrites the JSON batches as Parquet (when the devices write
// JSON: see compactjson.go).
func (s *fleetSim) finish(ctx context.Context) {
	s.tb.Helper()
	s.advance(s.drillCk.Now().Add(jsonSettled+time.Minute), nil)
	if rep, err := s.comp.Compact(ctx); err != nil {
		s.tb.Fatalf("last compaction: %v (%+v)", err, rep)
	}
}

// verify checks the end state: every change once in the log, in the
// history view and on every device; the current-state view holding what
// every device holds; the top of each log bounded by compaction; the
// fleet view showing each device once with its latest heartbeat.
func (s *fleetSim) verify(ctx context.Context) {
	tb := s.tb
	tb.Helper()
	q := func(sql string) []Row {
		tb.Helper()
		rows, err := s.dr.Drill.Query(ctx, sql)
		if err != nil {
			tb.Fatalf("%s: %v", sql, err)
		}
		return rows
	}
	for _, v := range []string{logGlob, "_history"} {
		r := queryOne(tb, s.dr.Drill, "SELECT COUNT(*) AS n, COUNT(DISTINCT `change_id`) AS d FROM "+s.table(s.coll+v))
		n, _ := asInt(r["n"])
		d, _ := asInt(r["d"])
		if n != int64(s.pushed) || d != n {
			tb.Errorf("%s%s: %d rows, %d change ids, want %d changes once each", s.coll, v, n, d, s.pushed)
		}
	}
	ids := q("SELECT `change_id` FROM " + s.table(s.coll+logGlob))
	for _, dv := range s.devs {
		missing := 0
		for _, r := range ids {
			id, _ := r["change_id"].(string)
			if ok, err := dv.n.st.HasChange(ctx, id); err != nil || !ok {
				missing++
			}
		}
		if missing > 0 {
			tb.Errorf("device %s lacks %d of the %d changes", dv.n.device, missing, len(ids))
		}
	}
	current := map[string]string{}
	for _, r := range q("SELECT `record_id`, `version` FROM " + s.table(s.coll+"_current")) {
		id, _ := r["record_id"].(string)
		v, _ := r["version"].(string)
		if _, dup := current[id]; dup {
			tb.Errorf("%s_current shows %s twice (an open conflict under lww)", s.coll, id)
		}
		current[id] = v
	}
	for _, dv := range s.devs {
		stats, err := dv.n.st.Stats(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if got := stats.Collections[s.coll]; got.Live != int64(len(current)) || got.Conflicts != 0 {
			tb.Errorf("device %s holds %d records (%d in conflict), the view %d", dv.n.device, got.Live, got.Conflicts, len(current))
		}
		differ := 0
		for id, v := range current {
			if rec, err := dv.n.st.Record(ctx, s.coll, id); err != nil || rec.Version != v {
				differ++
			}
		}
		if differ > 0 {
			tb.Errorf("device %s differs from %s_current on %d records", dv.n.device, s.coll, differ)
		}
	}
	// The top of each log: no hour older than the closed line is left
	// (the hours of the last two and the current), and compacted entries
	// cover whole simulated days.
	for _, log := range []string{s.coll + "/changes", HeartbeatDir} {
		raw, days := 0, 0
		top := s.top(log)
		for _, e := range top {
			if _, ok := parsePartition(e); ok {
				raw++
			}
			if ce, ok := parseCompacted(e); ok && ce.end-ce.start == (24*time.Hour).Milliseconds() {
				days++
			}
		}
		if raw > 3 || days < s.cfg.days-1 || len(top) > 3+24+s.cfg.days+1 {
			tb.Errorf("top of %s after %d simulated days: %d entries, %d hours not compacted (want ≤ 3), %d whole days (want ≥ %d): %v",
				log, s.cfg.days, len(top), raw, days, s.cfg.days-1, top)
		}
	}
	latest := map[string]int64{}
	for _, r := range q("SELECT `device`, MAX(`reported_at`) AS `m` FROM " + s.table(HeartbeatDir) + " GROUP BY `device`") {
		dev, _ := r["device"].(string)
		latest[dev], _ = asInt(r["m"])
	}
	shown := map[string]int64{}
	for _, r := range q("SELECT `device`, `reported_at` FROM " + s.table(FleetDir)) {
		dev, _ := r["device"].(string)
		if _, dup := shown[dev]; dup {
			tb.Errorf("the fleet view shows %s twice", dev)
		}
		shown[dev], _ = asInt(r["reported_at"])
	}
	for _, dv := range s.devs {
		if at, ok := shown[dv.n.device]; !ok || at != latest[dv.n.device] {
			tb.Errorf("the fleet view shows %s at %d (shown: %v), want its latest heartbeat %d", dv.n.device, at, ok, latest[dv.n.device])
		}
	}
	if len(shown) != len(s.devs) {
		tb.Errorf("the fleet view shows %d devices, want %d", len(shown), len(s.devs))
	}
}

// line is a day's figures on one line.
func (d simDay) line() string {
	cpu := "n/a"
	if len(d.cpu) > 0 {
		cpu = fmt.Sprintf("%.2f/%.2f", quantile(d.cpu, 0.5), quantile(d.cpu, 0.95))
	}
	passCPU := "n/a"
	if len(d.passCPU) > 0 {
		passCPU = fmt.Sprintf("%.1f/%.1f", quantile(d.passCPU, 0.5), quantile(d.passCPU, 1))
	}
	light := ""
	if len(d.converts) > 0 {
		light = fmt.Sprintf("; %d light passes p50/max %.2f/%.2f s rewrote %d JSON batches", len(d.converts), quantile(d.converts, 0.5), quantile(d.converts, 1), d.converted)
	}
	ghosts := ""
	if d.ghostChanges > 0 {
		ghosts = fmt.Sprintf("; the ghosts wrote %d changes", d.ghostChanges)
	}
	return fmt.Sprintf("day %d: %d syncs (%d pushed, %d pulled), sync p50/p95 %.2f/%.2f s, Drill p50/p95 %.2f/%.2f s, Drillbit CPU p50/p95 %s s, "+
		"peak heap %.1f MiB; %d passes p50/max %.1f/%.1f s, Drillbit CPU p50/max %s s; %d files, %d dirs (most before a pass: %d, %d); top of changes/ %d (%d hours not compacted), of heartbeats %d; "+
		"_current %d rows, COUNT(*) %.2f s; SHOW FILES %.2f ms an entry (%d entries); Drill per sync by kind (mean) %s",
		d.day, len(d.syncs), d.pushed, d.pulled, quantile(d.syncs, 0.5), quantile(d.syncs, 0.95), quantile(d.drill, 0.5), quantile(d.drill, 0.95), cpu,
		float64(d.peakHeap)/(1<<20), len(d.passes), quantile(d.passes, 0.5), quantile(d.passes, 1), passCPU, d.files, d.dirs, d.peakFiles, d.peakDirs,
		d.topChanges, d.rawHours, d.topHeartbeats, d.currentRows, d.currentS, d.listMS, d.listN, d.kinds()) + light + ghosts
}

// kinds writes the mean time a sync spent in each kind of Drill statement.
func (d simDay) kinds() string {
	var parts []string
	for _, k := range queryKinds {
		mean := 0.0
		if len(d.syncs) > 0 {
			mean = d.byKind[k] / float64(len(d.syncs))
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", k, mean))
	}
	return strings.Join(parts, ", ") + " s"
}

// TestIntegrationFleetSimulation runs 3 devices over 2 simulated days on
// the simulated clock, syncing every 6 hours within the same half hour
// (± 10 minutes; so few hours hold batches, which keeps the test short)
// with compaction every 12 hours, against the real Drillbit: every change
// exactly once on every device and in the views, the top of changes/
// bounded as DESIGN.md says, heartbeats folded; once with the devices
// writing Parquet batches, once JSON (rewritten by the passes, and the
// hours they leave empty dropped).
func TestIntegrationFleetSimulation(t *testing.T) {
	t.Parallel()
	// One after the other: each makes a workspace, and Drill's storage
	// plugin configuration is read, changed and written whole.
	tests := []struct {
		name, format string
		// light passes (Compactor.Convert) between the full ones
		convertEvery, jsonSettle time.Duration
		// ghosts writing JSON batches straight into the workspace
		// (fleetghost_test.go), read like the devices' own
		ghosts int
	}{
		{BatchParquet, BatchParquet, 0, 0, 0},
		{BatchJSON, BatchJSON, 0, 0, 0},
		{"json-light", BatchJSON, 3 * time.Hour, time.Minute, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := newFleetSim(t, simConfig{devices: 3, days: 2, every: 6 * time.Hour, spread: 30 * time.Minute, jitter: 10 * time.Minute,
				activeHours: 24, compactEvery: 12 * time.Hour, convertEvery: tt.convertEvery, jsonSettle: tt.jsonSettle, shared: 4, seed: 3, ghosts: tt.ghosts},
				func(o *Options) { o.BatchFormat = tt.format })
			days := s.run(ctx, func(d simDay) { t.Log(d.line()) })
			if tt.convertEvery > 0 && days[0].converted == 0 {
				t.Errorf("day 1: the light passes rewrote no JSON batch")
			}
			if tt.ghosts > 0 && days[0].ghostChanges == 0 {
				t.Errorf("day 1: the ghosts wrote nothing")
			}
			s.finish(ctx)
			s.verify(ctx)
		})
	}
}

// TestDrillClock: with Options.DrillClock a sync never asks Drill for its clock
// and names its batch and heartbeat by the clock given; without it, by
// Drill's.
func TestDrillClock(t *testing.T) {
	t.Parallel()
	sim := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name     string
		simClock func() time.Time
		askDrill bool
	}{
		{"Drill's clock", nil, true},
		{"simulated clock", func() time.Time { return sim }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeDrill()
			want := f.nowMS + 1000 // the fake's clock moves a second per read
			if tt.simClock != nil {
				want = sim.UnixMilli()
			}
			n := mustNode(t, "a", want, f, func(o *Options) { o.DrillClock = tt.simClock })
			n.edit(t, "inspections", "r1", `{"site":"x"}`)
			n.sync(t)
			asked := slices.ContainsFunc(f.queries, func(q string) bool { return strings.HasPrefix(q, "SELECT CURRENT_TIMESTAMP") })
			if asked != tt.askDrill {
				t.Errorf("asked Drill for its clock: %v, want %v", asked, tt.askDrill)
			}
			// Named by the clock read plus the time passed since on the
			// device's clock (a millisecond a reading here).
			names := f.batchNames("inspections")
			part, name, _ := strings.Cut(strings.Join(names, ","), "/")
			ms, dev, ok := parseBatchName(name)
			if len(names) != 1 || part != partitionOf(want) || !ok || dev != "a" || ms < want || ms > want+1000 {
				t.Errorf("batches %v, want one of device a in %s named within a second after %d", names, partitionOf(want), want)
			}
			hb := HeartbeatDir + "/" + partitionOf(want) + "/a_"
			if !slices.ContainsFunc(f.queries, func(q string) bool { return strings.Contains(q, hb) }) {
				t.Errorf("no heartbeat written under %s", hb)
			}
		})
	}
}
