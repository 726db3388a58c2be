package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// salvageChunk is how many keys Salvage reads per read transaction; a
// damaged page costs at most the chunk it is met in, for sequence-keyed
// buckets not even that.
const salvageChunk = 5000

// SalvageCounts counts entries of each kind.
type SalvageCounts struct {
	Records   int `json:"records"`
	Versions  int `json:"versions"`
	Journal   int `json:"journal"`
	Conflicts int `json:"conflicts"`
	Audit     int `json:"audit"`
	Other     int `json:"other"` // mirror index, change ids, batches, seen batches, settings
}

// SalvageReport is what Salvage copied and what it could not read.
type SalvageReport struct {
	Source string `json:"source"`
	Dest   string `json:"dest"`
	Device string `json:"device"`
	// Copied counts what the new file holds; Lost what was found in the
	// damaged file but could not be read or was incomplete (a record whose
	// change was unreadable, a journal entry without its change).
	Copied SalvageCounts `json:"copied"`
	Lost   SalvageCounts `json:"lost"`
	// Unreadable lists the places where pages could not be read at all, so
	// an unknown number of entries after them is missing (at most 50).
	Unreadable []string `json:"unreadable,omitempty"`
}

// Complete reports whether everything found was copied.
func (r SalvageReport) Complete() bool {
	return r.Lost == (SalvageCounts{}) && len(r.Unreadable) == 0
}

// Salvage copies every readable record, version, journal entry, conflict
// and audit entry of the store file src into a new store file dst, which
// must not exist, and reports what it could not read. src is opened
// read-only and never changed; a process that holds src open makes it fail
// with a *LockedError. The copy keeps src's device id and push cursor, and
// its record counts and audit index are rebuilt from what was copied.
// Push batches not yet verified that lost an entry are dropped, so that
// their other entries are planned again.
func Salvage(ctx context.Context, src, dst string, opts *Options) (SalvageReport, error) {
	rep := SalvageReport{Source: src, Dest: dst}
	if _, err := os.Stat(dst); err == nil {
		return rep, fmt.Errorf("store: salvage: %s exists; name a new file", dst)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	var from *bolt.DB
	err := guard(src, func() error {
		var err error
		from, err = bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true, Timeout: o.Timeout})
		return err
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return rep, &LockedError{Path: src}
	case errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch):
		return rep, &DamagedError{Path: src, Cause: "both of its headers are unreadable, so nothing in it can be found: " + err.Error(), Hint: freshHint}
	case err != nil:
		return rep, fmt.Errorf("store: salvage: %w", err)
	}
	defer from.Close()
	sv := &salvager{ctx: ctx, from: from, path: src, rep: &rep}
	meta := sv.readMeta()
	dev := string(meta[keyDevice])
	if dev == "" {
		dev = o.DeviceID
	}
	if dev == "" {
		return rep, fmt.Errorf("store: salvage: the device id in %s cannot be read; pass the device name", src)
	}
	if v := btou(meta[keySchema]); v > uint64(len(migrations())) {
		return rep, fmt.Errorf("store: salvage: %s: %w", src, ErrSchemaTooNew)
	}
	rep.Device = dev
	to, err := Open(ctx, dst, &Options{DeviceID: dev, Logger: o.Logger, Now: o.Now, Timeout: o.Timeout})
	if err != nil {
		return rep, fmt.Errorf("store: salvage: %w", err)
	}
	sv.to = to
	if err := sv.run(meta); err != nil {
		_ = to.Close()
		_ = os.Remove(dst)
		_ = os.Remove(dst + ".owner")
		return rep, fmt.Errorf("store: salvage: %w", err)
	}
	if err := to.Close(); err != nil {
		return rep, fmt.Errorf("store: salvage: %w", err)
	}
	return rep, nil
}

// salvager copies one damaged file into a new store.
type salvager struct {
	ctx  context.Context
	from *bolt.DB
	path string
	to   *Store
	rep  *SalvageReport
	// journal seqs copied; sequences of the sequence-keyed buckets
	journal map[uint64]bool
}

// pair is one key and value read from the damaged file.
type pair struct{ k, v []byte }

func (sv *salvager) unreadable(format string, args ...any) {
	if len(sv.rep.Unreadable) < maxProblems {
		sv.rep.Unreadable = append(sv.rep.Unreadable, fmt.Sprintf(format, args...))
	}
}

// readMeta reads every meta key it can.
func (sv *salvager) readMeta() map[string][]byte {
	out := map[string][]byte{}
	sv.scan([]string{bMeta}, func(k, v []byte) bool {
		out[string(k)] = v
		return true
	}, false)
	return out
}

