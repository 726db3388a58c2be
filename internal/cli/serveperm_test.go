package cli

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeTightensOpenPermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	state := filepath.Join(dir, serveStateFile)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	tightenPermissions(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	for _, tt := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o700}, {state, 0o600}} {
		fi, err := os.Stat(tt.path)
		if err != nil || fi.Mode().Perm() != tt.want {
			t.Errorf("%s: mode %v, %v; want %v", tt.path, fi.Mode().Perm(), err, tt.want)
		}
	}
	if n := strings.Count(logs.String(), "tightened its permissions"); n != 2 {
		t.Errorf("%d warnings logged, want 2:\n%s", n, logs.String())
	}
	logs.Reset()
	tightenPermissions(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if logs.Len() != 0 {
		t.Errorf("a second run logged:\n%s", logs.String())
	}
}
