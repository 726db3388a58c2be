package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestAppend(t *testing.T) {
	t.Parallel()
	v1, v2 := ver(1000, "dev1"), ver(2000, "dev1")
	tests := []struct {
		name    string
		before  []Change // appended first
		changes []Change
		want    []Outcome
		wantErr []error // per change, for rejected ones
		reason  []string
	}{
		{
			name:    "new changes are accepted",
			changes: []Change{put("a", "r1", v1, `{"x":1}`), put("b", "r2", v1, `{"x":2}`)},
			want:    []Outcome{Accepted, Accepted},
		},
		{
			name:    "a re-sent change is a duplicate",
			before:  []Change{put("a", "r1", v1, `{"x":1}`)},
			changes: []Change{put("a", "r1", v1, `{"x":1}`), put("b", "r1", v2, `{"x":2}`, v1)},
			want:    []Outcome{Duplicate, Accepted},
		},
		{
			name:    "the same change twice in one call",
			changes: []Change{put("a", "r1", v1, `{}`), put("a", "r1", v1, `{}`)},
			want:    []Outcome{Accepted, Duplicate},
		},
		{
			name: "bad changes are rejected, the others kept",
			changes: []Change{
				put("", "r1", v1, `{}`),
				put("b", "r1", v1, `[1,2]`),
				put("c", "r1", "yesterday", `{}`),
				put("d", "r/1", v1, `{}`),
				{ChangeID: "e", Collection: "inspections", RecordID: "r1", Op: "upsert", Version: v1, Device: "dev1"},
				put("g", "r2", v1, "{\"site\":\"caf\xe9\"}"),
				put("f", "r1", v1, `{"ok":true}`),
			},
			want:    []Outcome{Rejected, Rejected, Rejected, Rejected, Rejected, Rejected, Accepted},
			wantErr: []error{ErrInvalidChange, ErrInvalidChange, ErrInvalidChange, ErrInvalidChange, ErrInvalidChange, ErrInvalidChange, nil},
			reason:  []string{"change_id is empty", "not a JSON object", "want WWW", "slash", "unknown op", "not valid UTF-8", ""},
		},
		{
			name:    "a version used by another change is rejected",
			before:  []Change{put("a", "r1", v1, `{}`)},
			changes: []Change{put("b", "r1", v1, `{"other":1}`)},
			want:    []Outcome{Rejected},
			wantErr: []error{ErrVersionTaken},
			reason:  []string{`already used by change "a"`},
		},
		{
			name:    "a change cannot be its own parent",
			changes: []Change{put("a", "r1", v1, `{}`, v1)},
			want:    []Outcome{Rejected},
			wantErr: []error{ErrInvalidChange},
			reason:  []string{"also one of its parents"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustOpenStore(t)
			if len(tt.before) > 0 {
				mustAppend(t, s, tt.before...)
			}
			res := mustAppend(t, s, tt.changes...)
			if len(res.Results) != len(tt.want) {
				t.Fatalf("got %d results, want %d", len(res.Results), len(tt.want))
			}
			accepted := 0
			for i, r := range res.Results {
				if r.Outcome != tt.want[i] {
					t.Errorf("change %d (%q): outcome %s (%v), want %s", i, r.ChangeID, r.Outcome, r.Err, tt.want[i])
				}
				if tt.wantErr != nil && tt.wantErr[i] != nil && !errors.Is(r.Err, tt.wantErr[i]) {
					t.Errorf("change %d: err %v, want %v", i, r.Err, tt.wantErr[i])
				}
				if tt.reason != nil && !strings.Contains(r.Reason, tt.reason[i]) {
					t.Errorf("change %d: reason %q, want it to mention %q", i, r.Reason, tt.reason[i])
				}
				if r.Outcome == Accepted {
					accepted++
					if r.Seq == 0 || r.MSeq == 0 {
						t.Errorf("change %d: accepted without seq/mseq: %+v", i, r)
					}
				}
			}
			if res.Accepted != accepted {
				t.Errorf("Accepted = %d, want %d", res.Accepted, accepted)
			}
			pending, err := s.Pending(context.Background(), 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := accepted + len(tt.before); len(pending) != want {
				t.Errorf("journal has %d entries, want %d", len(pending), want)
			}
			for i, e := range pending {
				if e.Seq != uint64(i+1) {
					t.Errorf("journal entry %d has seq %d", i, e.Seq)
				}
			}
		})
	}
}

func TestAppendDuplicateReportsOriginalSeq(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	first := mustAppend(t, s, seqChange("c", 1), seqChange("c", 2))
	again := mustAppend(t, s, seqChange("c", 2))
	if got, want := again.Results[0], first.Results[1]; got.Outcome != Duplicate || got.Seq != want.Seq || got.MSeq != want.MSeq {
		t.Errorf("duplicate result %+v, want seq %d mseq %d", got, want.Seq, want.MSeq)
	}
	if ids := again.Acked(); len(ids) != 1 || ids[0] != "c-2" {
		t.Errorf("Acked() = %v", ids)
	}
}

func TestAppendCancelledContextStoresNothing(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, []Change{seqChange("c", 1)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if ok, err := s.HasChange(context.Background(), "c-1"); err != nil || ok {
		t.Fatalf("HasChange = %v, %v; want false", ok, err)
	}
}

func TestApplyRemote(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	a := put("a", "r1", ver(1000, "dev2"), `{"x":1}`)
	res := mustApplyRemote(t, s, "1000_dev2_1", a)
	if res.Results[0].Outcome != Accepted || res.Results[0].Seq != 0 {
		t.Fatalf("result %+v, want accepted without a journal seq", res.Results[0])
	}
	if res := mustApplyRemote(t, s, "1000_dev2_1", a); res.Results[0].Outcome != Duplicate {
		t.Fatalf("re-applied: %+v, want duplicate", res.Results[0])
	}
	if p, _ := s.Pending(ctx, 0, 0); len(p) != 0 {
		t.Errorf("remote change entered the push journal: %+v", p)
	}
	r, err := s.Record(ctx, "inspections", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Doc) != `{"x":1}` || r.Pending {
		t.Errorf("record %+v", r)
	}
	// The clock moved past the remote version.
	v, err := s.NextVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := ParseVersion(a.Version); !got.Less(v) {
		t.Errorf("NextVersion %s not after observed %s", v, a.Version)
	}
	m, err := s.MirrorSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m[0].Origin != Remote || m[0].Batch != "1000_dev2_1" || m[0].Change.ChangeID != "a" {
		t.Errorf("mirror %+v", m)
	}
}

// TestConcurrentUse appends from several goroutines that also draw versions
// and read, and checks that nothing is lost or issued twice.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	const workers, each = 4, 40
	errs := make(chan error, workers)
	versions := make(chan string, workers*each)
	for w := range workers {
		go func() {
			for i := range each {
				v, err := s.NextVersion(ctx)
				if err != nil {
					errs <- err
					return
				}
				versions <- v.String()
				c := put(fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("w%d-r%d", w, i%5), v.String(), `{}`)
				if _, err := s.Append(ctx, []Change{c}); err != nil {
					errs <- err
					return
				}
				if err := s.ObserveVersion(ctx, Version{WallMS: v.WallMS + 1, Node: "other"}); err != nil {
					errs <- err
					return
				}
				if _, err := s.Stats(ctx); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(versions)
	seen := map[string]bool{}
	for v := range versions {
		if seen[v] {
			t.Errorf("version %s issued twice", v)
		}
		seen[v] = true
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastSeq != workers*each || st.Collections["inspections"].Live != workers*5 {
		t.Errorf("stats %+v", st)
	}
}

// TestDocBytesKept checks that a doc comes back byte for byte as appended
// (spacing, escapes, trailing spaces, unicode), from every read path.
func TestDocBytesKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	doc := "{ \"note\" : \"trailing  \",\n \"u\":\"\\u00e9 é 🙂\", \"n\": 1.50 }"
	mustAppend(t, s, put("a", "r1", ver(1000, "dev1"), doc))
	rec, err := s.Record(ctx, "inspections", "r1")
	if err != nil {
		t.Fatal(err)
	}
	pending, _ := s.Pending(ctx, 0, 1)
	mirror, _ := s.MirrorSince(ctx, 0, 1)
	hist, _ := s.History(ctx, "inspections", "r1")
	for name, got := range map[string][]byte{
		"Record": rec.Doc, "Pending": pending[0].Change.Doc,
		"MirrorSince": mirror[0].Change.Doc, "History": hist[0].Doc,
	} {
		if string(got) != doc {
			t.Errorf("%s doc = %q, want %q", name, got, doc)
		}
	}
}

func TestAppendTooLarge(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	doc := `{"pad":"` + strings.Repeat("x", MaxDocBytes-20) + `"}`
	var batch []Change
	for i := 0; i*len(doc) <= MaxAppendBytes; i++ {
		batch = append(batch, put(fmt.Sprintf("c%d", i), fmt.Sprintf("r%d", i), ver(int64(1000+i), "dev1"), doc))
	}
	_, err := s.Append(context.Background(), batch)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "smaller groups") {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if ok, _ := s.HasChange(context.Background(), "c0"); ok {
		t.Error("part of a too-large call was stored")
	}
}

// errRule stands for a caller's rule, such as a collection's declaration.
var errRule = errors.New("rule: site is not declared")

func TestAppendChecked(t *testing.T) {
	t.Parallel()
	v1, v2 := ver(1000, "dev1"), ver(2000, "dev1")
	ruleFor := func(ids ...string) func(Change) error { // refuses the changes ids
		return func(c Change) error {
			for _, id := range ids {
				if c.ChangeID == id {
					return errRule
				}
			}
			return nil
		}
	}
	tests := []struct {
		name      string
		before    []Change // appended first
		changes   []Change
		check     func(Change) error
		want      []Outcome
		wantErr   []error
		reason    []string
		wantCheck []string // the change ids check is called with, in order
	}{
		{
			name:      "check's reason is the rejection, the others are appended",
			changes:   []Change{put("a", "r1", v1, `{}`), put("b", "r2", v1, `{}`), put("c", "r3", v1, `{}`)},
			check:     ruleFor("b"),
			want:      []Outcome{Accepted, Rejected, Accepted},
			wantErr:   []error{nil, errRule, nil},
			reason:    []string{"", errRule.Error(), ""},
			wantCheck: []string{"a", "b", "c"},
		},
		{
			name:      "a structurally invalid change never reaches check",
			changes:   []Change{put("a", "r/1", v1, `{}`), put("b", "r2", v1, `[1]`), put("c", "r3", v1, `{}`)},
			check:     ruleFor("a", "b", "c"),
			want:      []Outcome{Rejected, Rejected, Rejected},
			wantErr:   []error{ErrInvalidChange, ErrInvalidChange, errRule},
			reason:    []string{"slash", "not a JSON object", errRule.Error()},
			wantCheck: []string{"c"},
		},
		{
			name:      "check comes before the store's limits",
			changes:   []Change{put("a", "r1", v1, `{}`, v1)},
			check:     ruleFor("a"),
			want:      []Outcome{Rejected},
			wantErr:   []error{errRule},
			wantCheck: []string{"a"},
		},
		{
			name:      "the store's limits and graph rules still apply",
			before:    []Change{put("a", "r1", v1, `{}`)},
			changes:   []Change{put("b", "r2", v2, `{}`, v2), put("c", "r1", v1, `{"other":1}`)},
			check:     ruleFor(),
			want:      []Outcome{Rejected, Rejected},
			wantErr:   []error{ErrInvalidChange, ErrVersionTaken},
			reason:    []string{"also one of its parents", `already used by change "a"`},
			wantCheck: []string{"b", "c"},
		},
		{
			name:      "a change sent again is a duplicate, unless check refuses it",
			before:    []Change{put("a", "r1", v1, `{}`), put("b", "r2", v1, `{}`)},
			changes:   []Change{put("a", "r1", v1, `{}`), put("b", "r2", v1, `{}`)},
			check:     ruleFor("b"),
			want:      []Outcome{Duplicate, Rejected},
			wantErr:   []error{nil, errRule},
			wantCheck: []string{"a", "b"},
		},
		{
			name:    "no changes",
			changes: nil,
			check:   ruleFor(),
			want:    []Outcome{},
		},
		{
			name:    "a nil check is no rule",
			changes: []Change{put("a", "r1", v1, `{}`), put("", "r2", v1, `{}`)},
			want:    []Outcome{Accepted, Rejected},
			wantErr: []error{nil, ErrInvalidChange},
			reason:  []string{"", "change_id is empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := mustOpenStore(t)
			if len(tt.before) > 0 {
				mustAppend(t, s, tt.before...)
			}
			var checked []string
			check := func(c Change) error {
				checked = append(checked, c.ChangeID)
				return tt.check(c)
			}
			if tt.check == nil {
				check = nil
			}
			res, err := s.AppendChecked(ctx, tt.changes, check)
			if err != nil {
				t.Fatal(err)
			}
			if res.Results == nil || len(res.Results) != len(tt.want) {
				t.Fatalf("got results %v, want %d", res.Results, len(tt.want))
			}
			if fmt.Sprint(checked) != fmt.Sprint(tt.wantCheck) {
				t.Errorf("check saw %v, want %v", checked, tt.wantCheck)
			}
			var counts [3]int
			for i, r := range res.Results {
				if r.ChangeID != tt.changes[i].ChangeID || r.Outcome != tt.want[i] {
					t.Errorf("result %d = %q %s (%v), want %q %s", i, r.ChangeID, r.Outcome, r.Err, tt.changes[i].ChangeID, tt.want[i])
				}
				if tt.wantErr != nil && tt.wantErr[i] != nil && !errors.Is(r.Err, tt.wantErr[i]) {
					t.Errorf("result %d: err %v, want %v", i, r.Err, tt.wantErr[i])
				}
				if tt.reason != nil && !strings.Contains(r.Reason, tt.reason[i]) {
					t.Errorf("result %d: reason %q, want it to mention %q", i, r.Reason, tt.reason[i])
				}
				if r.Outcome == Rejected && r.Reason != r.Err.Error() {
					t.Errorf("result %d: reason %q is not its error's text %q", i, r.Reason, r.Err)
				}
				counts[map[Outcome]int{Accepted: 0, Duplicate: 1, Rejected: 2}[r.Outcome]]++
			}
			if got := [3]int{res.Accepted, res.Duplicates, res.Rejected}; got != counts {
				t.Errorf("accepted, duplicates, rejected = %v, want %v", got, counts)
			}
			pending, err := s.Pending(ctx, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := counts[0] + len(tt.before); len(pending) != want {
				t.Errorf("journal has %d entries, want %d", len(pending), want)
			}
		})
	}
}

// TestAppendCheckedOpensNoTransactionForNothing: when every change is
// rejected before the transaction, AppendChecked reports them even with a
// cancelled context, and fails only once there is something to store.
func TestAppendCheckedOpensNoTransactionForNothing(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	bad := put("a", "r/1", ver(1000, "dev1"), `{}`)
	refused := seqChange("c", 1)
	res, err := s.AppendChecked(ctx, []Change{bad, refused}, func(Change) error { return errRule })
	if err != nil || res.Rejected != 2 {
		t.Fatalf("AppendChecked = %+v, %v; want 2 rejected, no error", res, err)
	}
	if _, err := s.AppendChecked(ctx, []Change{bad, refused}, func(Change) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if ok, err := s.HasChange(context.Background(), "c-1"); err != nil || ok {
		t.Fatalf("HasChange = %v, %v; want false", ok, err)
	}
}
