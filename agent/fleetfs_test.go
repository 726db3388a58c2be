package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"testing"
)

// simFS is where a fleet simulation's workspace lives, for the counts the
// simulation reports: this machine's disk (the embedded Drillbit) or the
// development cluster's HDFS (through WebHDFS). Paths are relative to the
// workspace ("" is the workspace itself); the methods fail the test on an
// error other than a missing path.
type simFS interface {
	// mkdirAll makes a directory and its parents.
	mkdirAll(rel string) error
	// count returns the files and directories under rel, rel included;
	// zeros when it does not exist.
	count(rel string) (files, dirs int)
	// subdirs lists the directories directly under rel; nil when it does
	// not exist.
	subdirs(rel string) []string
	// writeFile writes a file, making its directories.
	writeFile(rel string, data []byte) error
}

// localFS is a workspace on this machine's disk.
type localFS struct {
	tb   testing.TB
	root string
}

func (l localFS) path(rel string) string { return filepath.Join(l.root, filepath.FromSlash(rel)) }

func (l localFS) mkdirAll(rel string) error { return os.MkdirAll(l.path(rel), 0o755) }

func (l localFS) count(rel string) (files, dirs int) {
	err := filepath.WalkDir(l.path(rel), func(_ string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			dirs++
		} else {
			files++
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		l.tb.Fatalf("count %s: %v", l.path(rel), err)
	}
	return files, dirs
}

func (l localFS) subdirs(rel string) []string {
	des, err := os.ReadDir(l.path(rel))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		l.tb.Fatalf("list %s: %v", l.path(rel), err)
	}
	var out []string
	for _, de := range des {
		if de.IsDir() {
			out = append(out, de.Name())
		}
	}
	return out
}

// hdfsFS is a workspace on HDFS, read through the NameNode's WebHDFS API
// (base: http://host:port).
type hdfsFS struct {
	tb   testing.TB
	base string
	root string // the workspace's absolute HDFS path
}

// call runs a WebHDFS operation on rel and decodes its JSON answer into
// out; false when the path does not exist.
func (h *hdfsFS) call(method, rel, op string, out any) bool {
	h.tb.Helper()
	url := h.base + "/webhdfs/v1" + path.Join(h.root, rel) + "?op=" + op + "&user.name=" + hdfsUser()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		h.tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.tb.Fatalf("WebHDFS %s %s: %v", op, rel, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		h.tb.Fatalf("WebHDFS %s %s: %s %s", op, rel, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		h.tb.Fatalf("WebHDFS %s %s: %v", op, rel, err)
	}
	return true
}

func (h *hdfsFS) mkdirAll(rel string) error {
	var body struct{ Boolean bool }
	if !h.call(http.MethodPut, rel, "MKDIRS", &body) || !body.Boolean {
		return fmt.Errorf("WebHDFS MKDIRS %s: refused", path.Join(h.root, rel))
	}
	return nil
}

// removeAll deletes the workspace from HDFS (the cluster's data outlives
// the test: make cluster keeps it).
func (h *hdfsFS) removeAll() {
	var body struct{ Boolean bool }
	h.call(http.MethodDelete, "", "DELETE&recursive=true", &body)
}

func (h *hdfsFS) count(rel string) (files, dirs int) {
	var body struct {
		ContentSummary struct {
			DirectoryCount int `json:"directoryCount"`
			FileCount      int `json:"fileCount"`
		} `json:"ContentSummary"`
	}
	if !h.call(http.MethodGet, rel, "GETCONTENTSUMMARY", &body) {
		return 0, 0
	}
	return body.ContentSummary.FileCount, body.ContentSummary.DirectoryCount
}

func (h *hdfsFS) subdirs(rel string) []string {
	entries, _ := webhdfsList(h.tb, h.base, path.Join(h.root, rel))
	var out []string
	for _, e := range entries {
		if e.Type == "DIRECTORY" {
			out = append(out, e.PathSuffix)
		}
	}
	return out
}

// hdfsUser is the user named to WebHDFS (simple authentication): this
// process's, as the cluster's Drillbits run as it.
func hdfsUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}

// hdfsStatus is one entry of a WebHDFS LISTSTATUS answer.
type hdfsStatus struct {
	PathSuffix       string `json:"pathSuffix"`
	Type             string `json:"type"`
	Length           int64  `json:"length"`
	ModificationTime int64  `json:"modificationTime"`
}

// webhdfsList lists an HDFS directory through WebHDFS (base:
// http://host:port); ok is false when the path does not exist.
func webhdfsList(tb testing.TB, base, p string) (entries []hdfsStatus, ok bool) {
	tb.Helper()
	resp, err := http.Get(base + "/webhdfs/v1" + p + "?op=LISTSTATUS")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, false
	}
	var body struct {
		FileStatuses struct {
			FileStatus []hdfsStatus `json:"FileStatus"`
		} `json:"FileStatuses"`
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("WebHDFS LISTSTATUS %s: %s", p, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		tb.Fatalf("WebHDFS LISTSTATUS %s: %v", p, err)
	}
	return body.FileStatuses.FileStatus, true
}

// clusterPidFiles returns the pid files of the development cluster's
// Drillbits (scripts/cluster.sh: <data>/drillbit-N/drillbit.pid).
func clusterPidFiles(dir string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, filepath.Join(dir, fmt.Sprintf("drillbit-%d", i), "drillbit.pid"))
	}
	return out
}

// TestQueryKind checks the breakdown of the fleet simulation's Drill time.
func TestQueryKind(t *testing.T) {
	for _, c := range []struct{ sql, want string }{
		{"SHOW FILES IN dfs.ws.`c/changes`", "list"},
		{"CREATE TABLE dfs.ws.`c/changes/2026120610/x` AS SELECT 1", "write"},
		{"CREATE OR REPLACE VIEW dfs.ws.`c_current` AS SELECT 1", "other"},
		{"SELECT `filepath` AS `fs_path` FROM t", "read"},
		{"WITH a AS (SELECT 1) SELECT * FROM a", "read"},
		{"DROP TABLE IF EXISTS dfs.ws.`x`", "other"},
	} {
		if got := queryKind(c.sql); got != c.want {
			t.Errorf("queryKind(%q) = %q, want %q", c.sql, got, c.want)
		}
	}
}
