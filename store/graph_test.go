package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func leafVersions(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Version)
	}
	return out
}

func TestLeavesAndConflicts(t *testing.T) {
	t.Parallel()
	base := ver(1000, "dev1")
	mine := ver(2000, "dev1")
	theirs := ver(2500, "dev2")
	later := ver(3000, "dev1")
	tests := []struct {
		name       string
		local      []Change // appended in order, one call each
		remote     []Change // applied after local, one call each
		wantLeaves []string
		wantWinner string
		wantDoc    string // "" for deleted
		wantAnc    string // common ancestor version, "" if none/no conflict
		// wantMissing are parents of leaves not arrived yet
		wantMissing []string
	}{
		{
			name:       "linear edits keep one leaf",
			local:      []Change{put("a", "r", base, `{"v":0}`), put("b", "r", mine, `{"v":1}`, base)},
			wantLeaves: []string{mine}, wantWinner: mine, wantDoc: `{"v":1}`,
		},
		{
			name:       "concurrent edits make two leaves, highest wins",
			local:      []Change{put("a", "r", base, `{"v":0}`), put("b", "r", mine, `{"v":1}`, base)},
			remote:     []Change{put("c", "r", theirs, `{"v":2}`, base)},
			wantLeaves: []string{mine, theirs}, wantWinner: theirs, wantDoc: `{"v":2}`, wantAnc: base,
		},
		{
			name:       "delete against edit is a conflict",
			local:      []Change{put("a", "r", base, `{"v":0}`), put("b", "r", later, `{"v":1}`, base)},
			remote:     []Change{del("c", "r", theirs, base)},
			wantLeaves: []string{theirs, later}, wantWinner: later, wantDoc: `{"v":1}`, wantAnc: base,
		},
		{
			name:       "a winning delete hides the doc",
			local:      []Change{put("a", "r", base, `{"v":0}`), put("b", "r", mine, `{"v":1}`, base)},
			remote:     []Change{del("c", "r", theirs, base)},
			wantLeaves: []string{mine, theirs}, wantWinner: theirs, wantDoc: "", wantAnc: base,
		},
		{
			name:       "child arriving before its parent",
			remote:     []Change{put("b", "r", theirs, `{"v":2}`, base), put("a", "r", base, `{"v":0}`)},
			wantLeaves: []string{theirs}, wantWinner: theirs, wantDoc: `{"v":2}`,
		},
		{
			name:       "a child whose parent is missing may look like a conflict",
			local:      []Change{put("a", "r", base, `{"v":0}`)},
			remote:     []Change{put("c", "r", later, `{"v":3}`, theirs)},
			wantLeaves: []string{base, later}, wantWinner: later, wantDoc: `{"v":3}`,
			wantMissing: []string{theirs},
		},
		{
			name:       "two creates of the same id conflict without an ancestor",
			local:      []Change{put("a", "r", mine, `{"v":1}`)},
			remote:     []Change{put("b", "r", theirs, `{"v":2}`)},
			wantLeaves: []string{mine, theirs}, wantWinner: theirs, wantDoc: `{"v":2}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := mustOpenStore(t)
			for _, c := range tt.local {
				if r := mustAppend(t, s, c); r.Accepted != 1 {
					t.Fatalf("append %s: %+v", c.ChangeID, r.Results)
				}
			}
			for _, c := range tt.remote {
				if r := mustApplyRemote(t, s, "b1", c); r.Accepted != 1 {
					t.Fatalf("apply %s: %+v", c.ChangeID, r.Results)
				}
			}
			rec, err := s.Record(ctx, "inspections", "r")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rec.Leaves, tt.wantLeaves) || rec.Version != tt.wantWinner {
				t.Errorf("leaves %v winner %s, want %v winner %s", rec.Leaves, rec.Version, tt.wantLeaves, tt.wantWinner)
			}
			if string(rec.Doc) != tt.wantDoc || rec.Deleted != (tt.wantDoc == "") {
				t.Errorf("doc %q deleted %v, want %q", rec.Doc, rec.Deleted, tt.wantDoc)
			}
			leaves, err := s.Leaves(ctx, "inspections", "r")
			if err != nil {
				t.Fatal(err)
			}
			if got := leafVersions(leaves); !slices.Equal(got, tt.wantLeaves) {
				t.Errorf("Leaves() = %v, want %v", got, tt.wantLeaves)
			}
			hist, err := s.History(ctx, "inspections", "r")
			if err != nil {
				t.Fatal(err)
			}
			if want := len(tt.local) + len(tt.remote); len(hist) != want {
				t.Errorf("History has %d changes, want %d", len(hist), want)
			}
			for i := 1; i < len(hist); i++ {
				if hist[i-1].Version >= hist[i].Version {
					t.Errorf("History not ascending: %s then %s", hist[i-1].Version, hist[i].Version)
				}
			}
			cf, err := s.Conflict(ctx, "inspections", "r")
			switch {
			case len(tt.wantLeaves) < 2:
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("conflict = %+v, %v; want ErrNotFound", cf, err)
				}
			case err != nil:
				t.Errorf("conflict: %v", err)
			default:
				if got := leafVersions(cf.Leaves); !slices.Equal(got, tt.wantLeaves) || cf.Winner != tt.wantWinner {
					t.Errorf("conflict leaves %v winner %s", got, cf.Winner)
				}
				anc := ""
				if cf.Ancestor != nil {
					anc = cf.Ancestor.Version
				}
				if anc != tt.wantAnc {
					t.Errorf("ancestor %q, want %q", anc, tt.wantAnc)
				}
				if !slices.Equal(cf.Missing, tt.wantMissing) {
					t.Errorf("missing %v, want %v", cf.Missing, tt.wantMissing)
				}
			}
			st, err := s.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(len(tt.wantLeaves) / 2); st.Conflicts != want {
				t.Errorf("Stats.Conflicts = %d, want %d", st.Conflicts, want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	base, mine, theirs := ver(1000, "dev1"), ver(2000, "dev1"), ver(2500, "dev2")
	mustAppend(t, s, put("a", "r", base, `{"v":0}`), put("b", "r", mine, `{"v":1}`, base))
	mustApplyRemote(t, s, "b1", put("c", "r", theirs, `{"v":2}`, base))

	audit := AuditEntry{Actor: "ann", Action: "resolve", Detail: []byte(`{"take":"device"}`)}
	stale := put("d", "r", ver(3000, "dev1"), `{"v":1}`, mine)
	r, err := s.Resolve(ctx, stale, audit)
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != Rejected || !errors.Is(r.Err, ErrStaleResolution) {
		t.Fatalf("stale resolution: %+v, want ErrStaleResolution", r)
	}
	if _, err := s.Resolve(ctx, put("e", "r", ver(3000, "dev1"), `{}`, mine, theirs), AuditEntry{}); err == nil {
		t.Fatal("resolution without an audit actor was accepted")
	}
	good := put("f", "r", ver(3000, "dev1"), `{"v":1}`, mine, theirs)
	if r, err = s.Resolve(ctx, good, audit); err != nil || r.Outcome != Accepted || r.Conflicted {
		t.Fatalf("resolution: %+v, %v", r, err)
	}
	if _, err := s.Conflict(ctx, "inspections", "r"); !errors.Is(err, ErrNotFound) {
		t.Errorf("conflict still stored after resolution: %v", err)
	}
	rec, _ := s.Record(ctx, "inspections", "r")
	if !slices.Equal(rec.Leaves, []string{good.Version}) || string(rec.Doc) != `{"v":1}` {
		t.Errorf("record after resolution: %+v", rec)
	}
	log, err := s.Audit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].ChangeID != "f" || log[0].RecordID != "r" || log[0].Actor != "ann" || log[0].At == 0 {
		t.Errorf("audit %+v, want one entry for change f", log)
	}
	if r, _ := s.Resolve(ctx, good, audit); r.Outcome != Duplicate {
		t.Errorf("re-sent resolution: %+v", r)
	}
	if log, _ := s.Audit(ctx, 0, 0); len(log) != 1 {
		t.Errorf("re-sent resolution wrote %d audit entries", len(log))
	}
}

func TestConflictAnnotations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	base := ver(1000, "dev1")
	mustAppend(t, s, put("a", "r", base, `{}`), put("b", "r", ver(2000, "dev1"), `{"x":1}`, base))
	mustApplyRemote(t, s, "b1", put("c", "r", ver(2000, "dev2"), `{"y":1}`, base))
	cf, err := s.Conflict(ctx, "inspections", "r")
	if err != nil {
		t.Fatal(err)
	}
	stale := cf
	cf.Note = "fields overlap: manual"
	if err := s.PutConflict(ctx, cf); err != nil {
		t.Fatal(err)
	}
	// An annotation made from a stale read keeps the stored leaves.
	stale.Leaves = stale.Leaves[:1]
	stale.Note = "from a stale read"
	if err := s.PutConflict(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Conflict(ctx, "inspections", "r"); len(got.Leaves) != 2 || got.Note != stale.Note {
		t.Errorf("after a stale annotation: %d leaves, note %q", len(got.Leaves), got.Note)
	}
	if err := s.PutConflict(ctx, cf); err != nil {
		t.Fatal(err)
	}
	// A third concurrent edit refreshes the leaves and keeps the note.
	mustApplyRemote(t, s, "b2", put("d", "r", ver(2000, "dev3"), `{"z":1}`, base))
	list, err := s.Conflicts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || len(list[0].Leaves) != 3 || list[0].Note != cf.Note || list[0].DetectedAt != cf.DetectedAt {
		t.Fatalf("conflicts %+v", list)
	}
	if err := s.DeleteConflict(ctx, "inspections", "r"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutConflict(ctx, cf); !errors.Is(err, ErrNotFound) {
		t.Errorf("annotating a settled conflict: %v, want ErrNotFound", err)
	}
	if list, _ := s.Conflicts(ctx, "inspections"); len(list) != 0 {
		t.Errorf("conflicts after delete: %+v", list)
	}
}

func TestConflictFromArrivalOrderGoesAway(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	base, mid, child := ver(1000, "dev1"), ver(2000, "dev2"), ver(3000, "dev3")
	mustAppend(t, s, put("a", "r", base, `{"v":0}`))
	// dev3 edited dev2's edit of base; dev3's batch is pulled first.
	mustApplyRemote(t, s, "b3", put("c", "r", child, `{"v":2}`, mid))
	cf, err := s.Conflict(ctx, "inspections", "r")
	if err != nil || !slices.Equal(cf.Missing, []string{mid}) {
		t.Fatalf("conflict %+v, %v; want one missing %s", cf, err, mid)
	}
	mustApplyRemote(t, s, "b2", put("b", "r", mid, `{"v":1}`, base))
	if _, err := s.Conflict(ctx, "inspections", "r"); !errors.Is(err, ErrNotFound) {
		t.Errorf("conflict after the missing change arrived: %v", err)
	}
	rec, _ := s.Record(ctx, "inspections", "r")
	if !slices.Equal(rec.Leaves, []string{child}) || string(rec.Doc) != `{"v":2}` {
		t.Errorf("record %+v", rec)
	}
	if st, _ := s.Stats(ctx); st.Conflicts != 0 {
		t.Errorf("stats conflicts %d", st.Conflicts)
	}
}

func TestCycleIsRejectedNotFatal(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	va, vb := ver(1000, "dev2"), ver(2000, "dev2")
	res := mustApplyRemote(t, s, "bad",
		put("a", "r", va, `{}`, vb),
		put("b", "r", vb, `{}`, va),
		put("c", "other", ver(3000, "dev2"), `{}`),
	)
	want := []Outcome{Accepted, Rejected, Accepted}
	for i, r := range res.Results {
		if r.Outcome != want[i] {
			t.Errorf("change %s: %s (%v), want %s", r.ChangeID, r.Outcome, r.Err, want[i])
		}
	}
	if !errors.Is(res.Results[1].Err, ErrInvalidChange) || !strings.Contains(res.Results[1].Reason, "cycle") {
		t.Errorf("reason %q", res.Results[1].Reason)
	}
}
