package schema

import (
	"fmt"
	"maps"
	"slices"
)

// Merge says how concurrent edits of one field combine when a conflict is
// settled automatically. A field without a rule falls back to its
// collection's policy.
type Merge string

// The per-field merge rules.
const (
	// MergeNewest keeps the value of the leaf with the highest version.
	MergeNewest Merge = "newest"
	// MergeHigher keeps the highest value (number, integer, datetime).
	MergeHigher Merge = "higher"
	// MergeLower keeps the lowest value (number, integer, datetime).
	MergeLower Merge = "lower"
	// MergeDevice keeps the value of the newest leaf made on the device
	// that settles the conflict.
	MergeDevice Merge = "device"
	// MergeServer keeps the value of the server's side: the newest leaf
	// made in Drill (an inbox row applied by fieldsync ingest); when no
	// side is the server's, the newest leaf that came from another device
	// (as the prefer-server policy).
	MergeServer Merge = "server"
	// MergeJoin joins the texts of every side that changed the field, in
	// version order (text and note fields).
	MergeJoin Merge = "join"
	// MergeUnion keeps every item added on any side and drops items removed
	// on any side (list fields).
	MergeUnion Merge = "union"
)

// Words says what the rule keeps, for people: "higher value".
func (m Merge) Words() string {
	switch m {
	case MergeNewest:
		return "newest value"
	case MergeHigher:
		return "higher value"
	case MergeLower:
		return "lower value"
	case MergeDevice:
		return "this device's value"
	case MergeServer:
		return "the server's value"
	case MergeJoin:
		return "texts joined"
	case MergeUnion:
		return "lists joined"
	}
	return string(m)
}

// checkRules returns why the collection's rules are wrong, or "": each
// names a declared field and fits its type.
func (c *Collection) checkRules() string {
	for _, name := range c.RuleFields() {
		f, ok := c.Field(name)
		if !ok {
			return fmt.Sprintf("rules: field %q is not one of its fields", name)
		}
		if msg := f.checkMerge(c.Rules[name]); msg != "" {
			return fmt.Sprintf("rules: field %q: %s", name, msg)
		}
	}
	return ""
}

// checkMerge returns why rule m does not fit field f, or "".
func (f Field) checkMerge(m Merge) string {
	switch m {
	case "", MergeNewest, MergeDevice, MergeServer:
		return ""
	case MergeHigher, MergeLower:
		if f.Type == TypeNumber || f.Type == TypeInteger || f.Type == TypeDateTime {
			return ""
		}
		return fmt.Sprintf("rule %q compares numbers, so it fits number, integer and datetime fields, not a %s field", m, f.Type)
	case MergeJoin:
		if f.Type == TypeText || f.Type == TypeNote {
			return ""
		}
		return fmt.Sprintf("rule %q joins texts, so it fits text and note fields, not a %s field", m, f.Type)
	case MergeUnion:
		if f.Type == TypeList {
			return ""
		}
		return fmt.Sprintf("rule %q joins lists, so it fits list fields, not a %s field", m, f.Type)
	}
	return fmt.Sprintf("unknown rule %q (want newest, higher, lower, device, server, join or union)", m)
}

// HasRules reports whether any field of the collection has a merge rule.
func (c *Collection) HasRules() bool { return len(c.Rules) > 0 }

// RuleFields returns the names of the fields that have a rule, sorted.
func (c *Collection) RuleFields() []string {
	return slices.Sorted(maps.Keys(c.Rules))
}

// Rule returns the merge rule of a field, "" when it has none.
func (c *Collection) Rule(field string) Merge { return c.Rules[field] }
