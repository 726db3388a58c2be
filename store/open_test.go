package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenCreatesPrivateFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "fieldsync")
	path := filepath.Join(dir, "store.db")
	mustOpenAt(t, path, nil)
	for _, tt := range []struct {
		path string
		want os.FileMode
	}{
		{filepath.Dir(dir), 0o700},
		{dir, 0o700},
		{path, 0o600},
		{path + ".owner", 0o600},
	} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tt.want {
			t.Errorf("%s: mode %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestOpenTightensLooseFileMode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	s := mustOpenAt(t, path, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	mustOpenAt(t, path, nil)
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after reopen, want 0600", fi.Mode().Perm())
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	s := mustOpenAt(t, path, nil)
	dev := s.DeviceID()
	if len(dev) != 16 {
		t.Errorf("device id %q, want 16 hex digits", dev)
	}
	v1, err := s.NextVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := put("a", "r1", v1.String(), `{"k":"v"}`)
	c.Device = dev
	mustAppend(t, s, c)
	if err := s.SetPullWatermark(ctx, "inspections", 42); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpenAt(t, path, nil)
	if s.DeviceID() != dev {
		t.Errorf("device id changed: %q -> %q", dev, s.DeviceID())
	}
	if r, err := s.Record(ctx, "inspections", "r1"); err != nil || string(r.Doc) != `{"k":"v"}` {
		t.Errorf("record after reopen: %+v, %v", r, err)
	}
	if wm, _ := s.PullWatermark(ctx, "inspections"); wm != 42 {
		t.Errorf("watermark %d", wm)
	}
	if r := mustAppend(t, s, c); r.Results[0].Outcome != Duplicate {
		t.Errorf("re-sent after reopen: %+v", r.Results[0])
	}
	if v2, _ := s.NextVersion(ctx); !v1.Less(v2) {
		t.Errorf("version after reopen %s not after %s", v2, v1)
	}
}

func TestOpenDeviceMismatch(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	s := mustOpenAt(t, path, &Options{DeviceID: "laptop-7"})
	if s.DeviceID() != "laptop-7" {
		t.Fatalf("device %q", s.DeviceID())
	}
	s.Close()
	if _, err := Open(context.Background(), path, &Options{DeviceID: "other"}); !errors.Is(err, ErrDeviceMismatch) {
		t.Errorf("err = %v, want ErrDeviceMismatch", err)
	}
	for _, bad := range []string{"a/b", "a b", "a`b", ".hidden", "ü", strings.Repeat("x", 65)} {
		_, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), &Options{DeviceID: bad})
		if err == nil || !strings.Contains(err.Error(), "device id") {
			t.Errorf("device id %q: err = %v, want a device id error", bad, err)
		}
	}
}

// TestClockSurvivesRestartWithClockGoingBack: versions issued before a
// restart (even if never appended) stay below versions issued after it,
// when the wall clock went backwards in between.
func TestClockSurvivesRestartWithClockGoingBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	clock := &fixedClock{t: time.UnixMilli(1_700_000_000_000)}
	s := mustOpenAt(t, path, &Options{Now: clock.Now})
	var last Version
	for range 3 {
		v, err := s.NextVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !last.Less(v) {
			t.Fatalf("%s not after %s", v, last)
		}
		last = v
	}
	if err := s.ObserveVersion(ctx, Version{WallMS: 1_700_000_000_500, Node: "dev9"}); err != nil {
		t.Fatal(err)
	}
	v, _ := s.NextVersion(ctx)
	if v.WallMS != 1_700_000_000_500 || v.Counter != 1 {
		t.Errorf("after observing a later version: %s", v)
	}
	last = v
	// Simulate a crash: no Close, so the final clock state is not saved.
	// (bbolt's lock is per open file, so a second Open needs the first
	// closed; close the db only.)
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	clock.t = clock.t.Add(-time.Hour)
	s = mustOpenAt(t, path, &Options{Now: clock.Now})
	if v, _ := s.NextVersion(ctx); !last.Less(v) {
		t.Errorf("after restart with the clock an hour back: %s not after %s", v, last)
	}
}

func TestOpenLockedFailsFast(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	mustOpenAt(t, path, nil)
	start := time.Now()
	_, err := Open(context.Background(), path, &Options{Timeout: 50 * time.Millisecond})
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want a *LockedError", err)
	}
	if le.PID != os.Getpid() {
		t.Errorf("LockedError.PID = %d, want %d", le.PID, os.Getpid())
	}
	for _, want := range []string{path, "in use by another fieldsync process", fmt.Sprintf("pid %d", os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("open waited %v despite a 50ms timeout", d) // a hang, not a timing assertion
	}
}

func TestOpenLockedByChildProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	cmd := helperCommand(t, "hold", path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close() // the helper exits when its stdin closes
		_ = cmd.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	_, err = Open(context.Background(), path, &Options{Timeout: 100 * time.Millisecond})
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("open held file: %v, want a *LockedError", err)
	}
	if le.PID != cmd.Process.Pid || !strings.Contains(le.Command, "TestHelperProcess") {
		t.Errorf("LockedError names pid %d %q, want the helper pid %d", le.PID, le.Command, cmd.Process.Pid)
	}
	t.Logf("message: %v", err)
}

// helperCommand re-executes the test binary as a helper process in mode.
func helperCommand(tb testing.TB, mode string, args ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--", mode}, args...)...)
	cmd.Env = append(os.Environ(), "FIELDSYNC_STORE_HELPER=1")
	cmd.Stderr = os.Stderr
	return cmd
}

// TestHelperProcess is not a test: it is the child process of the lock,
// crash, rename and full-disk tests, started by helperCommand.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("FIELDSYNC_STORE_HELPER") != "1" {
		return
	}
	args := os.Args
	for len(args) > 0 && args[0] != "--" {
		args = args[1:]
	}
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "helper: want -- MODE PATH")
		os.Exit(2)
	}
	mode, path := args[1], args[2]
	var err error
	switch mode {
	case "hold":
		err = helperHold(path)
	case "crash":
		err = helperCrash(path)
	case "fulldisk":
		err = helperFullDisk(path)
	case "compact":
		err = helperCompact(path)
	case "rename":
		err = helperRename(path)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helperHold opens the store, says "ready" and holds it until stdin closes.
func helperHold(path string) error {
	s, err := Open(context.Background(), path, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return nil
}

func TestUseAfterClose(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Append(context.Background(), []Change{seqChange("c", 1)}); err == nil {
		t.Error("Append after Close succeeded")
	}
	if _, err := s.Stats(context.Background()); err == nil {
		t.Error("Stats after Close succeeded")
	}
	if _, err := os.Stat(s.Path() + ".owner"); !os.IsNotExist(err) {
		t.Errorf("owner note left after Close: %v", err)
	}
}

func TestLockedErrorIgnoresStaleOwnerNote(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	mustOpenAt(t, path, nil)
	dead := exec.Command(os.Args[0], "-test.run=^$")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	note := fmt.Sprintf("%d\nsome-old-process\n", dead.Process.Pid)
	if err := os.WriteFile(path+".owner", []byte(note), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path, &Options{Timeout: 20 * time.Millisecond})
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want *LockedError", err)
	}
	if le.PID != 0 || strings.Contains(err.Error(), "some-old-process") {
		t.Errorf("error names a dead process: %v", err)
	}
}

func TestOpenDamagedFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []byte
	}{
		{"text", []byte(strings.Repeat("not a database\n", 1000))},
		{"zeros", make([]byte, 64<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "store.db")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), path, nil)
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "move it aside") {
				t.Errorf("err = %v, want ErrDamaged with advice", err)
			}
			if b, _ := os.ReadFile(path); len(b) != len(tt.data) {
				t.Error("the damaged file was changed")
			}
		})
	}
}

func TestBackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	mustAppend(t, s, seqChange("c", 1), seqChange("c", 2))
	dst := filepath.Join(t.TempDir(), "backups", "fieldsync.db")
	if err := s.Backup(ctx, dst); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, seqChange("c", 3)) // after the backup: not in it
	for _, tt := range []struct {
		path string
		want os.FileMode
	}{{dst, 0o600}, {filepath.Dir(dst), 0o700}} {
		if fi, err := os.Stat(tt.path); err != nil || fi.Mode().Perm() != tt.want {
			t.Errorf("%s: %v, %v; want mode %v", tt.path, fi.Mode().Perm(), err, tt.want)
		}
	}
	b := mustOpenAt(t, dst, nil)
	checkConsistent(t, b.db)
	if b.DeviceID() != s.DeviceID() {
		t.Errorf("backup device %q, want %q", b.DeviceID(), s.DeviceID())
	}
	st, err := b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastSeq != 2 || st.Collections["inspections"].Live != 2 {
		t.Errorf("backup stats %+v", st)
	}
	if entries, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), "*.tmp*")); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}
