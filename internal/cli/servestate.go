package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fieldsync/fieldsync/app/bridge"
	"github.com/fieldsync/fieldsync/internal/config"
)

// serveStateFile is where `fieldsync serve` keeps its address and secrets
// between runs, inside the data dir.
const serveStateFile = "serve.json"

// serveState is what `fieldsync serve` remembers between runs so that a page
// left open carries on after a restart (a crash, an update, a reboot).
// IndexedDB belongs to the page's origin, which includes the port: served
// on another port, the page would start empty and the records it had not
// handed over yet would stay in the old origin's storage. With the same key
// and cookies, the old page's session is still valid, so it reconnects and
// hands them over by itself.
//
// The file is 0600 in the 0700 data dir, the same protection as the journal
// it guards; `fieldsync serve --new-key` replaces the secrets.
type serveState struct {
	Addr         string `json:"addr,omitempty"`
	APIKey       string `json:"api_key"`
	SessionToken string `json:"session_token"`
	CSRFToken    string `json:"csrf_token"`
}

// loadServeState reads the state of the last run in dataDir; no file gives
// the zero state. A damaged file is an error: the caller starts afresh.
func loadServeState(dataDir string) (serveState, error) {
	var st serveState
	b, err := os.ReadFile(filepath.Join(dataDir, serveStateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("serve state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return serveState{}, fmt.Errorf("serve state: %s: %w", filepath.Join(dataDir, serveStateFile), err)
	}
	return st, nil
}

// withSecrets returns st with a new secret wherever one is missing or too
// short to be accepted by the bridge.
func (st serveState) withSecrets() serveState {
	for _, s := range []*string{&st.APIKey, &st.SessionToken, &st.CSRFToken} {
		if len(*s) < bridge.MinAPIKeyLen {
			*s = bridge.NewToken()
		}
	}
	return st
}

// save writes st to dataDir atomically, 0600.
func (st serveState) save(dataDir string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("serve state: %w", err)
	}
	if err := config.WriteFileAtomic(filepath.Join(dataDir, serveStateFile), append(b, '\n')); err != nil {
		return fmt.Errorf("serve state: %w", err)
	}
	return nil
}
