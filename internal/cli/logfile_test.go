package cli

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/config"
)

// TestLogFileRotates writes past the size limit several times over and
// checks that the log is rotated by size, that only the set number of
// rotated files is kept, and that every file holds whole JSON lines.
func TestLogFileRotates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		maxFiles int
		writeMB  int
	}{
		{"keeps two", 2, 5},
		{"keeps one", 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dataDir := t.TempDir()
			lf, err := openLogFile(dataDir, config.Log{Level: "info", Format: "json", MaxSizeMB: 1, MaxFiles: tt.maxFiles})
			if err != nil {
				t.Fatal(err)
			}
			log := newLogger(lf, config.Log{Level: "info", Format: "json"})
			pad := strings.Repeat("x", 1000)
			lines := tt.writeMB << 10 // about 1 KiB per line
			for i := range lines {
				log.Info("sync done", "i", i, "pad", pad)
			}
			if err := lf.Close(); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(dataDir, "logs")
			// Rotated files past the limit are deleted in the background:
			// wait for it, then check what is left.
			var files []os.DirEntry
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if files, err = os.ReadDir(dir); err != nil {
					t.Fatal(err)
				}
				if len(files) <= 1+tt.maxFiles || time.Now().After(deadline) {
					break
				}
			}
			if len(files) != 1+tt.maxFiles {
				t.Fatalf("files in %s: %d (%v), want the log and %d rotated", dir, len(files), names(files), tt.maxFiles)
			}
			seen, current := 0, false
			for _, f := range files {
				info, err := f.Info()
				if err != nil {
					t.Fatal(err)
				}
				if f.Name() == LogFile {
					current = true
				} else if !strings.HasPrefix(f.Name(), "fieldsync-") || !strings.HasSuffix(f.Name(), ".log") {
					t.Errorf("rotated file named %q, want fieldsync-<time>.log", f.Name())
				}
				if info.Size() > 1<<20 {
					t.Errorf("%s holds %d bytes, over the 1 MiB limit", f.Name(), info.Size())
				}
				if f.Name() != LogFile && info.Size() < 900<<10 {
					t.Errorf("rotated %s holds only %d bytes: rotated before it was full", f.Name(), info.Size())
				}
				if info.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", f.Name(), info.Mode().Perm())
				}
				seen += jsonLines(t, filepath.Join(dir, f.Name()))
			}
			if !current {
				t.Errorf("no %s among %v", LogFile, names(files))
			}
			// What is kept is the newest: the current file and the last
			// rotated ones, about 1 MiB each.
			if min := tt.maxFiles * 900; seen < min || seen > lines {
				t.Errorf("%d lines kept of %d written, want at least %d", seen, lines, min)
			}
		})
	}
}

// TestLogFileFormat runs a command with log.format json and reads the file.
func TestLogFileFormat(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, `{"log":{"format":"json","max_size_mb":1,"max_files":1}}`)
	// Without a Drillbit the sync logs a warning (the fleet heartbeat).
	if code, _, errs := run(t, nil, "", "sync", "--config", cfg, "--data-dir", dataDir); code != 0 || !strings.HasPrefix(errs, "{") {
		t.Fatalf("sync without a Drillbit: exit %d, stderr %q: want 0 and JSON", code, errs)
	}
	if n := jsonLines(t, filepath.Join(dataDir, "logs", LogFile)); n == 0 {
		t.Error("the log file is empty")
	}
}

// jsonLines checks that every line of a log file is a JSON record with a
// message, and returns how many there are.
func jsonLines(tb testing.TB, path string) int {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec[slog.MessageKey] == nil {
			tb.Fatalf("%s line %d is not a JSON record: %q (%v)", path, n+1, sc.Text(), err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return n
}

func names(es []os.DirEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name()
	}
	return out
}
