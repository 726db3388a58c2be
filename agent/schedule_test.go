package agent

import (
	"context"
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 23, 10, 2, 30, 0, time.UTC)
	tests := []struct {
		name   string
		spec   string
		offset time.Duration
		want   time.Time
	}{
		{"every 5 minutes", "*/5 * * * *", 0, time.Date(2026, 11, 23, 10, 5, 0, 0, time.UTC)},
		{"with offset", "*/5 * * * *", 17 * time.Second, time.Date(2026, 11, 23, 10, 5, 17, 0, time.UTC)},
		{"offset wraps to this slot", "*/5 * * * *", 4*time.Minute + 50*time.Second, time.Date(2026, 11, 23, 10, 4, 50, 0, time.UTC)},
		{"descriptor", "@every 5m", 0, base.Add(5 * time.Minute)},
		{"hourly", "@hourly", time.Minute, time.Date(2026, 11, 23, 11, 1, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustSchedule(t, Options{Spec: tt.spec, MinBackoff: time.Second, MaxBackoff: time.Minute}, "dev")
			s.offset = tt.offset
			if got := s.next(base, 0); !got.Equal(tt.want) {
				t.Errorf("next(%s) = %s, want %s", base, got, tt.want)
			}
		})
	}
	if _, err := newSchedule(Options{Spec: "every five minutes"}, "dev"); err == nil {
		t.Error("a bad spec was accepted")
	}
}

func TestScheduleBackoff(t *testing.T) {
	t.Parallel()
	s := mustSchedule(t, Options{Spec: "@every 5m", MinBackoff: 30 * time.Second, MaxBackoff: 8 * time.Minute}, "dev")
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		failures int
		ceiling  time.Duration
	}{
		{1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {4, 4 * time.Minute},
		{5, 8 * time.Minute}, {6, 8 * time.Minute}, {60, 8 * time.Minute},
	}
	for _, tt := range tests {
		for range 20 {
			got := s.next(base, tt.failures).Sub(base)
			if got < tt.ceiling/2 || got > tt.ceiling {
				t.Errorf("after %d failures the wait is %s, want between %s and %s", tt.failures, got, tt.ceiling/2, tt.ceiling)
			}
		}
	}
}

// mustSchedule builds the schedule of opts, defaults applied.
func mustSchedule(tb testing.TB, opts Options, device string) *schedule {
	tb.Helper()
	s, err := newSchedule(opts.withDefaults(), device)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestDeviceOffset(t *testing.T) {
	t.Parallel()
	seen := map[time.Duration]bool{}
	for _, d := range []string{"a", "b", "c", "laptop-1", "laptop-2"} {
		o := deviceOffset(d, time.Minute)
		if o < 0 || o >= time.Minute {
			t.Errorf("offset of %s = %s, out of [0, 1m)", d, o)
		}
		if o != deviceOffset(d, time.Minute) {
			t.Errorf("offset of %s is not stable", d)
		}
		seen[o] = true
	}
	if len(seen) < 4 {
		t.Errorf("offsets barely differ between devices: %v", seen)
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	a := mustNode(t, "a", 1_700_000_000_000, fd, func(o *Options) { o.Now = nil })
	a.edit(t, "inspections", "r", `{"site":"x"}`)
	ctx := context.Background()
	if err := a.ag.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.ag.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	// Drive one sync by hand while the schedule runs; they never overlap.
	if _, err := a.ag.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	a.ag.Stop()
	a.ag.Stop() // idempotent
	if s := a.ag.Status(); s.NextRun.IsZero() || s.State != StateIdle {
		t.Errorf("status after stop: %+v", s)
	}
	assertExactlyOnce(t, fd, "inspections", 1)
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	st := mustOpenStore(t, "a", newClock(1))
	tests := []struct {
		name string
		opts Options
	}{
		{"no store", Options{Drill: fd, Schema: mustSchema(t)}},
		{"no drill", Options{Store: st, Schema: mustSchema(t)}},
		{"no schema", Options{Store: st, Drill: fd}},
		{"bad workspace", Options{Store: st, Drill: fd, Schema: mustSchema(t), Workspace: "fieldsync"}},
		{"bad spec", Options{Store: st, Drill: fd, Schema: mustSchema(t), Spec: "sometimes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.opts); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}
