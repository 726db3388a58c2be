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
		"stats":       runStoreStats,
		"compact":     runStoreCompact,
		"check-pages": runCheckPages,
	}
	// The subcommand comes first, or after the global flags.
	if len(args) > 0 {
		if run, ok := subs[args[0]]; ok {
			return run(ctx, env, args[1:])
		}
	}
	if fs, _ := newFlagSet(env, "store"); fs.Parse(args) == nil && fs.NArg() > 0 {
		if run, ok := subs[fs.Arg(0)]; ok {
			flags := args[:len(args)-fs.NArg()]
			return run(ctx, env, append(append([]string{}, flags...), fs.Args()[1:]...))
		}
	}
	// A subcommand's own flag may come before its name.
	for i, a := range args {
		if run, ok := subs[a]; ok {
			return run(ctx, env, append(append([]string{}, args[:i]...), args[i+1:]...))
		}
	}
	fs, _ := newFlagSet(env, "store")
	if err := parse(fs, args); err != nil {
		return err // names a flag it does not know
	}
	return fmt.Errorf("%w: store stats | store compact | store check-pages | store salvage [--out FILE]: "+
		"show where the store file's bytes are, give its free pages back, run bbolt's page check, "+
		"or copy what can be read of a damaged store into a new file", errUsage)
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
		return lockedHint("store check-pages", err)
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

// storeArgs parses a store subcommand without arguments of its own and
// returns the settings and the store file.
func storeArgs(env Env, name string, args []string) (*globals, string, error) {
	fs, g := newFlagSet(env, name)
	if err := parse(fs, args); err != nil {
		return g, "", err
	}
	if fs.NArg() > 0 {
		return g, "", fmt.Errorf("%w: %s takes no arguments, got %q", errUsage, name, fs.Args())
	}
	c, err := loadConfig(env, g)
	if err != nil {
		return g, "", err
	}
	path := filepath.Join(c.DataDir, service.StoreFile)
	if _, err := os.Stat(path); err != nil {
		return g, "", fmt.Errorf("%s: %w", name, err)
	}
	return g, path, nil
}

// lockedHint words a store held by another process for people.
func lockedHint(name string, err error) error {
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%s: %w: stop it first (the agent, serve or the window)", name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// runStoreStats prints the store file's size, its free pages and the bytes
// of each bucket (docs/OPERATIONS.md).
func runStoreStats(ctx context.Context, env Env, args []string) error {
	g, path, err := storeArgs(env, "store stats", args)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, path, &store.Options{Timeout: 2 * time.Second})
	if err != nil {
		return lockedHint("store stats", err)
	}
	defer st.Close()
	rep, err := st.Space(ctx)
	if err != nil {
		return fmt.Errorf("store stats: %w", err)
	}
	if g.json {
		return printJSON(env.Stdout, rep)
	}
	w := env.Stdout
	fmt.Fprintf(w, "store %s: %s, %s in free pages (store compact gives them back)\n", rep.Path, mib(rep.FileBytes), mib(rep.FreeBytes))
	fmt.Fprintf(w, "%-10s %10s %12s %12s\n", "bucket", "keys", "bytes", "used bytes")
	for _, b := range rep.Buckets {
		fmt.Fprintf(w, "%-10s %10d %12d %12d\n", b.Name, b.Keys, b.Bytes, b.UsedBytes)
	}
	return nil
}

// runStoreCompact copies the store into a new file without free pages and
// puts it in place (crash-safe: see store.Compact).
func runStoreCompact(ctx context.Context, env Env, args []string) error {
	g, path, err := storeArgs(env, "store compact", args)
	if err != nil {
		return err
	}
	rep, err := store.Compact(ctx, path, &store.Options{Timeout: 2 * time.Second})
	if err != nil {
		return lockedHint("store compact", err)
	}
	if g.json {
		return printJSON(env.Stdout, rep)
	}
	fmt.Fprintf(env.Stdout, "compacted %s: %s -> %s\n", rep.Path, mib(rep.BytesBefore), mib(rep.BytesAfter))
	return nil
}

// mib words a byte count for people.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

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
		return lockedHint("store salvage", err)
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
