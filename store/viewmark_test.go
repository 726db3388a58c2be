package store

import (
	"context"
	"path/filepath"
	"testing"
)

// TestViewMarks: marks are kept per key, survive a reopen, and a key
// never written has none.
func TestViewMarks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := mustOpenAt(t, path, nil)
	marks := map[string]ViewMark{
		"http://a:8047\x00dfs.fieldsync\x00inspections":          {Hash: "h1", Checked: 1},
		"http://a:8047\x00dfs.fieldsync\x00inspections\x00audit": {Hash: "h2", Checked: 2},
		"http://b:8047\x00dfs.fieldsync\x00inspections":          {Hash: "h3", Checked: 3},
	}
	for k, m := range marks {
		if err := s.PutViewMark(ctx, k, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpenAt(t, path, nil)
	for k, want := range marks {
		got, found, err := s.ViewMark(ctx, k)
		if err != nil || !found || got != want {
			t.Errorf("%q: %+v, %v, %v; want %+v", k, got, found, err, want)
		}
	}
	if m, found, err := s.ViewMark(ctx, "http://c:8047\x00dfs.fieldsync\x00inspections"); err != nil || found {
		t.Errorf("a key never written: %+v, %v, %v", m, found, err)
	}
}
