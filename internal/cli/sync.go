package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/fieldsync/fieldsync/agent"
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
	return withParts(ctx, env, g, func(rt *Runtime) error {
		rep, err := rt.Agent.SyncNow(ctx)
		if g.json {
			_ = printJSON(env.Stdout, struct {
				Report agent.Report `json:"report"`
				Status agent.Status `json:"status"`
			}{rep, rt.Agent.Status()})
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
		}
		if err != nil {
			st := rt.Agent.Status()
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
	return withParts(ctx, env, g, func(rt *Runtime) error {
		st, err := rt.Agent.RefreshStatus(ctx)
		if err != nil {
			return err
		}
		stats, err := rt.Store.Stats(ctx)
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
		fmt.Fprintf(w, "drill:      %s\n", drillText(rt))
		fmt.Fprintf(w, "pending:    %d change(s) not yet in Drill\n", st.Pending)
		fmt.Fprintf(w, "conflicts:  %d open\n", st.Conflicts)
		for name, cs := range stats.Collections {
			fmt.Fprintf(w, "records:    %s: %d (%d deleted)\n", name, cs.Live, cs.Deleted)
		}
		fmt.Fprintf(w, "store:      %s\n", rt.Store.Path())
		return nil
	})
}

func drillText(rt *Runtime) string {
	if len(rt.Config.Drill.URLs) == 0 {
		return "not configured (changes stay on this computer)"
	}
	return fmt.Sprintf("%v (workspace %s.%s)", rt.Config.Drill.URLs, rt.Config.Drill.Plugin, rt.Config.Drill.Workspace)
}

func runAgent(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "agent")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withParts(ctx, env, g, func(rt *Runtime) error {
		rt.Logger.Info("agent starting", "device", rt.Store.DeviceID(), "schedule", rt.Config.Schedule, "drill", rt.Config.Drill.URLs)
		err := rt.Agent.Start(ctx)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("agent: %w", err)
		}
		<-ctx.Done()
		stopped := make(chan struct{})
		go func() { rt.Agent.Stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			rt.Logger.Warn("agent: a sync did not stop within 30s; exiting anyway (it resumes safely next start)")
		}
		rt.Logger.Info("agent stopped")
		return nil
	})
}
