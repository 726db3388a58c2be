package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/config/configtest"
	"github.com/fieldsync/fieldsync/internal/drilltest"
)

// childEnv marks a re-executed test binary that runs the command line (the
// same Main as the real binary) with the arguments in childArgsEnv.
const (
	childEnv     = "FIELDSYNC_CLI_CHILD"
	childArgsEnv = "FIELDSYNC_CLI_CHILD_ARGS"
	// childStatusEnv names a file the child writes its /proc/self/status
	// to as it exits: its VmHWM is the peak resident memory of the child
	// alone (the rusage of a child started from a large parent counts
	// the parent's memory as it was when the child was started).
	childStatusEnv = "FIELDSYNC_CLI_CHILD_STATUS"
)

// runChild runs Main when this process is a child started by startChild.
func runChild() (int, bool) {
	if os.Getenv(childEnv) != "1" {
		return 0, false
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(childArgsEnv)), &args); err != nil {
		fmt.Fprintln(os.Stderr, "child: bad args:", err)
		return 2, true
	}
	code := Main(context.Background(), Env{Args: args, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Environ: os.Environ(), Keyring: configtest.Keyring{}, Self: testSelf})
	if p := os.Getenv(childStatusEnv); p != "" {
		if b, err := os.ReadFile("/proc/self/status"); err == nil {
			_ = os.WriteFile(p, b, 0o600)
		}
	}
	return code, true
}

// testSelf is Env.Self for tests: it starts this test binary as the
// fieldsync program (see runChild).
func testSelf(ctx context.Context, environ, args []string) (*exec.Cmd, error) {
	js, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	c := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	c.Env = append(append([]string{}, environ...), childEnv+"=1", childArgsEnv+"="+string(js))
	return c, nil
}

// startChild starts `fieldsync <cmd> <device flags>` as a separate process.
func (d *device) startChild(cmd ...string) *exec.Cmd {
	d.tb.Helper()
	args, _ := json.Marshal(append(append([]string{}, cmd...), d.args...))
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(append(os.Environ(), d.env...), childEnv+"=1", childArgsEnv+"="+string(args))
	c.Stdout, c.Stderr = io.Discard, io.Discard
	if err := c.Start(); err != nil {
		d.tb.Fatal(err)
	}
	return c
}

// isolatedDevice returns a device syncing into a workspace of its own, which
// fieldsync creates in Drill (drill.location) on first use.
func isolatedDevice(tb testing.TB, name, url string, extraEnv ...string) (*device, string) {
	tb.Helper()
	d, ws, _ := isolatedDeviceAt(tb, name, url, extraEnv...)
	return d, ws
}

// isolatedDeviceAt is isolatedDevice that also returns the workspace's
// directory.
func isolatedDeviceAt(tb testing.TB, name, url string, extraEnv ...string) (*device, string, string) {
	tb.Helper()
	ws := fmt.Sprintf("t_%s_%d", strings.ReplaceAll(name, "-", "_"), os.Getpid())
	loc := filepath.Join(tb.TempDir(), "ws")
	if err := os.MkdirAll(loc, 0o755); err != nil {
		tb.Fatal(err)
	}
	d := newDevice(tb, name, url, ws, append([]string{"FIELDSYNC_DRILL_LOCATION=" + loc}, extraEnv...)...)
	return d, ws, loc
}

func importN(tb testing.TB, d *device, n int, prefix string) {
	tb.Helper()
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, `{"id":"%s%05d","site":"Site %d","passed":true,"risk":"low","inspected_at":1700000000000}`+"\n", prefix, i, i)
	}
	if out := d.must(in.String(), "import", "--collection", "inspections", "-"); !strings.Contains(out, fmt.Sprintf("imported %d record(s)", n)) {
		tb.Fatalf("import: %s", out)
	}
}

