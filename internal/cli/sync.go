package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/service"
	"github.com/fieldsync/fieldsync/store"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runSync(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "sync")
	g.quiet = true
	if err := parse(fs, args); err != nil {
		return err
	}
	return withService(ctx, env, g, func(p *process) error {
		rep, err := p.svc.SyncNow(ctx)
		if g.json {
			_ = printJSON(env.Stdout, struct {
				Report agent.Report `json:"report"`
				Status agent.Status `json:"status"`
			}{rep, p.svc.Agent().Status()})
		} else {
			fmt.Fprintf(env.Stdout, "pushed %d change(s) in %d batch(es); pulled %d change(s) from %d batch(es); %d conflict(s) open",
				rep.Pushed, rep.Batches, rep.Pulled, rep.PulledBatches, rep.Conflicts)
			if rep.AutoResolved > 0 {
				fmt.Fprintf(env.Stdout, " (%d settled by policy)", rep.AutoResolved)
			}
			fmt.Fprintln(env.Stdout)
			for _, u := range rep.Unpushable {
				fmt.Fprintf(env.Stdout, "cannot push: %s\n", u)
			}
			if rep.Quarantined > 0 {
				fmt.Fprintf(env.Stdout, "quarantined %d pulled row(s) or batch(es): see 'fieldsync quarantine list'\n", rep.Quarantined)
			}
		}
		if err != nil {
			st := p.svc.Agent().Status()
			if st.LastError != "" {
				return fmt.Errorf("sync: %s (%w)", st.LastError, err)
			}
			return fmt.Errorf("sync: %w", err)
		}
		return nil
	})
}

func runStatus(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "status")
	g.quiet = true
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := openProcess(env, g)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.svc.Open(ctx); err != nil {
		if !errors.Is(err, store.ErrLocked) {
			return err
		}
		// The agent, serve or the window holds the store: tell what it
		// last wrote in the status file.
		rs, rerr := service.ReadRunningStatus(p.cfg.DataDir)
		if rerr != nil {
			return fmt.Errorf("%w (and it left no status to read: %v)", err, rerr)
		}
		from := service.RunningStatusFrom(rs)
		return printStatus(env.Stdout, g.json, p.cfg, rs.Status, rs.Store, filepath.Join(p.cfg.DataDir, service.StoreFile), from)
	}
	st, err := p.svc.Agent().RefreshStatus(ctx)
	if err != nil {
		return err
	}
	stats, err := p.svc.Store().Stats(ctx)
	if err != nil {
		return err
	}
	return printStatus(env.Stdout, g.json, p.cfg, st, stats, p.svc.Store().Path(), "")
}

// printStatus prints the status; from, when set, says it comes from the
// running process ("source" in JSON).
func printStatus(w io.Writer, asJSON bool, c config.Config, st agent.Status, stats store.Stats, path, from string) error {
	var ingest *service.IngestStatus
	if is, err := service.ReadIngestStatus(c.DataDir); err == nil {
		ingest = &is
	}
	if asJSON {
		return printJSON(w, struct {
			Status agent.Status          `json:"status"`
			Store  any                   `json:"store"`
			Source string                `json:"source,omitempty"`
			Ingest *service.IngestStatus `json:"ingest,omitempty"`
		}{st, stats, from, ingest})
	}
	if from != "" {
		fmt.Fprintf(w, "source:     %s\n", from)
	}
	fmt.Fprintf(w, "device:     %s\n", st.Device)
	fmt.Fprintf(w, "drill:      %s\n", drillText(c))
	fmt.Fprintf(w, "pending:    %d change(s) not yet in Drill\n", st.Pending)
	fmt.Fprintf(w, "conflicts:  %d open\n", st.Conflicts)
	printQuarantineStatus(w, st)
	for name, cs := range stats.Collections {
		fmt.Fprintf(w, "records:    %s: %d (%d deleted)\n", name, cs.Live, cs.Deleted)
	}
	if !st.LastSuccess.IsZero() {
		fmt.Fprintf(w, "last sync:  %s\n", st.LastSuccess.Local().Format(time.DateTime))
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", st.LastError)
	}
	if st.Unpushable > 0 {
		fmt.Fprintf(w, "stuck:      %d change(s) cannot be pushed: %s\n", st.Unpushable, st.UnpushableReason)
	}
	fmt.Fprintf(w, "store:      %s\n", path)
	if ingest != nil {
		printIngestStatus(w, *ingest)
	}
	return nil
}

// printQuarantineStatus tells about quarantined data and the clock in
// the status.
func printQuarantineStatus(w io.Writer, st agent.Status) {
	fmt.Fprintf(w, "quarantine: %d pulled row(s) or batch(es) kept out", st.Quarantined)
	if st.Quarantined > 0 {
		fmt.Fprint(w, " (see 'fieldsync quarantine list')")
	}
	fmt.Fprintln(w)
	for _, r := range st.QuarantineReasons {
		fmt.Fprintf(w, "            %s\n", r)
	}
	if st.PullRetries > 0 {
		fmt.Fprintf(w, "retrying:   %d batch(es) not read completely yet\n", st.PullRetries)
	}
	if st.ClockWarning != "" {
		fmt.Fprintf(w, "clock:      %s\n", st.ClockWarning)
	}
}

func drillText(c config.Config) string {
	if len(c.Drill.URLs) == 0 {
		return "not configured (changes stay on this computer)"
	}
	return fmt.Sprintf("%v (workspace %s.%s)", c.Drill.URLs, c.Drill.Plugin, c.Drill.Workspace)
}

func runAgent(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "agent")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withService(ctx, env, g, func(p *process) error {
		p.log.Info("agent starting", "device", p.svc.Store().DeviceID(), "schedule", p.cfg.Schedule, "drill", p.cfg.Drill.URLs)
		err := p.svc.Start(ctx)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("agent: %w", err)
		}
		<-ctx.Done()
		stopped := make(chan struct{})
		go func() { p.svc.Stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			p.log.Warn("agent: a sync did not stop within 30s; exiting anyway (it resumes safely next start)")
		}
		p.log.Info("agent stopped")
		return nil
	})
}
