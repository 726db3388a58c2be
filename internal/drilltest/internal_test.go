package drilltest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		log     string
		n       int
		want    []string
		notWant []string
	}{
		{
			name: "keeps the last lines",
			log:  "one\ntwo\nthree\nfour\n",
			n:    2,
			want: []string{"three\nfour"}, notWant: []string{"two"},
		},
		{
			name: "drops class scanning and the class path",
			log: "start\n12:00 INFO ScanResult - loading 25 classes\n" +
				"12:00 INFO Drillbit environment: java.class.path=/a.jar:/b.jar\nBindException: Address already in use\n",
			n:    10,
			want: []string{"start\nBindException"}, notWant: []string{"ScanResult", "java.class.path"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "drillbit.log")
			if err := os.WriteFile(path, []byte(tt.log), 0o600); err != nil {
				t.Fatal(err)
			}
			got := logTail(path, tt.n)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("logTail = %q, want it to contain %q", got, w)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("logTail = %q, want no %q", got, nw)
				}
			}
		})
	}

	t.Run("missing log", func(t *testing.T) {
		t.Parallel()
		if got := logTail(filepath.Join(t.TempDir(), "none.log"), 5); !strings.Contains(got, "no log") {
			t.Errorf("logTail of a missing file = %q, want a note that there is no log", got)
		}
	})
}

func TestRepoRoot(t *testing.T) {
	t.Parallel()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Errorf("repoRoot %s has no go.mod: %v", root, err)
	}
}

func TestOpenClusterFromEnvironment(t *testing.T) {
	tests := []struct {
		name, urls, want string
	}{
		{"one Drillbit is no cluster", "http://127.0.0.1:1", "names 1 Drillbits; a cluster has two or more"},
		{"empty entries do not count", "http://127.0.0.1:1, ,", "names 1 Drillbits"},
		{"a Drillbit that does not answer", "http://127.0.0.1:1,http://127.0.0.1:2", "http://127.0.0.1:1 does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvURLs, tt.urls)
			t.Setenv(EnvClusterDir, t.TempDir())
			c, err := openCluster()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("openCluster() = %v, %v; want an error with %q", c, err, tt.want)
			}
		})
	}
}
