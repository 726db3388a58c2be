package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// damagedRecords is how many records (and journal entries) the damage tests
// write before they damage the file; damagedConflicts how many of those
// records another device also edited, so they are open conflicts.
const (
	damagedRecords   = 2000
	damagedConflicts = 3
)

// writeDamageFixture writes a store of damagedRecords records in 20 appends
// (so pages are reused and freed), one audit entry per 100 records, then
// damagedConflicts conflicts (another device's edit of a record, pulled),
// and returns its bytes and the high-water mark of its pages.
func writeDamageFixture(tb testing.TB) (data []byte, used int64) {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "fieldsync.db")
	s, err := Open(ctx, path, &Options{DeviceID: "dev1"})
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < damagedRecords; i += 100 {
		var cs []Change
		for j := i; j < i+100; j++ {
			cs = append(cs, put(fmt.Sprintf("c%05d", j), fmt.Sprintf("r%05d", j), ver(int64(1000+j), "dev1"), `{"site":"a site with a long enough name"}`))
		}
		if _, err := s.Append(ctx, cs); err != nil {
			tb.Fatal(err)
		}
		if _, err := s.AppendAudit(ctx, AuditEntry{Actor: "ann", Action: "test", Collection: "inspections", RecordID: fmt.Sprintf("r%05d", i)}); err != nil {
			tb.Fatal(err)
		}
	}
	for i, r := range []int{5, 500, 1500}[:damagedConflicts] {
		theirs := put(fmt.Sprintf("x%05d", r), fmt.Sprintf("r%05d", r), ver(int64(5000+i), "dev2"), `{"site":"another device's edit"}`)
		if _, err := s.ApplyRemote(ctx, fmt.Sprintf("000000000005000_dev2_%012d", i+1), []Change{theirs}); err != nil {
			tb.Fatal(err)
		}
	}
	if st, err := s.Stats(ctx); err != nil || st.Conflicts != damagedConflicts {
		tb.Fatalf("fixture: %d conflicts (%v), want %d", st.Conflicts, err, damagedConflicts)
	}
	if err := s.db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		tb.Fatal(err)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	data, err = os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data, used
}

// flipAll flips the first byte of every occurrence of marker in data: a
// value that holds it no longer decodes.
func flipAll(data []byte, marker string) int {
	n := 0
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(marker))
		if j < 0 {
			return n
		}
		data[i+j] ^= 0xff
		i += j + 1
		n++
	}
}

