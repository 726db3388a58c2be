package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/service"
	"github.com/fieldsync/fieldsync/store"
)

func checkSchedule(_ context.Context, d *doctor, _ Env, c config.Config) {
	if err := agent.CheckSpec(c.Schedule); err != nil {
		d.add("schedule", statusFail, err.Error(), "set schedule in the settings")
		return
	}
	d.add("schedule", statusOK, fmt.Sprintf("%s (%s)", agent.DescribeSpec(c.Schedule), c.Schedule), "")
}

func checkCollections(_ context.Context, d *doctor, _ Env, c config.Config) {
	if c.Collections == "" {
		d.add("collections", statusWarn, "no collections file is set: there is nothing to capture", "set collections in the settings (see docs/examples/collections.json)")
		return
	}
	set, err := schema.Load(c.Collections)
	if err != nil {
		d.add("collections", statusFail, trimErr(err), "fix the declarations file")
		return
	}
	d.add("collections", statusOK, fmt.Sprintf("%s: %s", c.Collections, strings.Join(set.Names(), ", ")), "")
}

func checkStore(ctx context.Context, d *doctor, env Env, c config.Config) {
	path := filepath.Join(c.DataDir, service.StoreFile)
	st, err := store.Open(ctx, path, &store.Options{Timeout: 2 * time.Second, DeviceID: c.Device})
	switch {
	case errors.Is(err, store.ErrLocked):
		d.add("store", statusOK, "in use by the running fieldsync: "+trimErr(err), "")
		checkRunningStatus(d, c.DataDir)
		return
	case err != nil:
		d.add("store", statusFail, trimErr(err), storeHint(err))
		return
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		_ = st.Close()
		d.add("store", statusFail, trimErr(err), "run 'fieldsync store salvage' (docs/OPERATIONS.md#salvage)")
		return
	}
	d.add("store", statusOK, fmt.Sprintf("%s: device %s, %d pending, %d conflicts", path, stats.DeviceID, stats.Pending, stats.Conflicts), "")
	if rec, err := st.SyncRecord(ctx); err == nil && rec.Unpushable > 0 {
		d.add("stuck changes", statusWarn, fmt.Sprintf("%d change(s) could not be pushed at the last sync: %s", rec.Unpushable, rec.UnpushableReason), "see docs/OPERATIONS.md#salvage")
	}
	checkStoreContent(d, st, stats)
	checkQuarantine(ctx, d, st, stats)
	// The page check opens the file read-only in another process, which
	// waits for this one's lock.
	if err := st.Close(); err != nil {
		d.add("store pages", statusWarn, "not checked: "+trimErr(err), "")
		return
	}
	checkStorePages(ctx, d, env, c.DataDir)
}

// checkStorePages runs bbolt's page check (fieldsync store check-pages) in
// a child process within the doctor's store time bound: it walks pages in
// a goroutine where a fault on a damaged page cannot be recovered, so a
// crash of the child is what damage looks like there.
func checkStorePages(ctx context.Context, d *doctor, env Env, dataDir string) {
	const hint = "stop fieldsync and run 'fieldsync store salvage' (docs/OPERATIONS.md#salvage)"
	ctx, cancel := context.WithTimeout(ctx, d.storeTimeout)
	defer cancel()
	cmd, err := env.selfCommand(ctx, "store", "check-pages", "--json", "--data-dir", dataDir)
	if err != nil {
		d.add("store pages", statusWarn, "not checked: "+err.Error(), "run 'fieldsync store check-pages' by hand")
		return
	}
	if fi, err := os.Stat(filepath.Join(dataDir, service.StoreFile)); err == nil && fi.Size() > 64<<20 && d.progress != nil {
		fmt.Fprintf(d.progress, "checking the store's pages (%d MB)\n", fi.Size()>>20)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	var rep store.PageReport
	decoded := json.Unmarshal(out.Bytes(), &rep) == nil && out.Len() > 0
	code := cmd.ProcessState.ExitCode() // -1: killed by a signal or not started
	switch {
	case ctx.Err() != nil:
		d.add("store pages", statusWarn, fmt.Sprintf("bbolt's page check did not finish in %s", d.storeTimeout), "run 'fieldsync doctor --store-timeout' with a longer time")
	case runErr == nil && decoded && rep.OK():
		d.add("store pages", statusOK, fmt.Sprintf("bbolt's page check passed: %d pages (%s)", rep.Pages, rep.Elapsed.Round(time.Millisecond)), "")
	case code == exitDamaged && decoded:
		d.add("store pages", statusFail, fmt.Sprintf("bbolt's page check found %d problem(s): %s", len(rep.Problems)+rep.Dropped, rep.Problems[0]), hint)
	case code == exitDamaged:
		d.add("store pages", statusFail, firstLine(errb.String()), hint)
	case cmd.ProcessState == nil:
		d.add("store pages", statusWarn, "not checked: "+runErr.Error(), "run 'fieldsync store check-pages' by hand")
	default:
		d.add("store pages", statusFail, fmt.Sprintf("bbolt's page check crashed reading the file (exit %d: %s): a page is damaged", code, firstLine(errb.String())), hint)
	}
}

// firstLine returns the first non-empty line of s, at most 200 bytes.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if r := []rune(l); len(r) > 200 {
				l = string(r[:200]) + "…"
			}
			return l
		}
	}
	return "no message"
}

