package drilltest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// AuthUser is the user of the auth profile. Test-only credentials.
const AuthUser = "fieldsync"

// AuthPassword is AuthUser's password. Test-only: never use it anywhere real.
const AuthPassword = "fieldsync-test-pw"

// WrongPassword is a password the auth profile rejects, for negative tests.
const WrongPassword = "not-the-fieldsync-test-pw"

// Environment variables that name already running Drillbits (make test sets them).
const (
	// EnvURL is the base URL of the shared Drillbit without authentication.
	EnvURL = "FIELDSYNC_DRILL_URL"
	// EnvAuthURL is the base URL of the shared Drillbit with authentication.
	EnvAuthURL = "FIELDSYNC_DRILL_AUTH_URL"
	// EnvWorkspaceDir is the directory of EnvURL's dfs.fieldsync workspace.
	EnvWorkspaceDir = "FIELDSYNC_DRILL_WORKSPACE_DIR"
)

const (
	defaultStartTimeout = 3 * time.Minute
	buildTimeout        = 15 * time.Minute // the first build downloads the Drill jars
	stopTimeout         = time.Minute
	fixHint             = "to fix the machine run `bash scripts/setup.sh` (Java 17, Maven and the Drill jars); " +
		"`make drillbit` starts the development Drillbit by hand and shows why it fails"
)

// Options configures a private Drillbit started by Start.
type Options struct {
	// Auth turns on authentication: AuthUser/AuthPassword, HTTP FORM and BASIC.
	Auth bool
	// Port is the web/REST port; 0 picks a free one.
	Port int
	// DataDir holds the Drillbit's stores, log and dfs.fieldsync workspace
	// (DataDir/workspace). Empty means a directory from tb.TempDir.
	DataDir string
	// StartTimeout bounds each start and restart; zero means three minutes.
	StartTimeout time.Duration
}

// Drillbit is a Drillbit process run by scripts/drillbit.sh in the foreground.
// Its methods are safe for concurrent use.
type Drillbit struct {
	tb   testing.TB // nil for the shared Drillbits
	root string
	opts Options

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	url  string
}

// Start runs a private Drillbit for tb and stops it when tb ends. It fails
// tb, with the end of the Drillbit's log, when the Drillbit cannot start.
func Start(tb testing.TB, opts Options) *Drillbit {
	tb.Helper()
	if opts.DataDir == "" {
		opts.DataDir = tb.TempDir()
	}
	d, err := start(opts)
	if err != nil {
		tb.Fatalf("drilltest: %v", err)
	}
	d.tb = tb
	tb.Cleanup(func() {
		if err := d.stop(); err != nil {
			tb.Errorf("drilltest: %v", err)
		}
	})
	return d
}

// URL returns the base URL of d, like http://127.0.0.1:PORT. It is the same
// after Restart.
func (d *Drillbit) URL() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.url
}

// WorkspaceDir returns the directory of d's dfs.fieldsync workspace.
func (d *Drillbit) WorkspaceDir() string {
	return filepath.Join(d.opts.DataDir, "workspace")
}

// LogPath returns the file d's Drillbit logs to.
func (d *Drillbit) LogPath() string {
	return filepath.Join(d.opts.DataDir, "drillbit.log")
}

// Stop stops d and waits until its process has exited. Stopping a stopped
// Drillbit does nothing.
func (d *Drillbit) Stop() {
	d.tb.Helper()
	if err := d.stop(); err != nil {
		d.tb.Fatalf("drilltest: %v", err)
	}
}

// Restart stops d (when running) and starts it again on the same port with
// the same data, so its URL stays valid and its tables survive.
func (d *Drillbit) Restart() {
	d.tb.Helper()
	if err := d.stop(); err != nil {
		d.tb.Fatalf("drilltest: restart: %v", err)
	}
	if err := d.launch(); err != nil {
		d.tb.Fatalf("drilltest: restart: %v", err)
	}
}

