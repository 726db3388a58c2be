package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/service"
)

// runIngest turns the rows analysts wrote into the collections' inboxes in
// Drill into changes: one pass with --once, else passes on the
// ingest.schedule setting until stopped.
func runIngest(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "ingest")
	once := fs.Bool("once", false, "make one pass and exit (what the systemd timer runs)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: ingest takes no arguments, got %q", errUsage, fs.Args())
	}
	p, err := openProcess(env, g)
	if err != nil {
		return err
	}
	defer p.Close()
	in, err := p.svc.NewIngester()
	if err != nil {
		return err
	}
	pass := func(ctx context.Context) error {
		rep, err := in.Run(ctx)
		if err != nil {
			err = fmt.Errorf("%s (%w)", agent.DescribeIngestError(err), err)
		}
		st, serr := service.RecordIngest(p.cfg.DataDir, rep, err, time.Now())
		if serr != nil {
			p.log.Warn("ingest: cannot record the pass", "err", serr)
		}
		if *once {
			if g.json {
				_ = printJSON(env.Stdout, st)
			} else {
				printIngest(env.Stdout, rep)
			}
		}
		if err != nil {
			return err
		}
		p.log.Info("ingest pass", "tables", len(rep.Tables), "applied", rep.Applied, "rejected", rep.Rejected, "waiting", len(rep.Waiting))
		return nil
	}
	if *once {
		return pass(ctx)
	}
	return agent.RunJob(ctx, p.log, "ingest", p.cfg.Ingest.Schedule, nil, pass)
}

// printIngest tells a person what one pass did.
func printIngest(w io.Writer, rep agent.IngestReport) {
	fmt.Fprintf(w, "ingested %d table(s): %d row(s) applied, %d rejected\n", len(rep.Tables), rep.Applied, rep.Rejected)
	for _, t := range rep.Tables {
		fmt.Fprintf(w, "  %s/inbox/%s: %d row(s), %d applied, %d rejected", t.Collection, t.Table, t.Rows, t.Applied, t.Rejected)
		if t.Rejected > 0 {
			fmt.Fprintf(w, " (see %s_inbox_rejected)", t.Collection)
		}
		fmt.Fprintln(w)
	}
	for _, s := range rep.Waiting {
		fmt.Fprintf(w, "waiting: %s\n", s)
	}
	for _, s := range rep.Changed {
		fmt.Fprintf(w, "changed: %s\n", s)
	}
}

// printIngestStatus tells, in `fieldsync status`, what the ingester that
// runs with this data dir last did.
func printIngestStatus(w io.Writer, st service.IngestStatus) {
	last := st.Last
	fmt.Fprintf(w, "ingest:     last pass %s: %d table(s), %d row(s) applied, %d rejected (%d and %d in all)\n",
		time.UnixMilli(last.StartedAt).Local().Format(time.DateTime), len(last.Tables), last.Applied, last.Rejected, st.Applied, st.Rejected)
	for _, t := range last.Tables {
		if t.Rejected > 0 {
			fmt.Fprintf(w, "            %s/inbox/%s: %d rejected row(s), see %s_inbox_rejected\n", t.Collection, t.Table, t.Rejected, t.Collection)
		}
	}
	for _, s := range last.Waiting {
		fmt.Fprintf(w, "            waiting: %s\n", s)
	}
	for _, s := range last.Changed {
		fmt.Fprintf(w, "            changed: %s\n", s)
	}
	if st.Error != "" {
		fmt.Fprintf(w, "ingest error: %s\n", st.Error)
	}
}

// checkIngest reports, in doctor, the ingester that runs with this data
// dir: its schedule, its last pass's error, rejected rows, and tables
// changed after they were ingested. Nothing when ingest never ran here.
func checkIngest(_ context.Context, d *doctor, _ Env, c config.Config) {
	st, err := service.ReadIngestStatus(c.DataDir)
	switch {
	case os.IsNotExist(err):
		return
	case err != nil:
		d.add("ingest", statusWarn, trimErr(err), "it is rewritten by the next 'fieldsync ingest' pass")
		return
	}
	if err := agent.CheckSpec(c.Ingest.Schedule); err != nil {
		d.add("ingest schedule", statusFail, err.Error(), "set ingest.schedule in the settings")
	}
	last := st.Last
	switch {
	case st.Error != "":
		d.add("ingest", statusFail, "the last pass failed: "+st.Error, "see the log; 'fieldsync ingest --once' runs a pass now")
	case last.Rejected > 0 || len(last.Changed) > 0 || len(last.Waiting) > 0:
		var what []string
		for _, t := range last.Tables {
			if t.Rejected > 0 {
				what = append(what, fmt.Sprintf("%d row(s) of %s/inbox/%s rejected (%s_inbox_rejected)", t.Rejected, t.Collection, t.Table, t.Collection))
			}
		}
		what = append(append(what, last.Waiting...), last.Changed...)
		d.add("ingest", statusWarn, strings.Join(what, "; "), "analysts see rejected rows with why in <collection>_inbox_rejected")
	default:
		d.add("ingest", statusOK, fmt.Sprintf("last pass %s: %d row(s) applied", time.UnixMilli(last.StartedAt).Local().Format(time.DateTime), last.Applied), "")
	}
}
