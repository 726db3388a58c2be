package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/drilltest"
)

// offlineDevice is a device whose Drill never answers: enough for what
// happens on this computer only.
func offlineDevice(tb testing.TB, name string) *device {
	return newDevice(tb, name, "http://127.0.0.1:9", "fieldsync")
}

// dataDir is the device's --data-dir.
func (d *device) dataDir() string {
	for i, a := range d.args {
		if a == "--data-dir" {
			return d.args[i+1]
		}
	}
	d.tb.Fatal("device has no --data-dir")
	return ""
}

// TestDamagedStoreIsToldWithItsOwnExitCode truncates the store: every
// command says which file and what to do, in one line, with exit code 3
// (never a stack trace, never the usage code 2); serve prints no address;
// doctor fails its store check; salvage keeps the damaged file aside and
// the store opens again.
func TestDamagedStoreIsToldWithItsOwnExitCode(t *testing.T) {
	t.Parallel()
	d := offlineDevice(t, "cli-damaged")
	importN(t, d, 50, "t")
	db := filepath.Join(d.dataDir(), "fieldsync.db")
	if err := os.Truncate(db, 8192); err != nil { // the two headers, no page
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"status"}, {"status", "--json"}, {"sync"}, {"export", "--collection", "inspections"}, {"serve", "--no-agent"}} {
		code, out, errs := d.run("", cmd...)
		if code != exitDamaged || !strings.Contains(errs, db) || !strings.Contains(errs, "fieldsync store salvage") ||
			strings.Contains(errs, "goroutine") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line naming %s and salvage", cmd, code, errs, exitDamaged, db)
		}
		if out != "" {
			t.Errorf("%v printed %q", cmd, out)
		}
	}
	code, out, _ := d.run("", "doctor")
	if code != 1 || !strings.Contains(out, "[FAIL] store") || !strings.Contains(out, "store salvage") {
		t.Errorf("doctor: exit %d\n%s", code, out)
	}
	out = d.must("", "store", "salvage")
	if !strings.Contains(out, "the damaged file is kept as "+db+".damaged-") || !strings.Contains(out, "could not be read") {
		t.Errorf("salvage said:\n%s", out)
	}
	kept, _ := filepath.Glob(db + ".damaged-*")
	if len(kept) != 1 {
		t.Errorf("damaged files kept: %v", kept)
	}
	if out := d.must("", "status"); !strings.Contains(out, "device:     cli-damaged") {
		t.Errorf("status after salvage: %s", out)
	}
}

func TestImportRejectsAnOverLongLineAndGoesOn(t *testing.T) {
	t.Parallel()
	d := offlineDevice(t, "cli-longline")
	in := `{"id":"a","site":"s","passed":true,"risk":"low","inspected_at":1}` + "\n" +
		`{"id":"big","site":"` + strings.Repeat("x", 3<<20) + `"}` + "\n" +
		`{"id":"b","site":"s","passed":true,"risk":"low","inspected_at":1}` // no final newline
	code, out, errs := d.run(in, "import", "--collection", "inspections", "-")
	if code != 1 || !strings.Contains(out, "imported 2 record(s), 1 rejected, 3 line(s) read") || !strings.Contains(errs, "line 2: longer than") {
		t.Fatalf("import: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	if out := d.must("", "export", "--collection", "inspections"); strings.Count(out, "\n") != 2 {
		t.Errorf("export after import:\n%s", out)
	}
}

// TestStatusAnswersWhileTheAgentRuns: the agent holds the store, so status
// reads the status file it keeps and says where it comes from.
func TestStatusAnswersWhileTheAgentRuns(t *testing.T) {
	t.Parallel()
	d := offlineDevice(t, "cli-running")
	importN(t, d, 3, "r")
	c := d.startChild("agent")
	defer func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		_ = c.Wait()
	}()
	file := filepath.Join(d.dataDir(), "status.json")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(file); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent wrote no status.json in 30 s")
		}
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("status.json: %v %v, want mode 0600", fi.Mode().Perm(), err)
	}
	var st struct {
		Status struct {
			Device  string `json:"device"`
			Pending int    `json:"pending"`
		} `json:"status"`
		Source string `json:"source"`
	}
	out := d.must("", "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if st.Status.Device != "cli-running" || st.Status.Pending != 3 || !strings.Contains(st.Source, "running fieldsync (pid") {
		t.Errorf("status --json while the agent runs: %s", out)
	}
	if out := d.must("", "status"); !strings.Contains(out, "source:     from the running fieldsync") {
		t.Errorf("status while the agent runs: %s", out)
	}
}

