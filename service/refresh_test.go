package service

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/store"
)

// statusSink keeps the sync:status events it gets.
type statusSink struct {
	mu       sync.Mutex
	statuses []agent.Status
}

func (s *statusSink) Emit(name string, payload any) {
	if st, ok := payload.(agent.Status); ok && name == agent.EventStatus {
		s.mu.Lock()
		s.statuses = append(s.statuses, st)
		s.mu.Unlock()
	}
}

func (s *statusSink) last() (agent.Status, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.statuses) == 0 {
		return agent.Status{}, 0
	}
	return s.statuses[len(s.statuses)-1], len(s.statuses)
}

// TestServiceStatusCountsEverySave checks the background recount after
// saves: however saves are spread (one, a burst from two callers at once),
// Status answered after them counts every one, and the last sync:status
// event the UI got says so too (the recount after the last save of a burst
// is never skipped).
func TestServiceStatusCountsEverySave(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		callers, batches int
	}{
		{"one save", 1, 1},
		{"a burst from one caller", 1, 12},
		{"a burst from two callers at once", 2, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := mustOpenService(t, serviceOpts{})
			sink := &statusSink{}
			b.AddEvents(sink)
			ctx := context.Background()
			var wg sync.WaitGroup
			for c := range tt.callers {
				wg.Go(func() {
					for i := range tt.batches {
						batch := make([]store.Change, 5)
						for j := range batch {
							batch[j] = uiChange(t, "sites", fmt.Sprintf("c%d-b%d-r%d", c, i, j), `{"name":"n"}`)
						}
						if res, err := b.Accept(ctx, batch); err != nil || res.Accepted != len(batch) {
							t.Errorf("Accept = %+v, %v", res, err)
							return
						}
					}
				})
			}
			wg.Wait()
			want := uint64(tt.callers * tt.batches * 5)
			st, err := b.Status(ctx)
			if err != nil || st.Pending != want {
				t.Fatalf("Status after the saves = %+v, %v; want %d pending", st, err, want)
			}
			if ev, n := sink.last(); ev.Pending != want {
				t.Errorf("the last of %d status events says %d pending, want %d", n, ev.Pending, want)
			}
		})
	}
}
