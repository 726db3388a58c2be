package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = time.Second

// hlcLeaseMS is how far ahead of the last issued version the persisted clock
// ceiling is set, so that a restart never re-issues a version that was handed
// out but not yet appended.
const hlcLeaseMS = 2000

// Options configures Open. A nil *Options means the defaults.
type Options struct {
	// Timeout bounds the wait for the file lock held by another process.
	// Zero means DefaultTimeout; it is never infinite.
	Timeout time.Duration
	// Logger receives the store's log records; nil discards them.
	Logger *slog.Logger
	// Now is the wall clock used for the hybrid logical clock and for
	// timestamps; nil means time.Now.
	Now func() time.Time
	// DeviceID is the identity given to a newly created store. Empty means a
	// random one. Opening an existing store with a different non-empty
	// DeviceID fails with ErrDeviceMismatch.
	DeviceID string
	// AutoCompact compacts the file at Open when it is 16 MiB or larger and
	// free pages and room in partly filled pages make up at least
	// DefaultCompactFree of it (see Compact). A failed compaction is logged
	// and the store opens as it was.
	AutoCompact bool
	// MaxClockAhead bounds how far ahead of the wall clock a version seen
	// elsewhere may be and still move this store's clock; a version further
	// ahead is stored but not observed. Zero means DefaultMaxClockAhead.
	MaxClockAhead time.Duration
}

// Store is the local journal, record mirror and sync state of one device,
// kept in one bbolt file that one process owns at a time.
//
// Store is safe for concurrent use. Values it returns are copies that stay
// valid after the call.
type Store struct {
	db     *bolt.DB
	path   string
	log    *slog.Logger
	now    func() time.Time
	device string
	owner  string // contents of the owner note this process wrote

	mu       sync.Mutex // guards clock and ceiling; never held across a transaction
	clock    HLC
	ceiling  int64 // persisted clock ceiling (wall ms)
	maxAhead time.Duration

	released atomic.Int64 // unix ns of the last release of mapped pages

	group appendGroup // local appends waiting to commit together
}

// Sentinel errors callers branch on.
var (
	// ErrLocked is wrapped by the error Open returns when another process
	// holds the store file; see LockedError.
	ErrLocked = errors.New("store is in use by another process")
	// ErrNotFound is returned when a record, batch, conflict or other entry
	// does not exist.
	ErrNotFound = errors.New("not found")
	// ErrSchemaTooNew is returned by Open for a file written by a newer
	// fieldsync whose schema this build does not know.
	ErrSchemaTooNew = errors.New("store schema is newer than this fieldsync")
	// ErrDeviceMismatch is returned by Open when Options.DeviceID differs
	// from the identity stored in the file.
	ErrDeviceMismatch = errors.New("store belongs to another device")
	// ErrDamaged is wrapped (by a *DamagedError) when the file is not a
	// bbolt file, its header is damaged, it is truncated, or a page makes
	// bbolt panic or fault while it is read: by Open and by every call.
	ErrDamaged = errors.New("store file damaged")
)

// LockedError reports that another process holds the store file. It names
// that process when the owner note beside the file tells who it is.
type LockedError struct {
	Path    string
	PID     int    // 0 when unknown
	Command string // command line of the other process, when known
}

