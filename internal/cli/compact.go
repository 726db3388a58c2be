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
		printCompact(env, g.json, rep)
		return err
	}
	if *once {
		return pass(ctx)
	}
	return agent.RunJob(ctx, p.log, "compact", p.cfg.Compact.Schedule, nil, pass)
}

// printCompact prints what a compaction pass did: a line per log.
func printCompact(env Env, asJSON bool, rep agent.CompactReport) {
	if asJSON {
		_ = printJSON(env.Stdout, rep)
		return
	}
	for _, lc := range rep.Logs {
		if lc.Converted > 0 {
			fmt.Fprintf(env.Stdout, "rewrote %d JSON batch(es) of %s as Parquet\n", lc.Converted, lc.Log)
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
