package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/app/bridge"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/service"
	"github.com/fieldsync/fieldsync/store"
)

// fakeService records calls and answers with err when set. It embeds the
// interface so that unexpected calls panic.
type fakeService struct {
	Service
	mu    sync.Mutex
	calls []string
	err   error
	block bool // wait for the call's context to end
}

var _ Service = (*fakeService)(nil)

func (f *fakeService) record(ctx context.Context, name string) error {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.err
}

func (f *fakeService) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeService) Accept(ctx context.Context, cs []store.Change) (store.AppendResult, error) {
	return store.AppendResult{Accepted: len(cs)}, f.record(ctx, "Accept")
}

func (f *fakeService) MirrorSince(ctx context.Context, after uint64, limit int) (service.MirrorPage, error) {
	return service.MirrorPage{LastMSeq: after + uint64(limit)}, f.record(ctx, fmt.Sprintf("MirrorSince %d %d", after, limit))
}

func (f *fakeService) Records(ctx context.Context, c, after string, limit int) (service.RecordPage, error) {
	return service.RecordPage{}, f.record(ctx, fmt.Sprintf("Records %s %q %d", c, after, limit))
}

func (f *fakeService) Record(ctx context.Context, c, id string) (store.Record, error) {
	return store.Record{Collection: c, ID: id}, f.record(ctx, "Record")
}

func (f *fakeService) Resolve(ctx context.Context, c, id string, ch agent.Choice) (store.Change, error) {
	return store.Change{}, f.record(ctx, "Resolve "+string(ch.Take))
}

func (f *fakeService) ResolveMany(ctx context.Context, items []service.RecordRef, take string) (service.ResolveManyResult, error) {
	return service.ResolveManyResult{Resolved: len(items)}, f.record(ctx, "ResolveMany "+take)
}

func (f *fakeService) Conflicts(ctx context.Context, flt service.ConflictFilter) ([]store.Conflict, error) {
	return nil, f.record(ctx, "Conflicts")
}

func (f *fakeService) SaveSettings(ctx context.Context, s service.Settings) (service.SettingsView, error) {
	return service.SettingsView{Settings: s}, f.record(ctx, "SaveSettings")
}

func (f *fakeService) SetPassword(ctx context.Context, pw string) (service.PasswordResult, error) {
	return service.PasswordResult{StoredIn: "keyring"}, f.record(ctx, "SetPassword")
}

func (f *fakeService) SyncNow(ctx context.Context) (agent.Report, error) {
	return agent.Report{}, f.record(ctx, "SyncNow")
}

func (f *fakeService) ReferenceRows(ctx context.Context, collection, search, after string, limit int) (service.ReferencePage, error) {
	return service.ReferencePage{}, f.record(ctx, "ReferenceRows")
}

func (f *fakeService) ReferenceOptions(ctx context.Context, collection, field string) (service.ReferenceOptions, error) {
	return service.ReferenceOptions{}, f.record(ctx, "ReferenceOptions")
}

func (f *fakeService) PullReferences(ctx context.Context) ([]agent.RefResult, error) {
	return nil, f.record(ctx, "PullReferences")
}

func (f *fakeService) SettledByRules(ctx context.Context, limit int) ([]service.Audit, error) {
	return nil, f.record(ctx, "SettledByRules")
}

