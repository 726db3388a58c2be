package store

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzAppend feeds arbitrary change lists to Append: it must never fail the
// whole call for bad changes (only report them), must store what it
// accepts exactly once, and must leave a consistent file.
func FuzzAppend(f *testing.F) {
	for _, seed := range []string{
		`[{"change_id":"a","collection":"c","record_id":"r","op":"put","doc":{},"version":"000000000001000-0000-d","parents":[],"device":"d"}]`,
		`[{"change_id":"a","collection":"c","record_id":"r","op":"delete","version":"000000000001000-0000-d","parents":["000000000000900-0000-d"],"device":"d"},
		  {"change_id":"b","collection":"c","record_id":"r","op":"put","doc":{"x":1},"version":"000000000000900-0000-d","parents":["000000000001000-0000-d"],"device":"d"}]`,
		`[{"change_id":"a","collection":"c","record_id":"r","op":"put","doc":[1],"version":"x","device":"d"}]`,
		`[{"change_id":"a","collection":"c","record_id":"r","op":"put","doc":{},"version":"000000000001000-0000-` + strings.Repeat("d", 300) + `","device":"d"}]`,
		`[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var changes []Change
		if err := json.Unmarshal(data, &changes); err != nil {
			return
		}
		ctx := context.Background()
		s, err := Open(ctx, filepath.Join(t.TempDir(), "f.db"), &Options{DeviceID: "fuzz"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		res, err := s.Append(ctx, changes)
		if errors.Is(err, ErrTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("Append failed as a whole: %v", err)
		}
		again, err := s.Append(ctx, changes)
		if err != nil {
			t.Fatalf("second Append: %v", err)
		}
		for i, r := range res.Results {
			if r.Outcome != Rejected && again.Results[i].Outcome != Duplicate {
				t.Errorf("change %d stored (%s) but not a duplicate the second time: %s", i, r.Outcome, again.Results[i].Outcome)
			}
		}
		entries, err := s.Pending(ctx, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != res.Accepted {
			t.Errorf("%d journal entries for %d accepted changes", len(entries), res.Accepted)
		}
		checkConsistent(t, s.db)
	})
}
