package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/config"
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
	return withService(ctx, env, g, func(p *process) error {
		st, err := p.svc.Agent().RefreshStatus(ctx)
		if err != nil {
			return err
		}
		stats, err := p.svc.Store().Stats(ctx)
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(env.Stdout, struct {
				Status agent.Status `json:"status"`
				Store  any          `json:"store"`
			}{st, stats})
		}
		w := env.Stdout
		fmt.Fprintf(w, "device:     %s\n", st.Device)
		fmt.Fprintf(w, "drill:      %s\n", drillText(p.cfg))
		fmt.Fprintf(w, "pending:    %d change(s) not yet in Drill\n", st.Pending)
		fmt.Fprintf(w, "conflicts:  %d open\n", st.Conflicts)
		printQuarantineStatus(w, st)
		for name, cs := range stats.Collections {
			fmt.Fprintf(w, "records:    %s: %d (%d deleted)\n", name, cs.Live, cs.Deleted)
		}
		fmt.Fprintf(w, "store:      %s\n", p.svc.Store().Path())
		return nil
	})
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
