//go:build unix

package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteFailureLeavesNothingHalfApplied runs a child whose file size
// limit (RLIMIT_FSIZE) makes the file unable to grow, as on a full disk: the
// append that needs more space must fail with an error, earlier changes must
// stay, and the store must keep working once space is back.
func TestWriteFailureLeavesNothingHalfApplied(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	cmd := helperCommand(t, "fulldisk", path)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	report := string(out)
	t.Logf("helper:\n%s", report)
	if !strings.Contains(report, "append failed: ") || !strings.Contains(report, "file too large") {
		t.Fatalf("the big append did not fail with a write error")
	}
	ctx := context.Background()
	s := mustOpenAt(t, path, nil)
	checkConsistent(t, s.db)
	for _, tt := range []struct {
		id   string
		want bool
	}{{"small-1", true}, {"small-2", true}, {"big-1", false}, {"big-2", false}, {"after-1", true}} {
		if got, err := s.HasChange(ctx, tt.id); err != nil || got != tt.want {
			t.Errorf("HasChange(%s) = %v, %v; want %v", tt.id, got, err, tt.want)
		}
	}
	entries, err := s.Pending(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || entries[2].Seq != 3 || entries[2].Change.ChangeID != "after-1" {
		t.Errorf("journal after the failure: %+v", entries)
	}
	if _, err := s.Record(ctx, "inspections", "big"); err == nil {
		t.Error("the failed append left a record behind")
	}
}

// helperFullDisk appends two small changes, then limits the file size so
// the file cannot grow and tries a big batch, then lifts the limit and
// appends once more. It prints what happened.
func helperFullDisk(path string) error {
	ctx := context.Background()
	s, err := Open(ctx, path, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Append(ctx, []Change{put("small-1", "r1", ver(1000, "dev1"), `{}`), put("small-2", "r2", ver(1001, "dev1"), `{}`)}); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		return err
	}
	signal.Ignore(syscall.SIGXFSZ) // get EFBIG instead of dying
	lim := old
	lim.Cur = uint64(fi.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		return err
	}
	pad := strings.Repeat("y", 600<<10)
	_, err = s.Append(ctx, []Change{
		put("big-1", "big", ver(2000, "dev1"), `{"pad":"`+pad+`"}`),
		put("big-2", "big2", ver(2001, "dev1"), `{"pad":"`+pad+`"}`),
	})
	if err == nil {
		return fmt.Errorf("append of 1.2 MB into a file limited to %d bytes succeeded", fi.Size())
	}
	fmt.Printf("append failed: %v\n", err)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		return err
	}
	res, err := s.Append(ctx, []Change{put("after-1", "r3", ver(3000, "dev1"), `{}`)})
	if err != nil {
		return fmt.Errorf("append after space came back: %w", err)
	}
	fmt.Printf("after: %s\n", res.Results[0].Outcome)
	_, err = io.WriteString(os.Stdout, "done\n")
	return err
}
