package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/service"
	"github.com/fieldsync/fieldsync/store"
)

func runConflicts(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: conflicts list | show COLLECTION/ID | resolve COLLECTION/ID --take device|server|merge|version", errUsage)
	}
	sub, args := args[0], args[1:]
	if strings.HasPrefix(sub, "-") {
		return fmt.Errorf("%w: conflicts: name list, show or resolve first, then the flags (got %s)", errUsage, sub)
	}
	fs, g := newFlagSet(env, "conflicts "+sub)
	g.quiet = true
	collection := fs.String("collection", "", "only this collection (list)")
	take := fs.String("take", "", "resolve: device, server, merge or version")
	version := fs.String("version", "", "resolve --take version: the version to keep")
	docFile := fs.String("doc", "", "resolve --take merge: `file` with the merged record (JSON); without it the leaves are merged field by field")
	author := fs.String("author", "", "resolve: who resolves (default: the settings' author)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withService(ctx, env, g, func(p *process) error {
		switch sub {
		case "list":
			return conflictsList(ctx, env, p.svc, *collection, g.json)
		case "show":
			c, id, err := conflictID(fs.Args())
			if err != nil {
				return err
			}
			cf, err := p.svc.Conflict(ctx, c, id)
			if err != nil {
				return fmt.Errorf("conflicts: %s/%s: %w", c, id, err)
			}
			if g.json {
				return printJSON(env.Stdout, cf)
			}
			printConflict(env.Stdout, cf)
			return nil
		case "resolve":
			c, id, err := conflictID(fs.Args())
			if err != nil {
				return err
			}
			choice := agent.Choice{Take: agent.Take(*take), Version: *version, Author: *author}
			if *docFile != "" {
				b, err := os.ReadFile(*docFile)
				if err != nil {
					return fmt.Errorf("conflicts: %w", err)
				}
				choice.Doc = json.RawMessage(b)
			}
			ch, err := p.svc.Resolve(ctx, c, id, choice)
			if err != nil {
				return fmt.Errorf("conflicts: resolve %s/%s: %w", c, id, err)
			}
			if g.json {
				return printJSON(env.Stdout, ch)
			}
			fmt.Fprintf(env.Stdout, "resolved %s/%s as version %s; it is pushed with the next sync\n", c, id, ch.Version)
			return nil
		}
		return fmt.Errorf("%w: conflicts %s: want list, show or resolve", errUsage, sub)
	})
}

func conflictID(args []string) (string, string, error) {
	if len(args) != 1 {
		return "", "", fmt.Errorf("%w: name one conflict as COLLECTION/RECORD_ID", errUsage)
	}
	c, id, ok := strings.Cut(args[0], "/")
	if !ok || c == "" || id == "" {
		return "", "", fmt.Errorf("%w: %q: name the conflict as COLLECTION/RECORD_ID", errUsage, args[0])
	}
	return c, id, nil
}

func conflictsList(ctx context.Context, env Env, svc *service.Service, only string, asJSON bool) error {
	names := svc.Schema().Names()
	if only != "" {
		names = []string{only}
	}
	var all []store.Conflict
	for _, n := range names {
		cs, err := svc.Store().Conflicts(ctx, n)
		if err != nil {
			return fmt.Errorf("conflicts: %w", err)
		}
		all = append(all, cs...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].DetectedAt < all[j].DetectedAt })
	if asJSON {
		if all == nil {
			all = []store.Conflict{}
		}
		return printJSON(env.Stdout, all)
	}
	if len(all) == 0 {
		fmt.Fprintln(env.Stdout, "no open conflicts")
		return nil
	}
	for _, cf := range all {
		var who []string
		for _, l := range cf.Leaves {
			who = append(who, agent.SideName(l))
		}
		fmt.Fprintf(env.Stdout, "%s/%s\t%d versions\t%s\tsince %s\n", cf.Collection, cf.RecordID, len(cf.Leaves),
			strings.Join(who, ", "), time.UnixMilli(cf.DetectedAt).UTC().Format(time.RFC3339))
	}
	return nil
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// printConflict shows each leaf field by field against the ancestor.
func printConflict(w io.Writer, cf store.Conflict) {
	fmt.Fprintf(w, "%s/%s: %d conflicting versions (shown meanwhile: %s)\n", cf.Collection, cf.RecordID, len(cf.Leaves), cf.Winner)
	docs := map[string]map[string]json.RawMessage{}
	fields := map[string]bool{}
	cols := []store.Change{}
	if cf.Ancestor != nil {
		cols = append(cols, *cf.Ancestor)
	}
	cols = append(cols, cf.Leaves...)
	for _, c := range cols {
		m := map[string]json.RawMessage{}
		_ = json.Unmarshal(c.Doc, &m)
		docs[c.Version] = m
		for k := range m {
			fields[k] = true
		}
	}
	for i, c := range cols {
		label := fmt.Sprintf("version %d", i)
		if cf.Ancestor != nil && i == 0 {
			label = "ancestor"
		}
		op := ""
		if c.Op == store.OpDelete {
			op = " (DELETED)"
		}
		fmt.Fprintf(w, "  %-9s %s by %s at %s%s\n", label, c.Version, agent.SideName(c),
			time.UnixMilli(c.EditedAt).UTC().Format(time.RFC3339), op)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := make([]string, len(cols))
		differ := false
		for i, c := range cols {
			vals[i] = string(docs[c.Version][k])
			if vals[i] == "" {
				vals[i] = "-"
			}
			if i > 0 && vals[i] != vals[0] {
				differ = true
			}
		}
		mark := " "
		if differ {
			mark = "*"
		}
		fmt.Fprintf(w, "%s %-20s %s\n", mark, k, strings.Join(vals, " | "))
	}
}