// drillCounts returns count(*) and count(distinct change_id) of a device's
// rows in the workspace's inspections change log.
func drillCounts(tb testing.TB, url, ws, dev string, creds ...string) (rows, distinct int64) {
	tb.Helper()
	opts := drill.Options{Endpoints: []string{url}}
	if len(creds) == 2 {
		opts.Auth, opts.User, opts.Password = drill.AuthBasic, creds[0], creds[1]
	}
	cl, err := drill.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	dev, _ = drill.String(dev)
	res, err := cl.Query(context.Background(), fmt.Sprintf(
		"SELECT count(*) AS n, count(DISTINCT change_id) AS d FROM dfs.%s.`inspections/changes` WHERE device = %s", ws, dev))
	if err != nil {
		tb.Fatalf("count rows in Drill: %v", err)
	}
	n, _ := res.Rows[0]["n"].(json.Number).Int64()
	dd, _ := res.Rows[0]["d"].(json.Number).Int64()
	return n, dd
}

func pending(tb testing.TB, d *device) int {
	tb.Helper()
	var st struct {
		Status struct {
			Pending int `json:"pending"`
		} `json:"status"`
	}
	out := d.must("", "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		tb.Fatalf("status --json: %v: %s", err, out)
	}
	return st.Status.Pending
}

// The Drillbit restart and flaky-network proofs live in package agent
// (faults_test.go), in-process; here the command line is killed for real.

// TestKilledDuringPushLosesNothing kills `fieldsync sync` with SIGKILL at
// random moments of a push, many times, then lets one sync finish: every
// change is in Drill exactly once and nothing is pending.
func TestKilledDuringPushLosesNothing(t *testing.T) {
	url := drilltest.URL(t)
	const n = 3000
	d, ws := isolatedDevice(t, "kill", url)
	importN(t, d, n, "k")
	rng := rand.New(rand.NewPCG(7, uint64(os.Getpid())))
	for round := range 8 {
		c := d.startChild("sync")
		time.Sleep(time.Duration(200+rng.IntN(2500)) * time.Millisecond)
		if err := c.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatalf("round %d: kill: %v", round, err)
		}
		_ = c.Wait()
		t.Logf("round %d: killed; %d change(s) still pending", round, pending(t, d))
	}
	var out string
	for attempt := 0; ; attempt++ {
		code, o, errs := d.run("", "sync")
		if code == 0 {
			out = o
			break
		}
		if attempt == 2 {
			t.Fatalf("sync after the kills keeps failing: %s", errs)
		}
	}
	if p := pending(t, d); p != 0 {
		t.Fatalf("pending after the final sync = %d (%s)", p, out)
	}
	rows, distinct := drillCounts(t, url, ws, "kill")
	if rows != n || distinct != n {
		t.Fatalf("Drill holds %d rows, %d distinct change ids; want exactly %d of each", rows, distinct, n)
	}
}

// TestCredentialsStopWorking: a sync with a revoked password fails with words
// a person understands and keeps every change; the next good one pushes them once.
func TestCredentialsStopWorking(t *testing.T) {
	url := drilltest.AuthURL(t)
	auth := []string{"FIELDSYNC_DRILL_AUTH=form", "FIELDSYNC_DRILL_USER=" + drilltest.AuthUser}
	good, ws := isolatedDevice(t, "creds", url, append(auth, "FIELDSYNC_DRILL_PASSWORD="+drilltest.AuthPassword)...)
	importN(t, good, 200, "c1")
	good.must("", "sync")

	bad := *good
	bad.env = replaceEnv(good.env, "FIELDSYNC_DRILL_PASSWORD", drilltest.WrongPassword)
	importN(t, &bad, 300, "c2")
	code, _, errs := bad.run("", "sync")
	if code == 0 || !strings.Contains(errs, "refused the sign-in") {
		t.Fatalf("sync with a revoked password: exit %d, stderr %q", code, errs)
	}
	if p := pending(t, &bad); p != 300 {
		t.Fatalf("pending after the refused sync = %d, want 300", p)
	}
	good.must("", "sync")
	rows, distinct := drillCounts(t, url, ws, "creds", drilltest.AuthUser, drilltest.AuthPassword)
	if rows != 500 || distinct != 500 {
		t.Fatalf("Drill holds %d rows, %d distinct; want 500", rows, distinct)
	}
}

func replaceEnv(env []string, key, val string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+val)
}
