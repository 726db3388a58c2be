package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/store"
)

// ViewRecheck is how long a device trusts its mark of a set of analyst
// views (store.ViewMark) before it asks Drill again whether they are
// there with every column, and makes them again when not: a view dropped
// in Drill comes back within this time after a device's next sync, or at
// once with `fieldsync compact` (the current-state, conflict and fleet
// views) or when a device's declarations change.
const ViewRecheck = 24 * time.Hour

// ViewEmptyRecheck is how long a device leaves the views of a collection
// that nothing was pushed to (no log in Drill to build them from) before
// it asks Drill again, while it holds no record of that collection itself:
// the question is an INFORMATION_SCHEMA query, which costs Drill ~0.2-0.5 s
// with 30-130 views in the workspace (the embedded Drillbit, 02:50 UTC), at
// every sync of every device where a declared collection is still unused.
// The device that pushes a collection's first changes holds its records,
// so it makes the views in that same sync.
const ViewEmptyRecheck = 30 * time.Minute

// emptyMark is the hash of the mark of a view set whose collection had
// nothing in Drill to build the views from when it was checked.
func emptyMark(hash string) string { return "empty:" + hash }

// viewSet is a group of analyst views made together: a collection's
// current-state and conflict views, its audit views, or the fleet table.
type viewSet struct {
	coll string            // the collection it reads ("" for the fleet table)
	key  string            // its name among the store's view marks
	cols map[string]string // view name -> the column list ("s.`a`, s.`b`") it must have
	hash string            // of the statements that define it
	// make creates the views; ok is false when what they read is not in
	// Drill yet (nothing pushed).
	make func(ctx context.Context) (ok bool, err error)
}

// viewHash is the hash of a view set's defining statements.
func viewHash(stmts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(stmts, "\n")))
	return hex.EncodeToString(h[:16])
}

// viewsFresh reports whether a view mark lets a sync skip its view set:
// there is one, for the same definition (hash want), checked less than
// ViewRecheck ago. A mark from the future (this computer's clock set back)
// is not trusted.
func viewsFresh(m store.ViewMark, found bool, want string, now time.Time) bool {
	return markFresh(m, found, want, now, ViewRecheck)
}

// markFresh reports whether a view mark is for hash want and was checked
// less than within ago (not in the future).
func markFresh(m store.ViewMark, found bool, want string, now time.Time, within time.Duration) bool {
	if !found || m.Hash != want {
		return false
	}
	age := now.UnixMilli() - m.Checked
	return age >= 0 && age < within.Milliseconds()
}

// markKey is the store key of a view set's mark: the Drill cluster, the
// workspace and the set, so another cluster or workspace is checked anew.
func (a *Agent) markKey(set string) string {
	return a.opts.Cluster + "\x00" + a.plugin + "." + a.workspace + "\x00" + set
}

// ensureViews makes sure each view set is in Drill: a set whose mark is
// fresh costs no query; the others are checked with one
// INFORMATION_SCHEMA query, made when a view lacks a column (never
// replacing a view made from a newer declaration: agents of a fleet update
// at different times), and marked. It returns the keys of the sets it
// made; a set that fails does not stop the others.
func (a *Agent) ensureViews(ctx context.Context, sets []viewSet) (made []string, err error) {
	now := a.now()
	var check []viewSet
	var held map[string]store.CollectionStats // this device's records, read once when needed
	for _, s := range sets {
		m, found, err := a.st.ViewMark(ctx, a.markKey(s.key))
		if err != nil {
			return nil, fmt.Errorf("views: %w", err)
		}
		if viewsFresh(m, found, s.hash, now) {
			continue
		}
		if s.coll != "" && markFresh(m, found, emptyMark(s.hash), now, ViewEmptyRecheck) {
			if held == nil {
				st, err := a.st.Stats(ctx)
				if err != nil {
					return nil, fmt.Errorf("views: %w", err)
				}
				held = st.Collections
			}
			if c := held[s.coll]; c.Live+c.Deleted == 0 || a.opts.BatchFormat == BatchJSON {
				// Still nothing of it here (nothing pushed from here), or
				// this device writes JSON, which the views do not read
				// until a compaction pass rewrites it: its own pushes
				// give the views nothing to read.
				continue
			}
		}
		check = append(check, s)
	}
	if len(check) == 0 {
		return nil, nil
	}
	var names []string
	for _, s := range check {
		for v := range s.cols {
			names = append(names, v)
		}
	}
	have, err := a.viewsColumns(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("views: %w", err)
	}
	var errs []error
	for _, s := range check {
		whole := true
		for v, sig := range s.cols {
			if !covers(have[strings.ToLower(v)], sig) {
				whole = false
			}
		}
		if !whole {
			ok, err := s.make(ctx)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !ok {
				// Nothing in Drill to read yet: asked again after
				// ViewEmptyRecheck, or at once when this device holds
				// records of it (it pushes them).
				if err := a.st.PutViewMark(ctx, a.markKey(s.key), store.ViewMark{Hash: emptyMark(s.hash), Checked: now.UnixMilli()}); err != nil {
					errs = append(errs, fmt.Errorf("views: %w", err))
				}
				continue
			}
			made = append(made, s.key)
		}
		if err := a.st.PutViewMark(ctx, a.markKey(s.key), store.ViewMark{Hash: s.hash, Checked: now.UnixMilli()}); err != nil {
			errs = append(errs, fmt.Errorf("views: %w", err))
		}
	}
	return made, errors.Join(errs...)
}

// viewsColumns returns the lower-case column names of each of the named
// views in the workspace, by lower-case view name (a view that does not
// exist is absent), with one query.
func (a *Agent) viewsColumns(ctx context.Context, views []string) (map[string]map[string]bool, error) {
	ws, err := drill.String(a.plugin + "." + a.workspace)
	if err != nil {
		return nil, err
	}
	sort.Strings(views)
	lits := make([]string, len(views))
	for i, v := range views {
		if lits[i], err = drill.String(v); err != nil {
			return nil, err
		}
	}
	rows, err := a.dr.Query(ctx, "SELECT `TABLE_NAME`, `COLUMN_NAME` FROM INFORMATION_SCHEMA.`COLUMNS` WHERE `TABLE_SCHEMA` = "+ws+
		" AND `TABLE_NAME` IN ("+strings.Join(lits, ", ")+")")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]bool{}
	for _, r := range rows {
		t, ok1 := r["TABLE_NAME"].(string)
		c, ok2 := r["COLUMN_NAME"].(string)
		if !ok1 || !ok2 {
			continue
		}
		t = strings.ToLower(t)
		if out[t] == nil {
			out[t] = map[string]bool{}
		}
		out[t][strings.ToLower(c)] = true
	}
	return out, nil
}
