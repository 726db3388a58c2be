package drilltest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables that name an already running development cluster
// (scripts/test.sh sets them from scripts/cluster.sh).
const (
	// EnvURLs lists the cluster's Drillbits, comma separated, as
	// scripts/cluster.sh prints them: FIELDSYNC_DRILL_URLS=url1,url2.
	EnvURLs = "FIELDSYNC_DRILL_URLS"
	// EnvClusterDir is the cluster's --data directory. Kill and
	// StartDrillbit need it, and HDFS reads the NameNode address from it.
	EnvClusterDir = "FIELDSYNC_CLUSTER_DIR"
)

const (
	clusterStartTimeout = 8 * time.Minute // includes the first download of the Hadoop jars
	clusterStopTimeout  = 3 * time.Minute
	clusterFixHint      = "to fix the machine run `bash scripts/setup.sh` (Java 17, Maven, the Drill and Hadoop jars); " +
		"`make cluster` starts the development cluster by hand and shows why it fails"
)

// DevCluster is the development Drill cluster of scripts/cluster.sh:
// ZooKeeper, HDFS and Drillbits in distributed mode whose dfs.fieldsync
// workspace is /fieldsync on that HDFS. Its methods are safe for concurrent
// use, but Kill affects every test using the cluster: run such tests
// sequentially.
type DevCluster struct {
	root  string
	dir   string // --data; empty when only the URLs are known
	urls  []string
	owned bool // started here, so stopped by Main
}

// sharedCluster is the cluster of this test binary, like the shared
// Drillbits (see shared): a cluster takes 15 to 60 seconds and about 1 GB to
// start, so a binary starts at most one.
var sharedCluster struct {
	once sync.Once
	c    *DevCluster
	err  error
}

// Cluster returns the development cluster for tb: the one named by
// FIELDSYNC_DRILL_URLS (and FIELDSYNC_CLUSTER_DIR) when set, as `make test`
// does, otherwise one started for this test binary on free ports in a
// temporary directory, stopped by Main. It fails tb, with the end of the
// logs, when there is none that answers.
func Cluster(tb testing.TB) *DevCluster {
	tb.Helper()
	sharedCluster.once.Do(func() {
		sharedCluster.c, sharedCluster.err = openCluster()
	})
	if sharedCluster.err != nil {
		tb.Fatalf("drilltest: %v", sharedCluster.err)
	}
	return sharedCluster.c
}

// stopSharedCluster stops the cluster Cluster started, if any, and forbids
// starting one later.
func stopSharedCluster() error {
	sharedCluster.once.Do(func() { sharedCluster.err = errStopped })
	c := sharedCluster.c
	if c == nil || !c.owned {
		return nil
	}
	err := c.script(context.Background(), clusterStopTimeout, "stop")
	if rmErr := os.RemoveAll(c.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("remove %s: %w", c.dir, rmErr)
	}
	return err
}

func openCluster() (*DevCluster, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	if env := os.Getenv(EnvURLs); env != "" {
		c := &DevCluster{root: root, dir: os.Getenv(EnvClusterDir)}
		for _, u := range strings.Split(env, ",") {
			if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
				c.urls = append(c.urls, u)
			}
		}
		if len(c.urls) < 2 {
			return nil, fmt.Errorf("%s=%s names %d Drillbits; a cluster has two or more", EnvURLs, env, len(c.urls))
		}
		for _, u := range c.urls {
			if err := statusOK(u); err != nil {
				return nil, fmt.Errorf("%s=%s: %s does not answer: %w\n"+
					"start the cluster (make cluster) or unset %s so the tests start their own", EnvURLs, env, u, err, EnvURLs)
			}
		}
		return c, nil
	}
	dir, err := os.MkdirTemp("", "fieldsync-drilltest-cluster-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	c := &DevCluster{root: root, dir: dir, owned: true}
	ctx, cancel := context.WithTimeout(context.Background(), clusterStartTimeout)
	defer cancel()
	// --exit-with-pid: the cluster stops by itself when this binary exits,
	// however it exits.
	cmd := exec.CommandContext(ctx, "bash", c.scriptPath(), "start", "--data", dir, "--port", "0",
		"--exit-with-pid", strconv.Itoa(os.Getpid()))
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		_ = c.script(context.Background(), clusterStopTimeout, "stop")
		return nil, fmt.Errorf("start the development cluster (scripts/cluster.sh start --data %s --port 0): %w\n%s\n%s", dir, err, stderr.String(), clusterFixHint)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, EnvURLs+"="); ok {
			c.urls = strings.Split(strings.TrimSpace(v), ",")
		}
	}
	if len(c.urls) < 2 {
		_ = c.script(context.Background(), clusterStopTimeout, "stop")
		return nil, fmt.Errorf("scripts/cluster.sh start printed no %s line with two URLs: %q", EnvURLs, out)
	}
	return c, nil
}

