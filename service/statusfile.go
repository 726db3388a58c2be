package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/store"
)

// StatusFile is the file in the data dir where the process that holds the
// store keeps its status, so that `fieldsync status` can answer while the
// store is locked by it.
const StatusFile = "status.json"

// RunningStatus is the content of StatusFile: the agent's status and the
// store's counts, as the running process last knew them.
type RunningStatus struct {
	Status agent.Status `json:"status"`
	Store  store.Stats  `json:"store"`
	// PID is the process that wrote the file; WrittenAt is when.
	PID       int       `json:"pid"`
	WrittenAt time.Time `json:"written_at"`
}

// statusFile writes StatusFile (0600, atomically) on every status event of
// the agent, and removes it when the service closes.
type statusFile struct {
	path  string
	store *store.Store
	log   *slog.Logger
	mu    sync.Mutex // one write at a time
}

var _ agent.Events = (*statusFile)(nil)

// Emit writes the status carried by a status event.
func (f *statusFile) Emit(name string, payload any) {
	st, ok := payload.(agent.Status)
	if name != agent.EventStatus || !ok {
		return
	}
	f.write(st)
}

func (f *statusFile) write(st agent.Status) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := f.store.Stats(ctx)
	if err != nil {
		f.log.Warn("status file: cannot read the store's counts", "err", err)
	}
	b, err := json.MarshalIndent(RunningStatus{Status: st, Store: stats, PID: os.Getpid(), WrittenAt: time.Now().UTC()}, "", "  ")
	if err != nil {
		f.log.Warn("status file: encode", "err", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := config.WriteFileAtomic(f.path, append(b, '\n')); err != nil {
		f.log.Warn("status file: cannot write it", "path", f.path, "err", err)
	}
}

// remove deletes the file if this process wrote it.
func (f *statusFile) remove() {
	f.mu.Lock()
	defer f.mu.Unlock()
	rs, err := ReadRunningStatus(filepath.Dir(f.path))
	if err == nil && rs.PID == os.Getpid() {
		_ = os.Remove(f.path)
	}
}

// ReadRunningStatus reads StatusFile in dataDir, written by the process
// that holds the store. It wraps fs.ErrNotExist when there is none.
func ReadRunningStatus(dataDir string) (RunningStatus, error) {
	var rs RunningStatus
	path := filepath.Join(dataDir, StatusFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return rs, fmt.Errorf("status file: %w", err)
	}
	if err := json.Unmarshal(b, &rs); err != nil {
		return rs, fmt.Errorf("status file %s: %w", path, err)
	}
	return rs, nil
}

// RunningStatusFrom says which process a RunningStatus comes from, for
// people.
func RunningStatusFrom(rs RunningStatus) string {
	return "from the running fieldsync (pid " + strconv.Itoa(rs.PID) + "), written " + rs.WrittenAt.Local().Format(time.DateTime)
}
