package store

import (
	"context"
	"errors"
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
				put("f", "r1", v1, `{"ok":true}`),
			},
			want:    []Outcome{Rejected, Rejected, Rejected, Rejected, Rejected, Accepted},
			wantErr: []error{ErrInvalidChange, ErrInvalidChange, ErrInvalidChange, ErrInvalidChange, ErrInvalidChange, nil},
			reason:  []string{"change_id is empty", "not a JSON object", "want WWW", "slash", "unknown op", ""},
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
