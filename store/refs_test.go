package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestRefs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	row := func(key, name, region string) RefRow {
		doc, _ := json.Marshal(map[string]string{"name": name, "region": region})
		return RefRow{Key: key, Doc: doc, Hash: "h-" + key + "-" + region}
	}
	idx := []string{"name"}
	if _, ok, err := s.RefState(ctx, "sites"); ok || err != nil {
		t.Fatalf("state of a collection never pulled: ok %v, %v", ok, err)
	}
	err := s.ApplyRefs(ctx, "sites", []RefRow{row("S1", "North well", "n"), row("S2", "South gate", "s"), row("S3", "North well", "n"), row("S4", "Quay 3", "n"), row("S5", "Nul\x00 name", "n")}, nil, idx)
	if err != nil {
		t.Fatal(err)
	}
	// Change S2's name, remove S3: "North well" is still S1's.
	if err := s.ApplyRefs(ctx, "sites", []RefRow{row("S2", "South gate B", "s")}, []string{"S3", "S5", "missing"}, idx); err != nil {
		t.Fatal(err)
	}
	hashes, err := s.RefHashes(ctx, "sites")
	if err != nil || fmt.Sprint(hashes) != "map[S1:h-S1-n S2:h-S2-s S4:h-S4-n]" {
		t.Errorf("RefHashes = %v, %v", hashes, err)
	}
	vals, more, err := s.RefValues(ctx, "sites", "name", 10)
	if err != nil || more || !slices.Equal(vals, []string{"North well", "Quay 3", "South gate B"}) {
		t.Errorf("RefValues = %q %v %v", vals, more, err)
	}
	if vals, more, _ := s.RefValues(ctx, "sites", "name", 1); !more || len(vals) != 1 {
		t.Errorf("RefValues limit 1 = %q %v", vals, more)
	}
	for _, tt := range []struct {
		value string
		want  bool
	}{{"North well", true}, {"South gate", false}, {"South gate B", true}, {"North", false}, {"Quay 3", true}, {"Nul\x00 name", false}} {
		if got, err := s.RefHas(ctx, "sites", "name", tt.value); got != tt.want || err != nil {
			t.Errorf("RefHas(%q) = %v, %v; want %v", tt.value, got, err, tt.want)
		}
	}
	if got, _ := s.RefHas(ctx, "sites", "region", "n"); got {
		t.Error("a field that is not indexed was found")
	}
	tests := []struct {
		q    RefQuery
		keys string
		next string
	}{
		{RefQuery{}, "S1 S2 S4", ""},
		{RefQuery{Limit: 2}, "S1 S2", "S2"},
		{RefQuery{After: "S2"}, "S4", ""},
		{RefQuery{Search: "SOUTH"}, "S2", ""},
		{RefQuery{Search: "s4"}, "S4", ""},
		{RefQuery{Search: "nothing"}, "", ""},
	}
	for _, tt := range tests {
		p, err := s.RefRows(ctx, "sites", tt.q)
		var keys []string
		for _, r := range p.Rows {
			keys = append(keys, r.Key)
		}
		if err != nil || strings.Join(keys, " ") != tt.keys || p.Next != tt.next || p.Total != 3 {
			t.Errorf("RefRows(%+v) = %v next %q total %d, %v; want %s next %q", tt.q, keys, p.Next, p.Total, err, tt.keys, tt.next)
		}
	}
	st := RefState{Source: "q", Fingerprint: "3:1:2", Rows: 3, Indexed: idx}
	if err := s.PutRefState(ctx, "sites", st); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.RefState(ctx, "sites"); !ok || err != nil || got.Fingerprint != "3:1:2" {
		t.Errorf("RefState = %+v %v %v", got, ok, err)
	}
	if err := s.ApplyRefs(ctx, "sites", []RefRow{{Key: "", Doc: json.RawMessage(`{}`)}}, nil, idx); err == nil {
		t.Error("a row without a key was stored")
	}
	if err := s.ClearRefs(ctx, "sites"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.RefState(ctx, "sites"); ok {
		t.Error("state kept after ClearRefs")
	}
	if p, _ := s.RefRows(ctx, "sites", RefQuery{}); len(p.Rows) != 0 || p.Total != 0 {
		t.Errorf("rows after ClearRefs: %+v", p)
	}
	if ok, _ := s.RefHas(ctx, "sites", "name", "North well"); ok {
		t.Error("index kept after ClearRefs")
	}
}
