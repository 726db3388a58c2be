package service

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/config"
)

func TestRecordIngest(t *testing.T) {
	t.Parallel()
	if agent.ServerDevice != config.ServerDevice {
		t.Fatalf("agent.ServerDevice %q and config.ServerDevice %q differ", agent.ServerDevice, config.ServerDevice)
	}
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := ReadIngestStatus(dir); !os.IsNotExist(err) {
		t.Fatalf("no file yet: %v", err)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	passes := []struct {
		name             string
		rep              agent.IngestReport
		err              error
		wantErr          string
		wantApplied      int
		wantLastSuccess  time.Time
		wantLastRejected int
	}{
		{"a pass", agent.IngestReport{Applied: 3, Rejected: 1}, nil, "", 3, now, 1},
		{"a failed pass keeps the last success", agent.IngestReport{}, errors.New("drill down\nline 2"), "drill down line 2", 3, now, 0},
		{"the next pass adds up", agent.IngestReport{Applied: 2}, nil, "", 5, now.Add(2 * time.Minute), 0},
	}
	for i, p := range passes {
		at := now.Add(time.Duration(i) * time.Minute)
		st, err := RecordIngest(dir, p.rep, p.err, at)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		got, err := ReadIngestStatus(dir)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if got.Error != p.wantErr || got.Applied != p.wantApplied || !got.LastSuccess.Equal(p.wantLastSuccess) ||
			got.Last.Rejected != p.wantLastRejected || got.Error != st.Error {
			t.Errorf("%s: status %+v", p.name, got)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, IngestFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, mode %v, want 0600", IngestFile, err, fi.Mode().Perm())
	}
	if err := os.WriteFile(filepath.Join(dir, IngestFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := RecordIngest(dir, agent.IngestReport{Applied: 1}, nil, now); err != nil || st.Applied != 1 {
		t.Errorf("an unreadable file is replaced: %+v %v", st, err)
	}
}
