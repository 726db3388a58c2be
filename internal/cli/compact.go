package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/agent"
)

func runCompact(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "compact")
	once := fs.Bool("once", false, "run one pass and exit (for a systemd timer or cron); without it, run on compact.schedule until stopped")
	coll := fs.String("collection", "", "compact only this `collection` (default: every declared one)")
	jsonOnly := fs.Bool("json-only", false, "a light pass: only rewrite settled JSON batches as Parquet (compact.json_settle), fold nothing; for a fleet writing JSON batches, every few minutes")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) > 0 {
		return fmt.Errorf("%w: compact takes no arguments, got %q", errUsage, strings.Join(fs.Args(), " "))
	}
	p, err := openProcess(env, g)
	if err != nil {
		return err
	}
	defer p.Close()
	var colls []string
	if *coll != "" {
		colls = []string{*coll}
	}
	pass := func(ctx context.Context) error {
		rep, err := p.svc.Compact(ctx, colls...)
		printCompact(env, g.json, rep, false)
		return err
	}
	light := func(ctx context.Context) error {
		rep, err := p.svc.CompactJSON(ctx, colls...)
		printCompact(env, g.json, rep, true)
		return err
	}
	switch {
	case *once && *jsonOnly:
		return light(ctx)
	case *once:
		return pass(ctx)
	case *jsonOnly:
		if p.cfg.Compact.JSONSchedule == "" {
			return fmt.Errorf("%w: compact --json-only without --once runs on compact.json_schedule, which is not set (e.g. \"@every 2m\")", errUsage)
		}
		return agent.RunJob(ctx, p.log, "compact-json", p.cfg.Compact.JSONSchedule, nil, light)
	case p.cfg.Compact.JSONSchedule != "":
		// Both jobs: the full passes and the light ones between them (two
		// passes at once lose and double nothing: DESIGN.md, compaction).
		// The first to end (a bad schedule, or the stop) ends the other.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errs := make(chan error, 2)
		go func() { errs <- agent.RunJob(ctx, p.log, "compact-json", p.cfg.Compact.JSONSchedule, nil, light) }()
		go func() { errs <- agent.RunJob(ctx, p.log, "compact", p.cfg.Compact.Schedule, nil, pass) }()
		err := <-errs
		cancel()
		if err2 := <-errs; err == nil {
			err = err2
		}
		return err
	}
	return agent.RunJob(ctx, p.log, "compact", p.cfg.Compact.Schedule, nil, pass)
}

// printCompact prints what a compaction pass (light: --json-only) did: a
// line per log.
func printCompact(env Env, asJSON bool, rep agent.CompactReport, light bool) {
	if asJSON {
		_ = printJSON(env.Stdout, rep)
		return
	}
	for _, lc := range rep.Logs {
		if lc.Converted > 0 || light {
			fmt.Fprintf(env.Stdout, "rewrote %d JSON batch(es) of %s as Parquet\n", lc.Converted, lc.Log)
		}
		if light {
			for _, s := range lc.Skipped {
				fmt.Fprintf(env.Stdout, "left for the next pass: %s: %s\n", lc.Log, s)
			}
			continue
		}
		var rows int64
		dropped := 0
		for _, w := range lc.Written {
			rows += w.Rows
			dropped += w.Dropped
		}
		fmt.Fprintf(env.Stdout, "compacted %s: %d entr(ies) written with %d change(s), %d source(s) dropped; %d entr(ies) at the top of the log, was %d\n",
			lc.Log, len(lc.Written), rows, dropped, lc.EntriesAfter, lc.EntriesBefore)
		for _, s := range lc.Skipped {
			fmt.Fprintf(env.Stdout, "left for the next pass: %s: %s\n", lc.Log, s)
		}
	}
	for _, sn := range rep.Snapshots {
		if sn.Name == "" {
			fmt.Fprintf(env.Stdout, "snapshot of %s: nothing in Drill yet\n", sn.Collection)
			continue
		}
		fmt.Fprintf(env.Stdout, "snapshot of %s: generation %s, %d leaves before %s\n",
			sn.Collection, sn.Name, sn.Rows, sn.Cutoff.UTC().Format("2006-01-02 15:00 UTC"))
	}
}
