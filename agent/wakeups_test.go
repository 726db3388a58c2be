package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

var errDown = fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED)

// TestWakeups walks the schedule through saves, failures and probes on a
// fake clock and checks when the loop wakes and what it does then.
func TestWakeups(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	const jitter = time.Minute
	type want struct {
		act      action
		from, to time.Duration // the wake is in [t0+from, t0+to]
	}
	tests := []struct {
		name     string
		failures int
		offline  bool
		canProbe bool
		steps    func(s *schedule, w *wakeups)
		want     want
	}{
		{"the clock alone", 0, false, true, func(*schedule, *wakeups) {}, want{actSync, time.Hour - time.Second, time.Hour}},
		{"a save brings the sync forward", 0, false, true, func(s *schedule, w *wakeups) {
			s.saved(w, t0)
		}, want{actSync, 30 * time.Second, 30*time.Second + jitter}},
		{"saves are debounced", 0, false, true, func(s *schedule, w *wakeups) {
			s.saved(w, t0)
			s.saved(w, t0.Add(20*time.Second))
			s.saved(w, t0.Add(40*time.Second))
		}, want{actSync, 70 * time.Second, 70*time.Second + jitter}},
		{"a sync settles the saves before it", 0, false, true, func(s *schedule, w *wakeups) {
			s.saved(w, t0)
			s.synced(w, t0.Add(time.Second), ErrorNone)
		}, want{actSync, time.Hour - time.Second, time.Hour}},
		{"a save during a sync is kept", 0, false, true, func(s *schedule, w *wakeups) {
			s.saved(w, t0.Add(2*time.Second))
			s.synced(w, t0.Add(time.Second), ErrorNone)
		}, want{actSync, 32 * time.Second, 32*time.Second + jitter}},
		{"saves wait while syncs fail", 1, false, true, func(s *schedule, w *wakeups) {
			s.synced(w, t0, ErrorQuery)
			s.saved(w, t0)
		}, want{actSync, 15 * time.Second, 30 * time.Second}},
		{"offline: probe before the backoff", 5, true, true, func(s *schedule, w *wakeups) {
			s.synced(w, t0, ErrorUnreachable)
		}, want{actProbe, 15 * time.Second, 30 * time.Second}},
		{"offline without a prober: the backoff", 5, true, false, func(s *schedule, w *wakeups) {
			s.synced(w, t0, ErrorUnreachable)
		}, want{actSync, 4 * time.Minute, 8 * time.Minute}},
		{"failed probes back off to the cap", 9, true, true, func(s *schedule, w *wakeups) {
			s.synced(w, t0, ErrorUnreachable)
			for range 6 {
				s.probed(w, t0, errDown)
			}
		}, want{actProbe, time.Minute, 2 * time.Minute}},
		{"Drill answers again: sync within the jitter", 9, true, true, func(s *schedule, w *wakeups) {
			s.synced(w, t0, ErrorUnreachable)
			s.probed(w, t0, errDown)
			s.probed(w, t0, nil)
		}, want{actSync, 0, jitter}},
		{"Drill answered all along (slow): the backoff stands", 9, true, true, func(s *schedule, w *wakeups) {
			s.synced(w, t0, ErrorTimeout)
			s.probed(w, t0, nil)
			s.probed(w, t0, nil)
		}, want{actProbe, time.Minute, 2 * time.Minute}},
		{"slow, then down, then back: a reconnect", 9, true, true, func(s *schedule, w *wakeups) {
			s.synced(w, t0, ErrorTimeout)
			s.probed(w, t0, errDown)
			s.probed(w, t0, nil)
		}, want{actSync, 0, jitter}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustSchedule(t, Options{Spec: "@every 1h", MaxOffset: jitter, MinBackoff: 30 * time.Second, MaxBackoff: 8 * time.Minute}, "laptop-1")
			var w wakeups
			tt.steps(s, &w)
			at, act := s.plan(t0, &w, tt.failures, tt.offline, tt.canProbe)
			if act != tt.want.act || at.Before(t0.Add(tt.want.from)) || at.After(t0.Add(tt.want.to)) {
				t.Errorf("plan = %v at t0+%s, want %v in [t0+%s, t0+%s]", act, at.Sub(t0), tt.want.act, tt.want.from, tt.want.to)
			}
			// Planning again without news changes nothing: waking early
			// never pushes a sync further out.
			if at2, act2 := s.plan(t0.Add(time.Second), &w, tt.failures, tt.offline, tt.canProbe); !at2.Equal(at) || act2 != act {
				t.Errorf("plan again = %v at %s, want %v at %s", act2, at2, act, at)
			}
		})
	}
}

