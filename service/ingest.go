package service

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/config"
)

// IngestFile is the file in the data dir where `fieldsync ingest` keeps
// the outcome of its last pass, for `fieldsync status` and `doctor`.
const IngestFile = "ingest.json"

// IngestStatus is the content of IngestFile.
type IngestStatus struct {
	// Last is the last pass's report (also of a pass that failed midway).
	Last agent.IngestReport `json:"last"`
	// Error is why the last pass failed; empty when it succeeded.
	Error string `json:"error,omitempty"`
	// LastSuccess is when a pass last succeeded (zero: never).
	LastSuccess time.Time `json:"last_success"`
	// Applied and Rejected count inbox rows over every pass this data dir
	// has seen.
	Applied  int `json:"applied"`
	Rejected int `json:"rejected"`
	// WrittenAt is when the file was written.
	WrittenAt time.Time `json:"written_at"`
}

// NewIngester builds the server-side ingester from the settings: the same
// Drill client, workspace, declarations and clock bound as the agent's. It
// needs no store: Drill holds everything the ingester knows.
func (s *Service) NewIngester() (*agent.Ingester, error) {
	c := s.opts.Config
	set, err := loadSchema(c.Collections)
	if err != nil {
		return nil, err
	}
	if len(set.LogNames()) == 0 {
		return nil, fmt.Errorf("ingest: no collection is declared (set collections in the settings): there is no inbox to read")
	}
	d, err := s.drillFor(c)
	if err != nil {
		return nil, err
	}
	return agent.NewIngester(agent.IngestOptions{
		Drill:         d,
		Schema:        set,
		Workspace:     c.Drill.Plugin + "." + c.Drill.Workspace,
		BatchRows:     c.Drill.BatchRows,
		MaxClockAhead: time.Duration(c.Drill.MaxClockAhead),
		Settle:        time.Duration(c.Ingest.Settle),
		Logger:        s.opts.Logger,
		Now:           s.opts.Now,
	})
}

// RecordIngest adds a pass's outcome to IngestFile in dataDir (0600,
// written atomically) and returns what the file now says.
func RecordIngest(dataDir string, rep agent.IngestReport, passErr error, now time.Time) (IngestStatus, error) {
	st, err := ReadIngestStatus(dataDir)
	if err != nil && !os.IsNotExist(err) {
		st = IngestStatus{} // an unreadable file is replaced
	}
	st.Last, st.Error = rep, ""
	if passErr != nil {
		st.Error = OneLine(passErr)
	} else {
		st.LastSuccess = now.UTC()
	}
	st.Applied += rep.Applied
	st.Rejected += rep.Rejected
	st.WrittenAt = now.UTC()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return st, fmt.Errorf("ingest status: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return st, fmt.Errorf("ingest status: %w", err)
	}
	if err := config.WriteFileAtomic(filepath.Join(dataDir, IngestFile), append(b, '\n')); err != nil {
		return st, fmt.Errorf("ingest status: %w", err)
	}
	return st, nil
}

// ReadIngestStatus reads IngestFile in dataDir; the error satisfies
// os.IsNotExist when ingest never ran with this data dir.
func ReadIngestStatus(dataDir string) (IngestStatus, error) {
	var st IngestStatus
	b, err := os.ReadFile(filepath.Join(dataDir, IngestFile))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("ingest status %s: %w", filepath.Join(dataDir, IngestFile), err)
	}
	return st, nil
}
