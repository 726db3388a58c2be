package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// fakeDrill is an in-memory Drill that understands exactly the statements
// the agent sends. Tables are keyed by their path inside the workspace.
type fakeDrill struct {
	mu      sync.Mutex
	tables  map[string][]Row
	views   map[string]string
	mtimes  map[string]int64 // table -> modification time (ms)
	queries []string
	nowMS   int64
	// before, when set, runs before each statement; an error fails it.
	before func(sql string) error
	// ctas, when set, decides how many rows of a CTAS land and what error
	// the client sees (keep < len(rows) to simulate a partial write).
	ctas func(table string, rows int) (keep int, err error)
}

var _ Drill = (*fakeDrill)(nil)

func newFakeDrill() *fakeDrill {
	return &fakeDrill{tables: map[string][]Row{}, views: map[string]string{}, mtimes: map[string]int64{}, nowMS: 1_800_000_000_000}
}

var (
	reTable  = regexp.MustCompile("`dfs`\\.`fieldsync`\\.`([^`]+)`")
	reLimit  = regexp.MustCompile(`LIMIT (\d+) OFFSET (\d+)$`)
	reSelect = regexp.MustCompile("^SELECT (.+?) FROM `dfs`")
	reGroup  = regexp.MustCompile(`^(.+)/\{([^}]*)\}/\*\.(?:parquet|json)$`)
)

func (f *fakeDrill) Query(ctx context.Context, sql string) ([]Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.queries = append(f.queries, sql)
	before := f.before
	f.mu.Unlock()
	if before != nil {
		if err := before(sql); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	table := ""
	if m := reTable.FindStringSubmatch(sql); m != nil {
		table = m[1]
	}
	switch {
	case strings.HasPrefix(sql, "SELECT CURRENT_TIMESTAMP"):
		f.nowMS += 1000
		return []Row{{"ms": json.Number(strconv.FormatInt(f.nowMS, 10))}}, nil
	case strings.HasPrefix(sql, "CREATE TABLE IF NOT EXISTS "):
		if _, ok := f.tables[table]; ok {
			return []Row{{"ok": true}}, nil
		}
		i := strings.Index(sql, "convert_fromJSON('")
		j := strings.LastIndex(sql, "')) AS r")
		if i < 0 || j < 0 {
			return nil, fmt.Errorf("fake: unexpected CTAS %.200s", sql)
		}
		var objs []map[string]*string
		if err := json.Unmarshal([]byte(sql[i+len("convert_fromJSON('"):j]), &objs); err != nil {
			return nil, fmt.Errorf("fake: CTAS JSON: %w", err)
		}
		rows := make([]Row, len(objs))
		for k, o := range objs {
			r := Row{}
			for col, v := range o {
				switch {
				case v == nil:
					r[col] = nil
				case col == "edited_at" || col == "batch_rows":
					r[col] = json.Number(*v)
				default:
					r[col] = *v
				}
			}
			rows[k] = r
		}
		keep, err := len(rows), error(nil)
		if f.ctas != nil {
			keep, err = f.ctas(table, len(rows))
		}
		if keep > 0 || err == nil {
			f.tables[table] = rows[:keep]
			f.mtimes[table] = f.nowMS
		}
		return []Row{{"Fragment": "0_0", "Number of records written": json.Number(strconv.Itoa(keep))}}, err
	case strings.HasPrefix(sql, "DROP TABLE IF EXISTS "):
		delete(f.tables, table)
		return nil, nil
	case strings.HasPrefix(sql, "CREATE OR REPLACE VIEW "):
		base := table
		for _, v := range []string{"_current", "_conflicts", "_history", "_resolutions"} {
			base = strings.TrimSuffix(base, v)
		}
		if !f.hasDirLocked(base + "/changes") {
			return nil, errors.New("VALIDATION ERROR: Object 'changes' not found")
		}
		f.views[table] = sql
		return nil, nil
	case strings.HasPrefix(sql, "SHOW FILES IN "):
		if !f.hasDirLocked(table) {
			return nil, fmt.Errorf("VALIDATION ERROR: Table '%s' not found", table)
		}
		// Immediate children only; a directory's time is its newest
		// table's, as a partition's changes when a batch is made in it.
		mt := map[string]int64{}
		for name := range f.tables {
			if rest, ok := strings.CutPrefix(name, table+"/"); ok {
				child, _, _ := strings.Cut(rest, "/")
				mt[child] = max(mt[child], f.mtimes[name])
			}
		}
		var out []Row
		for child, ms := range mt {
			out = append(out, Row{"name": child, "isDirectory": true, "modificationTime": json.Number(strconv.FormatInt(ms, 10))})
		}
		sort.Slice(out, func(i, j int) bool { return out[i]["name"].(string) < out[j]["name"].(string) })
		return out, nil
	case strings.Contains(sql, "INFORMATION_SCHEMA.`COLUMNS`"):
		in := regexp.MustCompile("`TABLE_NAME` IN \\(([^)]*)\\)").FindStringSubmatch(sql)
		var out []Row
		for _, n := range regexp.MustCompile("'([^']+)'").FindAllStringSubmatch(in[1], -1) {
			v, ok := f.views[n[1]]
			if !ok {
				continue
			}
			for _, c := range regexp.MustCompile("s\\.`([^`]+)`").FindAllStringSubmatch(v[:strings.Index(v, " FROM ")], -1) {
				out = append(out, Row{"TABLE_NAME": n[1], "COLUMN_NAME": c[1]})
			}
		}
		return out, nil
	case strings.HasPrefix(sql, "SELECT `filepath` AS `fs_path`, "):
		// Several batches of one partition named by a glob
		// alternation, ordered by batch then change.
		m := reGroup.FindStringSubmatch(table)
		if m == nil {
			return nil, fmt.Errorf("fake drill: group read of %q", table)
		}
		var sorted []Row
		for _, name := range strings.Split(m[2], ",") {
			rows := append([]Row(nil), f.tables[m[1]+"/"+name]...)
			sort.SliceStable(rows, func(i, j int) bool {
				return fmt.Sprint(rows[i]["change_id"]) < fmt.Sprint(rows[j]["change_id"])
			})
			for _, r := range rows {
				o := Row{"fs_path": "/ws/" + m[1] + "/" + name}
				for _, c := range readColumns {
					o[c] = r[c]
				}
				sorted = append(sorted, o)
			}
		}
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i]["fs_path"].(string) < sorted[j]["fs_path"].(string) })
		if m := reLimit.FindStringSubmatch(sql); m != nil {
			lim, _ := strconv.Atoi(m[1])
			off, _ := strconv.Atoi(m[2])
			sorted = sorted[min(off, len(sorted)):min(off+lim, len(sorted))]
		}
		return sorted, nil
	case strings.HasPrefix(sql, "SELECT "):
		// Globs of Parquet files read the directory they start from
		// (the fake holds no other format).
		for _, g := range []string{strings.TrimPrefix(logGlob, "/changes"), partitionFiles, entryFiles} {
			table = strings.TrimSuffix(table, g)
		}
		rows, ok := f.tables[table]
		if !ok && f.hasDirLocked(table) {
			ok = true
			for name, r := range f.tables {
				if strings.HasPrefix(name, table+"/") {
					rows = append(rows, r...)
				}
			}
		}
		if !ok {
			return nil, fmt.Errorf("VALIDATION ERROR: Object '%s' not found within 'dfs.fieldsync'", table)
		}
		sorted := append([]Row(nil), rows...)
		sort.SliceStable(sorted, func(i, j int) bool {
			return fmt.Sprint(sorted[i]["change_id"]) < fmt.Sprint(sorted[j]["change_id"])
		})
		if m := reLimit.FindStringSubmatch(sql); m != nil {
			lim, _ := strconv.Atoi(m[1])
			off, _ := strconv.Atoi(m[2])
			sorted = sorted[min(off, len(sorted)):min(off+lim, len(sorted))]
		}
		cols := strings.Split(reSelect.FindStringSubmatch(sql)[1], ", ")
		out := make([]Row, len(sorted))
		for k, r := range sorted {
			o := Row{}
			for _, c := range cols {
				// "CAST(`x` AS VARCHAR(n)) AS `x`" reads column x.
				if _, alias, ok := strings.Cut(c, ") AS "); ok {
					c = alias
				}
				c = strings.Trim(c, "`")
				o[c] = r[c]
			}
			out[k] = o
		}
		return out, nil
	}
	return nil, fmt.Errorf("fake: unexpected statement %.100s", sql)
}

