package cli

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/store"
	bolt "go.etcd.io/bbolt"
)

// TestDoctorStoreCheckTimeBound: a store check that runs out of time says
// so and asks for a longer --store-timeout, as a warning: running out of
// time is no sign of damage, so it never tells IT to salvage.
func TestDoctorStoreCheckTimeBound(t *testing.T) {
	t.Parallel()
	d := offlineDevice(t, "cli-store-timeout")
	importN(t, d, 50, "t")
	_, out, _ := d.run("", "doctor", "--store-timeout", "1ns")
	for _, want := range []string{
		"[WARN] store content      the check did not finish in time (1ns)",
		"run 'fieldsync doctor --store-timeout' with a longer time",
		"[WARN] store pages        bbolt's page check did not finish in 1ns",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor --store-timeout 1ns: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "[FAIL] store") || strings.Contains(out, "salvage") {
		t.Errorf("doctor --store-timeout 1ns calls the store damaged:\n%s", out)
	}
	// With time enough, the same store checks clean.
	_, out, _ = d.run("", "doctor")
	if !strings.Contains(out, "[ok  ] store content      50 journal entries and") || !strings.Contains(out, "[ok  ] store pages        bbolt's page check passed") {
		t.Errorf("doctor:\n%s", out)
	}
}

// TestDoctorStoreCheckProgress: on a store with a large journal the check
// tells how far it is (on standard error); on a small one it says nothing.
// The threshold is lowered so that the test's journal counts as large.
func TestDoctorStoreCheckProgress(t *testing.T) {
	t.Parallel()
	d := offlineDevice(t, "cli-store-progress")
	importN(t, d, 30, "p")
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(d.dataDir(), "fieldsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		above uint64
		want  string
	}{
		{"large journal", 10, "checking the store: 30 of 30 journal entries read\n"},
		{"journal under the default threshold", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var progress bytes.Buffer
			doc := &doctor{storeTimeout: time.Minute, progress: &progress, progressAbove: tt.above}
			checkStoreContent(doc, st, stats)
			if progress.String() != tt.want {
				t.Errorf("progress %q, want %q", progress.String(), tt.want)
			}
			if len(doc.results) != 1 || doc.results[0].Status != statusOK {
				t.Errorf("store check: %+v", doc.results)
			}
		})
	}
}

// TestDoctorFindsFlippedBytes flips 64 bytes at random in the data pages of
// a store, as the issue did when doctor answered "[ok] store" while sync
// failed for ever: doctor must now fail a store check, name the file and
// say to salvage it. Three seeds, so the damage lands in different pages.
func TestDoctorFindsFlippedBytes(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 3; seed++ {
		d := offlineDevice(t, "cli-flipped")
		importN(t, d, 300, "f")
		path := filepath.Join(d.dataDir(), "fieldsync.db")
		var used int64
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		_ = db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
		_ = db.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		const page = 4096
		rng := rand.New(rand.NewPCG(seed, 2))
		for range 64 {
			b[2*page+rng.Int64N(used-2*page)] ^= byte(1 + rng.IntN(255))
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, out, _ := d.run("", "doctor")
		if !strings.Contains(out, "[FAIL] store") || !strings.Contains(out, "fieldsync store salvage") || !strings.Contains(out, path) {
			t.Errorf("seed %d: doctor on a store with 64 flipped bytes:\n%s", seed, out)
		}
		if strings.Contains(out, "[ok  ] store content") && strings.Contains(out, "[ok  ] store pages") {
			t.Errorf("seed %d: doctor passes both store checks on a damaged store:\n%s", seed, out)
		}
	}
}
