package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/store"
)

func TestBatchName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ms     int64
		device string
		ok     bool
	}{
		{batchName(1_700_000_000_123, "laptop-7", 42), 1_700_000_000_123, "laptop-7", true},
		{batchName(5, "a_b_c", 1), 5, "a_b_c", true},
		{"000000000000005_dev", 0, "", false},
		{"x_dev_1", 0, "", false},
		{"5__1", 0, "", false},
		{"5_dev_", 0, "", false},
		{"5_dev_x", 0, "", false},
		{".hidden", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, dev, ok := parseBatchName(tt.name)
			if ok != tt.ok || ms != tt.ms || dev != tt.device {
				t.Errorf("parseBatchName(%q) = %d,%q,%v want %d,%q,%v", tt.name, ms, dev, ok, tt.ms, tt.device, tt.ok)
			}
		})
	}
	if a, b := batchName(9, "d", 2), batchName(10, "d", 1); a >= b {
		t.Errorf("names do not sort by time: %s >= %s", a, b)
	}
}

func TestPushWritesTypedColumnsAndDoc(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	a := mustNode(t, "a", 1_700_000_000_000, fd, nil)
	doc := `{"site":" Quay 3 ","temp":-1.5,"count":7,"ok":true,"risk":"high","at":"1970-01-01T00:00:02Z","notes":"it's\n\"wet\" ☔","extra":{"x":1}}`
	c := a.edit(t, "inspections", "r1", doc)
	a.edit(t, "inspections", "r2", `{"site":"B","temp":"warm"}`)
	rep := a.sync(t)
	// r2's temp is not a number: every puller would quarantine it, so it
	// is not written and stays in the journal, reported.
	if rep.Pushed != 1 || rep.Batches != 1 || len(rep.Unpushable) != 1 || !strings.Contains(rep.Unpushable[0], "temp must be a number") {
		t.Fatalf("report %+v, want 1 change in 1 batch and r2 unpushable", rep)
	}
	rows := fd.rows("inspections")
	var got Row
	for _, r := range rows {
		if r["change_id"] == c.ChangeID {
			got = r
		}
	}
	want := Row{"site": " Quay 3 ", "temp": "-1.5", "count": "7", "ok": "true", "risk": "high", "at": "2000",
		"notes": "it's\n\"wet\" ☔", "doc": doc, "op": "put", "parents": "[]", "batch_rows": json.Number("1")}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("column %s = %#v, want %#v", k, got[k], v)
		}
	}
	for _, r := range rows {
		if r["record_id"] == "r2" {
			t.Errorf("ill-typed r2 was written: %#v", r)
		}
	}
	fd.mu.Lock()
	for _, q := range fd.queries {
		if strings.HasPrefix(q, "SELECT `change_id` FROM") {
			t.Errorf("a batch whose CTAS reported every row was read back: %s", q)
		}
	}
	fd.mu.Unlock()
	st, err := a.st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 1 || st.Journal != 1 {
		t.Errorf("after push: pending %d, journal %d; want r2 only", st.Pending, st.Journal)
	}
	if s := a.ag.Status(); s.State != StateIdle || s.LastSuccess.IsZero() || s.Pending != 1 || s.Unpushable != 1 {
		t.Errorf("status %+v", s)
	}
}

func TestPushBatchBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		rows        int
		rowsByBytes float64 // BatchBytes in row sizes; 0 = default
		changes     int
		wantBatches int
	}{
		{"rows", 2, 0, 5, 3},
		{"one batch", 10, 0, 5, 1},
		{"bytes", 100, 1.5, 4, 4},
		{"bytes two per batch", 100, 2.5, 4, 2},
		{"a change larger than the bound", 100, 0.5, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fd := newFakeDrill()
			probe := mustNode(t, "p", 1_700_000_000_000, fd, nil)
			size, err := probe.ag.checkEncodable(probe.edit(t, "inspections", "r0", `{"site":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			a := mustNode(t, "a", 1_700_000_000_000, fd, func(o *Options) {
				o.BatchRows, o.BatchBytes = tt.rows, int(tt.rowsByBytes*float64(size))
			})
			for i := range tt.changes {
				a.edit(t, "inspections", fmt.Sprint("r", i), `{"site":"x"}`)
			}
			// One change of another collection in the middle of the journal.
			a.edit(t, "lww", "q", `{"a":"1"}`)
			rep := a.sync(t)
			if got := len(fd.batchNames("inspections")); got != tt.wantBatches {
				t.Errorf("%d batches, want %d (%v)", got, tt.wantBatches, fd.batchNames("inspections"))
			}
			if rep.Pushed != tt.changes+1 {
				t.Errorf("pushed %d, want %d", rep.Pushed, tt.changes+1)
			}
			assertExactlyOnce(t, fd, "inspections", tt.changes)
			assertExactlyOnce(t, fd, "lww", 1)
		})
	}
}

func TestPushRetry(t *testing.T) {
	t.Parallel()
	errCut := errors.New("connection reset by peer")
	tests := []struct {
		name string
		keep func(rows int) int // rows that land on the failed attempt
	}{
		{"nothing written", func(int) int { return 0 }},
		{"partial write", func(n int) int { return n / 2 }},
		{"written but the answer was lost", func(n int) int { return n }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fd := newFakeDrill()
			failures := 1
			fd.ctas = func(table string, rows int) (int, error) {
				if failures > 0 {
					failures--
					return tt.keep(rows), errCut
				}
				return rows, nil
			}
			a := mustNode(t, "a", 1_700_000_000_000, fd, nil)
			for i := range 6 {
				a.edit(t, "inspections", fmt.Sprint("r", i), `{"site":"x"}`)
			}
			if _, err := a.ag.SyncNow(context.Background()); !errors.Is(err, errCut) {
				t.Fatalf("first sync error = %v, want the cut", err)
			}
			s := a.ag.Status()
			if s.State != StateError || s.LastError == "" || !strings.Contains(s.Cause, "connection reset") || s.Pending != 6 || s.Failures != 1 {
				t.Errorf("status after failure: %+v", s)
			}
			names := fd.batchNames("inspections")
			rep := a.sync(t)
			if rep.Pushed != 6 {
				t.Errorf("retry pushed %d, want 6", rep.Pushed)
			}
			assertExactlyOnce(t, fd, "inspections", 6)
			if got := fd.batchNames("inspections"); len(got) != 1 || (len(names) == 1 && got[0] != names[0]) {
				t.Errorf("batches %v after retry (before %v): the name must stay fixed", got, names)
			}
			if s := a.ag.Status(); s.State != StateIdle || s.Failures != 0 || s.Pending != 0 {
				t.Errorf("status after retry: %+v", s)
			}
		})
	}
}

func TestPushNeverDropsForeignBatch(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	a := mustNode(t, "a", 1_700_000_000_000, fd, nil)
	a.edit(t, "inspections", "r", `{"site":"x"}`)
	// The first write fails before reaching Drill; meanwhile a device with
	// the same id writes a batch of the same name.
	var name string
	fd.ctas = func(table string, rows int) (int, error) {
		name = table
		return 0, errors.New("connection refused")
	}
	if _, err := a.ag.SyncNow(context.Background()); err == nil {
		t.Fatal("first sync succeeded")
	}
	fd.ctas = nil
	foreign := []Row{{"change_id": "someone-else", "batch_rows": json.Number("1")}}
	fd.mu.Lock()
	fd.tables[name] = foreign
	fd.mu.Unlock()
	_, err := a.ag.SyncNow(context.Background())
	if !errors.Is(err, ErrBatchForeign) {
		t.Fatalf("sync over a foreign batch = %v, want ErrBatchForeign", err)
	}
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if got := fd.tables[name]; len(got) != 1 || got[0]["change_id"] != "someone-else" {
		t.Errorf("the foreign batch was changed: %v", got)
	}
}

func TestPushUnreachable(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	fd.before = func(string) error { return fmt.Errorf("drill: post query: %w", errRefused{}) }
	a := mustNode(t, "a", 1_700_000_000_000, fd, nil)
	a.edit(t, "inspections", "r", `{"site":"x"}`)
	if _, err := a.ag.SyncNow(context.Background()); err == nil {
		t.Fatal("sync succeeded without Drill")
	}
	if s := a.ag.Status(); s.State != StateOffline || !strings.Contains(s.LastError, "cannot be reached") || s.Pending != 1 {
		t.Errorf("status %+v", s)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   error
		state State
		words string
	}{
		{"no drill", fmt.Errorf("push: %w", ErrNoDrill), StateOffline, "No Drillbit is configured"},
		{"refused", fmt.Errorf("push: %w", errRefused{}), StateOffline, "cannot be reached"},
		{"unavailable", fmt.Errorf("x: %w", drill.ErrUnavailable), StateOffline, "cannot be reached"},
		{"auth", &drill.AuthError{Reason: "wrong password"}, StateError, "refused the sign-in"},
		{"cancelled", context.Canceled, StateError, "stopped"},
		{"foreign batch", fmt.Errorf("push: %w", ErrBatchForeign), StateError, "device id"},
		{"other", errors.New("boom"), StateError, "The sync failed"},
		// A syscall.Errno is a net.Error too: local causes get their own words.
		{"disk full", fmt.Errorf("store: plan batch: %w", &os.PathError{Op: "write", Path: "/d/fieldsync.db", Err: syscall.ENOSPC}), StateError, "disk of this computer is full"},
		{"bare ENOSPC", syscall.ENOSPC, StateError, "disk of this computer is full"},
		{"permission", fmt.Errorf("store: %w", &os.PathError{Op: "open", Path: "/d", Err: syscall.EACCES}), StateError, "not allowed to write"},
		{"read-only disk", syscall.EROFS, StateError, "not allowed to write"},
		{"damaged store", fmt.Errorf("push: %w", &store.DamagedError{Path: "/d/fieldsync.db", Cause: "x"}), StateError, "store salvage"},
		{"reset by peer", fmt.Errorf("post: %w", syscall.ECONNRESET), StateOffline, "cannot be reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, words := describe(tt.err)
			if st != tt.state || !strings.Contains(words, tt.words) {
				t.Errorf("describe(%v) = %s %q, want %s %q", tt.err, st, words, tt.state, tt.words)
			}
		})
	}
}

// errRefused looks like a dial error (a net.Error).
type errRefused struct{}

func (errRefused) Error() string   { return "dial tcp 127.0.0.1:8047: connect: connection refused" }
func (errRefused) Timeout() bool   { return false }
func (errRefused) Temporary() bool { return false }

// TestUnencodableChanges: a document that is not UTF-8 is refused when it is
// captured (store.Change.Validate), so it never reaches the journal; the
// agent still checks every change before writing it, for journals written
// by versions that did not refuse them, and leaves such a change out of the
// batch with the reason instead of failing the push for ever.
func TestUnencodableChanges(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	a := mustNode(t, "a", 1_700_000_000_000, fd, nil)
	if _, err := a.tryEdit("inspections", "bad", "{\"site\":\"\xff\"}"); err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
		t.Fatalf("a non-UTF-8 document was accepted into the journal: %v", err)
	}
	ok := store.Change{ChangeID: "c1", Collection: "inspections", RecordID: "r", Op: store.OpPut,
		Doc: json.RawMessage(`{"site":"x"}`), Version: "001700000000000-0000-a", Device: "a"}
	tests := []struct {
		name   string
		mutate func(*store.Change)
		want   string
	}{
		{"fine", func(*store.Change) {}, ""},
		{"doc not UTF-8", func(c *store.Change) { c.Doc = json.RawMessage("{\"site\":\"\xff\"}") }, "not valid UTF-8"},
		{"author not UTF-8", func(c *store.Change) { c.Author = "\xff" }, "not valid UTF-8"},
		{"NUL in record id", func(c *store.Change) { c.RecordID = "r\x00" }, "NUL"},
		{"doc not JSON", func(c *store.Change) { c.Doc = json.RawMessage(`{"site":`) }, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			_, err := a.ag.checkEncodable(c)
			if tt.want == "" && err != nil {
				t.Fatalf("checkEncodable = %v", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("checkEncodable = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTrySyncWhileRunning(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	entered, release := make(chan struct{}), make(chan struct{})
	var once bool
	fd.before = func(sql string) error {
		if !once && strings.HasPrefix(sql, "SELECT CURRENT_TIMESTAMP") {
			once = true
			close(entered)
			<-release
		}
		return nil
	}
	a := mustNode(t, "a", 1_700_000_000_000, fd, nil)
	a.edit(t, "inspections", "r", `{"site":"x"}`)
	done := make(chan error)
	go func() { _, err := a.ag.SyncNow(context.Background()); done <- err }()
	<-entered
	if _, err := a.ag.TrySync(context.Background()); !errors.Is(err, ErrSyncRunning) {
		t.Errorf("TrySync during a sync = %v, want ErrSyncRunning", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.ag.SyncNow(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("SyncNow with a cancelled context while busy = %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, fd, "inspections", 1)
}

func TestBadInputDoesNotBlock(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	a := mustNode(t, "a", 1_700_000_000_000, fd, nil)
	ctx := context.Background()
	// The store rejects a structurally bad change; the others land.
	v, _ := a.st.NextVersion(ctx)
	res, err := a.st.Append(ctx, []store.Change{
		{ChangeID: "bad", Collection: "inspections", RecordID: "r", Op: store.OpPut, Doc: json.RawMessage(`[1]`), Version: v.String(), Device: "a"},
	})
	if err != nil || res.Rejected != 1 {
		t.Fatalf("append of a bad doc: %v %+v", err, res)
	}
	a.edit(t, "unknowncoll", "r", `{"z":1}`) // undeclared collection: pushed with doc only
	a.edit(t, "inspections", "r", `{"site":"ok"}`)
	a.sync(t)
	assertExactlyOnce(t, fd, "inspections", 1)
	assertExactlyOnce(t, fd, "unknowncoll", 1)
}

// TestPushPipeline: with batches in flight at once, a failed batch stops
// new sends, the push cursor never passes it (even when a later batch was
// verified first), and the next sync writes every change exactly once.
func TestPushPipeline(t *testing.T) {
	t.Parallel()
	errCut := errors.New("connection reset by peer")
	for _, parallel := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("parallel=", parallel), func(t *testing.T) {
			t.Parallel()
			fd := newFakeDrill()
			var mu sync.Mutex
			inFlight, most, ctas := 0, 0, 0
			// Hold each CTAS until parallel of them are in flight (or the
			// push sends no more): proves how many the push overlaps.
			fd.before = func(sql string) error {
				if !strings.HasPrefix(sql, "CREATE TABLE IF NOT EXISTS ") {
					return nil
				}
				mu.Lock()
				inFlight++
				most = max(most, inFlight)
				ctas++
				n := ctas
				mu.Unlock()
				if n < parallel {
					select { // the first ones wait for their company
					case <-time.After(5 * time.Second):
					case <-waitFor(&mu, &ctas, parallel):
					}
				}
				mu.Lock()
				inFlight--
				mu.Unlock()
				// The second batch (records r2 and r3) fails: chosen by its
				// rows, since with batches in flight the second CTAS to
				// arrive may be any of them.
				if strings.Contains(sql, `"r2"`) {
					return errCut
				}
				return nil
			}
			a := mustNode(t, "a", 1_700_000_000_000, fd, func(o *Options) { o.BatchRows, o.PushParallel = 2, parallel })
			for i := range 10 {
				a.edit(t, "inspections", fmt.Sprint("r", i), `{"site":"x"}`)
			}
			if _, err := a.ag.SyncNow(context.Background()); !errors.Is(err, errCut) {
				t.Fatalf("first sync error = %v, want the cut", err)
			}
			mu.Lock()
			gotMost := most
			mu.Unlock()
			if gotMost != parallel {
				t.Errorf("at most %d batches were in flight, want %d", gotMost, parallel)
			}
			// Batch 1 is verified; batch 2 failed: the cursor stays at
			// batch 1's end whatever came after it.
			cur, err := a.st.PushCursor(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if cur != 2 {
				t.Errorf("push cursor %d after the failure, want 2 (end of the first batch)", cur)
			}
			if s := a.ag.Status(); s.Pending != 8 {
				t.Errorf("%d pending after the failure, want 8", s.Pending)
			}
			fd.before = nil
			a.sync(t)
			assertExactlyOnce(t, fd, "inspections", 10)
			if got := fd.batchNames("inspections"); len(got) != 5 {
				t.Errorf("%d batches %v, want 5", len(got), got)
			}
			if s := a.ag.Status(); s.Pending != 0 || s.State != StateIdle {
				t.Errorf("status after retry: %+v", s)
			}
		})
	}
}

// waitFor returns a channel closed once *n reaches want (polled under mu).
func waitFor(mu *sync.Mutex, n *int, want int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			mu.Lock()
			ok := *n >= want
			mu.Unlock()
			if ok {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return done
}

// deadlineDrill records how long each CTAS it is sent may run.
type deadlineDrill struct {
	Drill
	mu    sync.Mutex
	limit []time.Duration
}

func (d *deadlineDrill) Query(ctx context.Context, sql string) ([]Row, error) {
	if strings.HasPrefix(sql, "CREATE TABLE IF NOT EXISTS ") {
		dl, ok := ctx.Deadline()
		d.mu.Lock()
		if ok {
			d.limit = append(d.limit, time.Until(dl))
		} else {
			d.limit = append(d.limit, -1)
		}
		d.mu.Unlock()
	}
	return d.Drill.Query(ctx, sql)
}

// TestWriteTime: a batch's CTAS never runs longer than MaxWriteTime, even
// when drill.query_timeout is raised to hours (as on a compacting server),
// so a batch is complete 45 minutes after its name at the latest.
func TestWriteTime(t *testing.T) {
	t.Parallel()
	if got := writeTime(-1); got != MaxWriteTime { // a client without a limit
		t.Errorf("writeTime(-1) = %s, want %s", got, MaxWriteTime)
	}
	for _, tc := range []struct {
		queryTimeout time.Duration
		want         time.Duration
	}{
		{2 * time.Minute, 2 * time.Minute},
		{5 * time.Minute, 5 * time.Minute},
		{MaxWriteTime, MaxWriteTime},
		{24 * time.Hour, MaxWriteTime},
	} {
		t.Run(tc.queryTimeout.String(), func(t *testing.T) {
			t.Parallel()
			if got := writeTime(tc.queryTimeout); got != tc.want {
				t.Errorf("writeTime(%s) = %s, want %s", tc.queryTimeout, got, tc.want)
			}
			d := &deadlineDrill{Drill: newFakeDrill()}
			n := mustNode(t, "dev1", time.Now().UnixMilli(), d, func(o *Options) { o.QueryTimeout = tc.queryTimeout })
			n.edit(t, "inspections", "r1", `{"site":"a"}`)
			n.sync(t)
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.limit) == 0 {
				t.Fatal("no CTAS was sent")
			}
			for _, l := range d.limit {
				if l <= 0 || l > tc.want || l < tc.want-time.Minute {
					t.Errorf("a CTAS could run %s; want about %s", l, tc.want)
				}
			}
		})
	}
}
