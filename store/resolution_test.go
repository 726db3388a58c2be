package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestPulledResolutionAudit: a resolution pulled from another device gets
// its audit entry once (however often its batch is applied), with its
// author as the actor and its edit time; a plain pulled change gets none.
func TestPulledResolutionAudit(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	base := put("c1", "r", ver(1000, "b"), `{"site":"base"}`)
	left := put("c2", "r", ver(2000, "b"), `{"site":"left"}`, base.Version)
	right := put("c3", "r", ver(2001, "c"), `{"site":"right"}`, base.Version)
	mustApplyRemote(t, s, "b1", base, left, right)
	res := put("c4", "r", ver(3000, "b"), `{"site":"left"}`, left.Version, right.Version)
	res.Author, res.EditedAt = "sam", 1_700_000_123_000
	res.Resolution = &Resolution{How: "version", Chosen: left.Version, WinnerBefore: right.Version, Note: "kept the left"}
	for range 2 {
		mustApplyRemote(t, s, "b2", res)
	}
	es, err := s.AuditOf(context.Background(), "inspections", "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Fatalf("audit of r: %+v, want one entry", es)
	}
	e := es[0]
	var d struct {
		How    string   `json:"how"`
		Chosen string   `json:"chosen"`
		Leaves []string `json:"leaves"`
		Note   string   `json:"note"`
	}
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		t.Fatal(err)
	}
	if e.Actor != "sam" || e.At != res.EditedAt || e.ChangeID != "c4" || e.Action != "resolve" ||
		d.How != "version" || d.Chosen != left.Version || len(d.Leaves) != 2 || d.Note != "kept the left" {
		t.Errorf("audit entry %+v detail %+v", e, d)
	}
	h, err := s.History(context.Background(), "inspections", "r")
	if err != nil {
		t.Fatal(err)
	}
	if last := h[len(h)-1]; last.Resolution == nil || last.Resolution.How != "version" {
		t.Errorf("the stored change lost its resolution: %+v", last)
	}
	if rec, _ := s.Record(context.Background(), "inspections", "r"); rec.Conflicted() {
		t.Errorf("still in conflict: %+v", rec)
	}
}

func TestResolutionChecks(t *testing.T) {
	t.Parallel()
	v1, v2 := ver(1000, "b"), ver(2000, "c")
	for _, tt := range []struct {
		name string
		res  *Resolution
		bad  string
	}{
		{"none", nil, ""},
		{"whole", &Resolution{How: "rules", Chosen: v1, WinnerBefore: v2, Note: "n", Rules: map[string]string{"temp": "higher"}}, ""},
		{"no how", &Resolution{}, "how must be"},
		{"control in how", &Resolution{How: "a\nb"}, "how must be"},
		{"chosen not a version", &Resolution{How: "x", Chosen: "nope"}, "chosen is not a version"},
		{"winner not a version", &Resolution{How: "x", WinnerBefore: "nope"}, "winner_before is not a version"},
		{"note too long", &Resolution{How: "x", Note: strings.Repeat("n", maxNoteBytes+1)}, "note must be"},
		{"bad rule", &Resolution{How: "x", Rules: map[string]string{"": "higher"}}, "rule"},
		{"too big", &Resolution{How: "x", Note: strings.Repeat("<", maxNoteBytes), Rules: manyRules(300)}, "bytes of JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := put("c9", "r", ver(3000, "b"), `{"a":1}`, v1)
			c.Resolution = tt.res
			err := c.Validate()
			if tt.bad == "" {
				if err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidChange) || !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("Validate = %v, want %q", err, tt.bad)
			}
		})
	}
	t.Run("no parents", func(t *testing.T) {
		t.Parallel()
		c := put("c9", "r", ver(3000, "b"), `{"a":1}`)
		c.Resolution = &Resolution{How: "x"}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "as parents") {
			t.Errorf("Validate = %v", err)
		}
	})
}

func manyRules(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[strings.Repeat("f", 150)+string(rune('a'+i%26))+strings.Repeat("g", i/26)] = strings.Repeat("r", 100)
	}
	return m
}

// TestLocalResolutionOnlyThroughResolve: a change the page hands in cannot
// claim to be a resolution (Resolve checks its leaves); Resolve keeps the
// resolution on the stored change and writes the audit detail from it.
func TestLocalResolutionOnlyThroughResolve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	base := put("c1", "r", ver(1000, "dev1"), `{"site":"base"}`)
	mustAppend(t, s, base)
	forged := put("c2", "r", ver(2000, "dev1"), `{"site":"x"}`, base.Version)
	forged.Resolution = &Resolution{How: "device"}
	if res := mustAppend(t, s, forged); res.Rejected != 1 || !strings.Contains(res.Results[0].Reason, "only a conflict resolution") {
		t.Errorf("append of a forged resolution: %+v", res)
	}
	other := put("c3", "r", ver(2001, "b"), `{"site":"b"}`, base.Version)
	mustApplyRemote(t, s, "b1", other)
	mine := put("c4", "r", ver(2002, "dev1"), `{"site":"mine"}`, base.Version)
	mustAppend(t, s, mine)
	res := put("c5", "r", ver(3000, "dev1"), `{"site":"mine"}`, other.Version, mine.Version)
	res.Resolution = &Resolution{How: "device", Chosen: mine.Version}
	r, err := s.Resolve(ctx, res, AuditEntry{Actor: "ann", Action: "resolve"})
	if err != nil || r.Outcome != Accepted {
		t.Fatalf("resolve: %+v %v", r, err)
	}
	es, err := s.AuditOf(ctx, "inspections", "r")
	if err != nil || len(es) != 1 || !strings.Contains(string(es[0].Detail), `"chosen":"`+mine.Version+`"`) ||
		!strings.Contains(string(es[0].Detail), `"leaves":["`) {
		t.Errorf("audit after Resolve: %+v %v", es, err)
	}
	pending, err := s.Pending(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if last := pending[len(pending)-1].Change; last.ChangeID != "c5" || last.Resolution == nil || last.Resolution.Chosen != mine.Version {
		t.Errorf("the journal's resolution: %+v", last)
	}
}
