package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/store"
)

// TestKindAndWordsOfSyncErrors: this computer's own trouble is never
// called Drill's, though a syscall.Errno is also a net.Error.
func TestKindAndWordsOfSyncErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   error
		kind  ErrorKind
		state State
		words string
	}{
		{"disk full", fmt.Errorf("store: append: %w", syscall.ENOSPC), ErrorLocal, StateError, "disk of this computer is full"},
		{"permission", fmt.Errorf("store: %w", syscall.EACCES), ErrorLocal, StateError, "not allowed to write"},
		{"read-only disk", syscall.EROFS, ErrorLocal, StateError, "read-only disk"},
		{"damaged store", fmt.Errorf("pull: %w", store.ErrDamaged), ErrorLocal, StateError, "store salvage"},
		{"refused connection", fmt.Errorf("drill: %w", syscall.ECONNREFUSED), ErrorUnreachable, StateOffline, "Drill cannot be reached"},
		{"down", fmt.Errorf("x: %w", drill.ErrUnavailable), ErrorUnreachable, StateOffline, "Drill cannot be reached"},
		{"timeout", context.DeadlineExceeded, ErrorTimeout, StateOffline, "Drill cannot be reached"},
		{"not configured", ErrNoDrill, ErrorNotConfigured, StateOffline, "No Drillbit is configured"},
		{"other", errors.New("boom"), ErrorOther, StateError, "The sync failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if k := KindOf(tt.err); k != tt.kind {
				t.Errorf("KindOf = %q, want %q", k, tt.kind)
			}
			st, words := describe(tt.err)
			if st != tt.state || !strings.Contains(words, tt.words) {
				t.Errorf("describe = %s %q, want %s and %q", st, words, tt.state, tt.words)
			}
		})
	}
}

// pendingSeen records the pending count of every status event.
type pendingSeen struct {
	mu      sync.Mutex
	pending []uint64
}

func (p *pendingSeen) Emit(name string, payload any) {
	if st, ok := payload.(Status); ok && name == EventStatus {
		if st.Pending%5 == 0 {
			// A slow subscriber now and then: another refresh may run
			// meanwhile, and must not overtake this one's event.
			time.Sleep(5 * time.Millisecond)
		}
		p.mu.Lock()
		p.pending = append(p.pending, st.Pending)
		p.mu.Unlock()
	}
}

// TestRefreshStatusNeverGoesBack: refreshes racing with appends (one per
// accepted batch, as during a bulk import) emit pending counts that never
// decrease, and the last one is the store's. An older read emitted after a
// newer one looked like a finished push to the page, which then ran its
// sync-state refresh in the middle of the import.
func TestRefreshStatusNeverGoesBack(t *testing.T) {
	t.Parallel()
	seen := &pendingSeen{}
	n := mustNode(t, "dev1", 1_000, newFakeDrill(), func(o *Options) { o.Events = seen })
	ctx := context.Background()
	const writers, edits = 4, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*edits)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range edits {
				if _, err := n.tryEdit("inspections", fmt.Sprintf("w%d-%d", w, i), `{"site":"x"}`); err != nil {
					errs <- err
					return
				}
				if _, err := n.ag.RefreshStatus(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.pending) < writers*edits {
		t.Fatalf("%d status events, want at least %d", len(seen.pending), writers*edits)
	}
	for i := 1; i < len(seen.pending); i++ {
		if seen.pending[i] < seen.pending[i-1] {
			t.Fatalf("event %d: pending %d after %d (events: %v)", i, seen.pending[i], seen.pending[i-1], seen.pending)
		}
	}
	if last := seen.pending[len(seen.pending)-1]; last != writers*edits {
		t.Errorf("last pending = %d, want %d", last, writers*edits)
	}
}
