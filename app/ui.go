package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/service"
	"github.com/fieldsync/fieldsync/store"
)

// Limits on what the frontend may send to UI.
const (
	// MaxAcceptChanges is the most changes one Accept call takes.
	MaxAcceptChanges = 1000
	// MaxResolveMany is the most conflicts one ResolveMany call takes.
	MaxResolveMany = 1000
	// MaxPageLimit is the largest page MirrorSince and Records return.
	MaxPageLimit = 5000
	// DefaultPageLimit is the page size used when a call passes limit 0.
	DefaultPageLimit = 500
	// MaxNameLen bounds collection names, record ids, versions and keys, in bytes.
	MaxNameLen = 200
	// MaxSettingLen bounds one settings value (a URL, a path), in bytes.
	MaxSettingLen = 2048
	// MaxDrillURLs is the most Drillbit URLs the settings take.
	MaxDrillURLs = 16
	// MaxPasswordLen bounds a Drill password, in bytes.
	MaxPasswordLen = 1024

	// DefaultCallTimeout bounds one UI call.
	DefaultCallTimeout = 30 * time.Second
	// DefaultSyncTimeout bounds SyncNow and TestConnection, which talk to Drill.
	DefaultSyncTimeout = 2 * time.Minute
)

// Service is what UI needs of the application service; *service.Service
// implements it and tests use fakes. Every method gets a context that
// bounds it; errors keep their sentinels (store.ErrNotFound,
// agent.ErrNoConflict, ...) so that UI can word them for people.
type Service interface {
	Info(ctx context.Context) (service.Info, error)
	Accept(ctx context.Context, changes []store.Change) (store.AppendResult, error)
	MirrorSince(ctx context.Context, after uint64, limit int) (service.MirrorPage, error)
	Records(ctx context.Context, collection, after string, limit int) (service.RecordPage, error)
	Record(ctx context.Context, collection, id string) (store.Record, error)
	History(ctx context.Context, collection, id string) (service.History, error)
	PendingIDs(ctx context.Context) ([]service.PendingRecords, error)
	Status(ctx context.Context) (agent.Status, error)
	SyncNow(ctx context.Context) (agent.Report, error)
	ReferenceRows(ctx context.Context, collection, search, after string, limit int) (service.ReferencePage, error)
	ReferenceOptions(ctx context.Context, collection, field string) (service.ReferenceOptions, error)
	PullReferences(ctx context.Context) ([]agent.RefResult, error)
	Conflicts(ctx context.Context, f service.ConflictFilter) ([]store.Conflict, error)
	Conflict(ctx context.Context, collection, id string) (store.Conflict, error)
	SettledByRules(ctx context.Context, limit int) ([]service.Audit, error)
	Resolve(ctx context.Context, collection, id string, choice agent.Choice) (store.Change, error)
	KeepBoth(ctx context.Context, collection, id string) (service.KeepBothResult, error)
	ResolveMany(ctx context.Context, items []service.RecordRef, take string) (service.ResolveManyResult, error)
	Settings(ctx context.Context) (service.SettingsView, error)
	SaveSettings(ctx context.Context, s service.Settings) (service.SettingsView, error)
	SetPassword(ctx context.Context, password string) (service.PasswordResult, error)
	TestConnection(ctx context.Context, s service.Settings) ([]service.Check, error)
}

var _ Service = (*service.Service)(nil)

// UIOptions configures a UI.
type UIOptions struct {
	// Service does the work. Required.
	Service Service
	// Logger receives the calls' failures; nil discards them.
	Logger *slog.Logger
	// CallTimeout bounds one call; zero means DefaultCallTimeout.
	CallTimeout time.Duration
	// SyncTimeout bounds SyncNow and TestConnection; zero means
	// DefaultSyncTimeout.
	SyncTimeout time.Duration
	// Done, when closed, cancels the calls that are running and makes later
	// calls fail at once: pass the process context's Done(). Nil never
	// closes. (UI has no Close method: every exported method is callable
	// from the page.)
	Done <-chan struct{}
}

// UI is the bound object with the data methods of the fieldsync UI
// (window.go.app.UI.<Method> in the window, POST /api/call/UI.<Method>
// through the bridge). Each method checks its input, calls the Service with
// a context bounded by a timeout and ended by UIOptions.Done, and turns errors into
// sentences for people; input it rejects wraps ErrInvalidInput and changes
// nothing. Methods take no context because Wails cannot bind one.
type UI struct {
	svc         Service
	log         *slog.Logger
	callTimeout time.Duration
	syncTimeout time.Duration
	done        <-chan struct{}
}

