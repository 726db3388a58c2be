package agent

import (
	"context"
	"errors"
	"testing"

	"github.com/fieldsync/fieldsync/agent/drill"
)

// scriptedDrill answers each query with the next of its errors (nil: one
// row), and counts the queries.
type scriptedDrill struct {
	errs  []error
	calls int
}

func (d *scriptedDrill) Query(context.Context, string) ([]Row, error) {
	d.calls++
	if len(d.errs) > 0 {
		err := d.errs[0]
		d.errs = d.errs[1:]
		if err != nil {
			return nil, err
		}
	}
	return []Row{{"name": "b"}}, nil
}

func TestShowFilesAsksAgainWhenAnEntryVanished(t *testing.T) {
	// The message Drill 1.22 gives when a batch is dropped during SHOW FILES
	// on a local file system.
	vanished := &drill.QueryError{State: "FAILED", Message: "SYSTEM ERROR: RuntimeException: Error while running command to get file permissions : " +
		"ExitCodeException exitCode=2: ls: cannot access '/ws/c/changes/2026120614/b1': No such file or directory"}
	other := &drill.QueryError{State: "FAILED", Message: "PERMISSION ERROR: not allowed"}
	cases := []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   error
	}{
		{"answers at once", nil, 1, nil},
		{"an entry vanished once", []error{vanished}, 2, nil},
		{"vanished twice, then answers", []error{vanished, vanished}, 3, nil},
		{"vanished three times: gives up", []error{vanished, vanished, vanished}, 3, vanished},
		{"another error is not asked again", []error{other}, 1, other},
		{"a network error is not asked again", []error{context.DeadlineExceeded}, 1, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &scriptedDrill{errs: tc.errs}
			rows, err := showFiles(context.Background(), d, "`dfs`.`ws`.`c/changes`")
			if d.calls != tc.wantCalls {
				t.Errorf("queries = %d, want %d", d.calls, tc.wantCalls)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && len(rows) != 1 {
				t.Errorf("rows = %v, want the listing", rows)
			}
		})
	}
}

func TestAlreadyExists(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&drill.QueryError{Message: "File [/ws/c/snapshot/2026120616_001796576743297/0_0_0.parquet] already exists on file system [file:///]."}, true},
		{&drill.QueryError{Message: "VALIDATION ERROR: A table or view with given name [x] already exists in schema [dfs.fieldsync]"}, true},
		{&drill.QueryError{Message: "PERMISSION ERROR: not allowed"}, false},
		{errors.New("already exists, but not a Drill answer"), false},
	}
	for _, tc := range cases {
		if got := alreadyExists(tc.err); got != tc.want {
			t.Errorf("alreadyExists(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
