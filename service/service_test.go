package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/internal/config/configtest"
	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/store"
)

// unreachableDrill is a Drillbit URL nothing listens on (the discard port).
const unreachableDrill = "http://127.0.0.1:9"

// testService is a Service over a real store in a temporary directory.
type testService struct {
	*Service
	opts Options
	dir  string
	coll string
	kr   configtest.Keyring
}

// serviceOpts changes what mustOpenService builds.
type serviceOpts struct {
	drillURL   string // default unreachableDrill
	collection string // default "sites"
	managed    string // body of the managed settings file, if any
	basicAuth  bool   // log in as "ann" (no password stored)
	metrics    string // metrics.addr
	// declaration is the body of the collections file (default: one
	// collection named collection, with fields name and visits).
	declaration string
}

func mustOpenService(tb testing.TB, o serviceOpts) *testService {
	tb.Helper()
	if o.drillURL == "" {
		o.drillURL = unreachableDrill
	}
	if o.collection == "" {
		o.collection = "sites"
	}
	dir := tb.TempDir()
	cols := filepath.Join(dir, "collections.json")
	decl := fmt.Sprintf(`{"collections":[{"name":%q,"fields":[{"name":"name","type":"text","required":true},{"name":"visits","type":"integer"}]}]}`, o.collection)
	if o.declaration != "" {
		decl = o.declaration
	}
	if err := os.WriteFile(cols, []byte(decl), 0o600); err != nil {
		tb.Fatal(err)
	}
	src := config.Sources{User: filepath.Join(dir, "cfg", "config.json"), Managed: filepath.Join(dir, "managed.json")}
	if o.managed != "" {
		if err := os.WriteFile(src.Managed, []byte(o.managed), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	c, err := config.Load(src)
	if err != nil {
		tb.Fatal(err)
	}
	c.DataDir, c.Device, c.Author, c.Collections = filepath.Join(dir, "data"), "dev1", "ann", cols
	c.Drill.URLs = []string{o.drillURL}
	c.Metrics.Addr = o.metrics
	if o.basicAuth {
		c.Drill.Auth, c.Drill.User = "basic", "ann"
	}
	kr := configtest.Keyring{}
	opts := Options{Config: c, Sources: src, Logger: slog.New(slog.DiscardHandler), Keyring: kr, Version: "test"}
	s := New(opts)
	tb.Cleanup(func() { s.Close() })
	if err := s.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return &testService{Service: s, opts: opts, dir: dir, coll: o.collection, kr: kr}
}

func newID(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// uiChange builds a change the way the UI does: its own clock node.
func uiChange(tb testing.TB, coll, id, doc string, parents ...string) store.Change {
	tb.Helper()
	v := store.Version{WallMS: time.Now().UnixMilli(), Node: "dev1.ui0001"}
	return store.Change{ChangeID: newID(tb), Collection: coll, RecordID: id, Op: store.OpPut,
		Doc: json.RawMessage(doc), Version: v.String(), Parents: append([]string{}, parents...),
		Device: "dev1", EditedAt: time.Now().UnixMilli()}
}

// mustConflict makes record id conflicted: a local create and a concurrent
// create pulled from device "dev2". It returns the remote leaf.
func (tb *testService) mustConflict(t testing.TB, id string) store.Change {
	t.Helper()
	ctx := context.Background()
	local := uiChange(t, tb.coll, id, `{"name":"local","visits":1}`)
	if r, err := tb.Accept(ctx, []store.Change{local}); err != nil || r.Accepted != 1 {
		t.Fatalf("Accept = %+v, %v", r, err)
	}
	remote := store.Change{ChangeID: newID(t), Collection: tb.coll, RecordID: id, Op: store.OpPut,
		Doc: json.RawMessage(`{"name":"remote","visits":2}`), Parents: []string{},
		Version: store.Version{WallMS: time.Now().UnixMilli() - 1000, Node: "dev2"}.String(), Device: "dev2", EditedAt: 1}
	if _, err := tb.Store().ApplyRemote(ctx, "b1_"+id, []store.Change{remote}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Conflict(ctx, tb.coll, id); err != nil {
		t.Fatalf("no conflict made: %v", err)
	}
	return remote
}

func TestServiceAcceptThenRead(t *testing.T) {
	t.Parallel()
	b := mustOpenService(t, serviceOpts{})
	ctx := context.Background()
	c1 := uiChange(t, "sites", "r1", `{"name":"one"}`)
	c2 := uiChange(t, "sites", "r2", `{"name":"two","visits":3}`)
	bad := uiChange(t, "sites", "r3", `{"visits":"many"}`)
	res, err := b.Accept(ctx, []store.Change{c1, bad, c2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Rejected != 1 || !strings.Contains(res.Results[1].Reason, "name") {
		t.Fatalf("Accept = %+v, want 2 accepted and r3 rejected naming the field", res)
	}
	again, err := b.Accept(ctx, []store.Change{c1})
	if err != nil || again.Duplicates != 1 {
		t.Fatalf("Accept again = %+v, %v; want a duplicate", again, err)
	}

	t.Run("records", func(t *testing.T) {
		pg, err := b.Records(ctx, "sites", "", 1)
		if err != nil {
			t.Fatal(err)
		}
		if pg.Total != 2 || len(pg.Records) != 1 || pg.Records[0].ID != "r1" || pg.Next == "" {
			t.Fatalf("page 1 = %+v", pg)
		}
		pg, err = b.Records(ctx, "sites", pg.Next, 10)
		if err != nil || len(pg.Records) != 1 || pg.Records[0].ID != "r2" || pg.Next != "" {
			t.Fatalf("page 2 = %+v, %v", pg, err)
		}
		r, err := b.Record(ctx, "sites", "r2")
		if err != nil || r.Version != c2.Version || !r.Pending {
			t.Fatalf("Record = %+v, %v", r, err)
		}
		if _, err := b.Record(ctx, "sites", "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Record(nope) err = %v, want ErrNotFound", err)
		}
	})
	t.Run("mirror", func(t *testing.T) {
		mp, err := b.MirrorSince(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(mp.Entries) != 2 || mp.Truncated || mp.LastMSeq != mp.Entries[1].MSeq {
			t.Fatalf("MirrorSince(0) = %+v", mp)
		}
		mp, err = b.MirrorSince(ctx, mp.LastMSeq, 10)
		if err != nil || len(mp.Entries) != 0 || mp.Entries == nil {
			t.Fatalf("MirrorSince(last) = %+v, %v; want [] not null", mp, err)
		}
	})
	t.Run("pending", func(t *testing.T) {
		p, err := b.PendingIDs(ctx)
		want := []PendingRecords{{Collection: "sites", RecordIDs: []string{"r1", "r2"}}}
		if err != nil || !reflect.DeepEqual(p, want) {
			t.Fatalf("PendingIDs = %+v, %v; want %+v", p, err, want)
		}
		st, err := b.Status(ctx)
		if err != nil || st.Pending != 2 || st.Device != "dev1" {
			t.Fatalf("Status = %+v, %v; want 2 pending", st, err)
		}
	})
	t.Run("info", func(t *testing.T) {
		in, err := b.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if in.Device != "dev1" || in.Author != "ann" || len(in.Collections) != 1 || !in.Drill.Configured ||
			in.Drill.Workspace != "dfs.fieldsync" || in.ScheduleText != "every 5 minutes" {
			t.Fatalf("Info = %+v", in)
		}
		if _, err := store.ParseVersion(in.HLC); err != nil {
			t.Errorf("hlc %q: %v", in.HLC, err)
		}
	})
	t.Run("history", func(t *testing.T) {
		h, err := b.History(ctx, "sites", "r1")
		if err != nil || len(h.Changes) != 1 || h.Audit == nil {
			t.Fatalf("History = %+v, %v", h, err)
		}
		if _, err := b.History(ctx, "sites", "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("History(nope) err = %v, want ErrNotFound", err)
		}
	})
}

func TestServiceConflicts(t *testing.T) {
	t.Parallel()
	b := mustOpenService(t, serviceOpts{})
	ctx := context.Background()
	remote := b.mustConflict(t, "r1")

	tests := []struct {
		name   string
		filter ConflictFilter
		want   int
	}{
		{"all", ConflictFilter{}, 1},
		{"collection", ConflictFilter{Collection: "sites"}, 1},
		{"other collection", ConflictFilter{Collection: "trees"}, 0},
		{"device with a leaf", ConflictFilter{Device: "dev2"}, 1},
		{"device without", ConflictFilter{Device: "dev9"}, 0},
		{"older than an hour", ConflictFilter{OlderThanMS: time.Hour.Milliseconds()}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := b.Conflicts(ctx, tt.filter)
			if err != nil || len(cs) != tt.want {
				t.Fatalf("Conflicts(%+v) = %d, %v; want %d", tt.filter, len(cs), err, tt.want)
			}
		})
	}

	b.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if cs, err := b.Conflicts(ctx, ConflictFilter{OlderThanMS: time.Hour.Milliseconds()}); err != nil || len(cs) != 1 {
		t.Fatalf("two hours later, Conflicts(older than 1h) = %d, %v; want 1", len(cs), err)
	}

	res, err := b.Resolve(ctx, "sites", "r1", agent.Choice{Take: agent.TakeServer})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Doc) != string(remote.Doc) || len(res.Parents) != 2 || res.Author != "ann" {
		t.Fatalf("resolution = %+v", res)
	}
	h, err := b.History(ctx, "sites", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Changes) != 3 || len(h.Audit) != 1 {
		t.Fatalf("history: %d changes, %d audit entries; want 3 and 1", len(h.Changes), len(h.Audit))
	}
	a := h.Audit[0]
	if a.Take != "server" || a.ChosenVersion != remote.Version || a.ResolutionVersion != res.Version ||
		a.Author != "ann" || a.Device != "dev1" || len(a.Leaves) != 2 {
		t.Errorf("audit = %+v", a)
	}
	if _, err := b.Resolve(ctx, "sites", "r1", agent.Choice{Take: agent.TakeServer}); !errors.Is(err, agent.ErrNoConflict) {
		t.Errorf("second Resolve err = %v, want ErrNoConflict", err)
	}
}

// TestServiceHistoryShowsPulledResolution: a resolution made on another
// device and pulled with its change is in the record's history with its
// resolver and device, marked remote, and what it kept.
func TestServiceHistoryShowsPulledResolution(t *testing.T) {
	t.Parallel()
	b := mustOpenService(t, serviceOpts{})
	ctx := context.Background()
	remote := b.mustConflict(t, "r1")
	cf, err := b.Conflict(ctx, b.coll, "r1")
	if err != nil {
		t.Fatal(err)
	}
	var parents []string
	for _, l := range cf.Leaves {
		parents = append(parents, l.Version)
	}
	res := store.Change{ChangeID: newID(t), Collection: b.coll, RecordID: "r1", Op: store.OpPut, Doc: remote.Doc,
		Parents: parents, Version: store.Version{WallMS: time.Now().UnixMilli(), Node: "dev2"}.String(),
		Device: "dev2", Author: "sam", EditedAt: 1_700_000_000_000,
		Resolution: &store.Resolution{How: "device", Chosen: remote.Version}}
	if r, err := b.Store().ApplyRemote(ctx, "b2", []store.Change{res}); err != nil || r.Accepted != 1 {
		t.Fatalf("apply the pulled resolution: %+v %v", r, err)
	}
	h, err := b.History(ctx, b.coll, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Audit) != 1 {
		t.Fatalf("history audit: %+v, want the pulled resolution", h.Audit)
	}
	a := h.Audit[0]
	if !a.Remote || a.Author != "sam" || a.Device != "dev2" || a.Take != "device" || a.ChosenVersion != remote.Version ||
		a.ResolutionVersion != res.Version || a.At != res.EditedAt || len(a.Leaves) != 2 {
		t.Errorf("audit = %+v", a)
	}
}

// TestServiceHistoryListsOnlyItsRecord checks that a record's history holds
// its own audit entries, in order, and none of records whose collection or
// id share a prefix with it.
func TestServiceHistoryListsOnlyItsRecord(t *testing.T) {
	t.Parallel()
	b := mustOpenService(t, serviceOpts{})
	ctx := context.Background()
	note := func(collection, id string) {
		t.Helper()
		e := store.AuditEntry{Actor: "bob", Action: "note", Collection: collection, RecordID: id}
		if _, err := b.Store().AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	b.mustConflict(t, "r1")
	b.mustConflict(t, "r10")
	note("", "")
	if _, err := b.Resolve(ctx, "sites", "r10", agent.Choice{Take: agent.TakeDevice}); err != nil {
		t.Fatal(err)
	}
	note("sites2", "r1")
	if _, err := b.Resolve(ctx, "sites", "r1", agent.Choice{Take: agent.TakeServer}); err != nil {
		t.Fatal(err)
	}
	note("sites", "r1")

	tests := []struct {
		coll, id    string
		wantChanges int
		wantTakes   []string // the audit entries' Take, oldest first
	}{
		{"sites", "r1", 3, []string{"server", "note"}},
		{"sites", "r10", 3, []string{"device"}},
		{"sites2", "r1", 0, []string{"note"}}, // audit entries without changes
	}
	for _, tt := range tests {
		t.Run(tt.coll+"/"+tt.id, func(t *testing.T) {
			t.Parallel()
			h, err := b.History(ctx, tt.coll, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			var takes []string
			for i, a := range h.Audit {
				takes = append(takes, a.Take)
				if a.Collection != tt.coll || a.RecordID != tt.id {
					t.Errorf("audit entry %d is about %s/%s", a.Seq, a.Collection, a.RecordID)
				}
				if i > 0 && a.Seq <= h.Audit[i-1].Seq {
					t.Errorf("audit entries out of order: %d after %d", a.Seq, h.Audit[i-1].Seq)
				}
			}
			if len(h.Changes) != tt.wantChanges || !slices.Equal(takes, tt.wantTakes) {
				t.Errorf("History = %d changes, takes %q; want %d, %q", len(h.Changes), takes, tt.wantChanges, tt.wantTakes)
			}
		})
	}
	if _, err := b.History(ctx, "sites", "r2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("History of a record with neither changes nor audit = %v, want ErrNotFound", err)
	}
}

func TestServiceKeepBoth(t *testing.T) {
	t.Parallel()
	b := mustOpenService(t, serviceOpts{})
	ctx := context.Background()
	remote := b.mustConflict(t, "r1")
	cf, err := b.Conflict(ctx, "sites", "r1")
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.KeepBoth(ctx, "sites", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if kb.Kept.RecordID != "r1" || len(kb.Kept.Parents) != 2 || string(kb.Kept.Doc) != string(cf.Leaves[len(cf.Leaves)-1].Doc) {
		t.Errorf("kept = %+v, want the winner's doc with both leaves as parents", kb.Kept)
	}
	if kb.Copy.RecordID == "r1" || kb.Copy.RecordID == "" || string(kb.Copy.Doc) != string(remote.Doc) || len(kb.Copy.Parents) != 0 {
		t.Errorf("copy = %+v, want the other leaf's doc in a new record", kb.Copy)
	}
	if _, err := b.Record(ctx, "sites", kb.Copy.RecordID); err != nil {
		t.Errorf("the copy is not in the store: %v", err)
	}
	if cs, _ := b.Conflicts(ctx, ConflictFilter{}); len(cs) != 0 {
		t.Errorf("%d conflicts left, want 0", len(cs))
	}
	if _, err := b.KeepBoth(ctx, "sites", "r1"); !errors.Is(err, agent.ErrNoConflict) {
		t.Errorf("KeepBoth again err = %v, want ErrNoConflict", err)
	}
}

func TestServiceResolveMany(t *testing.T) {
	t.Parallel()
	tests := []struct {
		take    string
		wantDoc string
	}{
		{"newest", `{"name":"local","visits":1}`}, // the local leaf has the higher version
		{"server", `{"name":"remote","visits":2}`},
		{"device", `{"name":"local","visits":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.take, func(t *testing.T) {
			t.Parallel()
			b := mustOpenService(t, serviceOpts{})
			ctx := context.Background()
			b.mustConflict(t, "r1")
			b.mustConflict(t, "r2")
			items := []RecordRef{{Collection: "sites", RecordID: "r1"}, {Collection: "sites", RecordID: "gone"}, {Collection: "sites", RecordID: "r2"}}
			res, err := b.ResolveMany(ctx, items, tt.take)
			if err != nil {
				t.Fatal(err)
			}
			if res.Resolved != 2 || len(res.Failed) != 1 || res.Failed[0].RecordID != "gone" || !strings.Contains(res.Failed[0].Error, "not in conflict") {
				t.Fatalf("ResolveMany = %+v", res)
			}
			for _, id := range []string{"r1", "r2"} {
				r, err := b.Record(ctx, "sites", id)
				if err != nil || string(r.Doc) != tt.wantDoc || len(r.Leaves) != 1 {
					t.Errorf("%s = %s (%d leaves), %v; want %s", id, r.Doc, len(r.Leaves), err, tt.wantDoc)
				}
			}
		})
	}
}

func TestServiceSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := mustOpenService(t, serviceOpts{managed: `{"schedule":"@every 10m"}`})
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := b.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v.Locked, []string{"schedule"}) || v.Settings.Schedule != "@every 10m" || v.Password != "none" ||
		v.File != b.opts.Sources.User || v.ScheduleText != "every 10 minutes" {
		t.Fatalf("Settings = %+v", v)
	}

	t.Run("locked key refused", func(t *testing.T) {
		s := v.Settings
		s.Schedule = "@every 1m"
		_, err := b.SaveSettings(ctx, s)
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "schedule is set by IT in") {
			t.Fatalf("err = %v, want the locked key named", err)
		}
		if _, err := os.Stat(b.opts.Sources.User); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the user file was written: %v", err)
		}
	})
	t.Run("bad values refused", func(t *testing.T) {
		for _, s := range []Settings{
			{DrillURLs: []string{"ftp://x"}, Workspace: "fieldsync", Schedule: "@every 10m"},
			{Workspace: "no spaces please", Schedule: "@every 10m"},
			{Workspace: "fieldsync", Auth: "basic", Schedule: "@every 10m"},
			{Workspace: "fieldsync", Schedule: "@every 10m", Collections: filepath.Join(b.dir, "missing.json")},
		} {
			if _, err := b.SaveSettings(ctx, s); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("SaveSettings(%+v) err = %v, want invalid input", s, err)
			}
		}
	})
	t.Run("save applies at once", func(t *testing.T) {
		old := b.Agent()
		s := v.Settings
		s.DrillURLs = []string{"http://127.0.0.1:9", "http://127.0.0.2:9"}
		s.Workspace = "other_ws"
		got, err := b.SaveSettings(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Settings.DrillURLs, s.DrillURLs) || got.Settings.Workspace != "other_ws" {
			t.Errorf("SaveSettings = %+v", got)
		}
		if b.Agent() == old {
			t.Error("the agent was not replaced")
		}
		fi, err := os.Stat(b.opts.Sources.User)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("user file: %v, %v; want 0600", fi, err)
		}
		keys, err := config.FileKeys(b.opts.Sources.User)
		if err != nil || slices.Contains(keys, "schedule") || !slices.Contains(keys, "drill.urls") {
			t.Errorf("user file keys = %q, %v; want drill.urls and not the locked schedule", keys, err)
		}
		in, err := b.Info(ctx)
		if err != nil || in.Drill.Workspace != "dfs.other_ws" || len(in.Drill.URLs) != 2 {
			t.Errorf("Info after save = %+v, %v", in.Drill, err)
		}
		if st, err := b.Status(ctx); err != nil || st.Device != "dev1" {
			t.Errorf("Status after save = %+v, %v", st, err)
		}
	})
	t.Run("password", func(t *testing.T) {
		if _, err := b.SetPassword(ctx, "pw"); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("SetPassword with auth none err = %v, want invalid input", err)
		}
		cur, err := b.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s := cur.Settings
		s.Auth, s.User = "basic", "ann"
		if _, err := b.SaveSettings(ctx, s); err != nil {
			t.Fatal(err)
		}
		r, err := b.SetPassword(ctx, "s3cret")
		if err != nil || r.StoredIn != "keyring" {
			t.Fatalf("SetPassword = %+v, %v", r, err)
		}
		if v, err := b.Settings(ctx); err != nil || v.Password != "keyring" {
			t.Errorf("Settings().Password = %q, %v; want keyring", v.Password, err)
		}
		if raw, _ := os.ReadFile(b.opts.Sources.User); strings.Contains(string(raw), "s3cret") {
			t.Error("the password is in the settings file")
		}
	})
}

func TestServiceOpensBeforeThePasswordIsStored(t *testing.T) {
	t.Parallel()
	b := mustOpenService(t, serviceOpts{basicAuth: true})
	ctx := context.Background()
	if _, err := b.SyncNow(ctx); !errors.Is(err, config.ErrNoPassword) {
		t.Fatalf("SyncNow err = %v, want ErrNoPassword", err)
	}
	if st, _ := b.Status(ctx); st.State != agent.StateError || !strings.Contains(st.LastError+st.Cause, "password") {
		t.Errorf("status = %+v, want an error that names the password", st)
	}
	if r, err := b.SetPassword(ctx, "pw"); err != nil || r.StoredIn != "keyring" {
		t.Fatalf("SetPassword = %+v, %v", r, err)
	}
	if _, err := b.SyncNow(ctx); errors.Is(err, config.ErrNoPassword) || err == nil {
		t.Fatalf("SyncNow after SetPassword err = %v, want Drill unreachable", err)
	}
}

func TestServiceBeforeOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	held := mustOpenService(t, serviceOpts{})

	// A second process's view of the same data dir: the store is locked.
	opts := held.opts
	opts.Keyring = configtest.Keyring{}
	b := New(opts)
	t.Cleanup(func() { b.Close() })
	if _, err := b.Info(ctx); !errors.Is(err, errStarting) {
		t.Fatalf("Info before Open err = %v, want errStarting", err)
	}
	if err := b.Start(ctx); err == nil {
		t.Fatal("Start before Open succeeded")
	}
	if err := b.Open(ctx); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Open err = %v, want ErrLocked", err)
	}
	if _, err := b.Records(ctx, "sites", "", 10); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Records after a failed Open err = %v, want the lock error", err)
	}
	if _, err := b.SyncNow(ctx); !errors.Is(err, store.ErrLocked) {
		t.Errorf("SyncNow after a failed Open err = %v, want the lock error", err)
	}
}

func TestServiceTestConnectionUnreachable(t *testing.T) {
	t.Parallel()
	b := mustOpenService(t, serviceOpts{})
	ctx := context.Background()
	v, err := b.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checks, err := b.TestConnection(ctx, v.Settings)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 1 || checks[0].Name != "reach "+unreachableDrill || checks[0].Status != CheckFail || checks[0].Hint == "" {
		t.Fatalf("checks = %+v, want one failed reach with a hint", checks)
	}
	s := v.Settings
	s.DrillURLs = nil
	checks, err = b.TestConnection(ctx, s)
	if err != nil || len(checks) != 1 || checks[0].Status != CheckFail {
		t.Fatalf("no URL: %+v, %v", checks, err)
	}
	if _, err := os.Stat(b.opts.Sources.User); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("TestConnection wrote the settings: %v", err)
	}
}

func TestServiceStartStopAcrossSwaps(t *testing.T) {
	t.Parallel()
	b := mustOpenService(t, serviceOpts{})
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err == nil {
		t.Error("a second Start succeeded")
	}
	v, _ := b.Settings(ctx)
	for i := range 3 {
		s := v.Settings
		s.Schedule = fmt.Sprintf("@every %dm", i+1)
		if _, err := b.SaveSettings(ctx, s); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("swap %d: the new agent's schedule to run", i), func() bool {
			return !b.Agent().Status().NextRun.IsZero()
		})
	}
	b.Stop()
	b.Stop()
	s := v.Settings
	s.Schedule = "@every 7m"
	if _, err := b.SaveSettings(ctx, s); err != nil {
		t.Fatalf("save while stopped: %v", err)
	}
}

// TestServiceSyncsSoonAfterASave: a save brings the running schedule's next
// sync forward from the hour of the cron spec to within a minute and a half.
func TestServiceSyncsSoonAfterASave(t *testing.T) {
	t.Parallel()
	b := mustOpenService(t, serviceOpts{managed: `{"schedule":"@every 1h"}`})
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	waitFor(t, "the schedule to plan its first sync", func() bool {
		return time.Until(b.Agent().Status().NextRun) > 50*time.Minute
	})
	if _, err := b.Accept(ctx, []store.Change{uiChange(t, "sites", "r1", `{"name":"one"}`)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the save to bring the next sync forward", func() bool {
		next := time.Until(b.Agent().Status().NextRun)
		return next > 25*time.Second && next <= agent.DefaultSaveDelay+agent.DefaultMaxOffset
	})
}

func TestServiceReadsWhileASwapWaitsForASync(t *testing.T) {
	t.Parallel()
	b := mustOpenService(t, serviceOpts{})
	ctx := context.Background()
	v, err := b.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.gate.RLock() // a sync is running
	saved := make(chan error, 1)
	go func() {
		s := v.Settings
		s.Schedule = "@every 2m"
		_, err := b.SaveSettings(ctx, s)
		saved <- err
	}()
	waitFor(t, "the settings change to wait for the sync", func() bool {
		if b.gate.TryRLock() {
			b.gate.RUnlock()
			return false
		}
		return true // a writer is waiting
	})
	// The UI's reads answer meanwhile.
	if _, err := b.Records(ctx, "sites", "", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Settings(ctx); err != nil {
		t.Fatal(err)
	}
	b.gate.RUnlock() // the sync ends
	if err := <-saved; err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Settings(ctx); v.Settings.Schedule != "@every 2m" {
		t.Errorf("schedule = %q after the save", v.Settings.Schedule)
	}
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServiceRealDrill syncs and tests the connection against the real
// Drillbit.
func TestServiceRealDrill(t *testing.T) {
	t.Parallel()
	coll := "uiapi_" + newID(t)[:8]
	b := mustOpenService(t, serviceOpts{drillURL: drilltest.URL(t), collection: coll})
	ctx := context.Background()
	if _, err := b.Accept(ctx, []store.Change{uiChange(t, coll, "r1", `{"name":"one"}`)}); err != nil {
		t.Fatal(err)
	}
	rep, err := b.SyncNow(ctx)
	if err != nil {
		t.Fatalf("SyncNow: %v", err)
	}
	if rep.Pushed != 1 {
		t.Errorf("pushed %d, want 1", rep.Pushed)
	}
	if p, err := b.PendingIDs(ctx); err != nil || len(p) != 0 {
		t.Errorf("PendingIDs after sync = %+v, %v; want none", p, err)
	}
	v, err := b.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checks, err := b.TestConnection(ctx, v.Settings)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range checks {
		if c.Status == CheckFail {
			t.Errorf("check %s failed: %s (%s)", c.Name, c.Detail, c.Hint)
		}
		names = append(names, strings.Fields(c.Name)[0])
	}
	if want := []string{"reach", "version", "query", "workspace"}; !reflect.DeepEqual(names, want) {
		t.Errorf("checks = %q, want %q", names, want)
	}
}

// TestServiceTestConnectionAuth checks the login against the real Drillbit
// with authentication: the wrong password fails the auth check by name, the
// right one passes every check.
func TestServiceTestConnectionAuth(t *testing.T) {
	t.Parallel()
	url := drilltest.AuthURL(t)
	b := mustOpenService(t, serviceOpts{drillURL: url})
	ctx := context.Background()
	v, err := b.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := v.Settings
	s.Auth, s.User = "form", drilltest.AuthUser
	if _, err := b.SaveSettings(ctx, s); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		password string
		failed   string // the failing check, "" for none
	}{
		{drilltest.WrongPassword, "auth " + url},
		{drilltest.AuthPassword, ""},
	}
	for _, tt := range tests {
		if _, err := b.SetPassword(ctx, tt.password); err != nil {
			t.Fatal(err)
		}
		checks, err := b.TestConnection(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		var failed []string
		for _, c := range checks {
			if c.Status == CheckFail {
				failed = append(failed, c.Name)
			}
		}
		if tt.failed == "" && len(failed) > 0 || tt.failed != "" && !slices.Contains(failed, tt.failed) {
			t.Errorf("password %q: failed checks %q, want %q; all: %+v", tt.password, failed, tt.failed, checks)
		}
	}
}

func TestMain(m *testing.M) { drilltest.Main(m) }

// TestServiceSettledByRules lists the conflicts merge rules settled, newest
// first, with the rule of each field, who and where; resolutions a person
// made and other audit entries are left out, and limit bounds the list.
func TestServiceSettledByRules(t *testing.T) {
	t.Parallel()
	b := mustOpenService(t, serviceOpts{})
	ctx := context.Background()
	// settleRemotely applies, as pulled from dev2, a resolution of id's
	// conflict made there by the rules (or by a person when rules is nil).
	settleRemotely := func(id string, rules map[string]string) store.Change {
		t.Helper()
		remote := b.mustConflict(t, id)
		cf, err := b.Conflict(ctx, b.coll, id)
		if err != nil {
			t.Fatal(err)
		}
		var parents []string
		for _, l := range cf.Leaves {
			parents = append(parents, l.Version)
		}
		res := &store.Resolution{How: "rules", Note: "merged by rule: visits: higher value", Rules: rules}
		if rules == nil {
			res = &store.Resolution{How: "device", Chosen: remote.Version}
		}
		c := store.Change{ChangeID: newID(t), Collection: b.coll, RecordID: id, Op: store.OpPut, Doc: json.RawMessage(`{"name":"remote","visits":2}`),
			Parents: parents, Version: store.Version{WallMS: time.Now().UnixMilli(), Node: "dev2"}.String(),
			Device: "dev2", Author: "fieldsync policy lww with rules", EditedAt: time.Now().UnixMilli(), Resolution: res}
		if r, err := b.Store().ApplyRemote(ctx, "b2_"+id, []store.Change{c}); err != nil || r.Accepted != 1 {
			t.Fatalf("apply the pulled resolution of %s: %+v %v", id, r, err)
		}
		return c
	}
	settleRemotely("r1", map[string]string{"visits": "higher"})
	settleRemotely("r2", nil)
	b.mustConflict(t, "r3")
	if _, err := b.Resolve(ctx, b.coll, "r3", agent.Choice{Take: agent.TakeDevice}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store().AppendAudit(ctx, store.AuditEntry{Actor: "bob", Action: "note", Collection: b.coll, RecordID: "r1"}); err != nil {
		t.Fatal(err)
	}
	last := settleRemotely("r4", map[string]string{"visits": "higher", "name": "join"})

	tests := []struct {
		limit int
		want  []string // record ids, newest first
	}{
		{0, []string{"r4", "r1"}},
		{1, []string{"r4"}},
		{-5, []string{"r4", "r1"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("limit", tt.limit), func(t *testing.T) {
			t.Parallel()
			got, err := b.SettledByRules(ctx, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, a := range got {
				ids = append(ids, a.RecordID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Fatalf("SettledByRules(%d) lists %v, want %v", tt.limit, ids, tt.want)
			}
			a := got[0]
			if a.Take != "rules" || a.Device != "dev2" || !a.Remote || a.Author != "fieldsync policy lww with rules" ||
				a.ResolutionVersion != last.Version || a.Collection != b.coll || len(a.Leaves) != 2 ||
				a.Rules["visits"] != "higher" || a.Rules["name"] != "join" || len(a.Rules) != 2 {
				t.Errorf("newest settled = %+v", a)
			}
		})
	}
}