// TestReconnectSpreadsTheFleet: 1,000 laptops lost Drill at 7:00 and get
// it back at 8:00. Each runs its own schedule on a fake clock (probing,
// failing, backing off) until its first sync that reaches Drill. Their
// syncs must be spread over minutes, not land in the same second.
func TestReconnectSpreadsTheFleet(t *testing.T) {
	t.Parallel()
	const devices = 1000
	down := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	back := down.Add(time.Hour)
	tests := []struct {
		name string
		// learn returns when a device's first sync after back starts.
		learn func(s *schedule) time.Time
		// the first syncs must lie in [back, back+within], at most
		// perSecond in any one second, over at least seconds seconds.
		within    time.Duration
		perSecond int
		seconds   int
	}{
		{"probing", func(s *schedule) time.Time {
			var w wakeups
			now, failures := down, 1
			s.synced(&w, now, ErrorUnreachable)
			for {
				at, act := s.plan(now, &w, failures, true, true)
				now = at
				var err error
				if now.Before(back) {
					err = errDown
				}
				if act == actProbe {
					s.probed(&w, now, err)
					continue
				}
				if err == nil {
					return now
				}
				failures++
				s.synced(&w, now, ErrorUnreachable)
			}
		}, DefaultMaxProbe + DefaultMaxOffset, 25, 120},
		// The worst case: every laptop learns at the same instant (their
		// network comes back at 8:00 and each probe fires then). The
		// jitter alone spreads them.
		{"all learn at once", func(s *schedule) time.Time {
			var w wakeups
			s.synced(&w, down, ErrorUnreachable)
			s.probed(&w, back, nil)
			at, _ := s.plan(back, &w, 9, true, true)
			return at
		}, DefaultMaxOffset, 40, 55},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			perSecond := map[int64]int{}
			var first, last time.Time
			for i := range devices {
				device := fmt.Sprintf("laptop-%04d", i)
				at := tt.learn(mustSchedule(t, Options{}, device))
				if at.Before(back) || at.After(back.Add(tt.within)) {
					t.Fatalf("%s syncs at %s, want between %s and %s", device, at.Format(time.TimeOnly), back.Format(time.TimeOnly), back.Add(tt.within).Format(time.TimeOnly))
				}
				if again := tt.learn(mustSchedule(t, Options{}, device)); !again.Equal(at) {
					t.Fatalf("%s syncs at %s, then at %s: the jitter is not seeded by the device", device, at, again)
				}
				perSecond[at.Unix()]++
				if first.IsZero() || at.Before(first) {
					first = at
				}
				if at.After(last) {
					last = at
				}
			}
			busiest := slices.Max(slices.Collect(maps.Values(perSecond)))
			t.Logf("%d devices: first sync %s, last %s, over %d distinct seconds, at most %d in one second",
				devices, first.Sub(back), last.Sub(back), len(perSecond), busiest)
			if busiest > tt.perSecond {
				t.Errorf("%d devices sync in the same second, want at most %d", busiest, tt.perSecond)
			}
			if len(perSecond) < tt.seconds {
				t.Errorf("the fleet's syncs fall in %d distinct seconds, want at least %d", len(perSecond), tt.seconds)
			}
		})
	}
}

// gatedDrill is the fake Drill behind a switch: while down, every query and
// probe fails as a refused connection does.
type gatedDrill struct {
	*fakeDrill
	mu    sync.Mutex
	down  bool
	ctas  []time.Time // when each CTAS was sent (the fake clock)
	probe int
}

var _ Prober = (*gatedDrill)(nil)

func (g *gatedDrill) set(down bool) {
	g.mu.Lock()
	g.down = down
	g.mu.Unlock()
}