// flipRecord damages every stored reference to one record's change (its
// journal, mirror and change-id entries), as flipped bytes on disk would.
func flipRecord(tb testing.TB, path, recordID string) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	marker := []byte(`{"c":"inspections","r":"` + recordID + `"`)
	n := 0
	for i := bytes.Index(b, marker); i >= 0; i = bytes.Index(b, marker) {
		b[i] ^= 0xff
		n++
	}
	if n == 0 {
		tb.Fatalf("no reference to %s found in %s", recordID, path)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TestOneDamagedJournalEntryDoesNotStopThePush damages one journal entry:
// the others reach the real Drillbit, the bad one is reported by sync,
// status and doctor, and salvage clears it.
func TestOneDamagedJournalEntryDoesNotStopThePush(t *testing.T) {
	url := drilltest.URL(t)
	d, ws := isolatedDevice(t, "damaged-entry", url)
	importN(t, d, 300, "d")
	flipRecord(t, filepath.Join(d.dataDir(), "fieldsync.db"), "d00119")
	code, out, errs := d.run("", "sync")
	if code != 0 || !strings.Contains(out, "cannot push: ") || !strings.Contains(out, "damaged") {
		t.Fatalf("sync with one damaged entry: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if rows, distinct := drillCounts(t, url, ws, "damaged-entry"); rows != 299 || distinct != 299 {
		t.Fatalf("Drill holds %d rows (%d distinct); want the 299 readable ones", rows, distinct)
	}
	if out := d.must("", "status"); !strings.Contains(out, "stuck:      1 change(s) cannot be pushed") {
		t.Errorf("status does not tell the stuck change:\n%s", out)
	}
	code, out, _ = d.run("", "doctor")
	if code != 1 || !strings.Contains(out, "[FAIL] store content") || !strings.Contains(out, "1 journal entr") {
		t.Errorf("doctor: exit %d\n%s", code, out)
	}
	out = d.must("", "store", "salvage")
	if !strings.Contains(out, "journal:   299 copied, 1 unreadable") && !strings.Contains(out, "journal:   0 copied, 1 unreadable") {
		// Pushed entries were truncated from the journal by the sync.
		if !strings.Contains(out, "journal:") || !strings.Contains(out, ", 1 unreadable") {
			t.Errorf("salvage:\n%s", out)
		}
	}
	d.must("", "sync")
	if p := pending(t, d); p != 0 {
		t.Errorf("pending after salvage and sync = %d, want 0", p)
	}
	if code, out, _ := d.run("", "doctor"); code != 0 && strings.Contains(out, "[FAIL] store") {
		t.Errorf("doctor after salvage:\n%s", out)
	}
}

// TestFullDiskSaysSoAndLosesNothing puts a device's data dir on a small
// tmpfs, fills it, and syncs while another device's changes wait in Drill:
// the sync fails saying the disk is full (not that Drill is unreachable),
// every change acknowledged before is still there, and once space is back
// the store opens and the sync completes.
func TestFullDiskSaysSoAndLosesNothing(t *testing.T) {
	url := drilltest.URL(t)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("this proof needs a small tmpfs and could not mount one (run the tests as root, as CI does): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	a, ws := isolatedDevice(t, "full-a", url)
	importN(t, a, 1500, "a")
	a.must("", "sync")

	var loc string
	for _, e := range a.env {
		if strings.HasPrefix(e, "FIELDSYNC_DRILL_LOCATION=") {
			loc = e
		}
	}
	b := newDevice(t, "full-b", url, ws, loc)
	for i, arg := range b.args {
		if arg == "--data-dir" {
			b.args[i+1] = filepath.Join(mnt, "data")
		}
	}
	importN(t, b, 100, "b") // acknowledged
	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler)

	code, _, errs := b.run("", "sync")
	if code == 0 || !strings.Contains(errs, "disk of this computer is full") || strings.Contains(errs, "cannot be reached") {
		t.Fatalf("sync on a full disk: exit %d, stderr %q", code, errs)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	b.must("", "sync")
	out := b.must("", "export", "--collection", "inspections")
	if n := strings.Count(out, "\n"); n != 1600 {
		t.Errorf("device b holds %d records after the disk came back, want 1600", n)
	}
	if rows, distinct := drillCounts(t, url, ws, "full-b"); rows != 100 || distinct != 100 {
		t.Errorf("Drill holds %d rows (%d distinct) of device b, want its 100 acknowledged changes", rows, distinct)
	}
}

// fillDisk writes path until the file system is full.
func fillDisk(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !strings.Contains(err.Error(), "no space left") {
				tb.Fatalf("fill the disk: %v", err)
			}
			return
		}
	}
}