// TestDamagedStoreIsToldNotCrashedOn damages a store file in the ways a
// disk or a careless copy does and checks that opening and using it never
// panics, that what cannot be read is told with the file's name and what to
// do, that one bad journal entry never holds back the others, and that
// salvage copies every readable entry and counts the rest.
func TestDamagedStoreIsToldNotCrashedOn(t *testing.T) {
	t.Parallel()
	orig, used := writeDamageFixture(t)
	const page = 4096
	tests := []struct {
		name   string
		damage func(d []byte) []byte
		// openFails: Open must fail with a *DamagedError naming the file.
		openFails bool
		// badJournal: journal entries that must be reported damaged.
		badJournal int
		// salvageFails: nothing can be found (both headers unreadable).
		salvageFails bool
		// complete: salvage must copy everything (the damage hit only what
		// bbolt can do without: one of its two headers, or past the last
		// page of the last transaction).
		complete bool
		// checkFails: Check must report a problem (doctor's [FAIL] store
		// content), as for damaged data pages, where doctor once said ok.
		checkFails bool
	}{
		{name: "truncated to half", damage: func(d []byte) []byte { return d[:used/2] }, openFails: true},
		{name: "truncated by one page", damage: func(d []byte) []byte { return d[:used-page] }, openFails: true, complete: true},
		{name: "one journal value damaged", damage: func(d []byte) []byte {
			// The journal entry, mirror entry and change-id entry of r00119
			// all hold this text; the version node keeps its change.
			if flipAll(d, `{"c":"inspections","r":"r00119"`) == 0 {
				t.Fatal("marker not found")
			}
			return d
		}, badJournal: 1, checkFails: true},
		{name: "64 bytes flipped in data pages", damage: func(d []byte) []byte {
			rng := rand.New(rand.NewPCG(1, 2))
			for range 64 {
				d[2*page+rng.Int64N(used-2*page)] ^= byte(1 + rng.IntN(255))
			}
			return d
		}, checkFails: true},
		{name: "first meta page flipped", damage: func(d []byte) []byte {
			for i := 16; i < 80; i++ {
				d[i] ^= 0xff
			}
			return d
		}, complete: true},
		{name: "second meta page flipped", damage: func(d []byte) []byte {
			for i := page + 16; i < page+80; i++ {
				d[i] ^= 0xff
			}
			return d
		}, complete: true},
		{name: "both meta pages flipped", damage: func(d []byte) []byte {
			for i := 16; i < 80; i++ {
				d[i] ^= 0xff
				d[page+i] ^= 0xff
			}
			return d
		}, openFails: true, salvageFails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "fieldsync.db")
			if err := os.WriteFile(path, tt.damage(bytes.Clone(orig)), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, path, nil)
			var de *DamagedError
			// before: the journal as the damaged store reads it, by seq.
			var before map[uint64]JournalEntry
			switch {
			case tt.openFails:
				if !errors.As(err, &de) || !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) ||
					!strings.Contains(err.Error(), map[bool]string{false: "fieldsync store salvage", true: "move it aside"}[tt.salvageFails]) {
					t.Fatalf("Open = %v; want a *DamagedError naming %s and salvage", err, path)
				}
				t.Logf("open: %v", err)
			case err != nil && !errors.As(err, &de):
				t.Fatalf("Open = %v; want success or a *DamagedError", err)
			case err != nil:
				t.Logf("open: %v", err)
			default:
				var chk CheckReport
				before, chk = useDamaged(t, s, path, tt.badJournal)
				if tt.checkFails && chk.OK() {
					t.Error("Check found nothing wrong in a damaged store")
				}
				if err := s.Close(); err != nil && !errors.Is(err, ErrDamaged) {
					t.Errorf("Close: %v", err)
				}
			}

			dst := filepath.Join(dir, "salvaged.db")
			// The device id is given, as the command line does from the
			// settings: a truncated file may have lost its meta bucket.
			rep, err := Salvage(ctx, path, dst, &Options{DeviceID: "dev1"})
			if tt.salvageFails {
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "headers") {
					t.Fatalf("Salvage = %v; want ErrDamaged about the headers", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Salvage: %v", err)
			}
			t.Logf("salvage: copied %+v lost %+v unreadable %q", rep.Copied, rep.Lost, rep.Unreadable)
			for _, u := range rep.Unreadable {
				if !strings.Contains(u, path) {
					t.Errorf("salvage: unreadable place %q does not name the file %s", u, path)
				}
			}
			after := checkSalvaged(t, dst, rep)
			if before != nil {
				checkJournalSalvaged(t, before, after)
			}
			if tt.complete {
				want := SalvageCounts{Records: damagedRecords, Journal: damagedRecords, Conflicts: damagedConflicts, Audit: damagedRecords / 100}
				got := rep.Copied
				got.Versions, got.Other = 0, 0
				if got != want || !rep.Complete() {
					t.Errorf("salvage copied %+v, lost %+v, unreadable %q; want %+v and nothing lost", rep.Copied, rep.Lost, rep.Unreadable, want)
				}
			}
			if rep.Copied.Conflicts+rep.Lost.Conflicts > damagedConflicts {
				t.Errorf("salvage counted %d+%d conflicts; there were %d", rep.Copied.Conflicts, rep.Lost.Conflicts, damagedConflicts)
			}
			if tt.badJournal > 0 && (rep.Lost.Journal != tt.badJournal || rep.Copied.Journal != damagedRecords-tt.badJournal) {
				t.Errorf("salvage journal: copied %d lost %d; want %d and %d", rep.Copied.Journal, rep.Lost.Journal, damagedRecords-tt.badJournal, tt.badJournal)
			}
			if tt.badJournal == 0 && !tt.openFails && rep.Copied.Journal == 0 {
				t.Error("salvage copied no journal entry from a file that opens")
			}
			if tt.name == "truncated to half" && rep.Complete() {
				t.Error("salvage of a file cut in half reports nothing lost")
			}
			if b, _ := os.ReadFile(path); len(b) == 0 {
				t.Error("salvage changed the damaged file")
			}
		})
	}
}

// useDamaged reads a damaged store that opened: every call returns (an
// error naming the file and what to do, or a result), Pending lists every
// entry with the bad ones marked, and Check reports them. It returns the
// journal as read, by seq, and the check's report.
func useDamaged(t *testing.T, s *Store, path string, wantBad int) (map[uint64]JournalEntry, CheckReport) {
	t.Helper()
	ctx := context.Background()
	clear := func(what string, err error) {
		t.Helper()
		if err == nil {
			return
		}
		t.Logf("%s: %v", what, err)
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "fieldsync store salvage") {
			t.Errorf("%s = %v; want a damaged-store error naming %s and salvage", what, err, path)
		}
	}
	_, err := s.Stats(ctx)
	clear("stats", err)
	entries, err := s.Pending(ctx, 0, 2*damagedRecords)
	clear("pending", err)
	read := make(map[uint64]JournalEntry, len(entries))
	for _, e := range entries {
		read[e.Seq] = e
	}
	bad := 0
	for _, e := range entries {
		if e.Damage != "" {
			bad++
		}
	}
	rep, err := s.Check(ctx, nil)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	t.Logf("check: %d journal, %d bad, %d keys, problems %q", rep.Journal, len(rep.BadJournal), rep.Keys, rep.Problems)
	if wantBad > 0 {
		if len(entries) != damagedRecords || bad != wantBad {
			t.Errorf("Pending listed %d entries, %d damaged; want %d and %d", len(entries), bad, damagedRecords, wantBad)
		}
		if len(rep.BadJournal) != wantBad || rep.OK() {
			t.Errorf("Check found %v bad journal entries, ok %v; want %d", rep.BadJournal, rep.OK(), wantBad)
		}
	}
	if wantBad == 0 && bad != len(rep.BadJournal) {
		t.Errorf("Pending marked %d entries, Check %d", bad, len(rep.BadJournal))
	}
	return read, rep
}

