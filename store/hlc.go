package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxWallMS is the greatest wall time a version can carry: 15 decimal
// digits of milliseconds (the year 33658). The clock never issues or
// observes more, so every version the store writes reads back.
const MaxWallMS int64 = 999_999_999_999_999

// DefaultMaxClockAhead is how far ahead of the wall clock a version seen
// elsewhere may be and still move the clock (Options.MaxClockAhead).
const DefaultMaxClockAhead = 24 * time.Hour

// ErrClockAhead is wrapped when a version is further ahead of the clock
// than the bound allows.
var ErrClockAhead = errors.New("version is too far ahead of the clock")

// Version is a parsed hybrid-logical-clock value.
//
// Its text form is "WWWWWWWWWWWWWWW-CCCC-node": wall-clock milliseconds as 15
// zero-padded decimal digits, a logical counter as 4 lowercase hex digits, and
// the node (device) that made it. The text sorts in the same order as the
// value, so Drill can ORDER BY the version column as a plain string, and two
// devices never produce the same text.
type Version struct {
	WallMS  int64
	Counter uint16
	Node    string
}

// String returns the sortable text form of v. A wall time outside
// [0, MaxWallMS] is written at the nearest bound, so the text always has 15
// digits and always parses.
func (v Version) String() string {
	return fmt.Sprintf("%015d-%04x-%s", min(max(v.WallMS, 0), MaxWallMS), v.Counter, v.Node)
}

// Less reports whether v orders before w.
func (v Version) Less(w Version) bool {
	if v.WallMS != w.WallMS {
		return v.WallMS < w.WallMS
	}
	if v.Counter != w.Counter {
		return v.Counter < w.Counter
	}
	return v.Node < w.Node
}

// ParseVersion parses the text form written by Version.String.
func ParseVersion(s string) (Version, error) {
	parts := strings.SplitN(s, "-", 3)
	if len(parts) != 3 || len(parts[0]) != 15 || len(parts[1]) != 4 || parts[2] == "" {
		return Version{}, fmt.Errorf("version %q: want WWWWWWWWWWWWWWW-CCCC-node", s)
	}
	wall, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || strings.Trim(parts[0], "0123456789") != "" {
		return Version{}, fmt.Errorf("version %q: bad wall time", s)
	}
	ctr, err := strconv.ParseUint(parts[1], 16, 16)
	if err != nil || parts[1] != strings.ToLower(parts[1]) {
		return Version{}, fmt.Errorf("version %q: bad counter", s)
	}
	return Version{WallMS: wall, Counter: uint16(ctr), Node: parts[2]}, nil
}

// parseClockState reads the clock state kept in meta/hlc. It accepts what
// ParseVersion accepts and also the longer wall times that fieldsync
// releases before the bound wrote (16 digits and more), clamped to
// MaxWallMS, so that a store never becomes unopenable over its own clock.
func parseClockState(s string) (Version, error) {
	if v, err := ParseVersion(s); err == nil {
		return v, nil
	}
	wall, rest, ok := strings.Cut(s, "-")
	ctr, node, ok2 := strings.Cut(rest, "-")
	if !ok || !ok2 || len(wall) < 15 || len(ctr) != 4 || node == "" || strings.Trim(wall, "0123456789") != "" {
		return Version{}, fmt.Errorf("clock state %q: want WWWWWWWWWWWWWWW-CCCC-node", s)
	}
	c, err := strconv.ParseUint(ctr, 16, 16)
	if err != nil {
		return Version{}, fmt.Errorf("clock state %q: bad counter", s)
	}
	// Longer than 15 digits: beyond MaxWallMS whatever the digits are.
	return Version{WallMS: MaxWallMS, Counter: uint16(c), Node: node}, nil
}

// HLC is a hybrid logical clock (Kulkarni et al.): versions it issues are
// greater than every version it has issued or observed, stay close to wall
// time, and tolerate clocks that disagree between devices.
//
// Its wall time never passes MaxWallMS: at (MaxWallMS, 0xffff) it is
// exhausted and issues that version again (the store then refuses the
// duplicate), which takes a wall clock in the year 33658.
//
// HLC is not safe for concurrent use; the store serialises access to it and
// persists its state in the meta bucket.
type HLC struct {
	Node string
	Now  func() int64 // wall clock in epoch ms
	last Version
}

// Last returns the greatest version the clock has issued or observed.
func (h *HLC) Last() Version { return h.last }

// Restore sets the clock's state, e.g. from the store after a restart.
func (h *HLC) Restore(last Version) {
	last.WallMS = min(max(last.WallMS, 0), MaxWallMS)
	h.last = last
}

// Next returns a new version greater than every one seen so far.
func (h *HLC) Next() Version {
	wall := min(h.Now(), MaxWallMS)
	switch {
	case wall > h.last.WallMS:
		h.last = Version{WallMS: wall, Node: h.Node}
	case h.last.Counter < 0xffff:
		h.last = Version{WallMS: h.last.WallMS, Counter: h.last.Counter + 1, Node: h.Node}
	case h.last.WallMS < MaxWallMS:
		h.last = Version{WallMS: h.last.WallMS + 1, Node: h.Node}
	default:
		h.last.Node = h.Node // exhausted: see the type's doc
	}
	return h.last
}

// Observe merges a version received from elsewhere, so that the next version
// issued here orders after it. A version outside [0, MaxWallMS] is ignored.
func (h *HLC) Observe(v Version) {
	if v.WallMS < 0 || v.WallMS > MaxWallMS {
		return
	}
	if h.last.Less(v) {
		h.last = Version{WallMS: v.WallMS, Counter: v.Counter, Node: h.Node}
	}
}

// AheadBy reports how far v is ahead of nowMS, zero when it is not.
func AheadBy(v Version, nowMS int64) time.Duration {
	if v.WallMS <= nowMS {
		return 0
	}
	return time.Duration(v.WallMS-nowMS) * time.Millisecond
}
