package store

import (
	"fmt"
	"strconv"
	"strings"
)

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

// String returns the sortable text form of v.
func (v Version) String() string {
	return fmt.Sprintf("%015d-%04x-%s", v.WallMS, v.Counter, v.Node)
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
	if err != nil || wall < 0 {
		return Version{}, fmt.Errorf("version %q: bad wall time", s)
	}
	ctr, err := strconv.ParseUint(parts[1], 16, 16)
	if err != nil || parts[1] != strings.ToLower(parts[1]) {
		return Version{}, fmt.Errorf("version %q: bad counter", s)
	}
	return Version{WallMS: wall, Counter: uint16(ctr), Node: parts[2]}, nil
}

// HLC is a hybrid logical clock (Kulkarni et al.): versions it issues are
// greater than every version it has issued or observed, stay close to wall
// time, and tolerate clocks that disagree between devices.
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
func (h *HLC) Restore(last Version) { h.last = last }

// Next returns a new version greater than every one seen so far.
func (h *HLC) Next() Version {
	wall := h.Now()
	switch {
	case wall > h.last.WallMS:
		h.last = Version{WallMS: wall, Node: h.Node}
	case h.last.Counter == 0xffff:
		h.last = Version{WallMS: h.last.WallMS + 1, Node: h.Node}
	default:
		h.last = Version{WallMS: h.last.WallMS, Counter: h.last.Counter + 1, Node: h.Node}
	}
	return h.last
}

// Observe merges a version received from elsewhere, so that the next version
// issued here orders after it.
func (h *HLC) Observe(v Version) {
	if h.last.Less(v) {
		h.last = Version{WallMS: v.WallMS, Counter: v.Counter, Node: h.Node}
	}
}