// checkStoreContent reads the whole store (every key, every journal entry
// decoded) within the doctor's store time bound,
// reporting progress on large files.
func checkStoreContent(d *doctor, st *store.Store, stats store.Stats) {
	ctx, cancel := context.WithTimeout(context.Background(), d.storeTimeout)
	defer cancel()
	above := d.progressAbove
	if above == 0 {
		above = progressJournal
	}
	var progress store.CheckProgress
	if stats.Journal > above && d.progress != nil {
		progress = func(done, total uint64) {
			fmt.Fprintf(d.progress, "checking the store: %d of %d journal entries read\n", done, total)
		}
	}
	rep, err := st.Check(ctx, progress)
	switch {
	case ctx.Err() != nil && len(rep.BadJournal) == 0:
		// Not finishing is no sign of damage: say so, not "salvage".
		d.add("store content", statusWarn, fmt.Sprintf("the check did not finish in time (%s): %d journal entries read, none damaged so far",
			d.storeTimeout, rep.Journal), "run 'fieldsync doctor --store-timeout' with a longer time")
	case err != nil:
		d.add("store content", statusFail, trimErr(err), "run 'fieldsync store salvage' (docs/OPERATIONS.md#salvage)")
	case len(rep.BadJournal) > 0:
		d.add("store content", statusFail, fmt.Sprintf("%d journal entr(ies) cannot be read (seq %v); the others push: %s", len(rep.BadJournal), firstSeqs(rep.BadJournal), rep.Problems[0]),
			"stop fieldsync and run 'fieldsync store salvage' (docs/OPERATIONS.md#salvage)")
	case !rep.OK():
		d.add("store content", statusFail, fmt.Sprintf("%d problem(s): %s", len(rep.Problems)+rep.Dropped, rep.Problems[0]),
			"stop fieldsync and run 'fieldsync store salvage' (docs/OPERATIONS.md#salvage)")
	default:
		d.add("store content", statusOK, fmt.Sprintf("%d journal entries and %d keys read (%s)", rep.Journal, rep.Keys, rep.Elapsed.Round(time.Millisecond)), "")
	}
}

// firstSeqs returns at most 10 seqs, for one line.
func firstSeqs(seqs []uint64) []uint64 {
	if len(seqs) > 10 {
		return seqs[:10]
	}
	return seqs
}

// storeHint says what to do about a store that does not open.
func storeHint(err error) string {
	if errors.Is(err, store.ErrDamaged) {
		return "stop fieldsync and run 'fieldsync store salvage' (docs/OPERATIONS.md#salvage)"
	}
	return "see docs/OPERATIONS.md#store"
}

// checkQuarantine reports the pulled data kept out of the store.
func checkQuarantine(ctx context.Context, d *doctor, st *store.Store, stats store.Stats) {
	newest := ""
	if stats.Quarantined > 0 {
		if items, err := st.QuarantineList(ctx); err == nil && len(items) > 0 {
			newest = agent.QuarantineText(items[0])
		}
	}
	addQuarantine(d, stats, newest, "")
}

