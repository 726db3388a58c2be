package cli

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// leakFreePage drops the last page id from the store's free list, as a torn
// write of the free-list page would: the page is then neither reachable nor
// free, which only bbolt's page check sees (every key still reads). It
// returns the page id dropped.
func leakFreePage(tb testing.TB, path string) uint64 {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, nil) // writable: Tx.Page needs the free list loaded
	if err != nil {
		tb.Fatal(err)
	}
	pageSize := int64(db.Info().PageSize)
	var freelist int
	err = db.View(func(tx *bolt.Tx) error {
		for id := 2; id < int(tx.Size()/pageSize); id++ {
			p, err := tx.Page(id)
			if err != nil {
				return err
			}
			if p != nil && p.Type == "freelist" && p.Count > 0 {
				freelist = id
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
	if freelist == 0 {
		tb.Fatal("the store has no free-list page with free pages: the test needs one")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 16)
	if _, err := f.ReadAt(hdr, int64(freelist)*pageSize); err != nil {
		tb.Fatal(err)
	}
	count := binary.LittleEndian.Uint16(hdr[10:12])
	if count == 0xFFFF {
		tb.Fatal("free list too long for this test's edit")
	}
	last := make([]byte, 8)
	if _, err := f.ReadAt(last, int64(freelist)*pageSize+16+8*int64(count-1)); err != nil {
		tb.Fatal(err)
	}
	binary.LittleEndian.PutUint16(hdr[10:12], count-1)
	if _, err := f.WriteAt(hdr[10:12], int64(freelist)*pageSize+10); err != nil {
		tb.Fatal(err)
	}
	return binary.LittleEndian.Uint64(last)
}

// TestDoctorRunsBboltsPageCheck: on a healthy store doctor's page check
// passes; on a store whose free list lost a page (every key still reads,
// so only bbolt's own check can tell) both `store check-pages` and doctor
// fail naming the page, with the damaged-store exit code and no crash.
func TestDoctorRunsBboltsPageCheck(t *testing.T) {
	t.Parallel()
	d := offlineDevice(t, "cli-pages")
	for i := range 4 { // several transactions leave free pages behind
		importN(t, d, 200, "p"+string(rune('a'+i)))
	}
	_, out, _ := d.run("", "doctor") // exit 1: its Drill never answers
	if !strings.Contains(out, "[ok  ] store pages") || !strings.Contains(out, "bbolt's page check passed") {
		t.Fatalf("doctor on a healthy store:\n%s", out)
	}
	db := filepath.Join(d.dataDir(), "fieldsync.db")
	page := leakFreePage(t, db)
	want := "page " + strconv.FormatUint(page, 10) + ": unreachable unfreed"

	code, out, errs := d.run("", "store", "check-pages")
	if code != exitDamaged || !strings.Contains(out, "page problem: "+want) || !strings.Contains(errs, "store salvage") {
		t.Errorf("store check-pages: exit %d\nstdout %s\nstderr %s\nwant exit %d and %q", code, out, errs, exitDamaged, want)
	}
	code, out, _ = d.run("", "doctor")
	if code != 1 || !strings.Contains(out, "[FAIL] store pages") || !strings.Contains(out, want) || !strings.Contains(out, "[ok  ] store content") {
		t.Errorf("doctor: exit %d\n%s\nwant [FAIL] store pages naming %q while every key reads", code, out, want)
	}
}

// TestDoctorTellsHowThePageCheckEnded: how doctor words each way the
// child process can end, whatever made it end so.
func TestDoctorTellsHowThePageCheckEnded(t *testing.T) {
	t.Parallel()
	shell := func(script string) func(context.Context, []string, []string) (*exec.Cmd, error) {
		return func(ctx context.Context, _, _ []string) (*exec.Cmd, error) {
			return exec.CommandContext(ctx, "/bin/sh", "-c", script), nil
		}
	}
	tests := []struct {
		name   string
		self   func(context.Context, []string, []string) (*exec.Cmd, error)
		status string
		want   string
	}{
		{"passed", shell(`echo '{"pages":12,"elapsed_ns":1000000}'`), statusOK, "bbolt's page check passed: 12 pages"},
		{"problems", shell(`echo '{"pages":12,"problems":["page 7: unreachable unfreed"]}'; exit 3`), statusFail, "found 1 problem(s): page 7: unreachable unfreed"},
		{"fault in bbolt's goroutine", shell(`echo 'unexpected fault address 0x7f00' >&2; echo 'fatal error: fault' >&2; exit 2`), statusFail, "crashed reading the file (exit 2: unexpected fault address 0x7f00)"},
		{"killed", shell(`kill -9 $$`), statusFail, "crashed reading the file (exit -1"},
		{"cannot start", func(context.Context, []string, []string) (*exec.Cmd, error) {
			return nil, os.ErrNotExist
		}, statusWarn, "not checked: file does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &doctor{storeTimeout: 2 * time.Second}
			checkStorePages(context.Background(), d, Env{Self: tt.self}, t.TempDir())
			if len(d.results) != 1 {
				t.Fatalf("results: %+v", d.results)
			}
			r := d.results[0]
			if r.Name != "store pages" || r.Status != tt.status || !strings.Contains(r.Detail, tt.want) {
				t.Errorf("got %+v; want status %s and %q", r, tt.status, tt.want)
			}
		})
	}
}
