package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Resolution is how a conflict was resolved: the audit entry of a
// resolution change, carried by the change itself (Change.Resolution). So it
// is pushed to Drill in the change's own row, exactly once as the change is,
// and every device that pulls the change writes the audit entry beside it
// (ApplyRemote). Who resolved, when and on which device are the change's
// Author, EditedAt and Device; the versions resolved are its Parents.
type Resolution struct {
	// How names the choice: a person's take (device, server, merge,
	// version, newest) or what an automatic policy did (lww, rules, …).
	How string `json:"how"`
	// Chosen is the leaf version whose content was kept, when one was
	// kept whole ("" for a merge).
	Chosen string `json:"chosen,omitempty"`
	// WinnerBefore is the version shown while the conflict was open.
	WinnerBefore string `json:"winner_before,omitempty"`
	// Note is free text for people (e.g. which rules decided).
	Note string `json:"note,omitempty"`
	// Rules maps a field to the merge rule that decided it.
	Rules map[string]string `json:"rules,omitempty"`
}

// MaxResolutionBytes bounds a resolution's JSON text, so its audit entry
// and its column in Drill stay small.
const MaxResolutionBytes = 16 << 10

// Bounds of a resolution's texts.
const (
	maxHowBytes        = 64
	maxNoteBytes       = 4096
	maxResolutionRules = 1000
)

// errLocalResolution rejects a local change that claims to be a resolution
// without going through Resolve, which checks its leaves.
var errLocalResolution = errors.New("only a conflict resolution (Store.Resolve) may carry a resolution")

// validate checks a resolution's shape; a nil one is no resolution.
func (r *Resolution) validate(parents int) error {
	if r == nil {
		return nil
	}
	if parents == 0 {
		return errors.New("a resolution has the versions it resolves as parents, and this change has none")
	}
	if r.How == "" || len(r.How) > maxHowBytes || strings.ContainsFunc(r.How, isControl) || !utf8.ValidString(r.How) {
		return fmt.Errorf("how must be 1 to %d bytes of printable text", maxHowBytes)
	}
	for _, v := range []struct{ name, v string }{{"chosen", r.Chosen}, {"winner_before", r.WinnerBefore}} {
		if v.v == "" {
			continue
		}
		if _, err := ParseVersion(v.v); err != nil || len(v.v) > maxVersionBytes {
			return fmt.Errorf("%s is not a version: %q", v.name, cut(v.v, 80))
		}
	}
	if len(r.Note) > maxNoteBytes || !utf8.ValidString(r.Note) || strings.IndexByte(r.Note, 0) >= 0 {
		return fmt.Errorf("note must be valid text of at most %d bytes", maxNoteBytes)
	}
	if len(r.Rules) > maxResolutionRules {
		return fmt.Errorf("%d rules, more than %d", len(r.Rules), maxResolutionRules)
	}
	for f, m := range r.Rules {
		for _, s := range []string{f, m} {
			if s == "" || len(s) > 200 || !utf8.ValidString(s) || strings.ContainsFunc(s, isControl) {
				return fmt.Errorf("rule %q: field and rule must be 1 to 200 bytes of printable text", cut(f, 80))
			}
		}
	}
	if b, err := json.Marshal(r); err != nil || len(b) > MaxResolutionBytes {
		return fmt.Errorf("more than %d bytes of JSON", MaxResolutionBytes)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// resolutionDetail is the audit entry detail of a resolution: its fields
// and the leaves it resolved (the change's parents).
func resolutionDetail(c *Change) json.RawMessage {
	d := struct {
		Resolution
		Leaves []string `json:"leaves"`
		Op     Op       `json:"op"`
	}{Resolution: *c.Resolution, Leaves: c.Parents, Op: c.Op}
	if d.Leaves == nil {
		d.Leaves = []string{}
	}
	b, _ := json.Marshal(d) // strings and a map of strings always encode
	return b
}

// resolutionAudit is the audit entry of a resolution change: its author (or
// device) resolved its parents when it was made.
func resolutionAudit(c *Change) *AuditEntry {
	actor := c.Author
	if actor == "" {
		actor = c.Device
	}
	return &AuditEntry{
		At: c.EditedAt, Actor: actor, Action: "resolve",
		Collection: c.Collection, RecordID: c.RecordID, ChangeID: c.ChangeID,
		Detail: resolutionDetail(c),
	}
}
