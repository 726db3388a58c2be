package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

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