// start builds the launcher when needed and starts a Drillbit.
func start(opts Options) (*Drillbit, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := build(root, opts.DataDir); err != nil {
		return nil, err
	}
	d := &Drillbit{root: root, opts: opts}
	if err := d.launch(); err != nil {
		return nil, err
	}
	return d, nil
}

// build runs `scripts/drillbit.sh build`: quick when everything is built,
// minutes when the Drill jars have to be downloaded first.
func build(root, dataDir string) error {
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("no java on PATH: %w; %s", err, fixHint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "drillbit.sh"), "build", "--data", dataDir)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("build the Drillbit launcher (scripts/drillbit.sh build): %w\n%s\n%s", err, out, fixHint)
	}
	return nil
}

// launch starts the Drillbit process and waits until it answers.
func (d *Drillbit) launch() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		return errors.New("drillbit already running")
	}
	port := d.opts.Port
	if d.url != "" { // a restart keeps the port
		u, err := url.Parse(d.url)
		if err != nil {
			return fmt.Errorf("parse url %q: %w", d.url, err)
		}
		if port, err = strconv.Atoi(u.Port()); err != nil {
			return fmt.Errorf("port of %q: %w", d.url, err)
		}
	}
	ready := filepath.Join(d.opts.DataDir, "ready")
	if err := os.Remove(ready); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale ready file: %w", err)
	}
	logf, err := os.OpenFile(d.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	args := []string{filepath.Join(d.root, "scripts", "drillbit.sh"), "run",
		"--data", d.opts.DataDir, "--port", strconv.Itoa(port)}
	if d.opts.Auth {
		args = append(args, "--auth")
	}
	cmd := exec.Command("bash", args...)
	cmd.Dir = d.root
	cmd.Stdout = logf
	cmd.Stderr = logf
	// The Drillbit exits when this pipe closes, which happens at the latest
	// when the test binary exits, even when it is killed.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return fmt.Errorf("stdin pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", strings.Join(args, " "), err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status is in the log
		stdin.Close()
		logf.Close()
		close(done)
	}()
	d.cmd, d.done = cmd, done

	u, err := waitReady(ready, done, d.opts.StartTimeout)
	if err != nil {
		d.killLocked()
		return fmt.Errorf("start a Drillbit (%s): %w\n%s\n%s", strings.Join(args, " "), err, logTail(d.LogPath(), 40), fixHint)
	}
	d.url = u
	return nil
}

// waitReady waits until the launcher has written its URL to the ready file
// (it does so once dfs.fieldsync is configured) and GET /status.json answers.
func waitReady(ready string, done <-chan struct{}, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(ready); err == nil {
			u := strings.TrimSpace(string(b))
			if u != "" && statusOK(u) == nil {
				return u, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no answer within %s", timeout)
		}
		select {
		case <-done:
			return "", errors.New("the Drillbit exited during start-up")
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and waits for the exit; after stopTimeout it kills.
func (d *Drillbit) stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return nil
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop drillbit: %w", err)
	}
	select {
	case <-d.done:
		d.cmd, d.done = nil, nil
		return nil
	case <-time.After(stopTimeout):
	}
	d.killLocked()
	return fmt.Errorf("stop drillbit: no exit within %s after SIGTERM; killed it", stopTimeout)
}

func (d *Drillbit) killLocked() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	<-d.done
	d.cmd, d.done = nil, nil
}

// statusOK checks that GET base/status.json answers 200.
func statusOK(base string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/status.json", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/status.json: %s", base, resp.Status)
	}
	return nil
}

// logTail returns the last n interesting lines of the log at path.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, "ScanResult - loading") || strings.Contains(l, "Drillbit environment: java.class.path") {
			continue
		}
		lines = append(lines, l)
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return fmt.Sprintf("--- last lines of %s ---\n%s\n---", path, strings.Join(lines, "\n"))
}

// repoRoot finds the module root that holds scripts/drillbit.sh: go test
// runs in the package directory, so walk up from there; fall back to the
// location of this source file.
func repoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			if _, err := os.Stat(filepath.Join(dir, "scripts", "drillbit.sh")); err == nil {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("scripts/drillbit.sh not found above the working directory; run the tests inside the fieldsync repository")
}
