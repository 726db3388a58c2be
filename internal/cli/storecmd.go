package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync/service"
	"github.com/fieldsync/fieldsync/store"
)

func runStore(ctx context.Context, env Env, args []string) error {
	subs := map[string]func(context.Context, Env, []string) error{
		"salvage":     runSalvage,
		"check-pages": runCheckPages,
	}
	// The subcommand may also follow the global flags.
	for i, a := range args {
		if run, ok := subs[a]; ok {
			return run(ctx, env, append(append([]string{}, args[:i]...), args[i+1:]...))
		}
	}
	fs, _ := newFlagSet(env, "store")
	if err := parse(fs, args); err != nil {
		return err // names a flag it does not know
	}
	return fmt.Errorf("%w: store salvage [--out FILE]: copy what can be read of a damaged store into a new file; "+
		"store check-pages: run bbolt's page check over the store", errUsage)
}

// runCheckPages runs bbolt's own page check over the store file, read-only.
// It is meant to run in a process of its own (doctor starts it as a child):
// bbolt checks pages in a goroutine where a fault on a damaged page ends
// the process, which the parent then reports as damage. Problems found exit
// with code 3, like every damaged-store error.
func runCheckPages(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "store check-pages")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after `duration`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: store check-pages takes no arguments, got %q", errUsage, fs.Args())
	}
	c, err := loadConfig(env, g)
	if err != nil {
		return err
	}
	path := filepath.Join(c.DataDir, service.StoreFile)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store check-pages: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := store.CheckPages(ctx, path, 2*time.Second)
	if err != nil {
		return err
	}
	if g.json {
		if err := printJSON(env.Stdout, rep); err != nil {
			return err
		}
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintf(env.Stdout, "page problem: %s\n", p)
		}
		if rep.Dropped > 0 {
			fmt.Fprintf(env.Stdout, "page problem: %d more\n", rep.Dropped)
		}
		fmt.Fprintf(env.Stdout, "page check: %d pages, %d problem(s) (%s)\n", rep.Pages, len(rep.Problems)+rep.Dropped, rep.Elapsed.Round(time.Millisecond))
	}
	if !rep.OK() {
		return &ExitError{Code: exitDamaged, Err: fmt.Errorf("store check-pages: %s is damaged; stop fieldsync and run 'fieldsync store salvage' (docs/OPERATIONS.md#salvage)", path)}
	}
	return nil
}

// runSalvage copies what can be read of the store into a new file. Without
// --out the damaged file is renamed fieldsync.db.damaged-<time> and the
// copy takes its place; with --out the copy is written there and the store
// is left as it is.
func runSalvage(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "store salvage")
	out := fs.String("out", "", "write the copy to `file` and leave the store where it is (default: the copy replaces the store, which is kept aside)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: store salvage takes no arguments, got %q", errUsage, fs.Args())
	}
	c, err := loadConfig(env, g)
	if err != nil {
		return err
	}
	src := filepath.Join(c.DataDir, service.StoreFile)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("store salvage: %w", err)
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	dst := *out
	if dst == "" {
		dst = src + ".salvage-" + stamp
	}
	rep, err := store.Salvage(ctx, src, dst, &store.Options{DeviceID: c.Device, Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("store salvage: %w: stop it first (the agent, serve or the window)", err)
		}
		return fmt.Errorf("store salvage: %w", err)
	}
	aside := ""
	if *out == "" {
		aside = src + ".damaged-" + stamp
		if err := os.Rename(src, aside); err != nil {
			return fmt.Errorf("store salvage: keep the damaged file aside: %w (the copy is in %s)", err, dst)
		}
		if err := os.Rename(dst, src); err != nil {
			return fmt.Errorf("store salvage: put the copy in place: %w (the copy is in %s, the damaged file in %s)", err, dst, aside)
		}
		_ = os.Remove(dst + ".owner")
		rep.Dest = src
	}
	if g.json {
		return printJSON(env.Stdout, struct {
			store.SalvageReport
			DamagedKept string `json:"damaged_kept,omitempty"`
		}{rep, aside})
	}
	printSalvage(env.Stdout, rep, aside)
	return nil
}

func printSalvage(w io.Writer, rep store.SalvageReport, aside string) {
	fmt.Fprintf(w, "salvaged %s into %s (device %s)\n", rep.Source, rep.Dest, rep.Device)
	for _, row := range []struct {
		what         string
		copied, lost int
	}{
		{"records", rep.Copied.Records, rep.Lost.Records},
		{"versions", rep.Copied.Versions, rep.Lost.Versions},
		{"journal", rep.Copied.Journal, rep.Lost.Journal},
		{"conflicts", rep.Copied.Conflicts, rep.Lost.Conflicts},
		{"audit", rep.Copied.Audit, rep.Lost.Audit},
		{"other", rep.Copied.Other, rep.Lost.Other},
	} {
		fmt.Fprintf(w, "%-10s %d copied, %d unreadable\n", row.what+":", row.copied, row.lost)
	}
	for _, u := range rep.Unreadable {
		fmt.Fprintf(w, "unreadable: %s\n", u)
	}
	if aside != "" {
		fmt.Fprintf(w, "the damaged file is kept as %s\n", aside)
	}
	if rep.Complete() {
		fmt.Fprintln(w, "everything found was copied")
	} else {
		fmt.Fprintln(w, "some entries could not be read: records already in Drill come back on the next sync; local changes counted as unreadable in the journal were not pushed and are lost")
	}
}