// checkRunningStatus reports, while the running fieldsync holds the store,
// what it last wrote in its status file (the source of 'fieldsync status'
// then): the quarantine and the journal entries it could not push.
func checkRunningStatus(d *doctor, dataDir string) {
	rs, err := service.ReadRunningStatus(dataDir)
	if err != nil {
		d.add("quarantine", statusWarn, "not checked: the running fieldsync left no status to read ("+trimErr(err)+")",
			"stop fieldsync and run 'fieldsync doctor' again, or run 'fieldsync quarantine list' then")
		return
	}
	from := " (" + service.RunningStatusFrom(rs) + ")"
	if rs.Status.Unpushable > 0 {
		d.add("stuck changes", statusWarn, fmt.Sprintf("%d change(s) could not be pushed at the last sync: %s%s", rs.Status.Unpushable, rs.Status.UnpushableReason, from), "see docs/OPERATIONS.md#salvage")
	}
	newest := ""
	if len(rs.Status.QuarantineReasons) > 0 {
		newest = rs.Status.QuarantineReasons[0]
	}
	addQuarantine(d, rs.Store, newest, from)
}

// addQuarantine adds the quarantine line of counts stats, newest being the
// newest item for people and from where the counts come from.
func addQuarantine(d *doctor, stats store.Stats, newest, from string) {
	if stats.Quarantined == 0 {
		detail := "nothing quarantined"
		if stats.PullRetries > 0 {
			detail += fmt.Sprintf("; %d batch(es) not read completely yet, read again with backoff", stats.PullRetries)
		}
		d.add("quarantine", statusOK, detail+from, "")
		return
	}
	detail := fmt.Sprintf("%d pulled row(s) or batch(es) quarantined (never applied)", stats.Quarantined)
	if newest != "" {
		detail += "; newest: " + newest
	}
	d.add("quarantine", statusWarn, detail+from, "fix the data in Drill, then 'fieldsync quarantine retry --all'; see docs/OPERATIONS.md#quarantine")
}

// checkDrill reports the shared Drill probe: each Drillbit on its own so
// that IT sees which one is down, then the workspace.
func checkDrill(ctx context.Context, d *doctor, env Env, c config.Config) {
	if len(c.Drill.URLs) == 0 {
		d.add("drill", statusWarn, "no Drillbit is configured: changes stay on this computer", "set drill.urls in the settings")
		return
	}
	probe := service.ProbeDrill(ctx, c, secretsFor(env, c))
	for _, p := range probe.Drillbits {
		switch {
		case p.Err != nil:
			d.add("drill "+p.URL, statusFail, trimErr(p.Err), service.DrillHint(p.Err))
			continue
		case !p.Supported():
			d.add("drill "+p.URL, statusWarn, fmt.Sprintf("Drill %s; fieldsync is tested with %sx", p.Cluster.CurrentVersion, service.SupportedDrill), "upgrade Drill or test this version first")
		default:
			d.add("drill "+p.URL, statusOK, fmt.Sprintf("Drill %s, %d Drillbit(s) in the cluster", p.Cluster.CurrentVersion, len(p.Cluster.Drillbits)), "")
		}
		if p.QueryErr != nil {
			d.add("query "+p.URL, statusFail, trimErr(p.QueryErr), service.DrillHint(p.QueryErr))
		}
		if p.ClockRead {
			st, detail, hint := service.ClockCheck(p, time.Duration(c.Drill.MaxClockAhead))
			d.add("clock "+p.URL, st, detail, hint)
		}
	}
	switch {
	case !probe.WorkspaceChecked:
	case probe.WorkspaceErr != nil:
		d.add("workspace", statusFail, trimErr(probe.WorkspaceErr), fmt.Sprintf("create the writable workspace %s in Drill's storage settings, or set drill.location", probe.Workspace))
	default:
		d.add("workspace", statusOK, fmt.Sprintf("%s answers (%d entries)", probe.Workspace, probe.WorkspaceEntries), "")
	}
}