// Error describes the lock holder for people.
func (e *LockedError) Error() string {
	who := ""
	switch {
	case e.PID != 0 && e.Command != "":
		who = fmt.Sprintf(" (pid %d: %s)", e.PID, e.Command)
	case e.PID != 0:
		who = fmt.Sprintf(" (pid %d)", e.PID)
	}
	return fmt.Sprintf("store: %s is in use by another fieldsync process%s; close it or use another --data-dir", e.Path, who)
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Open opens or creates the store at path, creating missing parent
// directories with mode 0700 and the file with mode 0600, applies pending
// migrations and loads the device identity and clock.
//
// When another process holds the file, Open gives up after Options.Timeout
// and returns a *LockedError (wrapping ErrLocked).
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxClockAhead <= 0 {
		o.MaxClockAhead = DefaultMaxClockAhead
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	db, err := openCurrent(path, &bolt.Options{Timeout: o.Timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		le := &LockedError{Path: path}
		if pid, cmd := readOwner(path); pid > 0 && processAlive(pid) {
			le.PID, le.Command = pid, cmd // else the note is stale: name nobody
		}
		return nil, le
	}
	if err != nil && errors.Is(err, ErrDamaged) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, path: path, log: o.Logger, now: o.Now, maxAhead: o.MaxClockAhead}
	if err := guard(path, func() error { return s.init(ctx, o) }); err != nil {
		s.removeOwnerNote()
		_ = db.Close()
		return nil, err
	}
	if o.AutoCompact && s.compactWorth(ctx, DefaultCompactFree) {
		if _, err := s.compact(ctx, nil); err != nil {
			s.log.Warn("store not compacted", "path", path, "err", err)
			if verr := s.view(ctx, func(*bolt.Tx) error { return nil }); verr != nil {
				s.removeOwnerNote()
				return nil, err
			}
		}
	}
	s.log.Info("store opened", "path", path, "device", s.device)
	return s, nil
}

func (s *Store) init(ctx context.Context, o Options) error {
	if fi, err := os.Stat(s.path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		s.log.Warn("store file readable by others; tightening to 0600", "path", s.path, "mode", fi.Mode().Perm().String())
		if err := os.Chmod(s.path, 0o600); err != nil {
			return fmt.Errorf("store: chmod %s: %w", s.path, err)
		}
	}
	s.owner = fmt.Sprintf("%d\n%s\n", os.Getpid(), strings.Join(os.Args, " "))
	if err := writeFileAtomic(s.path+".owner", []byte(s.owner)); err != nil {
		// The note only improves an error message; never fail over it.
		s.log.Warn("cannot write owner note", "path", s.path+".owner", "err", err)
	}
	if err := migrate(ctx, s.db, s.log, migrations()); err != nil {
		return fmt.Errorf("store: %s: %w", s.path, err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := bucket(tx, bMeta)
		dev := string(meta.Get([]byte(keyDevice)))
		switch {
		case dev == "" && o.DeviceID != "":
			dev = o.DeviceID
		case dev == "":
			var b [8]byte
			if _, err := rand.Read(b[:]); err != nil {
				return fmt.Errorf("store: device id: %w", err)
			}
			dev = hex.EncodeToString(b[:])
		case o.DeviceID != "" && o.DeviceID != dev:
			return fmt.Errorf("store: %s holds device %q, not %q: %w", s.path, dev, o.DeviceID, ErrDeviceMismatch)
		}
		if err := validDeviceID(dev); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if meta.Get([]byte(keyDevice)) == nil {
			if err := meta.Put([]byte(keyDevice), []byte(dev)); err != nil {
				return fmt.Errorf("store: save device id: %w", err)
			}
		}
		s.device = dev
		s.clock = HLC{Node: dev, Now: func() int64 { return s.now().UnixMilli() }}
		if v := meta.Get([]byte(keyHLC)); v != nil {
			last, err := parseClockState(string(v))
			if err != nil {
				return fmt.Errorf("store: %s: clock state: %w", s.path, err)
			}
			s.clock.Restore(Version{WallMS: last.WallMS, Counter: last.Counter, Node: dev})
		}
		if v := meta.Get([]byte(keyHLCCeiling)); len(v) == 8 {
			s.ceiling = int64(btou(v))
			if c := min(s.ceiling, MaxWallMS); s.clock.Last().WallMS < c {
				s.clock.Restore(Version{WallMS: c, Node: dev})
			}
		}
		return nil
	})
}

// Close releases the file. It waits for running transactions to finish.
func (s *Store) Close() error {
	s.mu.Lock()
	last := s.clock.Last()
	s.mu.Unlock()
	var err error
	if last.Node != "" {
		err = guard(s.path, func() error {
			return s.db.Update(func(tx *bolt.Tx) error {
				return bucket(tx, bMeta).Put([]byte(keyHLC), []byte(last.String()))
			})
		})
	}
	if err != nil && !errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		s.log.Warn("cannot save clock state", "err", err)
	}
	s.removeOwnerNote()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

// removeOwnerNote removes the owner note if this process wrote it.
func (s *Store) removeOwnerNote() {
	if b, err := os.ReadFile(s.path + ".owner"); err == nil && string(b) == s.owner {
		_ = os.Remove(s.path + ".owner")
	}
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// DeviceID returns this store's device identity: generated once when the
// file is created and stable afterwards.
func (s *Store) DeviceID() string { return s.device }

// NextVersion returns a new hybrid-logical-clock version for a change made
// on this device, greater than every version issued or observed before, also
// across restarts.
func (s *Store) NextVersion(ctx context.Context) (Version, error) {
	s.mu.Lock()
	v := s.clock.Next()
	s.mu.Unlock()
	if err := s.extendCeiling(ctx, v); err != nil {
		return Version{}, err
	}
	return v, nil
}

// ObserveVersion merges a version seen elsewhere (another device's change)
// into the clock so that versions issued afterwards order after it.
func (s *Store) ObserveVersion(ctx context.Context, v Version) error {
	return s.extendCeiling(ctx, s.observe(v))
}

// extendCeiling makes sure the persisted clock ceiling is above last, so a
// restart never issues a version at or below one handed out before. It
// must not hold s.mu during the write: Append takes s.mu inside its
// transaction.
func (s *Store) extendCeiling(ctx context.Context, last Version) error {
	s.mu.Lock()
	ok := last.WallMS < s.ceiling
	s.mu.Unlock()
	if ok {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: clock: %w", err)
	}
	ceiling := last.WallMS + hlcLeaseMS
	err := s.update(ctx, func(tx *bolt.Tx) error {
		meta := bucket(tx, bMeta)
		if int64(btou(meta.Get([]byte(keyHLCCeiling)))) >= ceiling {
			return nil
		}
		if err := meta.Put([]byte(keyHLCCeiling), utob(uint64(ceiling))); err != nil {
			return err
		}
		// The clock state is at least last; Append keeps it current.
		prev, perr := ParseVersion(string(meta.Get([]byte(keyHLC))))
		if perr != nil || prev.Less(last) {
			return meta.Put([]byte(keyHLC), []byte(last.String()))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save clock: %w", err)
	}
	s.mu.Lock()
	s.ceiling = max(s.ceiling, ceiling)
	s.mu.Unlock()
	return nil
}

// observe merges v into the clock without persisting it and returns the
// clock state; the caller's transaction stores that state. A version more
// than the store's MaxClockAhead ahead of the wall clock is not merged: one
// device's wrong clock never drags this one along.
func (s *Store) observe(v Version) Version {
	ahead := AheadBy(v, s.nowMS())
	s.mu.Lock()
	defer s.mu.Unlock()
	if ahead > s.maxAhead {
		s.log.Warn("version far ahead of the clock not observed", "version", v.String(), "ahead", ahead.String())
		return s.clock.Last()
	}
	s.clock.Observe(v)
	return s.clock.Last()
}

// nowMS returns the store clock's wall time in epoch milliseconds.
func (s *Store) nowMS() int64 { return s.now().UnixMilli() }

// readOwner reads the owner note beside path: the pid and command line of
// the process that last opened the store.
func readOwner(path string) (pid int, cmd string) {
	b, err := os.ReadFile(path + ".owner")
	if err != nil {
		return 0, ""
	}
	lines := strings.SplitN(string(b), "\n", 3)
	pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	if len(lines) > 1 {
		cmd = strings.TrimSpace(lines[1])
	}
	return pid, cmd
}

// writeFileAtomic writes data to path with mode 0600 through a temporary
// file and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// validID applies Change.Validate's identifier rules to one value.
func validID(name, v string) error {
	if v == "" {
		return fmt.Errorf("%s is empty", name)
	}
	if len(v) > 200 {
		return fmt.Errorf("%s is longer than 200 bytes", name)
	}
	if strings.ContainsAny(v, "\x00/\\\n\r\t") {
		return fmt.Errorf("%s %q contains a slash, backslash or control character", name, v)
	}
	return nil
}

// validDeviceID checks a device id: it ends up in versions, batch names and
// Drill table paths, so it is kept to a safe alphabet.
func validDeviceID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("device id %q: want 1 to 64 characters", id)
	}
	for i, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		case r == '.' && i > 0:
		default:
			return fmt.Errorf("device id %q: use only letters, digits, '.', '_' and '-'", id)
		}
	}
	return nil
}

// Backup writes a consistent copy of the store to dst (mode 0600, missing
// parent directories 0700) while the store stays in use: a read
// transaction's snapshot, written to a temporary file and renamed into
// place, so dst is never a half-written file. The copy opens with Open like
// the original (it carries the same device id: restore it only in place of
// the original, never as a second device).
func (s *Store) Backup(ctx context.Context, dst string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: backup to %s: %w", dst, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("store: backup to %s: %w", dst, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".tmp*")
	if err != nil {
		return fmt.Errorf("store: backup to %s: %w", dst, err)
	}
	defer os.Remove(tmp.Name())
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if err := tmp.Chmod(0o600); err != nil {
			return err
		}
		if _, err := tx.WriteTo(tmp); err != nil {
			return err
		}
		return tmp.Sync()
	})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("store: backup to %s: %w", dst, err)
	}
	return nil
}