func (g *gatedDrill) Query(ctx context.Context, sql string) ([]Row, error) {
	g.mu.Lock()
	down := g.down
	if !down && strings.HasPrefix(sql, "CREATE TABLE IF NOT EXISTS") {
		g.ctas = append(g.ctas, time.Now())
	}
	g.mu.Unlock()
	if down {
		return nil, errDown
	}
	return g.fakeDrill.Query(ctx, sql)
}

func (g *gatedDrill) Probe(context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.probe++
	if g.down {
		return errDown
	}
	return nil
}

func (g *gatedDrill) pushes() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.ctas)
}

// TestScheduleSyncsAfterSavesAndReconnect runs the real schedule on a fake
// clock (a synctest bubble): a save is pushed a while after the last one,
// and a change saved while Drill is down is pushed soon after Drill is
// back, long before the hour of the cron spec or the backoff.
func TestScheduleSyncsAfterSavesAndReconnect(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		gd := &gatedDrill{fakeDrill: newFakeDrill()}
		n := mustNode(t, "a", 1_700_000_000_000, gd, func(o *Options) {
			o.Now = nil // the bubble's clock
			o.Spec = "@every 1h"
			o.MaxBackoff = time.Hour
		})
		ctx := context.Background()
		if err := n.ag.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer n.ag.Stop()
		start := time.Now()

		// Three saves ten seconds apart: one sync, 30 s to 90 s after the last.
		for i := range 3 {
			n.edit(t, "inspections", fmt.Sprintf("r%d", i), `{"site":"x"}`)
			n.ag.Saved()
			time.Sleep(10 * time.Second)
		}
		lastSave := start.Add(20 * time.Second)
		time.Sleep(29 * time.Second) // lastSave + 39 s
		synctest.Wait()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		pushes := gd.pushes()
		if len(pushes) != 1 || pushes[0].Before(lastSave.Add(DefaultSaveDelay)) || pushes[0].After(lastSave.Add(DefaultSaveDelay+DefaultMaxOffset)) {
			t.Fatalf("pushes at %v after the start, want one between %s and %s", since(start, pushes),
				lastSave.Add(DefaultSaveDelay).Sub(start), lastSave.Add(DefaultSaveDelay+DefaultMaxOffset).Sub(start))
		}
		assertExactlyOnce(t, gd.fakeDrill, "inspections", 3)

		// Drill goes down; a save's sync fails and the agent goes offline.
		gd.set(true)
		n.edit(t, "inspections", "r9", `{"site":"y"}`)
		n.ag.Saved()
		time.Sleep(DefaultSaveDelay + DefaultMaxOffset)
		synctest.Wait()
		if st := n.ag.Status(); st.State != StateOffline || st.Pending != 1 {
			t.Fatalf("status with Drill down: %+v, want offline with 1 pending", st)
		}
		time.Sleep(40 * time.Minute)
		synctest.Wait()
		gd.mu.Lock()
		probes := gd.probe
		gd.mu.Unlock()
		t.Logf("%d probes in 40 minutes offline", probes)
		// Probes back off to one every 1-2 minutes: about 20-40 in 40
		// minutes, not hundreds.
		if probes < 15 || probes > 45 {
			t.Errorf("%d probes in 40 minutes offline, want 15 to 45", probes)
		}

		gd.set(false)
		back := time.Now()
		time.Sleep(DefaultMaxProbe + DefaultMaxOffset)
		synctest.Wait()
		pushes = gd.pushes()
		if len(pushes) != 2 || pushes[1].Before(back) {
			t.Fatalf("pushes at %v after the start, want a second one after %s", since(start, pushes), back.Sub(start))
		}
		if st := n.ag.Status(); st.State != StateIdle || st.Pending != 0 || st.Failures != 0 {
			t.Errorf("status after Drill came back: %+v", st)
		}
		assertExactlyOnce(t, gd.fakeDrill, "inspections", 4)
		if !errors.Is(errDown, syscall.ECONNREFUSED) || KindOf(errDown) != ErrorUnreachable {
			t.Errorf("the fake outage is not a refused connection: %v", KindOf(errDown))
		}
	})
}

func since(start time.Time, ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(start)
	}
	return out
}