func mustNewUI(tb testing.TB, b Service, opts UIOptions) *UI {
	tb.Helper()
	opts.Service = b
	u, err := NewUI(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func TestUIRejectsBadInputWithoutCallingService(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", MaxNameLen+1)
	tests := []struct {
		name string
		call func(u *UI) error
		want string
	}{
		{"too many changes", func(u *UI) error {
			_, err := u.Accept(make([]store.Change, MaxAcceptChanges+1))
			return err
		}, "1001 changes"},
		{"negative limit", func(u *UI) error { _, err := u.MirrorSince(0, -1); return err }, "limit -1"},
		{"limit too large", func(u *UI) error { _, err := u.Records("sites", "", MaxPageLimit+1); return err }, "out of range"},
		{"empty collection", func(u *UI) error { _, err := u.Records("", "", 10); return err }, "collection is empty"},
		{"empty id", func(u *UI) error { _, err := u.Record("sites", ""); return err }, "record id is empty"},
		{"oversized id", func(u *UI) error { _, err := u.History("sites", long); return err }, "201 bytes"},
		{"NUL in id", func(u *UI) error { _, err := u.Conflict("sites", "a\x00b"); return err }, "NUL"},
		{"unknown take", func(u *UI) error {
			_, err := u.Resolve("sites", "r1", agent.Choice{Take: "mine"})
			return err
		}, `take "mine"`},
		{"version take without version", func(u *UI) error {
			_, err := u.Resolve("sites", "r1", agent.Choice{Take: agent.TakeVersion})
			return err
		}, "version is empty"},
		{"oversized merge", func(u *UI) error {
			_, err := u.Resolve("sites", "r1", agent.Choice{Take: agent.TakeMerge, Doc: make(json.RawMessage, store.MaxDocBytes+1)})
			return err
		}, "merged record"},
		{"unknown many take", func(u *UI) error { _, err := u.ResolveMany(nil, "merge"); return err }, `take "merge"`},
		{"bad many item", func(u *UI) error {
			_, err := u.ResolveMany([]service.RecordRef{{Collection: "sites", RecordID: "a"}, {Collection: "sites"}}, "newest")
			return err
		}, "item 2"},
		{"negative settled limit", func(u *UI) error { _, err := u.SettledByRules(-1); return err }, "limit is -1"},
		{"settled limit too large", func(u *UI) error { _, err := u.SettledByRules(service.MaxSettledLimit + 1); return err }, "limit is 201"},
		{"negative age", func(u *UI) error { _, err := u.Conflicts(service.ConflictFilter{OlderThanMS: -5}); return err }, "older_than_ms"},
		{"empty password", func(u *UI) error { _, err := u.SetPassword(""); return err }, "empty"},
		{"password with newline", func(u *UI) error { _, err := u.SetPassword("a\nb"); return err }, "line break"},
		{"too many URLs", func(u *UI) error {
			_, err := u.SaveSettings(service.Settings{DrillURLs: make([]string, MaxDrillURLs+1)})
			return err
		}, "17 Drillbit URLs"},
		{"newline in setting", func(u *UI) error {
			_, err := u.TestConnection(service.Settings{Schedule: "@every 5m\n"})
			return err
		}, "schedule holds"},
		{"spec too long", func(u *UI) error { _, err := u.DescribeSchedule(long); return err }, "spec is 201 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fb := &fakeService{}
			err := tt.call(mustNewUI(t, fb, UIOptions{}))
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("err = %v, want one wrapping ErrInvalidInput", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
			if c := fb.called(); len(c) > 0 {
				t.Errorf("service called %v for rejected input", c)
			}
		})
	}
}

func TestUIPassesGoodInput(t *testing.T) {
	t.Parallel()
	fb := &fakeService{}
	u := mustNewUI(t, fb, UIOptions{})
	if r, err := u.Accept(make([]store.Change, MaxAcceptChanges)); err != nil || r.Accepted != MaxAcceptChanges {
		t.Fatalf("Accept(1000) = %+v, %v", r, err)
	}
	if r, err := u.Accept(nil); err != nil || r.Results == nil {
		t.Fatalf("Accept(nil) = %+v, %v; want empty results, not null", r, err)
	}
	if _, err := u.MirrorSince(7, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Records("sites", "r9", 25); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Resolve("sites", "r1", agent.Choice{Take: agent.TakeVersion, Version: "000000000000001-0000-a"}); err != nil {
		t.Fatal(err)
	}
	if r, err := u.ResolveMany(nil, "newest"); err != nil || r.Failed == nil {
		t.Fatalf("ResolveMany(nil) = %+v, %v; want failed [] not null", r, err)
	}
	if as, err := u.SettledByRules(service.MaxSettledLimit); err != nil || as == nil {
		t.Fatalf("SettledByRules = %v, %v; want [] not null", as, err)
	}
	if cs, err := u.Conflicts(service.ConflictFilter{Collection: "sites"}); err != nil || cs == nil {
		t.Fatalf("Conflicts = %v, %v; want [] not null", cs, err)
	}
	want := []string{"Accept", "MirrorSince 7 500", `Records sites "r9" 25`, "Resolve version", "SettledByRules", "Conflicts"}
	if got := fb.called(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
}

func TestUIExplainsServiceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		want    string
		invalid bool
	}{
		{"not in conflict", fmt.Errorf("agent: resolve s/r: %w", agent.ErrNoConflict), "not in conflict any more", false},
		{"stale", fmt.Errorf("x: %w", store.ErrStaleResolution), "changed while you were deciding", false},
		{"cannot merge", fmt.Errorf("x: %w", agent.ErrCannotMerge), "choose field by field", true},
		{"unknown collection", fmt.Errorf("x: %w", schema.ErrUnknownCollection), "no such collection", true},
		{"invalid record", fmt.Errorf("sites %w: name: required", schema.ErrInvalidRecord), "name: required", true},
		{"not found", fmt.Errorf("store: %w", store.ErrNotFound), "not found", false},
		{"too large", fmt.Errorf("store: %w", store.ErrTooLarge), "send fewer changes", true},
		{"other", errors.New("disk on fire"), "resolve sites/r1: disk on fire", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := mustNewUI(t, &fakeService{err: tt.err}, UIOptions{})
			_, err := u.Resolve("sites", "r1", agent.Choice{Take: agent.TakeDevice})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want text with %q", err, tt.want)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("err = %v does not wrap %v", err, tt.err)
			}
			if got := errors.Is(err, ErrInvalidInput); got != tt.invalid {
				t.Errorf("errors.Is(err, ErrInvalidInput) = %v, want %v", got, tt.invalid)
			}
		})
	}
}

