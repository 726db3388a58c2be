package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/store"
)

// quarantineUsage names the quarantine subcommands.
const quarantineUsage = "quarantine list | show ID | retry ID... | retry --all"

func runQuarantine(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "quarantine")
	g.quiet = true
	all := fs.Bool("all", false, "retry: every quarantined item")
	later := fs.Bool("later", false, "retry: only release the items; the next scheduled sync reads them")
	if err := parse(fs, args); err != nil {
		return err
	}
	// Flags may come before or after the subcommand.
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: %s", errUsage, quarantineUsage)
	}
	sub := fs.Arg(0)
	var ids []uint64
	for _, a := range fs.Args()[1:] {
		id, err := strconv.ParseUint(strings.TrimPrefix(a, "#"), 10, 64)
		if err != nil || id == 0 {
			return fmt.Errorf("%w: quarantine %s: %q is not an item id (the first column of 'fieldsync quarantine list')", errUsage, sub, a)
		}
		ids = append(ids, id)
	}
	switch sub {
	case "list":
		if len(ids) > 0 {
			return fmt.Errorf("%w: quarantine list takes no ids", errUsage)
		}
	case "show":
		if len(ids) != 1 {
			return fmt.Errorf("%w: quarantine show ID: name one item", errUsage)
		}
	case "retry":
		if (len(ids) == 0) == !*all {
			return fmt.Errorf("%w: quarantine retry ID... or quarantine retry --all", errUsage)
		}
	default:
		return fmt.Errorf("%w: quarantine %s: want list, show or retry", errUsage, sub)
	}
	return withService(ctx, env, g, func(p *process) error {
		switch sub {
		case "list":
			return quarantineList(ctx, env, p, g.json)
		case "show":
			return quarantineShow(ctx, env, p, ids[0], g.json)
		}
		return quarantineRetry(ctx, env, p, ids, *later)
	})
}

// quarantineList prints every quarantined item.
func quarantineList(ctx context.Context, env Env, p *process, asJSON bool) error {
	items, err := p.svc.Quarantine(ctx)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	stats, err := p.svc.Store().Stats(ctx)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if asJSON {
		if items == nil {
			items = []store.Quarantined{}
		}
		return printJSON(env.Stdout, struct {
			Items   []store.Quarantined `json:"items"`
			Dropped uint64              `json:"dropped"`
			Retries int                 `json:"pull_retries"`
		}{items, stats.QuarantineDropped, stats.PullRetries})
	}
	printQuarantineList(env.Stdout, items, stats)
	return nil
}

// quarantineShow prints one quarantined item whole.
func quarantineShow(ctx context.Context, env Env, p *process, id uint64, asJSON bool) error {
	q, err := p.svc.QuarantineItem(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("quarantine: item %d is not quarantined ('fieldsync quarantine list' shows the ids)", id)
	}
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if asJSON {
		return printJSON(env.Stdout, q)
	}
	printQuarantined(env.Stdout, q)
	return nil
}

// quarantineRetry releases items (all of them when ids is empty) and,
// unless later, syncs at once to read their batches again.
func quarantineRetry(ctx context.Context, env Env, p *process, ids []uint64, later bool) error {
	released, err := p.svc.RetryQuarantine(ctx, ids)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("quarantine: %w ('fieldsync quarantine list' shows the ids)", err)
	}
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	batches := map[string]bool{}
	for _, q := range released {
		batches[q.Batch] = true
	}
	fmt.Fprintf(env.Stdout, "released %d item(s) of %d batch(es); their batches are read again\n", len(released), len(batches))
	if later || len(released) == 0 {
		return nil
	}
	rep, err := p.svc.SyncNow(ctx)
	if err != nil {
		return fmt.Errorf("quarantine: released, but the sync that reads them again failed (the next sync tries again): %w", err)
	}
	left, err := p.svc.Quarantine(ctx)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	fmt.Fprintf(env.Stdout, "sync: pulled %d change(s); %d quarantined again; %d item(s) in quarantine now\n", rep.Pulled, rep.Quarantined, len(left))
	return nil
}

func printQuarantineList(w io.Writer, items []store.Quarantined, stats store.Stats) {
	if len(items) == 0 {
		fmt.Fprintln(w, "nothing is quarantined")
	}
	for _, q := range items {
		fmt.Fprintf(w, "%d\t%s\t%s\n", q.ID, time.UnixMilli(q.At).UTC().Format(time.RFC3339), agent.QuarantineText(q))
	}
	if stats.QuarantineDropped > 0 {
		fmt.Fprintf(w, "(%d older item(s) were dropped: the quarantine keeps the newest %d)\n", stats.QuarantineDropped, store.MaxQuarantined)
	}
	if stats.PullRetries > 0 {
		fmt.Fprintf(w, "%d batch(es) could not be read completely yet and are read again with backoff\n", stats.PullRetries)
	}
}

func printQuarantined(w io.Writer, q store.Quarantined) {
	fmt.Fprintf(w, "item:        %d (%s)\n", q.ID, q.Kind)
	fmt.Fprintf(w, "when:        %s\n", time.UnixMilli(q.At).UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "collection:  %s\n", q.Collection)
	fmt.Fprintf(w, "batch:       %s\n", q.Batch)
	if q.Kind == store.QuarantineRow {
		fmt.Fprintf(w, "row:         %d\n", q.Row)
		fmt.Fprintf(w, "change id:   %s\n", nonEmpty(q.ChangeID, "(none)"))
	}
	fmt.Fprintf(w, "reason:      %s\n", q.Reason)
	if q.Content != "" {
		fmt.Fprintf(w, "row as read: %s\n", q.Content)
	}
	fmt.Fprintf(w, "to retry after fixing it in Drill: fieldsync quarantine retry %d\n", q.ID)
}
