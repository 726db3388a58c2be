package drilltest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// shared holds the Drillbits that URL, AuthURL and WorkspaceDir start when
// the environment names none: index 0 without, index 1 with authentication.
//
// This is the package's only mutable state, and on purpose: a Drillbit takes
// 10 to 40 seconds and about 300 MB to start, so a test binary starts at most
// one per profile and all its tests share it. Main stops them after m.Run.
// A binary without Main leaves nothing running either: the Drillbit exits
// when the binary's exit closes its stdin; only its temporary directory stays.
var shared [2]sharedDrillbit

type sharedDrillbit struct {
	once sync.Once
	d    *Drillbit
	dir  string
	err  error
}

var errStopped = errors.New("the shared Drillbits were already stopped by drilltest.Main")

func (s *sharedDrillbit) get(auth bool) (*Drillbit, error) {
	s.once.Do(func() {
		profile := "plain"
		if auth {
			profile = "auth"
		}
		dir, err := os.MkdirTemp("", "fieldsync-drilltest-"+profile+"-")
		if err != nil {
			s.err = fmt.Errorf("temp dir: %w", err)
			return
		}
		s.dir = dir
		s.d, s.err = start(Options{Auth: auth, DataDir: dir})
		if s.err != nil {
			s.err = fmt.Errorf("shared %s Drillbit: %w", profile, s.err)
		}
	})
	return s.d, s.err
}

// stop stops the Drillbit if one was started and forbids starting one later.
func (s *sharedDrillbit) stop() error {
	s.once.Do(func() { s.err = errStopped })
	var err error
	if s.d != nil {
		err = s.d.stop()
	}
	if s.dir != "" {
		if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove %s: %w", s.dir, rmErr)
		}
	}
	return err
}

// Main runs the tests of m and then stops the shared Drillbits and the
// development cluster this binary started. Use it as the whole TestMain of a
// package that calls URL, AuthURL, WorkspaceDir or Cluster:
//
//	func TestMain(m *testing.M) { drilltest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	for i := range shared {
		if err := shared[i].stop(); err != nil {
			fmt.Fprintf(os.Stderr, "drilltest: stop shared Drillbit: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	if err := stopSharedCluster(); err != nil {
		fmt.Fprintf(os.Stderr, "drilltest: stop the development cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// URL returns the base URL (http://127.0.0.1:PORT) of the shared Drillbit
// without authentication: FIELDSYNC_DRILL_URL when set, otherwise one started
// for this test binary. It fails tb when there is none that answers.
func URL(tb testing.TB) string {
	tb.Helper()
	return sharedURL(tb, false)
}

// AuthURL returns the base URL of the shared Drillbit with authentication
// (AuthUser/AuthPassword, HTTP FORM and BASIC): FIELDSYNC_DRILL_AUTH_URL when
// set, otherwise one started for this test binary.
func AuthURL(tb testing.TB) string {
	tb.Helper()
	return sharedURL(tb, true)
}

// WorkspaceDir returns the directory behind the dfs.fieldsync workspace of
// the Drillbit that URL returns: FIELDSYNC_DRILL_WORKSPACE_DIR when
// FIELDSYNC_DRILL_URL is set.
func WorkspaceDir(tb testing.TB) string {
	tb.Helper()
	if os.Getenv(EnvURL) != "" {
		dir := os.Getenv(EnvWorkspaceDir)
		if dir == "" {
			tb.Fatalf("drilltest: %s is set but %s is not: set it to that Drillbit's dfs.fieldsync directory "+
				"(scripts/drillbit.sh uses <data>/workspace, by default dev/drillbit/run/plain/workspace)", EnvURL, EnvWorkspaceDir)
		}
		return dir
	}
	d, err := shared[0].get(false)
	if err != nil {
		tb.Fatalf("drilltest: %v", err)
	}
	return d.WorkspaceDir()
}

func sharedURL(tb testing.TB, auth bool) string {
	tb.Helper()
	env, i := EnvURL, 0
	if auth {
		env, i = EnvAuthURL, 1
	}
	if u := strings.TrimRight(os.Getenv(env), "/"); u != "" {
		if err := statusOK(u); err != nil {
			tb.Fatalf("drilltest: %s=%s does not answer: %v\n"+
				"start it (make drillbit, or scripts/drillbit.sh start [--auth]) or unset %s so the tests start their own", env, u, err, env)
		}
		return u
	}
	d, err := shared[i].get(auth)
	if err != nil {
		tb.Fatalf("drilltest: %v", err)
	}
	return d.URL()
}