func TestUICallsEndWithTimeoutAndDone(t *testing.T) {
	t.Parallel()
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		u := mustNewUI(t, &fakeService{block: true}, UIOptions{CallTimeout: time.Millisecond})
		_, err := u.Record("sites", "r1")
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "took too long") {
			t.Fatalf("err = %v, want a deadline explained", err)
		}
	})
	t.Run("done", func(t *testing.T) {
		t.Parallel()
		done := make(chan struct{})
		u := mustNewUI(t, &fakeService{block: true}, UIOptions{Done: done})
		close(done)
		_, err := u.SyncNow()
		if err == nil || !strings.Contains(err.Error(), "shutting down") {
			t.Fatalf("err = %v, want shutting down", err)
		}
	})
}

func TestUIDescribeSchedule(t *testing.T) {
	t.Parallel()
	u := mustNewUI(t, &fakeService{}, UIOptions{})
	tests := []struct {
		spec, text, errText string
	}{
		{"@every 5m", "every 5 minutes", ""},
		{"", "", "empty"},
		{"not a spec", "", "not a spec"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := u.DescribeSchedule(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if tt.text != "" && got.Text != tt.text {
				t.Errorf("text = %q, want %q", got.Text, tt.text)
			}
			if (tt.errText == "") != (got.Error == "") || !strings.Contains(got.Error, tt.errText) {
				t.Errorf("error = %q, want one with %q", got.Error, tt.errText)
			}
		})
	}
}

func TestNewUINeedsService(t *testing.T) {
	t.Parallel()
	if _, err := NewUI(UIOptions{}); err == nil {
		t.Fatal("NewUI without a Service succeeded")
	}
}

func TestUIMethodsAreServable(t *testing.T) {
	t.Parallel()
	// The bridge refuses methods it cannot serve, as Wails' binder does;
	// every UI method must pass.
	srv, err := bridge.New(bridge.Options{Bound: []any{mustNewUI(t, &fakeService{}, UIOptions{})}})
	if err != nil {
		t.Fatalf("bridge.New(UI): %v", err)
	}
	_ = srv
}