// NewUI returns a UI over opts.Service.
func NewUI(opts UIOptions) (*UI, error) {
	if opts.Service == nil {
		return nil, errors.New("app: UI needs a Service")
	}
	u := &UI{
		svc:         opts.Service,
		log:         opts.Logger,
		callTimeout: opts.CallTimeout,
		syncTimeout: opts.SyncTimeout,
		done:        opts.Done,
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.callTimeout <= 0 {
		u.callTimeout = DefaultCallTimeout
	}
	if u.syncTimeout <= 0 {
		u.syncTimeout = DefaultSyncTimeout
	}
	return u, nil
}

// errClosed is the cause of contexts ended by UIOptions.Done.
var errClosed = errors.New("fieldsync is shutting down")

// call returns the context of one call: bounded by d and ended when
// UIOptions.Done closes.
func (u *UI) call(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	tctx, tcancel := context.WithTimeout(ctx, d)
	go func() {
		select {
		case <-u.done:
			cancel(errClosed)
		case <-tctx.Done():
		}
	}()
	return tctx, func() { tcancel(); cancel(nil) }
}

// run calls fn with a call context and words its error for people.
func run[T any](u *UI, op string, d time.Duration, fn func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel := u.call(d)
	defer cancel()
	v, err := fn(ctx)
	if err != nil {
		if errors.Is(context.Cause(ctx), errClosed) && !errors.Is(err, errClosed) {
			err = fmt.Errorf("%w: %w", errClosed, err)
		}
		var zero T
		perr := explain(op, err)
		u.log.Warn("ui call failed", "op", op, "err", err)
		return zero, perr
	}
	return v, nil
}

// Info describes this device, its collections and where changes go.
func (u *UI) Info() (service.Info, error) {
	return run(u, "info", u.callTimeout, u.svc.Info)
}

// Accept journals changes from the UI's outbox: each change is accepted,
// recognised as a duplicate (sent before) or rejected with the reason; one
// rejected change never blocks the others. At most MaxAcceptChanges per call.
func (u *UI) Accept(changes []store.Change) (store.AppendResult, error) {
	if len(changes) > MaxAcceptChanges {
		return store.AppendResult{}, invalid("accept: %d changes in one call, the limit is %d: send them in smaller batches", len(changes), MaxAcceptChanges)
	}
	if len(changes) == 0 {
		return store.AppendResult{Results: []store.ChangeResult{}}, nil
	}
	return run(u, "save changes", u.callTimeout, func(ctx context.Context) (store.AppendResult, error) {
		return u.svc.Accept(ctx, changes)
	})
}

// MirrorSince returns the changes applied after mirror sequence after, at
// most limit of them (0 means DefaultPageLimit). Truncated in the answer
// means the UI must rebuild from Records.
func (u *UI) MirrorSince(after uint64, limit int) (service.MirrorPage, error) {
	limit, err := pageLimit("mirror since", limit)
	if err != nil {
		return service.MirrorPage{}, err
	}
	return run(u, "catch up", u.callTimeout, func(ctx context.Context) (service.MirrorPage, error) {
		return u.svc.MirrorSince(ctx, after, limit)
	})
}

// Records returns one page of a collection's records, deleted ones
// included, in record-id order after the id after ("" = from the start).
func (u *UI) Records(collection, after string, limit int) (service.RecordPage, error) {
	if err := checkName("records", "collection", collection); err != nil {
		return service.RecordPage{}, err
	}
	if len(after) > MaxNameLen {
		return service.RecordPage{}, invalid("records: the page position is %d bytes, the limit is %d", len(after), MaxNameLen)
	}
	limit, err := pageLimit("records", limit)
	if err != nil {
		return service.RecordPage{}, err
	}
	return run(u, "list records of "+collection, u.callTimeout, func(ctx context.Context) (service.RecordPage, error) {
		return u.svc.Records(ctx, collection, after, limit)
	})
}

// Record returns one record as Go has it.
func (u *UI) Record(collection, id string) (store.Record, error) {
	if err := checkRef("record", collection, id); err != nil {
		return store.Record{}, err
	}
	return run(u, "read "+collection+"/"+id, u.callTimeout, func(ctx context.Context) (store.Record, error) {
		return u.svc.Record(ctx, collection, id)
	})
}

// History returns every change of a record (ascending version) and the
// resolutions of its conflicts.
func (u *UI) History(collection, id string) (service.History, error) {
	if err := checkRef("history", collection, id); err != nil {
		return service.History{}, err
	}
	return run(u, "read the history of "+collection+"/"+id, u.callTimeout, func(ctx context.Context) (service.History, error) {
		return u.svc.History(ctx, collection, id)
	})
}

// PendingIDs lists, per collection, the records with local changes that
// are not in Drill yet.
func (u *UI) PendingIDs() ([]service.PendingRecords, error) {
	return run(u, "list pending records", u.callTimeout, u.svc.PendingIDs)
}

// Status returns the sync status.
func (u *UI) Status() (agent.Status, error) {
	return run(u, "read the sync status", u.callTimeout, u.svc.Status)
}

// SyncNow pushes and pulls once now and reports what moved.
func (u *UI) SyncNow() (agent.Report, error) {
	return run(u, "sync", u.syncTimeout, u.svc.SyncNow)
}

// ReferenceRows lists a page of a reference collection's rows whose key or
// values hold search, with what the device knows of the source.
func (u *UI) ReferenceRows(collection, search, after string, limit int) (service.ReferencePage, error) {
	if err := checkName("reference rows", "collection", collection); err != nil {
		return service.ReferencePage{}, err
	}
	if len(after) > MaxNameLen*6 || len(search) > MaxNameLen {
		return service.ReferencePage{}, invalid("reference rows: the search or page position is too long")
	}
	limit, err := pageLimit("reference rows", limit)
	if err != nil {
		return service.ReferencePage{}, err
	}
	return run(u, "list reference rows of "+collection, u.callTimeout, func(ctx context.Context) (service.ReferencePage, error) {
		return u.svc.ReferenceRows(ctx, collection, search, after, limit)
	})
}

// ReferenceOptions returns the values a form field with options_from offers.
func (u *UI) ReferenceOptions(collection, field string) (service.ReferenceOptions, error) {
	if err := checkName("reference options", "collection", collection); err != nil {
		return service.ReferenceOptions{}, err
	}
	if err := checkName("reference options", "field", field); err != nil {
		return service.ReferenceOptions{}, err
	}
	return run(u, "list the options of "+collection+"."+field, u.callTimeout, func(ctx context.Context) (service.ReferenceOptions, error) {
		return u.svc.ReferenceOptions(ctx, collection, field)
	})
}

// PullReferences checks every reference collection against Drill now.
func (u *UI) PullReferences() ([]agent.RefResult, error) {
	return run(u, "pull reference data", u.syncTimeout, u.svc.PullReferences)
}

// Conflicts lists the open conflicts that pass the filter.
func (u *UI) Conflicts(filter service.ConflictFilter) ([]store.Conflict, error) {
	if filter.Collection != "" {
		if err := checkName("conflicts", "collection", filter.Collection); err != nil {
			return nil, err
		}
	}
	if len(filter.Device) > MaxNameLen {
		return nil, invalid("conflicts: the device is %d bytes, the limit is %d", len(filter.Device), MaxNameLen)
	}
	if filter.OlderThanMS < 0 {
		return nil, invalid("conflicts: older_than_ms is %d; want 0 or more", filter.OlderThanMS)
	}
	return run(u, "list conflicts", u.callTimeout, func(ctx context.Context) ([]store.Conflict, error) {
		cs, err := u.svc.Conflicts(ctx, filter)
		if cs == nil {
			cs = []store.Conflict{}
		}
		return cs, err
	})
}

// Conflict returns a record's open conflict: every leaf with who and when,
// and the common ancestor when Go has it.
func (u *UI) Conflict(collection, id string) (store.Conflict, error) {
	if err := checkRef("conflict", collection, id); err != nil {
		return store.Conflict{}, err
	}
	return run(u, "read the conflict of "+collection+"/"+id, u.callTimeout, func(ctx context.Context) (store.Conflict, error) {
		return u.svc.Conflict(ctx, collection, id)
	})
}

// SettledByRules lists the conflicts that merge rules settled by
// themselves, newest first, at most limit (0 means a screenful): which
// record, when, on which device, and the rule that decided each field.
// They are no longer open, so Conflicts does not list them.
func (u *UI) SettledByRules(limit int) ([]service.Audit, error) {
	if limit < 0 || limit > service.MaxSettledLimit {
		return nil, invalid("settled by rules: limit is %d; want 0 to %d", limit, service.MaxSettledLimit)
	}
	return run(u, "list the conflicts settled by rules", u.callTimeout, func(ctx context.Context) ([]service.Audit, error) {
		as, err := u.svc.SettledByRules(ctx, limit)
		if as == nil {
			as = []service.Audit{}
		}
		return as, err
	})
}

// Resolve settles a record's conflict: take "device" or "server" keeps the
// newest edit from here or from elsewhere, "version" keeps the edit with
// choice.Version, "merge" keeps choice.Doc (or merges edits of different
// fields when doc is empty). It returns the resolving change.
func (u *UI) Resolve(collection, id string, choice agent.Choice) (store.Change, error) {
	if err := checkRef("resolve", collection, id); err != nil {
		return store.Change{}, err
	}
	if err := checkChoice(choice); err != nil {
		return store.Change{}, err
	}
	return run(u, "resolve "+collection+"/"+id, u.callTimeout, func(ctx context.Context) (store.Change, error) {
		return u.svc.Resolve(ctx, collection, id, choice)
	})
}

// KeepBoth settles a conflict by keeping the winner in the record and the
// other edit as a new record with a new id.
func (u *UI) KeepBoth(collection, id string) (service.KeepBothResult, error) {
	if err := checkRef("keep both", collection, id); err != nil {
		return service.KeepBothResult{}, err
	}
	return run(u, "keep both versions of "+collection+"/"+id, u.callTimeout, func(ctx context.Context) (service.KeepBothResult, error) {
		return u.svc.KeepBoth(ctx, collection, id)
	})
}

// ResolveMany applies one policy (take "device", "server" or "newest") to a
// selection of conflicts; each that cannot be settled is reported with why,
// and does not stop the others.
func (u *UI) ResolveMany(items []service.RecordRef, take string) (service.ResolveManyResult, error) {
	switch take {
	case "device", "server", "newest":
	default:
		return service.ResolveManyResult{}, invalid("resolve many: take %q is not one of device, server or newest", take)
	}
	if len(items) > MaxResolveMany {
		return service.ResolveManyResult{}, invalid("resolve many: %d conflicts in one call, the limit is %d", len(items), MaxResolveMany)
	}
	for i, it := range items {
		if err := checkRef(fmt.Sprintf("resolve many: item %d", i+1), it.Collection, it.RecordID); err != nil {
			return service.ResolveManyResult{}, err
		}
	}
	if len(items) == 0 {
		return service.ResolveManyResult{Failed: []service.ResolveFailure{}}, nil
	}
	d := u.callTimeout * 4
	return run(u, "resolve the selected conflicts", d, func(ctx context.Context) (service.ResolveManyResult, error) {
		r, err := u.svc.ResolveMany(ctx, items, take)
		if r.Failed == nil {
			r.Failed = []service.ResolveFailure{}
		}
		return r, err
	})
}

// Settings returns the settings people edit, which of them IT locked, and
// where the Drill password is.
func (u *UI) Settings() (service.SettingsView, error) {
	return run(u, "read the settings", u.callTimeout, u.svc.Settings)
}

// SaveSettings checks s, writes it to the user's settings file and applies
// it at once (the agent reconnects with the new settings).
func (u *UI) SaveSettings(s service.Settings) (service.SettingsView, error) {
	if err := checkSettings("save settings", s); err != nil {
		return service.SettingsView{}, err
	}
	return run(u, "save the settings", u.syncTimeout, func(ctx context.Context) (service.SettingsView, error) {
		return u.svc.SaveSettings(ctx, s)
	})
}

// SetPassword stores the Drill password of the configured user in the OS
// keyring (or, without one, in a file only this user can read).
func (u *UI) SetPassword(password string) (service.PasswordResult, error) {
	switch {
	case password == "":
		return service.PasswordResult{}, invalid("set password: the password is empty")
	case len(password) > MaxPasswordLen:
		return service.PasswordResult{}, invalid("set password: the password is %d bytes, the limit is %d", len(password), MaxPasswordLen)
	case !utf8.ValidString(password):
		return service.PasswordResult{}, invalid("set password: the password is not valid UTF-8")
	case strings.ContainsAny(password, "\r\n\x00"):
		return service.PasswordResult{}, invalid("set password: the password holds a line break or NUL")
	}
	return run(u, "store the password", u.callTimeout, func(ctx context.Context) (service.PasswordResult, error) {
		return u.svc.SetPassword(ctx, password)
	})
}

// TestConnection checks s against Drill without saving it and reports each
// check: reach, version, auth, query and workspace.
func (u *UI) TestConnection(s service.Settings) ([]service.Check, error) {
	if err := checkSettings("test connection", s); err != nil {
		return nil, err
	}
	return run(u, "test the connection", u.syncTimeout, func(ctx context.Context) ([]service.Check, error) {
		cs, err := u.svc.TestConnection(ctx, s)
		if cs == nil {
			cs = []service.Check{}
		}
		return cs, err
	})
}

// DescribeSchedule reads a cron spec in words ("every 5 minutes"); a spec
// that cannot run is described by Error, not by a failed call.
func (u *UI) DescribeSchedule(spec string) (service.ScheduleText, error) {
	if len(spec) > MaxNameLen {
		return service.ScheduleText{}, invalid("describe schedule: the spec is %d bytes, the limit is %d", len(spec), MaxNameLen)
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return service.ScheduleText{Error: "the schedule is empty: write a cron spec such as \"@every 5m\" or \"*/10 * * * *\""}, nil
	}
	if err := agent.CheckSpec(spec); err != nil {
		return service.ScheduleText{Error: err.Error()}, nil
	}
	return service.ScheduleText{Text: agent.DescribeSpec(spec)}, nil
}