func (f *fakeDrill) hasDirLocked(dir string) bool {
	for name := range f.tables {
		if strings.HasPrefix(name, dir+"/") {
			return true
		}
	}
	return false
}

// rows returns every row of every batch of a collection.
func (f *fakeDrill) rows(coll string) []Row {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Row
	for name, rows := range f.tables {
		if strings.HasPrefix(name, coll+"/changes/") {
			out = append(out, rows...)
		}
	}
	return out
}

func (f *fakeDrill) batchNames(coll string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for name := range f.tables {
		if rest, ok := strings.CutPrefix(name, coll+"/changes/"); ok {
			out = append(out, rest)
		}
	}
	sort.Strings(out)
	return out
}

// assertExactlyOnce fails unless every change id appears once in Drill.
func assertExactlyOnce(tb testing.TB, f *fakeDrill, coll string, want int) {
	tb.Helper()
	seen := map[string]int{}
	for _, r := range f.rows(coll) {
		seen[fmt.Sprint(r["change_id"])]++
	}
	for id, n := range seen {
		if n != 1 {
			tb.Errorf("change %s is %d times in Drill", id, n)
		}
	}
	if want >= 0 && len(seen) != want {
		tb.Errorf("Drill holds %d distinct changes, want %d", len(seen), want)
	}
}