// checkJournalSalvaged compares the journal salvage copied (after) with
// the one the damaged store read (before): every entry read whole before
// is copied with its change, and an entry marked damaged is copied only
// when its own bytes decoded (its damage was in the version graph, and
// salvage found its change) — never one that could not be read at all.
func checkJournalSalvaged(t *testing.T, before, after map[uint64]JournalEntry) {
	t.Helper()
	healthy, extra := 0, 0
	for seq, e := range before {
		if e.Damage != "" {
			continue
		}
		healthy++
		if a, ok := after[seq]; !ok || a.Change.ChangeID != e.Change.ChangeID || a.Change.Version != e.Change.Version {
			t.Errorf("journal entry %d (change %s) read whole before salvage, copied as %+v (%v)", seq, e.Change.ChangeID, a.Change, ok)
		}
	}
	for seq, a := range after {
		e, ok := before[seq]
		switch {
		case !ok:
			t.Errorf("salvage made up journal entry %d (change %s)", seq, a.Change.ChangeID)
		case e.Damage != "":
			extra++
			if e.Change.ChangeID == "" || !strings.Contains(e.Damage, "(change "+e.Change.ChangeID+")") || e.Change.ChangeID != a.Change.ChangeID {
				t.Errorf("salvage copied journal entry %d (change %s), which could not be read before: %s", seq, a.Change.ChangeID, e.Damage)
			}
		}
	}
	t.Logf("journal: %d read whole before salvage, %d copied (%d of them marked damaged in the graph only)", healthy, len(after), extra)
}

// checkSalvaged opens the salvaged file: it must be consistent and hold
// exactly what the report says was copied, every entry readable. It
// returns the salvaged journal by seq.
func checkSalvaged(t *testing.T, path string, rep SalvageReport) map[uint64]JournalEntry {
	t.Helper()
	ctx := context.Background()
	s := mustOpenAt(t, path, nil)
	checkConsistent(t, s.db)
	if s.DeviceID() != "dev1" {
		t.Errorf("salvaged device %q, want dev1", s.DeviceID())
	}
	chk, err := s.Check(ctx, nil)
	if err != nil || !chk.OK() {
		t.Errorf("salvaged Check = %+v, %v", chk, err)
	}
	entries, err := s.Pending(ctx, 0, 2*damagedRecords)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != rep.Copied.Journal {
		t.Errorf("salvaged journal has %d entries, report says %d", len(entries), rep.Copied.Journal)
	}
	salvaged := make(map[uint64]JournalEntry, len(entries))
	for _, e := range entries {
		salvaged[e.Seq] = e
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != uint64(len(entries)) && rep.Lost.Journal == 0 {
		t.Errorf("salvaged pending %d, journal %d", st.Pending, len(entries))
	}
	if st.Conflicts != int64(rep.Copied.Conflicts) {
		t.Errorf("salvaged store has %d conflicts, report says %d", st.Conflicts, rep.Copied.Conflicts)
	}
	pg, err := s.Records(ctx, "inspections", Page{Limit: 2 * damagedRecords})
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.Records) != rep.Copied.Records || st.Collections["inspections"].Live != int64(rep.Copied.Records) {
		t.Errorf("salvaged records: %d listed, %d counted; report says %d", len(pg.Records), st.Collections["inspections"].Live, rep.Copied.Records)
	}
	// Journal entries are probed one seq at a time, so copied + lost is
	// exact; a damaged records page can hand the cursor garbage keys, each
	// counted as a record that could not be read, so there only the copies
	// are bounded (salvage never invents a record).
	if rep.Copied.Records > damagedRecords || rep.Copied.Journal+rep.Lost.Journal > damagedRecords {
		t.Errorf("salvage counted more than there was: %+v %+v", rep.Copied, rep.Lost)
	}
	audit, err := s.Audit(ctx, 0, 1000)
	if err != nil || len(audit) != rep.Copied.Audit {
		t.Errorf("salvaged audit: %d entries, %v; report says %d", len(audit), err, rep.Copied.Audit)
	}
	// The copy takes new changes.
	v, err := s.NextVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := put("after-salvage", "new", v.String(), `{}`)
	if _, err := s.Append(ctx, []Change{c}); err != nil {
		t.Errorf("append after salvage: %v", err)
	}
	return salvaged
}

func TestSalvageRefusesAnOpenStoreAndAnExistingFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	dir := t.TempDir()
	if _, err := Salvage(ctx, s.Path(), filepath.Join(dir, "out.db"), &Options{Timeout: 100e6}); !errors.Is(err, ErrLocked) {
		t.Errorf("salvage of an open store = %v, want ErrLocked", err)
	}
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Salvage(ctx, s.Path(), existing, nil); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("salvage onto an existing file = %v", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Error("salvage overwrote an existing file")
	}
}
