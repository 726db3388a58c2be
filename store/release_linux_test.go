package store

import (
	"bufio"
	"context"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestReleaseMapped: after releaseMapped the store's map holds no resident
// page of this process, and everything reads back as before.
func TestReleaseMapped(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	ctx := context.Background()
	for chunk := range 4 {
		var cs []Change
		for i := range 500 {
			cs = append(cs, seqChange("rel", chunk*500+i))
		}
		mustAppend(t, s, cs...)
	}
	before, err := s.Pending(ctx, 0, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 2000 {
		t.Fatalf("%d pending, want 2000", len(before))
	}
	// Read every page through the map, as a sync does.
	if err := s.db.View(func(tx *bolt.Tx) error { return walkAll(tx) }); err != nil {
		t.Fatal(err)
	}
	if kb := mappedKB(t, s.path); kb == 0 {
		t.Fatal("no page of the store resident after reading it all")
	}
	if err := s.db.View(func(tx *bolt.Tx) error { releaseMapped(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if kb := mappedKB(t, s.path); kb != 0 {
		t.Fatalf("%d kB of the store resident after releaseMapped, want 0", kb)
	}
	after, err := s.Pending(ctx, 0, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatal("the journal reads back differently after releaseMapped")
	}
}

// walkAll reads every key and value of every bucket of tx.
func walkAll(tx *bolt.Tx) error {
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(b.Bucket(k))
			}
			return nil
		})
	}
	return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
}

// mappedKB is the resident size of this process's map of path, from
// /proc/self/smaps.
func mappedKB(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kb int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = strings.HasSuffix(line, " "+path)
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			n, _ := strconv.ParseInt(fields[1], 10, 64)
			kb += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kb
}