const testCollections = `{"collections":[
 {"name":"inspections","fields":[
  {"name":"site","type":"text","required":true},
  {"name":"temp","type":"number"},
  {"name":"count","type":"integer"},
  {"name":"ok","type":"boolean"},
  {"name":"risk","type":"enum","options":["low","high"]},
  {"name":"at","type":"datetime"},
  {"name":"notes","type":"note"}]},
 {"name":"lww","policy":"lww","fields":[{"name":"a","type":"text"},{"name":"b","type":"text"}]},
 {"name":"merged","policy":"field-merge","fields":[{"name":"a","type":"text"},{"name":"b","type":"text"}]},
 {"name":"server","policy":"prefer-server","fields":[{"name":"a","type":"text"}]},
 {"name":"device","policy":"prefer-device","fields":[{"name":"a","type":"text"}]},
 {"name":"ruled","policy":"lww",
  "rules":{"site":"join","temp":"higher","n":"lower","at":"lower","note":"join","tags":"union","a":"device","b":"server","c":"newest"},
  "fields":[{"name":"site","type":"text"},{"name":"temp","type":"number"},{"name":"n","type":"integer"},{"name":"at","type":"datetime"},
   {"name":"note","type":"note"},{"name":"tags","type":"list"},{"name":"a","type":"text"},{"name":"b","type":"text"},{"name":"c","type":"text"},{"name":"d","type":"text"}]},
 {"name":"rulesonly","rules":{"temp":"higher"},"fields":[{"name":"site","type":"text"},{"name":"temp","type":"number"}]}]}`

func mustSchema(tb testing.TB) *schema.Set {
	tb.Helper()
	set, err := schema.Parse([]byte(testCollections))
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

// clock is a settable clock shared by a store and an agent.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(ms int64) *clock { return &clock{t: time.UnixMilli(ms)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder is an Events sink that keeps what it got.
type recorder struct {
	mu     sync.Mutex
	events []string
	appl   []Applied
}

func (r *recorder) Emit(name string, payload any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, name)
	if a, ok := payload.(Applied); ok {
		r.appl = append(r.appl, a)
	}
}

func (r *recorder) applied() []Applied {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Applied(nil), r.appl...)
}

// node is one device under test: its store, clock, agent and events.
type node struct {
	st     *store.Store
	clk    *clock
	ag     *Agent
	ev     *recorder
	device string
	n      int
	mu     sync.Mutex // guards n in tryEdit
}

func mustOpenStore(tb testing.TB, device string, clk *clock) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), device+".db"), &store.Options{DeviceID: device, Now: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

func mustNode(tb testing.TB, device string, startMS int64, d Drill, tweak func(*Options)) *node {
	tb.Helper()
	clk := newClock(startMS)
	st := mustOpenStore(tb, device, clk)
	ev := &recorder{}
	opts := Options{Store: st, Drill: d, Schema: mustSchema(tb), Events: ev, Now: clk.Now}
	if tweak != nil {
		tweak(&opts)
	}
	ag, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return &node{st: st, clk: clk, ag: ag, ev: ev, device: device}
}

// edit appends a local change of record id (a put of doc, or a delete when
// doc is ""), made from the record's current leaves' winner.
func (n *node) edit(tb testing.TB, coll, id, doc string) store.Change {
	tb.Helper()
	c, err := n.tryEdit(coll, id, doc)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// tryEdit is edit for goroutines other than the test's: it returns errors.
func (n *node) tryEdit(coll, id, doc string) (store.Change, error) {
	ctx := context.Background()
	var parents []string
	if rec, err := n.st.Record(ctx, coll, id); err == nil {
		parents = []string{rec.Version}
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Change{}, err
	}
	v, err := n.st.NextVersion(ctx)
	if err != nil {
		return store.Change{}, err
	}
	n.mu.Lock() // several goroutines edit at once
	n.n++
	seq := n.n
	n.mu.Unlock()
	c := store.Change{
		ChangeID: fmt.Sprintf("%s-%d", n.device, seq), Collection: coll, RecordID: id, Op: store.OpPut,
		Doc: json.RawMessage(doc), Version: v.String(), Parents: parents, Device: n.device,
		Author: "ann", EditedAt: n.clk.Now().UnixMilli(),
	}
	if doc == "" {
		c.Op, c.Doc = store.OpDelete, nil
	}
	res, err := n.st.Append(ctx, []store.Change{c})
	if err != nil || res.Accepted != 1 {
		return store.Change{}, fmt.Errorf("append %+v: %v %+v", c, err, res)
	}
	return c, nil
}

func (n *node) sync(tb testing.TB) Report {
	tb.Helper()
	rep, err := n.ag.SyncNow(context.Background())
	if err != nil {
		tb.Fatalf("%s sync: %v", n.device, err)
	}
	return rep
}

func (n *node) record(tb testing.TB, coll, id string) store.Record {
	tb.Helper()
	r, err := n.st.Record(context.Background(), coll, id)
	if err != nil {
		tb.Fatalf("%s record %s/%s: %v", n.device, coll, id, err)
	}
	return r
}