// URLs returns the base URLs of the cluster's Drillbits, in order.
func (c *DevCluster) URLs() []string { return append([]string(nil), c.urls...) }

// URL returns the base URL of Drillbit i (0-based).
func (c *DevCluster) URL(i int) string { return c.urls[i] }

// Dir returns the cluster's data directory ("" when only its URLs are known).
func (c *DevCluster) Dir() string { return c.dir }

// HDFS returns the URI of the cluster's HDFS, like hdfs://127.0.0.1:PORT/.
func (c *DevCluster) HDFS(tb testing.TB) string {
	tb.Helper()
	return c.ready(tb, "hdfs")
}

// WebHDFS returns the base URL of the NameNode's WebHDFS REST API, for
// tests that look at the file system directly (GET
// <url>/webhdfs/v1/fieldsync?op=LISTSTATUS).
func (c *DevCluster) WebHDFS(tb testing.TB) string {
	tb.Helper()
	return c.ready(tb, "webhdfs")
}

// Kill ends Drillbit i (0-based) with SIGKILL, as a crash or a pulled plug
// would: no shutdown, no cleanup, its ZooKeeper session left to expire.
func (c *DevCluster) Kill(tb testing.TB, i int) {
	tb.Helper()
	c.needDir(tb)
	if err := c.script(context.Background(), time.Minute, "kill", strconv.Itoa(i+1)); err != nil {
		tb.Fatalf("drilltest: kill Drillbit %d: %v", i+1, err)
	}
}

// StartDrillbit starts Drillbit i (0-based) again on the ports it had, so
// its URL is valid again, and waits until it answers. A running Drillbit is
// left alone.
func (c *DevCluster) StartDrillbit(tb testing.TB, i int) {
	tb.Helper()
	c.needDir(tb)
	if err := c.script(context.Background(), clusterStartTimeout, "start-drillbit", strconv.Itoa(i+1)); err != nil {
		tb.Fatalf("drilltest: start Drillbit %d: %v", i+1, err)
	}
}

// LogTail returns the end of Drillbit i's log (0-based), for failure
// messages.
func (c *DevCluster) LogTail(i int) string {
	if c.dir == "" {
		return "(the cluster's directory is unknown: set " + EnvClusterDir + ")"
	}
	return logTail(filepath.Join(c.dir, fmt.Sprintf("drillbit-%d", i+1), "drillbit.log"), 40)
}

func (c *DevCluster) needDir(tb testing.TB) {
	tb.Helper()
	if c.dir == "" {
		tb.Fatalf("drilltest: %s is set but %s is not: set it to the cluster's --data directory "+
			"(make cluster uses dev/cluster/run) so tests can stop and start its Drillbits", EnvURLs, EnvClusterDir)
	}
}

// ready reads key=value from the services' ready file.
func (c *DevCluster) ready(tb testing.TB, key string) string {
	tb.Helper()
	c.needDir(tb)
	f, err := os.Open(filepath.Join(c.dir, "services", "ready"))
	if err != nil {
		tb.Fatalf("drilltest: the cluster's ZooKeeper + HDFS are not running: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			return v
		}
	}
	tb.Fatalf("drilltest: no %s in %s", key, f.Name())
	return ""
}

func (c *DevCluster) scriptPath() string { return filepath.Join(c.root, "scripts", "cluster.sh") }

// script runs scripts/cluster.sh cmd args... --data c.dir.
func (c *DevCluster) script(ctx context.Context, timeout time.Duration, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args = append([]string{c.scriptPath()}, args...)
	args = append(args, "--data", c.dir)
	if c.owned {
		// Restarted Drillbits stop with this binary too.
		args = append(args, "--exit-with-pid", strconv.Itoa(os.Getpid()))
	}
	cmd := exec.CommandContext(ctx, "bash", args...)
	cmd.Dir = c.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
