package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FuzzVersionRoundTrip proves that every version the clock can hold, at
// the bounds too, writes as text that parses back to the same version, and
// that text which parses writes back unchanged.
func FuzzVersionRoundTrip(f *testing.F) {
	for _, seed := range []struct {
		wall int64
		ctr  uint16
		node string
	}{
		{0, 0, "d"}, {MaxWallMS, 0xffff, "dev1"}, {MaxWallMS - 1, 0xfffe, "x"},
		{MaxWallMS + 1, 0, "over"}, {-1, 1, "neg"}, {1 << 62, 7, "far"},
		{1_700_000_000_000, 0xabcd, "a-b-c"},
	} {
		f.Add(seed.wall, seed.ctr, seed.node)
	}
	f.Fuzz(func(t *testing.T, wall int64, ctr uint16, node string) {
		if node == "" {
			return
		}
		v := Version{WallMS: wall, Counter: ctr, Node: node}
		text := v.String()
		got, err := ParseVersion(text)
		if err != nil {
			t.Fatalf("%+v wrote %q, which does not parse: %v", v, text, err)
		}
		want := v
		want.WallMS = min(max(wall, 0), MaxWallMS)
		if got != want {
			t.Fatalf("%q parsed to %+v, want %+v", text, got, want)
		}
		if again := got.String(); again != text {
			t.Fatalf("%q wrote back as %q", text, again)
		}
		if st, err := parseClockState(text); err != nil || st != want {
			t.Fatalf("clock state %q = %+v, %v", text, st, err)
		}
	})
}

// FuzzClockStateBounds drives a store's clock to the far future by
// observing a version and issuing more, closes and reopens it: the store
// must always open again and issue versions that parse.
func FuzzClockStateBounds(f *testing.F) {
	f.Add(int64(1_700_000_000_000), MaxWallMS, uint16(0xfffe), uint8(3))
	f.Add(MaxWallMS, MaxWallMS, uint16(0xffff), uint8(5))
	f.Add(int64(1_700_000_000_000), int64(1_700_000_000_000+23*3600_000), uint16(0), uint8(2))
	f.Add(MaxWallMS-1, MaxWallMS-1, uint16(0xffff), uint8(4))
	f.Fuzz(func(t *testing.T, nowMS, observed int64, ctr uint16, issue uint8) {
		if nowMS < 0 || nowMS > MaxWallMS || observed < 0 || observed > MaxWallMS {
			return
		}
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "f.db")
		now := func() time.Time { return time.UnixMilli(nowMS) }
		s, err := Open(ctx, path, &Options{DeviceID: "dev1", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ObserveVersion(ctx, Version{WallMS: observed, Counter: ctr, Node: "far"}); err != nil {
			t.Fatal(err)
		}
		var last Version
		for range int(issue%8) + 1 {
			v, err := s.NextVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseVersion(v.String()); err != nil {
				t.Fatalf("issued %q: %v", v.String(), err)
			}
			if v.WallMS > nowMS+DefaultMaxClockAhead.Milliseconds() && v.WallMS > nowMS+hlcLeaseMS {
				t.Fatalf("issued %s, beyond the bound of %s from now %d", v, DefaultMaxClockAhead, nowMS)
			}
			last = v
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(ctx, path, &Options{DeviceID: "dev1", Now: now})
		if err != nil {
			t.Fatalf("reopen after clock %s: %v", last, err)
		}
		defer s.Close()
		v, err := s.NextVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseVersion(v.String()); err != nil {
			t.Fatalf("issued after reopen %q: %v", v.String(), err)
		}
		if v.Less(last) {
			t.Fatalf("after reopen %s orders before %s", v, last)
		}
	})
}

func TestObserveBoundedByMaxClockAhead(t *testing.T) {
	t.Parallel()
	const now = 1_700_000_000_000
	tests := []struct {
		name    string
		ahead   time.Duration
		moves   bool
		maxAhed time.Duration
	}{
		{"an hour ahead moves the clock", time.Hour, true, 0},
		{"just inside the default bound", DefaultMaxClockAhead, true, 0},
		{"a year ahead does not", 365 * 24 * time.Hour, false, 0},
		{"a smaller bound", 2 * time.Hour, false, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := mustOpenAt(t, filepath.Join(t.TempDir(), "s.db"), &Options{
				DeviceID: "dev1", MaxClockAhead: tt.maxAhed,
				Now: func() time.Time { return time.UnixMilli(now) },
			})
			far := ver(now+tt.ahead.Milliseconds(), "other")
			res, err := s.ApplyRemote(ctx, "b1", []Change{put("c1", "r", far, `{}`)})
			if err != nil || res.Accepted != 1 {
				t.Fatalf("apply: %+v %v", res, err)
			}
			v, err := s.NextVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if moved := v.WallMS >= now+tt.ahead.Milliseconds(); moved != tt.moves {
				t.Errorf("next version %s after observing %s: moved %v, want %v", v, far, moved, tt.moves)
			}
		})
	}
}

// TestOpenReadsOverlongClockState opens a file whose clock state an older
// fieldsync wrote with 16 digits (it could, after observing a version near
// MaxWallMS): the store opens and keeps issuing versions that parse.
func TestOpenReadsOverlongClockState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := mustOpenAt(t, path, &Options{DeviceID: "dev1"})
	if _, err := s.NextVersion(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Close(); err != nil { // a crash: Close would rewrite the state
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bRoot)).Bucket([]byte(bMeta))
		if err := meta.Put([]byte(keyHLC), []byte("1000000000000001-0000-dev1")); err != nil {
			return err
		}
		return meta.Put([]byte(keyHLCCeiling), utob(uint64(MaxWallMS+2000)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpenAt(t, path, &Options{DeviceID: "dev1"})
	for range 3 {
		v, err := s.NextVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseVersion(v.String()); err != nil || v.WallMS != MaxWallMS {
			t.Fatalf("version %q after an overlong clock state: %v", v.String(), err)
		}
	}
	if _, err := s.Stats(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestParseClockStateRefusesGarbage(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "x", "12-0000-d", "0000000000000001-zzzz-d", "00000000000000a1-0000-d", "000000000000001-0000-", fmt.Sprint(strings.Repeat("9", 15), "-00000-d")} {
		if v, err := parseClockState(s); err == nil {
			b, _ := json.Marshal(v)
			t.Errorf("parseClockState(%q) = %s, want an error", s, b)
		}
	}
}