// subBuckets lists the names of the per-collection buckets below name.
func (sv *salvager) subBuckets(name string) []string {
	var out []string
	sv.scan([]string{name}, func(k, v []byte) bool {
		if v == nil {
			out = append(out, string(k))
		}
		return true
	}, false)
	return out
}

// scan reads every key of the bucket at path (below the root) in chunks,
// calling fn with copies; fn returns whether the pair was usable (else it
// counts as lost by the caller). A damaged page ends the scan of that
// bucket, except in sequence-keyed buckets (seqKeys), where the scan probes
// the following sequence numbers one by one, up to the bucket's sequence.
// Nested buckets come with a nil value.
func (sv *salvager) scan(path []string, fn func(k, v []byte) bool, seqKeys bool) {
	var after []byte
	var last uint64
	var haveSeq bool
	for {
		if sv.ctx.Err() != nil {
			return
		}
		var chunk []pair
		done := false
		err := guard(sv.path, func() error {
			return sv.from.View(func(tx *bolt.Tx) error {
				b := bucketAt(tx, path)
				if b == nil {
					done = true
					return nil
				}
				if seqKeys && !haveSeq {
					last, haveSeq = b.Sequence(), true
				}
				c := b.Cursor()
				var k, v []byte
				if after == nil {
					k, v = c.First()
				} else {
					k, v = c.Seek(after)
					if k != nil && bytes.Equal(k, after) {
						k, v = c.Next()
					}
				}
				for ; k != nil && len(chunk) < salvageChunk; k, v = c.Next() {
					chunk = append(chunk, pair{slices.Clone(k), slices.Clone(v)})
				}
				done = k == nil
				return nil
			})
		})
		for _, p := range chunk {
			after = p.k
			if len(p.k) == 0 || len(p.k) > bolt.MaxKeySize || len(p.v) > bolt.MaxValueSize {
				// A damaged page can yield a key no bucket could hold.
				sv.rep.Lost.Other++
				continue
			}
			fn(p.k, p.v)
		}
		if err == nil {
			if done {
				return
			}
			continue
		}
		where := "the start"
		if after != nil {
			where = fmt.Sprintf("key %q", after)
			if len(after) == 8 {
				where = fmt.Sprintf("entry %d", btou(after))
			}
		}
		if !seqKeys || !haveSeq {
			sv.unreadable("%s: pages after %s cannot be read (%v)", strings.Join(path, "/"), where, err)
			return
		}
		next, ok := sv.probe(path, btou(after)+1, last, fn)
		if !ok {
			return
		}
		after = utob(next)
	}
}

// probe reads the sequence keys from first up to last one at a time after a
// damaged page, counting the unreadable ones, until one reads; it returns
// that key, or false when none is left.
func (sv *salvager) probe(path []string, first, last uint64, fn func(k, v []byte) bool) (uint64, bool) {
	for seq := first; seq <= last && seq != 0; seq++ {
		if sv.ctx.Err() != nil {
			return 0, false
		}
		var v []byte
		err := guard(sv.path, func() error {
			return sv.from.View(func(tx *bolt.Tx) error {
				if b := bucketAt(tx, path); b != nil {
					v = slices.Clone(b.Get(utob(seq)))
				}
				return nil
			})
		})
		if err != nil {
			sv.unreadable("%s: entry %d cannot be read (%v)", strings.Join(path, "/"), seq, err)
			*counter(&sv.rep.Lost, path[0])++
			continue
		}
		if v != nil {
			fn(utob(seq), v)
			return seq, true
		}
	}
	return 0, false
}

// counter returns the count in c of entries of the bucket name.
func counter(c *SalvageCounts, name string) *int {
	switch name {
	case bRecords:
		return &c.Records
	case bVersions:
		return &c.Versions
	case bJournal:
		return &c.Journal
	case bConflicts:
		return &c.Conflicts
	case bAudit:
		return &c.Audit
	}
	return &c.Other
}

// bucketAt returns the bucket at path below the root, or nil.
func bucketAt(tx *bolt.Tx, path []string) *bolt.Bucket {
	b := tx.Bucket([]byte(bRoot))
	for _, p := range path {
		if b == nil {
			return nil
		}
		b = b.Bucket([]byte(p))
	}
	return b
}

// sequence reads a bucket's sequence in the damaged file (0 if unreadable).
func (sv *salvager) sequence(name string) uint64 {
	var seq uint64
	_ = guard(sv.path, func() error {
		return sv.from.View(func(tx *bolt.Tx) error {
			if b := bucketAt(tx, []string{name}); b != nil {
				seq = b.Sequence()
			}
			return nil
		})
	})
	return seq
}

// put writes pairs into the new store in one transaction.
func (sv *salvager) put(fn func(tx *bolt.Tx) error) error {
	return sv.to.update(context.WithoutCancel(sv.ctx), fn)
}
