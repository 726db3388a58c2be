package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Op is what a change does to its record.
type Op string

// The operations a change can carry.
const (
	OpPut    Op = "put"
	OpDelete Op = "delete"
)

// Change is one edit of one record: the unit that the frontend captures, the
// journal stores, the agent pushes to Drill and pulls back from other devices.
//
// A change is immutable once created; ChangeID identifies it globally, and
// Version (a hybrid-logical-clock value, see HLC) orders it. Parents are the
// versions the edit was made from: empty for a create, one version for an
// ordinary edit, every leaf for a conflict resolution.
type Change struct {
	ChangeID   string          `json:"change_id"`
	Collection string          `json:"collection"`
	RecordID   string          `json:"record_id"`
	Op         Op              `json:"op"`
	Doc        json.RawMessage `json:"doc,omitempty"`
	Version    string          `json:"version"`
	Parents    []string        `json:"parents"`
	Device     string          `json:"device"`
	Author     string          `json:"author,omitempty"`
	EditedAt   int64           `json:"edited_at"` // epoch milliseconds
	// Resolution is set on a conflict resolution only: how it was
	// resolved. It is the resolution's audit entry, and travels with the
	// change to Drill and to every device (see Resolution).
	Resolution *Resolution `json:"resolution,omitempty"`
}

// ErrInvalidChange is wrapped by every error Validate returns.
var ErrInvalidChange = errors.New("invalid change")

// MaxDocBytes bounds the size of one record's document.
const MaxDocBytes = 1 << 20

// Validate checks the structural rules every change must follow, whatever
// its collection: identifiers present and printable, a known op, a JSON object
// document for a put, a well-formed version. Collection-specific rules
// (declared fields and types) are checked by the schema package.
func (c *Change) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidChange, c.ChangeID, fmt.Sprintf(format, args...))
	}
	for _, f := range []struct{ name, v string }{
		{"change_id", c.ChangeID}, {"collection", c.Collection},
		{"record_id", c.RecordID}, {"device", c.Device},
	} {
		if f.v == "" {
			return bad("%s is empty", f.name)
		}
		if len(f.v) > 200 {
			return bad("%s is longer than 200 bytes", f.name)
		}
		if strings.ContainsAny(f.v, "\x00/\\\n\r\t") {
			return bad("%s contains a slash, backslash or control character", f.name)
		}
	}
	switch c.Op {
	case OpPut:
		if len(c.Doc) == 0 {
			return bad("put without a doc")
		}
		if len(c.Doc) > MaxDocBytes {
			return bad("doc is %d bytes, more than the %d allowed", len(c.Doc), MaxDocBytes)
		}
		if !utf8.Valid(c.Doc) {
			// Drill cannot hold it: such a change could never be pushed
			// and would hold the journal back for ever.
			return bad("doc is not valid UTF-8 text")
		}
		if !isJSONObject(c.Doc) {
			// Decode only to explain what is wrong.
			var obj map[string]json.RawMessage
			err := json.Unmarshal(c.Doc, &obj)
			if err == nil {
				err = errors.New("not an object")
			}
			return bad("doc is not a JSON object: %v", err)
		}
	case OpDelete:
	default:
		return bad("unknown op %q (want put or delete)", c.Op)
	}
	if _, err := ParseVersion(c.Version); err != nil {
		return bad("%v", err)
	}
	if err := c.Resolution.validate(len(c.Parents)); err != nil {
		return bad("resolution: %v", err)
	}
	for _, p := range c.Parents {
		if _, err := ParseVersion(p); err != nil {
			return bad("parent: %v", err)
		}
	}
	return nil
}

// isJSONObject reports whether doc is valid JSON whose value is an object,
// without decoding it (Validate runs for every change appended).
func isJSONObject(doc []byte) bool {
	trimmed := bytes.TrimLeft(doc, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(doc)
}

// CheckLimits applies the store's own bounds to a change that passed
// Validate (version length, number of parents, a version that is not one of
// its parents), so a caller can refuse what the store would.
func CheckLimits(c *Change) error { return checkLimits(c) }
